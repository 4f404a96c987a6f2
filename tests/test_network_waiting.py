"""Waiting times of a repeater chain (protocols/network/waiting.py) against independent oracles: Monte Carlo
with 4-σ tolerances from the sample, exact rational arithmetic, inclusion–exclusion, and brute-force sums
over the geometric distributions (Bernardes, Praxmeyer, van Loock 2011; Shchukin, Schmidt, van Loock 2019)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.network.model import (
    Chain,
    Memory,
    Repeater,
    characters,
    memory_channel,
    werner,
    worst_case_fidelity,
    xor_convolve,
)
from protocols.network.waiting import (
    MOST_LIKELY,
    Generation,
    abs_diff_geometric_pmf,
    expected_generation_ns,
    expected_max_exponential,
    expected_max_geometric,
    log_wait_moment,
    mid_distribution,
    swaps_within,
    wait_moment,
    waiting_memory_channel,
)

SIGMAS = 4
RNG = np.random.default_rng(20240613)


def exact_expected_max(n: int, p: Fraction) -> Fraction:
    """The alternating sum in exact rational arithmetic: no cancellation error at any n."""
    q = 1 - p
    return sum((Fraction((-1) ** (k + 1) * math.comb(n, k)) / (1 - q**k) for k in range(1, n + 1)), Fraction(0))


@pytest.mark.parametrize("p", [0.9, 0.5, 0.2, 0.01, 1e-4])
def test_two_hops_closed_form(p: float) -> None:
    assert expected_max_geometric(2, p) == pytest.approx((3 - 2 * p) / (p * (2 - p)), rel=1e-13)
    assert expected_max_geometric(1, p) == pytest.approx(1 / p, rel=1e-15)


@pytest.mark.parametrize("n", [3, 8, 20, 21, 32, 64, 200])
@pytest.mark.parametrize("p", [Fraction(1, 2), Fraction(1, 10), Fraction(1, 1000), Fraction(1, 10**5),
                               Fraction(1, 10**7)])
def test_expected_max_geometric_against_exact_rationals(n: int, p: Fraction) -> None:
    assert expected_max_geometric(n, float(p)) == pytest.approx(float(exact_expected_max(n, p)), rel=1e-9)


@pytest.mark.parametrize(("n", "p"), [(2, 0.2), (4, 0.2), (8, 0.05), (32, 0.3)])
def test_expected_max_geometric_against_monte_carlo(n: int, p: float) -> None:
    samples = RNG.geometric(p, size=(20_000, n)).max(axis=1)
    stderr = samples.std(ddof=1) / math.sqrt(len(samples))
    assert abs(samples.mean() - expected_max_geometric(n, p)) < SIGMAS * stderr


def test_expected_max_geometric_rejects_nonsense() -> None:
    assert expected_max_geometric(5, 1.0) == 1.0
    for n, p in [(0, 0.5), (2, 0.0), (2, 1.5)]:
        with pytest.raises(ValueError, match="need n"):
            expected_max_geometric(n, p)


def inclusion_exclusion(rates: list[float]) -> float:
    """E[max] = Σ_{S ≠ ∅} (−1)^{|S|+1} / Σ_{i∈S} rᵢ (the max's survival function expanded)."""
    return sum((-1) ** (k + 1) / sum(subset) for k in range(1, len(rates) + 1)
               for subset in itertools.combinations(rates, k))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1e-9, max_value=1.0), min_size=1, max_size=7))
def test_expected_max_exponential_against_inclusion_exclusion(rates: list[float]) -> None:
    assert expected_max_exponential(rates) == pytest.approx(inclusion_exclusion(rates), rel=1e-9)


def test_expected_max_exponential_equal_rates_is_harmonic() -> None:
    assert expected_max_exponential([0.5] * 40) == pytest.approx(sum(1 / k for k in range(1, 41)) / 0.5, rel=1e-10)


