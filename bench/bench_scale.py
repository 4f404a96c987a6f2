"""Cost per delivered pair in one process as the network grows: a chain of N QPUs, a request on every link.

    python bench/bench_scale.py [--nodes 2 100 1000] [--pairs-per-link 20] [--total 2000]

The scenario is bench_multiprocess.py's chain (coupler links, 100 µs attempts, measure-directly), run in
virtual time in this process (``build`` + ``run_async``, no capture). Each size gets about ``--total``
pairs in all (``--pairs-per-link`` at least, so a large network delivers more). CPU seconds of the run
(``time.process_time``: steadier than wall time on a shared machine) per delivered pair, and the ratio
to the smallest network; build time (the scenario parsed and built) apart.
"""

from __future__ import annotations

import argparse
import time

import bench_multiprocess as multiprocess  # beside this file
import trio

from stack.runtime import build, run_async
from stack.scenario import load_text


def cost(nodes: int, pairs: int) -> tuple[float, float, int, float]:
    """(build CPU s, run CPU s, pairs delivered, kernel entries per pair)."""
    started = time.process_time()
    scenario = load_text(multiprocess.chain_toml(nodes, duration_ms=1e4, pairs=pairs, every_link=True), f"chain{nodes}")
    emu = build(scenario, 1)
    built = time.process_time()
    trio.run(run_async, emu)
    ran = time.process_time()
    delivered = sum(len(w.responder.records) for w in emu.workloads)
    return built - started, ran - built, delivered, emu.kernel.events_run / delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[2, 100, 1000])
    parser.add_argument("--pairs-per-link", type=int, default=20)
    parser.add_argument("--total", type=int, default=2000)
    args = parser.parse_args()
    print(f"{'nodes':>6}{'pairs':>8}{'build s':>9}{'run s':>8}{'µs/pair':>9}{'entries/pair':>14}{'vs first':>10}")
    first = None
    for nodes in args.nodes:
        per_link = max(args.pairs_per_link, -(-args.total // (nodes - 1)))
        build_s, run_s, delivered, entries = cost(nodes, per_link)
        per_pair = run_s / delivered * 1e6
        first = first or per_pair
        print(f"{nodes:>6}{delivered:>8}{build_s:>9.2f}{run_s:>8.2f}{per_pair:>9.0f}{entries:>14.1f}"
              f"{per_pair / first:>10.2f}")


if __name__ == "__main__":
    main()
