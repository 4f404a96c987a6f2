"""Cost per delivered pair in one process as the network grows: a chain of N QPUs, a request on every link.

    python bench/bench_scale.py [--nodes 2 100 1000] [--pairs-per-link 20] [--total 2000] [--same-per-link]

The scenario is bench_multiprocess.py's chain (coupler links, 100 µs attempts, measure-directly), run in
virtual time in this process (``build`` + ``run_async``, no capture). Each size gets about ``--total``
pairs in all (``--pairs-per-link`` at least, so a large network delivers more). CPU seconds of the run
(``time.process_time``: steadier than wall time on a shared machine) per delivered pair, and the ratio
to the smallest network; build time (the scenario parsed and built) apart.

By default a small network gets more pairs per link (2 nodes: 2,000 on its one link, 1,000 nodes: 20 on
each), so it pays each link's set-up (its first REQ, SCHEDULE, routes, keys, tasks) and the run's start and
end once per 2,000 pairs where the large one pays them once per 20. ``--same-per-link`` compares like with
like: every size gets exactly ``--pairs-per-link`` pairs on each link, and a small network is built and run
again (each run timed alone) until it has delivered ``--total`` pairs in all.
"""

from __future__ import annotations

import argparse
import time

import bench_multiprocess as multiprocess  # beside this file
import trio

from stack.runtime import build, run_async
from stack.scenario import load_text


def cost(nodes: int, pairs: int) -> tuple[float, float, int, float]:
    """(build CPU s, run CPU s, pairs delivered, kernel entries per pair) of one run."""
    started = time.process_time()
    scenario = load_text(multiprocess.chain_toml(nodes, duration_ms=1e4, pairs=pairs, every_link=True), f"chain{nodes}")
    emu = build(scenario, 1)
    built = time.process_time()
    trio.run(run_async, emu)
    ran = time.process_time()
    delivered = sum(len(w.responder.records) for w in emu.workloads)
    return built - started, ran - built, delivered, emu.kernel.events_run / delivered


def repeated(nodes: int, pairs: int, total: int) -> tuple[float, float, int, float]:
    """:func:`cost` summed over as many runs as it takes to deliver ``total`` pairs (at least one)."""
    build_s = run_s = 0.0
    delivered = entries = 0
    while delivered < total or not delivered:
        b, r, d, e = cost(nodes, pairs)
        build_s, run_s, delivered, entries = build_s + b, run_s + r, delivered + d, entries + round(e * d)
    return build_s, run_s, delivered, entries / delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[2, 100, 1000])
    parser.add_argument("--pairs-per-link", type=int, default=20)
    parser.add_argument("--total", type=int, default=2000)
    parser.add_argument("--same-per-link", action="store_true",
                        help="every size gets exactly --pairs-per-link pairs per link (small ones run again)")
    args = parser.parse_args()
    print(f"{'nodes':>6}{'pairs':>8}{'build s':>9}{'run s':>8}{'µs/pair':>9}{'entries/pair':>14}{'vs first':>10}")
    first = None
    for nodes in args.nodes:
        if args.same_per_link:
            build_s, run_s, delivered, entries = repeated(nodes, args.pairs_per_link, args.total)
        else:
            build_s, run_s, delivered, entries = cost(nodes, max(args.pairs_per_link, -(-args.total // (nodes - 1))))
        per_pair = run_s / delivered * 1e6
        first = first or per_pair
        print(f"{nodes:>6}{delivered:>8}{build_s:>9.2f}{run_s:>8.2f}{per_pair:>9.0f}{entries:>14.1f}"
              f"{per_pair / first:>10.2f}")


if __name__ == "__main__":
    main()
