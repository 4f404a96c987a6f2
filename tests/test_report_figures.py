"""The clock figures of the report are what docs/report.md says they are.

``rms_offset_after_convergence_ns`` is an RMS over time (samples spread evenly), not at the Sync
instants where protocols/sync/servo.py's theory gives the offset: between two Syncs the offset moves
linearly from x_n to x_{n+1}, so its mean square over time is (2·C(0) + C(1))/3, C being the per-Sync
autocovariance from the servo's impulse response. The tolerance is the estimator's own statistical
error (Gaussian fourth moments of the same process), so the test tells that factor (0.873 with the
default gains) from 1.
"""

from __future__ import annotations

import math

from protocols.sync.servo import impulse_response
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_text
from stack.timing.sync import convergence

JITTER_PS = 10.0
SYNC_INTERVAL_NS = 125e6
SCENARIO = f"""
[run]
duration_ms = 240000
[sync]
sample_interval_ms = 5
[nodes.a]
kind = "qpu"
ptp = "slave"
clock_offset_ns = 300.0
clock_frequency_ppm = 5.0
timestamp_jitter_ps = {JITTER_PS}
[nodes.b]
kind = "qpu"
[nodes.st]
kind = "station"
ptp = "grandmaster"
timestamp_jitter_ps = {JITTER_PS}
[links.ab]
a = "a"
b = "b"
station = "st"
length_km = 100.0
[[workload]]
node = "a"
remote = "b"
pairs = 1000
"""
"""One slave, one grandmaster, timestamp jitter only; a 100 km link keeps the run going for its full duration."""


def per_sync_autocovariance(kp: float, ki: float, sigma_ns: float) -> list[float]:
    """C(k) = σ² Σ_j h_j h_{j+k} for k = 0..59: the offset at the Sync instants, driven by measurement noise."""
    h = impulse_response(kp, ki, 400)
    return [sigma_ns**2 * sum(a * b for a, b in zip(h, h[k:], strict=False)) for k in range(60)]


def time_mean_square_and_its_error(c: list[float], intervals: int) -> tuple[float, float]:
    """E and standard error of the mean over ``intervals`` of q_n = (x_n² + x_n·x_{n+1} + x_{n+1}²)/3."""
    def cov(k: int) -> float:
        return c[abs(k)] if abs(k) < len(c) else 0.0

    terms = ((0, 0), (0, 1), (1, 1))

    def cov_q(k: int) -> float:          # Gaussian: Cov(x_a x_b, x_c x_d) = C(a-c)C(b-d) + C(a-d)C(b-c)
        return sum(cov(a - c - k) * cov(b - d - k) + cov(a - d - k) * cov(b - c - k)
                   for a, b in terms for c, d in terms) / 9

    variance = sum(cov_q(k) for k in range(-40, 41)) / intervals
    return (2 * c[0] + c[1]) / 3, math.sqrt(variance)


def test_rms_after_convergence_is_the_rms_over_time() -> None:
    result = run_scenario(load_text(SCENARIO, "sync.toml"))
    clock = build_report(result)["sync"]["nodes"]["a"]
    intervals = int((result.emulation.kernel.now - clock["converged_at_ns"]) / SYNC_INTERVAL_NS)
    c = per_sync_autocovariance(0.7, 0.3, JITTER_PS / 1e3)
    mean_square, error = time_mean_square_and_its_error(c, intervals)
    measured = clock["rms_offset_after_convergence_ns"] ** 2
    assert abs(measured - mean_square) < 4 * error + 0.01 * mean_square    # 1 %: 25 samples per interval, not ∫
    assert abs(measured - c[0]) > 4 * error                                # not the per-Sync figure
    assert math.isclose(math.sqrt(mean_square / c[0]), 0.873, abs_tol=5e-4)   # the factor docs/report.md gives


def test_converged_is_after_the_last_sample_at_or_above_100_ps() -> None:
    samples = [(0, 5.0), (10, 0.05), (20, 0.1), (30, 0.02), (40, -0.03)]
    assert convergence(samples) == 30                  # not 10, the first time it fell below
    assert convergence([(0, 0.01), (10, 0.02)]) == 0
    assert convergence([(0, 0.01), (10, 0.2)]) is None
