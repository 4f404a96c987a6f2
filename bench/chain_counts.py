"""One run of bench_network's chain, counted: datagrams (at ``Network.send``), kernel events, link pairs, CPU.

    python bench/chain_counts.py K PAIRS [--window W] [--seed S]

Prints one JSON line: K, pairs delivered, wall s, CPU s, emulated s, datagrams, kernel events, link pairs
made on the circuit's hops and datagrams per link pair (the figures of bench/README.md, "One windowed link
request per circuit hop"). Run it from a tree's root to measure that tree (its packages come first on
``sys.path``), e.g. main's in a detached worktree, alternating with this one. A warm-up run comes first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path[:0] = [os.getcwd(), str(Path(__file__).resolve().parent)]

from bench_network import chain  # noqa: E402

import stack.core.network as network  # noqa: E402
from stack.report import build_report  # noqa: E402
from stack.runtime import run_scenario  # noqa: E402
from stack.scenario import load_text  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hops", type=int)
    parser.add_argument("pairs", type=int)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sent = [0]
    send = network.Network.send

    def counted(self: network.Network, *a: object, **k: object) -> None:
        sent[0] += 1
        send(self, *a, **k)  # type: ignore[arg-type]

    network.Network.send = counted  # type: ignore[method-assign]
    run_scenario(load_text(chain(2, 1), "<warm-up>"))
    sent[0] = 0
    text = chain(args.hops, args.pairs).replace("seed = 1\n", f"seed = {args.seed}\n", 1)
    text += f"\n[network]\nwindow = {args.window}\n"
    scenario = load_text(text, f"<chain of {args.hops}>")
    started, cpu = time.perf_counter(), time.process_time()
    result = run_scenario(scenario)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    (circuit,) = build_report(result)["circuits"]
    link_pairs = sum(hop["link_pairs"] for hop in circuit["hops_detail"])
    kernel = result.emulation.kernel
    print(json.dumps({"K": args.hops, "pairs": len(result.emulation.workloads[0].responder.records),
                      "wall": round(wall, 3), "cpu": round(cpu, 3), "emulated_s": kernel.now / 1e9,
                      "datagrams": sent[0], "events": kernel.events_run, "link_pairs": link_pairs,
                      "datagrams_per_link_pair": round(sent[0] / link_pairs, 2),
                      "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
