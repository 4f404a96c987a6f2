"""Sweep throughput: points per minute of a 48-point sweep of the two-QPU scenario, 1 and 2 Dask workers.

    python bench/bench_sweep.py [--points 48] [--workers 1 2]

The sweep varies ``links.alice-bob.length_km`` over 1..48 km (one seed per point) on
examples/two-qpus.toml (500 kept and 500 measured pairs per run). Each worker count gets its own
LocalCluster (made exactly as ``qnet sweep --workers N`` makes it; its start-up is timed apart),
and a fresh results directory. The baseline runs the same points one by one in this process,
without Dask. The speed-up is against 1 worker. Other work on the machine slows every figure:
the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from stack.sweep import define_sweep, run_sweep
from stack.sweep.point import run_point
from stack.sweep.runner import dask_client

ROOT = Path(__file__).resolve().parent.parent


def serial(sweep: object) -> float:
    """Wall seconds to run every task one by one, in-process."""
    started = time.perf_counter()
    for task in sweep.tasks():  # type: ignore[attr-defined]
        row = run_point(task, sweep.text)  # type: ignore[attr-defined]
        assert row["status"] == "ok", row["error"]
    return time.perf_counter() - started


def on_cluster(sweep: object, workers: int) -> tuple[float, float]:
    """(cluster start-up s, sweep s) on a new LocalCluster of ``workers`` processes."""
    started = time.perf_counter()
    with dask_client(workers=workers) as (client, _):
        client.wait_for_workers(workers)
        ready = time.perf_counter()
        with tempfile.TemporaryDirectory() as output:
            results = run_sweep(sweep, output, scheduler=client.scheduler.address)  # type: ignore[arg-type]
        done = time.perf_counter()
    assert not results.failed, results.failed[0]["error"]
    return ready - started, done - ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=48)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    sweep = define_sweep(ROOT / "examples" / "two-qpus.toml", [f"links.alice-bob.length_km=1:48:{args.points}"])
    print(f"{args.points}-point sweep of examples/two-qpus.toml (length 1..48 km, 1 seed per point); "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'engine':<22}{'start-up s':>11}{'sweep s':>9}{'points/min':>12}{'speed-up':>10}")
    wall = serial(sweep)
    print(f"{'one by one, no Dask':<22}{'-':>11}{wall:>9.1f}{args.points / wall * 60:>12.0f}{'':>10}")
    first = None
    for workers in args.workers:
        start_up, wall = on_cluster(sweep, workers)
        rate = args.points / wall * 60
        first = first or rate
        print(f"{f'LocalCluster, {workers} worker' + ('s' if workers > 1 else ''):<22}{start_up:>11.1f}{wall:>9.1f}"
              f"{rate:>12.0f}{rate / first:>9.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at the end; speed-up: points/min over that of the first "
          "worker count")


if __name__ == "__main__":
    main()