def test_expected_max_exponential_against_monte_carlo() -> None:
    rates = [1e-3, 2e-4, 5e-3, 1e-4]
    samples = RNG.exponential(1 / np.array(rates), size=(40_000, len(rates))).max(axis=1)
    stderr = samples.std(ddof=1) / math.sqrt(len(samples))
    assert abs(samples.mean() - expected_max_exponential(rates)) < SIGMAS * stderr
    with pytest.raises(ValueError, match="positive"):
        expected_max_exponential([1.0, 0.0])


@pytest.mark.parametrize("p", [0.05, 0.2, 0.7])
def test_abs_diff_pmf_against_enumeration(p: float) -> None:
    def geometric(g: int) -> float:
        return p * (1 - p) ** (g - 1)

    top = math.ceil(60 / p)
    for d in range(6):
        enumerated = sum(geometric(g) * geometric(g + d) for g in range(1, top)) * (1 if d == 0 else 2)
        assert abs_diff_geometric_pmf(d, p) == pytest.approx(enumerated, rel=1e-10)
    assert abs_diff_geometric_pmf(-1, p) == 0.0
    assert sum(abs_diff_geometric_pmf(d, p) for d in range(top)) == pytest.approx(1.0, abs=1e-12)


def test_expected_generation_exact_for_identical_hops_else_exponential() -> None:
    same = [Generation(0.2, 1_000)] * 3
    assert expected_generation_ns(same) == pytest.approx(1_000 * float(exact_expected_max(3, Fraction(1, 5))))
    mixed = [Generation(0.2, 1_000), Generation(0.1, 4_000)]
    assert expected_generation_ns(mixed) == pytest.approx(inclusion_exclusion([0.2 / 1_000, 0.1 / 4_000]))


# ---- memory decay of the waiting half --------------------------------------------------------------------

def dephasing(t: float, t2: float) -> tuple[float, float, float, float]:
    pz = (1 - math.exp(-t / t2)) / 2
    return (1 - pz, 0.0, pz, 0.0)


def brute_waiting_channel(p1: float, p2: float, cycle: float, t2: float, cutoff: float,
                          offset: float = 0.0) -> list[float]:
    """Σ over both hops' slot counts of P(g1)P(g2)·Z(|(g1 − g2)·c + offset|), kept when the wait (between the
    two OKs, ``offset`` apart for halves heralded together) is within the cutoff."""
    out, kept = [0.0] * 4, 0.0
    top = math.ceil(50 / min(p1, p2))
    for g1, g2 in itertools.product(range(1, top), repeat=2):
        wait = abs((g1 - g2) * cycle + offset)
        if wait > cutoff:
            continue
        weight = p1 * (1 - p1) ** (g1 - 1) * p2 * (1 - p2) ** (g2 - 1)
        kept += weight
        out = [o + weight * z for o, z in zip(out, dephasing(wait, t2), strict=True)]
    return [o / kept for o in out]


def test_waiting_channel_two_identical_hops_is_the_issue_oracle() -> None:
    # Σ_d P(d)·Z(d·c) with P(0) = p/(2−p), P(d) = 2p(1−p)^d/(2−p): the decay oracle of network-design §12.4
    p, cycle, t2 = 0.2, 10_000, 200_000
    expected = [0.0] * 4
    for d in range(0, 400):
        weight = p / (2 - p) if d == 0 else 2 * p * (1 - p) ** d / (2 - p)
        expected = [e + weight * z for e, z in zip(expected, dephasing(d * cycle, t2), strict=True)]
    got = waiting_memory_channel(Generation(p, cycle), Generation(p, cycle), Memory(math.inf, t2))
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("p1", "p2", "cutoff"), [(0.2, 0.2, 35_000), (0.3, 0.1, math.inf), (0.3, 0.1, 20_000),
                                                  (0.5, 0.25, 0)])
def test_waiting_channel_against_brute_force(p1: float, p2: float, cutoff: float) -> None:
    cycle, t2 = 10_000, 150_000
    got = waiting_memory_channel(Generation(p1, cycle), Generation(p2, cycle), Memory(math.inf, t2), cutoff)
    assert got == pytest.approx(brute_waiting_channel(p1, p2, cycle, t2, cutoff), abs=1e-10)


