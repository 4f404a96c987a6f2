"""Delivered pairs per wall-second on the default link, capture on and off (median of N).

    python bench/bench_link.py [--pairs 5000] [--repeats 5]

The scenario is examples/two-qpus.toml with its workload replaced by one request of
``--pairs`` pairs (create-and-keep, each pair measured on arrival at both ends; then
measure-directly). A pair counts once, when both ends have it. Times are of the emulation in this
process (imports excluded: bench_peer.py times whole processes). ``switches/pair``: task switches
and yields to trio per delivered pair, counted by the kernel (11 per pair before issue 17's kernel).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import statistics
import time
from pathlib import Path

from stack.runtime import run_scenario
from stack.scenario import load

ROOT = Path(__file__).resolve().parent.parent


def one_run(kind: str, pairs: int, capture: bool) -> tuple[float, float, int, float, float]:
    scenario = load(ROOT / "examples" / "two-qpus.toml")
    template = scenario.workload[0]
    scenario = dataclasses.replace(scenario, workload=[dataclasses.replace(template, type=kind, pairs=pairs)])
    stream = io.BytesIO() if capture else None
    started, cpu_started = time.perf_counter(), time.process_time()
    result = run_scenario(scenario, pcap=stream)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    delivered = len(result.emulation.workloads[0].responder.records)
    kernel = result.emulation.kernel
    return wall, cpu, delivered, link_efficiency(result), (kernel.switches + kernel.yields) / delivered


def link_efficiency(result: object) -> float:
    """Delivered pairs per emulated second over the physical bound p / attempt cycle (issue 5's figure)."""
    emu = result.emulation  # type: ignore[attr-defined]
    records = emu.workloads[0].origin.records
    rate = (len(records) - 1) / (records[-1].ok_time - records[0].ok_time) * 1e9
    physics = emu.link_physics[1]
    return float(rate / (physics.success_probability / physics.cycle_ns * 1e9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"default link (examples/two-qpus.toml), {args.pairs} pairs per run, median of {args.repeats}")
    print(f"{'workload':<10}{'capture':<9}{'wall s':>9}{'pairs/wall-s':>14}{'min':>9}{'max':>9}{'pairs/CPU-s':>13}"
          f"{'link eff.':>11}{'switches/pair':>15}")
    for kind in ("keep", "measure"):
        for capture in (True, False):
            rates, walls, efficiencies, cpu_rates = [], [], [], []
            for _ in range(args.repeats):
                wall, cpu, delivered, efficiency, switches = one_run(kind, args.pairs, capture)
                cpu_rates.append(delivered / cpu)
                walls.append(wall)
                rates.append(delivered / wall)
                efficiencies.append(efficiency)
            print(f"{kind:<10}{'on' if capture else 'off':<9}{statistics.median(walls):>9.3f}"
                  f"{statistics.median(rates):>14.0f}{min(rates):>9.0f}{max(rates):>9.0f}"
                  f"{statistics.median(cpu_rates):>13.0f}"
                  f"{statistics.median(efficiencies):>11.3f}{switches:>15.3f}")
    print("link eff.: delivered pairs per emulated second / (p / attempt cycle); the same seed every run")
    print("pairs/CPU-s: over the process's CPU time of the run, steadier than wall time on a busy machine")


if __name__ == "__main__":
    main()
