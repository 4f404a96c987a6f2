"""stack.timing.clocks: the clock model's readings, inverse, servo corrections, noise statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.timing.clocks import Clock

HYPOTHESIS = settings(max_examples=60, deadline=None)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_offset_and_frequency_error_are_exact() -> None:
    c = Clock(rng(), offset_ns=-250.5, frequency_ppm=-12.0)
    assert c.local_ns(0.0) == -250.5
    assert c.local_ns(3e9) == pytest.approx(3e9 - 250.5 - 36_000.0, abs=1e-6)
    assert c.frequency_ppb(1e9) == pytest.approx(-12_000.0)
    assert c.timestamp(5e8) == c.local_ns(5e8)      # no jitter configured


def test_adjust_steps_phase_and_sets_frequency_absolutely() -> None:
    c = Clock(rng(), frequency_ppm=10.0)
    c.adjust(100.0, -10_000.0, at_true_ns=1e9)
    assert c.error_ns(1e9) == pytest.approx(10_000.0 + 100.0)
    assert c.error_ns(2e9) == pytest.approx(10_100.0)          # frequency error cancelled
    c.adjust(0.0, -9_000.0, at_true_ns=2e9)                   # absolute: now +1 ppm net
    assert c.error_ns(3e9) == pytest.approx(10_100.0 + 1_000.0)
    c.adjust(-1_100.0, None, at_true_ns=3e9)                  # None keeps the frequency
    assert c.error_ns(4e9) == pytest.approx(10_000.0 + 1_000.0)
    assert c.error_ns(0.5e9) == pytest.approx(5_000.0)         # earlier readings unchanged
    with pytest.raises(ValueError):
        c.adjust(1.0, None, at_true_ns=2.5e9)


def test_two_adjustments_at_the_same_instant_combine() -> None:
    c = Clock(rng())
    c.adjust(5.0, 100.0, 1e6)
    c.adjust(-2.0, 300.0, 1e6)
    assert c.local_ns(1e6) == pytest.approx(1e6 + 3.0)
    assert c.frequency_ppb(2e6) == pytest.approx(300.0)


def test_true_ns_inverts_across_steps_and_wander() -> None:
    c = Clock(rng(3), offset_ns=1_234.5, frequency_ppm=-15.0, wander_ppb=5.0, wander_step_ns=1_000_000)
    c.adjust(300.0, 1_000.0, 2e9)
    c.adjust(-50.0, None, 3e9)
    for t in np.linspace(-1e3, 5e9, 4001):
        reading = c.local_ns(float(t))
        assert c.local_ns(c.true_ns(reading)) == pytest.approx(reading, abs=1e-5)
        if not 3e9 <= t < 3e9 + 100:          # a reading repeated by the negative step
            assert c.true_ns(reading) == pytest.approx(t, abs=1e-5)


def test_a_timer_inside_a_positive_step_fires_at_the_step() -> None:
    c = Clock(rng())
    c.adjust(1_000.0, None, 5e8)
    assert c.true_ns(5e8 + 400.0) == 5e8
    assert c.true_ns(5e8 + 1_500.0) == pytest.approx(5e8 + 500.0)


@HYPOTHESIS
@given(offset=st.floats(-1e6, 1e6), ppm=st.floats(-100, 100), wander=st.floats(0, 50),
       t=st.floats(0, 1e11), seed=st.integers(0, 2**32))
def test_inverse_property(offset: float, ppm: float, wander: float, t: float, seed: int) -> None:
    c = Clock(rng(seed), offset_ns=offset, frequency_ppm=ppm, wander_ppb=wander)
    reading = c.local_ns(t)
    assert c.true_ns(reading) == pytest.approx(t, abs=1e-4)


def test_sub_picosecond_precision_at_an_hour() -> None:
    c = Clock(rng(), offset_ns=0.25, frequency_ppm=1e-9)   # 1e-15: 3.6 ps per hour
    assert c.error_ns(3.6e12) == pytest.approx(0.25 + 3.6e-3, abs=1e-9)
    assert c.local_ns(3.6e12) - 3.6e12 == pytest.approx(0.2536, abs=1e-3)


def test_deterministic_whatever_the_query_order() -> None:
    times = [float(t) for t in np.linspace(0, 2e10, 50)]
    a = Clock(rng(7), wander_ppb=3.0, jitter_ps=10.0)
    b = Clock(rng(7), wander_ppb=3.0, jitter_ps=10.0)
    forward = [a.local_ns(t) for t in times]
    b.local_ns(times[-1])                                # grow b's grid first
    backward = [b.local_ns(t) for t in reversed(times)]
    assert forward == backward[::-1]
    assert [a.timestamp(1.0) for _ in range(5)] == [b.timestamp(1.0) for _ in range(5)]


def test_jitter_has_the_configured_standard_deviation() -> None:
    c = Clock(rng(11), jitter_ps=10.0)
    n = 20_000
    errors = np.array([c.timestamp(i * 1e3) - c.local_ns(i * 1e3) for i in range(n)])
    # sample variance / σ² ~ χ²_n / n: relative std sqrt(2/n) = 1 %; allow 5 sigma
    assert np.var(errors) / 0.010**2 == pytest.approx(1.0, abs=5 * math.sqrt(2 / n))
    assert abs(errors.mean()) < 5 * 0.010 / math.sqrt(n)


def test_wander_is_a_random_walk_with_the_configured_diffusion() -> None:
    step = 10_000_000
    c = Clock(rng(5), wander_ppb=2.0, wander_step_ns=step)
    n = 20_000
    freq = np.array([c.frequency_ppb(k * step + step / 2) for k in range(n + 1)])
    increments = np.diff(freq)
    expected = 2.0**2 * step / 1e9                       # ppb² per step
    assert np.var(increments) / expected == pytest.approx(1.0, abs=5 * math.sqrt(2 / n))
    # the reading integrates the frequency: error(t) between grid points is linear
    k = 1234
    mid = c.error_ns((k + 0.5) * step)
    assert mid == pytest.approx((c.error_ns(k * step) + c.error_ns((k + 1) * step)) / 2, abs=1e-6)


def test_forget_before_frees_the_grid() -> None:
    c = Clock(rng(), wander_ppb=1.0, wander_step_ns=1_000_000)
    late = c.local_ns(5e9)
    c.forget_before(4e9)
    assert c.local_ns(5e9) == late
    with pytest.raises(ValueError):
        c.local_ns(1e9)


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Clock(rng(), jitter_ps=-1.0)
    with pytest.raises(ValueError):
        Clock(rng(), wander_step_ns=0)