@pytest.mark.parametrize(("p1", "p2", "cutoff", "offset"), [
    (0.2, 0.2, 5_000, 0),                   # a cutoff shorter than a cycle: only the halves heralded together
    (0.2, 0.2, 5_000, 3_000),               # … which wait 3 µs for the later OK (a CONFIRM)
    (0.3, 0.1, 9_000, 8_000),               # both m = 0 (8 µs) and m = −1 (2 µs) within it
    (0.3, 0.1, 35_000, -4_000), (0.3, 0.1, math.inf, 13_000), (0.5, 0.25, 1_000, -10_500)])
def test_waiting_channel_with_an_ok_offset_against_brute_force(p1: float, p2: float, cutoff: float,
                                                               offset: float) -> None:
    cycle, t2 = 10_000, 150_000
    got = waiting_memory_channel(Generation(p1, cycle), Generation(p2, cycle), Memory(math.inf, t2), cutoff,
                                 offset)
    assert got == pytest.approx(brute_waiting_channel(p1, p2, cycle, t2, cutoff, offset), abs=1e-10)


def test_a_cutoff_shorter_than_a_cycle_is_not_a_wait_of_zero() -> None:
    """The model of before: a cutoff under one cycle kept only D = 0, the halves never waited (F too high)."""
    hop, memory = Generation(0.2, 10_000), Memory(math.inf, 20_000)
    got = characters(waiting_memory_channel(hop, hop, memory, 9_999, 9_000))
    assert got[2] == pytest.approx(math.exp(-9_000 / 20_000) * 1 / (1 + 0.8) + math.exp(-1_000 / 20_000) * 0.8 / 1.8)


def sliding_grids(p1: float, c1: float, p2: float, c2: float, offset: float, cutoff: float, t2: float,
                  n: int = 400_000) -> tuple[float, float]:
    """Monte Carlo of two hops attempting on grids of different cycles with independent uniform phases: the
    mean of e^(−W/T2) over the kept waits W = |T_left − T_right + offset| ≤ cutoff, and its standard error."""
    x = (RNG.geometric(p1, n) * c1 + RNG.uniform(0, c1, n)) - (RNG.geometric(p2, n) * c2 + RNG.uniform(0, c2, n))
    wait = np.abs(x + offset)
    decay = np.exp(-wait[wait <= cutoff] / t2)
    return float(decay.mean()), float(decay.std() / math.sqrt(decay.size))


@pytest.mark.parametrize(("p1", "c1", "p2", "c2", "offset", "cutoff"), [
    (0.059, 10_794, 0.059, 40_174, 9_793, 5_000),      # the walker's cut2: a 5 µs cutoff, cycles 10.8 and 40.2 µs
    (0.059, 10_794, 0.059, 40_174, -39_174, 30_000),
    (0.2, 10_000, 0.1, 13_000, 2_000, 8_000)])
def test_different_cycles_against_sliding_grids(p1: float, c1: float, p2: float, c2: float, offset: float,
                                                cutoff: float) -> None:
    """Different cycles: the continuous model against the grids it stands for, within 4 σ of the sample plus
    2·10⁻³ for the exponential approximation of the geometric times (it is ~10⁻³ here)."""
    t2 = 50_000
    got = characters(waiting_memory_channel(Generation(p1, c1), Generation(p2, c2), Memory(math.inf, t2), cutoff,
                                            offset))
    mean, stderr = sliding_grids(p1, c1, p2, c2, offset, cutoff, t2)
    assert got[2] == got[3] == pytest.approx(mean, abs=SIGMAS * stderr + 2e-3)


