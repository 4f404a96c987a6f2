"""Physical layer: emulated attempts per wall-second (sampled) and photon frames per wall-second (exact).

    python bench/bench_physical.py [--repeats 5]

Sampled mode skips failed attempts, so its attempts per wall-second grow with the loss; the
exact mode emits every attempt's photons as quantum frames (and a herald per attempt).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from stack.runtime import run_scenario
from stack.scenario import load_text

SCENARIO = """
[run]
duration_ms = 1e9
[nodes.a]
kind = "qpu"
[nodes.b]
kind = "qpu"
[nodes.mid]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "mid"
scheme = "{scheme}"
mode = "{mode}"
length_km = {length}
[[workload]]
node = "a"
remote = "b"
type = "measure"
pairs = {pairs}
"""


def measure(scheme: str, mode: str, length: float, pairs: int) -> tuple[float, int, int, float]:
    scenario = load_text(SCENARIO.format(scheme=scheme, mode=mode, length=length, pairs=pairs), "<bench>")
    capture = io.BytesIO()
    started = time.perf_counter()
    result = run_scenario(scenario, pcap=capture)
    wall = time.perf_counter() - started
    state = result.emulation.heralding.links[1]
    frames = result.emulation.network.pcap.frames if result.emulation.network.pcap else 0
    return wall, state.attempts, frames, result.emulation.link_physics[1].success_probability


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"median of {args.repeats} runs, measure-directly requests, capture on")
    print(f"{'scheme':<14}{'mode':<9}{'km':>6}{'p':>11}{'pairs':>7}{'attempts/wall-s':>17}{'frames/wall-s':>15}")
    print("(frames: every captured frame, photons and classical messages)")
    cases = (("double-click", "sampled", 100.0, 2000), ("double-click", "sampled", 10.0, 2000),
             ("single-click", "sampled", 100.0, 2000), ("double-click", "exact", 1.0, 300),
             ("single-click", "exact", 1.0, 300))
    for scheme, mode, length, pairs in cases:
        runs = [measure(scheme, mode, length, pairs) for _ in range(args.repeats)]
        attempts = statistics.median(r[1] / r[0] for r in runs)
        frames = statistics.median(r[2] / r[0] for r in runs)
        print(f"{scheme:<14}{mode:<9}{length:>6.0f}{runs[0][3]:>11.2e}{pairs:>7}{attempts:>17.3g}{frames:>15.0f}")


if __name__ == "__main__":
    main()
