"""The link layer's engines alone: one chain run's inputs replayed into fresh engines, timed and digested.

    python bench/link_replay.py K PAIRS [--rounds R] [--none]

As :mod:`network_replay` does for the network layer: runs ``bench_network.chain(K, PAIRS)`` (W = 1) once,
recording every input of every node's ``LinkLayer`` (the network layer's CREATEs and CREDITs, EGP datagrams,
``PairReady``/``MoveResult`` events, timers, in order), then builds the scenario afresh R + 1 times
(``stack.runtime.build``: nothing runs) and calls each engine with the recorded inputs in the recorded order.
The first replay is digested (SHA-256 of ``repr`` of every returned ``Actions``): two trees with the same
digest give the same outputs for the same inputs. The other R are timed (CPU). Run it from a tree's root to
measure that tree.

Instructions of the engines alone: ``valgrind --tool=callgrind`` of ``--rounds 1`` minus the same with
``--none``, ``PYTHONHASHSEED=0``, bytecode compiled. bench/README.md, branch cak-link2, has the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [os.getcwd(), str(Path(__file__).resolve().parent)]

from bench_network import chain  # noqa: E402

from protocols.link.layer import LinkLayer  # noqa: E402
from stack.report import build_report  # noqa: E402
from stack.runtime import build, run_scenario  # noqa: E402
from stack.scenario import load_text  # noqa: E402

INPUTS = ("start", "receive", "handle", "on_timer")


def record(text: str) -> tuple[list[tuple[int, str, tuple[Any, ...]]], int]:
    """Every engine input of one run of ``text`` as (node, method, arguments), and the circuit's link pairs."""
    log: list[tuple[int, str, tuple[Any, ...]]] = []
    original = {name: getattr(LinkLayer, name) for name in INPUTS}

    def recorded(name: str) -> Any:
        method = original[name]

        def call(self: LinkLayer, *args: Any) -> Any:
            log.append((self.node_id, name, args))
            return method(self, *args)
        return call

    for name in INPUTS:
        setattr(LinkLayer, name, recorded(name))
    try:
        result = run_scenario(load_text(text, "<chain>"))
    finally:
        for name, method in original.items():
            setattr(LinkLayer, name, method)
    link_pairs = sum(hop["link_pairs"] for circuit in build_report(result)["circuits"]
                     for hop in circuit["hops_detail"])
    return log, link_pairs


def engines_for(text: str, log: list[tuple[int, str, tuple[Any, ...]]]) -> list[tuple[Any, tuple[Any, ...]]]:
    """Fresh engines of the scenario and the calls to make."""
    engines = {engine.node_id: engine for engine in build(load_text(text, "<chain>")).link_layers}
    return [(getattr(engines[node], name), args) for node, name, args in log]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hops", type=int)
    parser.add_argument("pairs", type=int)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--none", action="store_true", help="build and digest, but replay nothing timed")
    args = parser.parse_args()
    text = chain(args.hops, args.pairs) + "\n[network]\nwindow = 1\n"
    run_scenario(load_text(chain(2, 1), "<warm-up>"))
    log, link_pairs = record(text)
    rounds = [engines_for(text, log) for _ in range(args.rounds + 1)]
    digest = hashlib.sha256()
    kinds: dict[str, int] = {}
    for method, call_args in rounds[0]:
        actions = method(*call_args)
        digest.update(repr((actions.send, actions.up, actions.down, actions.hardware, actions.deadline)).encode())
        kind = type(call_args[0]).__name__ if method.__name__ == "handle" else method.__name__
        kinds[kind] = kinds.get(kind, 0) + 1
    cpus = []
    for calls in rounds[1:]:
        if args.none:
            continue
        started = time.process_time()
        for method, call_args in calls:
            method(*call_args)
        cpus.append(time.process_time() - started)
    median = statistics.median(cpus) if cpus else 0.0
    print(json.dumps({"K": args.hops, "pairs": args.pairs, "inputs": len(log), "link_pairs": link_pairs,
                      "inputs_per_link_pair": {k: round(n / link_pairs, 2) for k, n in sorted(kinds.items())},
                      "cpu_s": [round(cpu, 4) for cpu in cpus], "median_s": round(median, 4),
                      "us_per_link_pair": round(median / link_pairs * 1e6, 1),
                      "us_per_input": round(median / len(log) * 1e6, 2), "digest": digest.hexdigest()[:16],
                      "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