def test_no_wait_on_the_grid_within_the_cutoff_stands_in_the_continuous_model() -> None:
    """Equal cycles whose OKs are never within the cutoff on the model's grid (2 µs apart at best, cutoff 1 µs):
    the continuous model of sliding grids stands in (jitter or real timing moves the OKs off the grid, and
    such hops do swap: review 9d); a cutoff reaching the nearest point of the grid (m = 0: 2 µs) uses it."""
    hop, memory = Generation(0.1, 10_000), Memory(math.inf, 30_000)
    assert not swaps_within(hop, hop, 1_000, 2_000) and not swaps_within(hop, hop, 1_999, -72_000)
    sliding = Generation(0.1, math.nextafter(10_000, math.inf))
    assert waiting_memory_channel(hop, hop, memory, 1_000, 2_000) == waiting_memory_channel(
        sliding, hop, memory, 1_000, 2_000)
    assert characters(waiting_memory_channel(hop, hop, memory, 1_000, 2_000))[2] > math.exp(-1_000 / 30_000)
    assert swaps_within(hop, hop, 2_000, 2_000) and swaps_within(hop, hop, 8_000, 2_000)      # m = 0; m = −1
    assert characters(waiting_memory_channel(hop, hop, memory, 2_000, 2_000))[2] == pytest.approx(
        math.exp(-2_000 / 30_000), abs=1e-15)
    assert swaps_within(hop, Generation(0.1, 10_001), 1, 2_000)      # sliding grids: any cutoff above 0
    assert not swaps_within(hop, Generation(0.1, 10_001), 0, 2_000)


def test_a_fast_hop_beside_a_slow_one_under_a_short_cutoff() -> None:
    """The reviewer's cut.toml: a 10 µs hop of p = 0.5 beside a 20 ms one, OKs 19.99 ms apart, a 100 µs cutoff.
    Every kept X = T_left − T_right lies in [−s − τ, −s + τ] > 0, where the density is ∝ e^(−λ_left·x): a mass
    of e^(−1000) that underflowed to 0 (ZeroDivisionError). Shifted by hand to y = x + s + τ in [0, 2τ] (W =
    |y − τ|) and integrated numerically, it is an ordinary truncated exponential."""
    fast, slow, offset, cutoff, t1, t2 = Generation(0.5, 10_000), Generation(0.5, 20_000_000), -19_990_000, 100_000, \
        3e5, 1e5
    assert wait_moment(fast, slow, 0.0, cutoff, offset) == 0.0 < math.exp(700 + log_wait_moment(fast, slow, 0.0,
                                                                                                 cutoff, offset))
    got = characters(waiting_memory_channel(fast, slow, Memory(t1, t2), cutoff, offset))
    y = np.linspace(0, 2 * cutoff, 2_000_001)
    density = np.exp(-fast.rate * y)
    for s, t in [(1, t1), (2, t2), (3, t2)]:
        expected = np.trapezoid(density * np.exp(-np.abs(y - cutoff) / t), y) / np.trapezoid(density, y)
        assert got[s] == pytest.approx(float(expected), abs=1e-9)
    assert got[2] > math.exp(-cutoff / t2)                  # the fast hop's latest pairs wait least


EXTREME_P = st.one_of(st.sampled_from([1.0, MOST_LIKELY, 0.5, 1e-6, 1e-12]), st.floats(1e-12, 1.0))
CYCLES = st.one_of(st.sampled_from([1, 1_000, 10_794, 20_000_000, 1e10]), st.floats(1.0, 1e10))
WAITS = st.one_of(st.sampled_from([0.0, 1.0, 1_000.0, 1e7, math.inf]), st.floats(0.0, 1e11))
LIFETIMES = st.one_of(st.sampled_from([1.0, 1e3, 1e6, math.inf]), st.floats(1e-3, 1e13))


@settings(max_examples=400, deadline=None)
@given(p=st.tuples(EXTREME_P, EXTREME_P), cycles=st.tuples(CYCLES, CYCLES), same_cycle=st.booleans(),
       offset=st.integers(-10**10, 10**10), cutoff=WAITS, t1=LIFETIMES, t2=LIFETIMES)
