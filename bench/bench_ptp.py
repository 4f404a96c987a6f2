"""PTP synchronisation figures: RMS offset after convergence and convergence time vs jitter.

    python bench/bench_ptp.py [--seeds 5] [--seconds 60]

Grandmaster and one slave (stack.timing.ptp_harness): symmetric 5 µs links, Sync every 125 ms,
PI servo kp = 0.7, ki = 0.3; the slave starts 100 µs off, 20 ppm fast, with 0.1 ppb/√s of
frequency wander. The offset is the TRUE one (clock readings) at each Sync arrival.
Convergence time: first Sync arrival after which |offset| stays below the threshold
(100 ps, or 8 × the theoretical RMS when that is larger). Medians over the seeds.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from protocols.sync.servo import offset_variance
from stack.timing.ptp_harness import SLAVE_IP, convergence_time, rms, two_node_harness

JITTERS_PS = (1.0, 10.0, 100.0)
WANDER_PPB = 0.1


def one_run(jitter_ps: float, seed: int, seconds: float, threshold_ns: float) -> tuple[float, float, float]:
    """(RMS offset ns after convergence, convergence time ns, wall s)."""
    started = time.perf_counter()
    h = two_node_harness(seed=seed, jitter_ps=jitter_ps, slave_offset_ns=100_000.0, frequency_ppm=20.0,
                         wander_ppb=WANDER_PPB, wander_step_ns=1_000_000)
    h.run(seconds * 1e9)
    trace = h.trace[SLAVE_IP]
    converged = convergence_time(trace, threshold_ns)
    if converged is None:
        return math.nan, math.nan, time.perf_counter() - started
    return rms(trace, after_ns=converged), converged, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(f"grandmaster + slave, {args.seconds:g} s emulated, median of {args.seeds} seeds")
    print(f"{'jitter ps':>10}{'theory ps':>11}{'RMS ps':>9}{'min':>8}{'max':>8}"
          f"{'threshold ps':>14}{'converged ms':>14}{'wall s':>8}")
    for jitter in JITTERS_PS:
        theory = math.sqrt(offset_variance(0.7, 0.3, jitter * 1e-3, WANDER_PPB, 125e6))
        threshold = max(0.1, 8 * theory)
        runs = [one_run(jitter, seed, args.seconds, threshold) for seed in range(args.seeds)]
        values = [r[0] * 1e3 for r in runs]
        print(f"{jitter:>10g}{theory * 1e3:>11.1f}{statistics.median(values):>9.1f}{min(values):>8.1f}"
              f"{max(values):>8.1f}{threshold * 1e3:>14.0f}{statistics.median(r[1] for r in runs) / 1e6:>14.0f}"
              f"{statistics.median(r[2] for r in runs):>8.2f}")


if __name__ == "__main__":
    main()
