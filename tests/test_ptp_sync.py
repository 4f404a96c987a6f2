"""PTP synchronisation against theory, on the deterministic harness (stack.timing.ptp_harness).

x_n is the slave's TRUE offset from the grandmaster (Clock readings, not the engine's
estimate) when Sync n arrives; the servo theory is in protocols/sync/servo.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from protocols.sync.ptp import ClockQuality, PortState, PtpClock
from protocols.sync.servo import noise_gain, offset_variance
from stack.timing.clocks import Clock
from stack.timing.ptp_harness import (
    MASTER_IP,
    SLAVE_IP,
    Link,
    Node,
    PtpHarness,
    convergence_time,
    rms,
    two_node_harness,
)

SETTLE_NS = 20e9


def offsets(h: PtpHarness, after_ns: float = SETTLE_NS) -> np.ndarray:
    return np.array([x for t, x in h.trace[SLAVE_IP] if t >= after_ns])


def variance_tolerance(kp: float, ki: float, n: int, sigmas: float = 4.5, estimate: bool = False) -> float:
    """Allowed relative error of a sample variance of n correlated samples of x_n (``estimate``: of the
    offset estimates m_n = x_n + v_n, whose impulse response is x's plus the noise itself at lag 0).

    Var(s²)/σ_x⁴ ≈ (2/n)·Σ_k ρ_k² (k over all lags) for a Gaussian process; ρ_k is the
    autocorrelation of the loop's impulse response (white noise in, x out)."""
    a = np.array([[1 - kp - ki, 1.0], [-ki, 1.0]])
    b = np.array([-(kp + ki), -ki])                # v_n enters x and w
    h, state = [], np.zeros(2)
    for k in range(4_000):
        h.append(state[0])
        state = a @ state + (b if k == 0 else 0.0)
    h_arr = np.array(h)
    h_arr[0] += 1.0 if estimate else 0.0
    acov = np.correlate(h_arr, h_arr, "full")
    rho = acov / acov.max()
    return sigmas * math.sqrt(2 * float(np.sum(rho**2)) / n)


@pytest.mark.parametrize(("d_ms", "d_sm"), [(5_000.0, 7_000.0), (12_345.5, 2_000.25), (4_900.0, 4_900.0)])
def test_asymmetry_gives_exactly_the_known_bias(d_ms: float, d_sm: float) -> None:
    """No jitter: the slave locks to an offset of exactly (d_sm − d_ms)/2 (its estimate,
    slave − master, is biased by (d_ms − d_sm)/2 and the servo zeroes the estimate)."""
    h = two_node_harness(seed=1, slave_offset_ns=5_000.0, frequency_ppm=20.0, delay_ms_ns=d_ms, delay_sm_ns=d_sm)
    h.run(10e9)
    tail = offsets(h, after_ns=5e9)
    assert np.abs(tail - (d_sm - d_ms) / 2).max() < 1e-4
    last = h.nodes[SLAVE_IP].engine.samples[-1]
    assert last.offset_ns == pytest.approx(0.0, abs=1e-4)
    assert last.mean_path_delay_ns == pytest.approx((d_ms + d_sm) / 2, abs=1e-4)


@pytest.mark.parametrize(("kp", "ki", "jitter_ps", "seed"), [(0.7, 0.3, 100.0, 2), (0.7, 0.3, 10.0, 3),
                                                           (0.2, 0.02, 100.0, 4)])
def test_rms_offset_follows_the_servo_theory(kp: float, ki: float, jitter_ps: float, seed: int) -> None:
    """Var(x) = σ_j² · noise_gain(kp, ki), σ_j the timestamp jitter (offset noise σ = √4·σ_j/2);
    the offset estimate has Var(m) = σ_j² (1 + noise_gain)."""
    h = two_node_harness(seed=seed, jitter_ps=jitter_ps, slave_offset_ns=5_000.0, frequency_ppm=20.0, kp=kp, ki=ki)
    h.run(SETTLE_NS + 750e9)                          # 6,000 samples after settling
    x = offsets(h)
    sigma = jitter_ps * 1e-3
    theory = sigma**2 * noise_gain(kp, ki)
    tolerance = variance_tolerance(kp, ki, len(x))
    assert float(np.mean(x**2)) / theory == pytest.approx(1.0, abs=tolerance)
    estimates = np.array([s.offset_ns for s in h.nodes[SLAVE_IP].engine.samples if s.time_ns >= SETTLE_NS])
    assert float(np.mean(estimates**2)) / (sigma**2 * (1 + noise_gain(kp, ki))) == pytest.approx(
        1.0, abs=variance_tolerance(kp, ki, len(estimates), estimate=True))


def test_figure_10ps_jitter_symmetric_links(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 4's figure: 10 ps timestamp jitter, symmetric links, RMS offset < 100 ps."""
    h = two_node_harness(seed=10, jitter_ps=10.0, slave_offset_ns=100_000.0, frequency_ppm=20.0, wander_ppb=0.1)
    h.run(60e9)
    trace = h.trace[SLAVE_IP]
    converged = convergence_time(trace, threshold_ns=0.1)
    assert converged is not None and converged < 1e9
    value = rms(trace, after_ns=converged)
    assert value < 0.1
    with capsys.disabled():
        print(f"\n[figure] 10 ps jitter: RMS offset {value * 1e3:.1f} ps after convergence "
              f"(|offset| < 100 ps from {converged / 1e6:.0f} ms on)")


def test_frequency_error_and_wander_are_tracked() -> None:
    """20 ppm plus 1 ppb/√s random-walk wander: the offset stays bounded (no growth), its
    RMS matches the loop theory with wander, and the servo follows the wandering frequency."""
    h = two_node_harness(seed=5, jitter_ps=10.0, slave_offset_ns=5_000.0, frequency_ppm=20.0, wander_ppb=1.0,
                         wander_step_ns=1_000_000)
    h.run(SETTLE_NS + 600e9)
    x = offsets(h)
    theory = offset_variance(0.7, 0.3, 0.010, wander_ppb=1.0, interval_ns=125e6)
    assert float(np.mean(x**2)) / theory == pytest.approx(1.0, abs=variance_tolerance(0.7, 0.3, len(x)) + 0.03)
    half = len(x) // 2
    assert math.sqrt(np.mean(x[half:] ** 2)) < 1.3 * math.sqrt(np.mean(x[:half] ** 2))
    clock = h.nodes[SLAVE_IP].clock
    free_running = clock.frequency_ppb(h.now) - h.nodes[SLAVE_IP].engine.servo.frequency_ppb
    assert abs(free_running - 20_000.0) > 1.0                  # the wander really moved it
    assert abs(clock.frequency_ppb(h.now)) < 3.0               # and the servo cancels it


def test_transparent_clock_removes_asymmetric_residence() -> None:
    """A switch holds Syncs 3 µs (plus up to 2 µs of queueing both ways): uncorrected, the
    slave is off by −(3 µs + E[q] − E[q])/2; an E2E transparent clock removes it."""
    links = {(MASTER_IP, SLAVE_IP): Link(5_000.0, residence_ns=3_000.0, queueing_ns=2_000.0),
             (SLAVE_IP, MASTER_IP): Link(5_000.0, queueing_ns=2_000.0)}
    plain = two_node_harness(seed=6, slave_offset_ns=1_000.0, links=links)
    switch = Clock(np.random.default_rng(99), frequency_ppm=1.0, jitter_ps=10.0)
    corrected = two_node_harness(seed=6, slave_offset_ns=1_000.0, links=links, switch_clock=switch)
    plain.run(60e9)
    corrected.run(60e9)
    assert float(np.mean(offsets(plain))) == pytest.approx(-1_500.0, abs=60.0)
    assert abs(float(np.mean(offsets(corrected)))) < 0.05
    assert corrected.tc is not None and corrected.tc.corrected > 900


def test_best_master_is_elected_and_followed() -> None:
    """Two master-capable clocks and a slave: the better dataset wins; everyone follows it."""
    root = np.random.SeedSequence(8)
    rngs = [np.random.default_rng(s) for s in root.spawn(4)]
    ips = ["198.18.0.1", "198.18.0.2", "198.18.0.3"]
    engines = [PtpClock(0x01, peers=[ips[1], ips[2]]),
               PtpClock(0x02, peers=[ips[0], ips[2]], quality=ClockQuality(priority1=100)),
               PtpClock(0x03, quality=ClockQuality(clock_class=255))]
    clocks = [Clock(rngs[0], offset_ns=300.0, jitter_ps=10.0), Clock(rngs[1], frequency_ppm=-5.0, jitter_ps=10.0),
              Clock(rngs[2], offset_ns=-2_000.0, frequency_ppm=8.0, jitter_ps=10.0)]
    links = {(a, b): Link(4_000.0 + 100 * i + 10 * j) for i, a in enumerate(ips) for j, b in enumerate(ips) if a != b}
    h = PtpHarness([Node(ip, e, c) for ip, e, c in zip(ips, engines, clocks, strict=True)], links, rngs[3],
                   reference=ips[1])
    h.run(20e9)
    assert [e.state for e in engines] == [PortState.SLAVE, PortState.MASTER, PortState.SLAVE]
    assert engines[0].parent == engines[2].parent == (0x02, 1)
    for i in (0, 2):                                       # only the links' asymmetry remains
        asymmetry = (links[(ips[i], ips[1])].delay_ns - links[(ips[1], ips[i])].delay_ns) / 2
        assert h.offset_ns(ips[i], h.now) == pytest.approx(asymmetry, abs=0.1)