def test_the_waiting_channel_is_a_channel_for_any_inputs(p: tuple[float, float], cycles: tuple[float, float],
                                                         same_cycle: bool, offset: int, cutoff: float, t1: float,
                                                         t2: float) -> None:
    """Extreme success probabilities, cycles, cutoffs and memories: never an exception but ValueError for a
    cutoff of 0 no wait meets, never NaN or inf; a distribution whose fidelity lies between that of the longest wait
    the cutoff keeps (the worst case) and 1; D_mid of a two-hop chain never below its F_worst."""
    left = Generation(p[0], cycles[0])
    right = Generation(p[1], cycles[0] if same_cycle else cycles[1])
    memory = Memory(t1, min(t2, 2 * t1))
    try:
        got = waiting_memory_channel(left, right, memory, cutoff, offset)
    except ValueError:
        assert cutoff == 0 and not swaps_within(left, right, cutoff, offset)
        return
    assert all(math.isfinite(x) and -1e-12 <= x <= 1 + 1e-12 for x in got) and sum(got) == pytest.approx(1.0)
    assert memory.channel(cutoff)[0] - 1e-12 <= got[0] <= 1.0 + 1e-12
    chain = Chain((werner(0.97), werner(0.9)), (Repeater(memory, herald_ns=(offset, 0)),))
    mid = mid_distribution(chain, [left, right], cutoff)
    assert all(math.isfinite(x) for x in mid) and worst_case_fidelity(chain, cutoff) <= mid[0] + 1e-12


def test_waiting_channel_with_amplitude_damping_keeps_its_characters_exponential() -> None:
    p, cycle, t1, t2 = 0.25, 5_000, 300_000, 200_000
    got = characters(waiting_memory_channel(Generation(p, cycle), Generation(p, cycle), Memory(t1, t2)))
    for s, t in [(1, t1), (2, t2), (3, t2)]:
        expected = sum(abs_diff_geometric_pmf(d, p) * math.exp(-d * cycle / t) for d in range(2_000))
        assert got[s] == pytest.approx(expected, abs=1e-12)


def test_mid_distribution() -> None:
    link = (0.95, 0.02, 0.02, 0.01)
    one = Chain((link,), ())
    assert mid_distribution(one, [Generation(0.1, 1_000)]) == pytest.approx(link, abs=1e-15)
    repeater = Repeater(Memory(math.inf, 2e5), 0.99, 0.98, 3_000)
    two = Chain((link, werner(0.97)), (repeater,), Memory(), Memory(), 10_000)
    hop = Generation(0.2, 10_000)
    expected = link
    for channel in (werner(0.97), repeater.noise, waiting_memory_channel(hop, hop, repeater.memory, 50_000),
                    memory_channel(6_000, math.inf, 2e5)):
        expected = xor_convolve(expected, channel)
    assert mid_distribution(two, [hop, hop], 50_000) == pytest.approx(expected, abs=1e-12)
    timed = Repeater(Memory(math.inf, 2e5), 0.99, 0.98, 3_000, confirm_ns=(4_000, 1_000), herald_ns=(9_000, 12_000))
    expected = link                         # OKs 4 + 9 − 1 − 12 = 0 µs apart; both CONFIRM waits are storage
    for channel in (werner(0.97), timed.noise, waiting_memory_channel(hop, hop, timed.memory, 50_000, 0),
                    memory_channel(6_000 + 5_000, math.inf, 2e5)):
        expected = xor_convolve(expected, channel)
    assert mid_distribution(Chain((link, werner(0.97)), (timed,)), [hop, hop], 50_000) == pytest.approx(expected,
                                                                                                       abs=1e-12)
    with pytest.raises(ValueError, match="hop generations"):
        mid_distribution(two, [hop])


@pytest.mark.parametrize("cycles", [(10_000, 10_000), (10_000, 40_000)])
@pytest.mark.parametrize("offset", [-45_000, 9_000, 45_000])
def test_a_memory_far_shorter_than_the_waits_overflows_nothing(cycles: tuple[int, int], offset: float) -> None:
    """T2 = 1 ns against waits of tens of µs (a scenario may say so): every term is factored with no positive
    exponent, so the characters are tiny numbers in [0, 1], not an OverflowError."""
    left, right = Generation(0.3, cycles[0]), Generation(0.2, cycles[1])
    for cutoff in (math.inf, 50_000, 5_000):
        got = characters(waiting_memory_channel(left, right, Memory(math.inf, 1.0), cutoff, offset))
        assert got[0] == pytest.approx(1.0) and all(0 <= c <= 1 for c in got[1:])
