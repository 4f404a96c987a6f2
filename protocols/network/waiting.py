"""Waiting times of a repeater chain (network-design §9.6) and the memory decay they cause (§9.5).

Each hop generates its pair in a geometric number of attempt cycles. With every hop starting together and
swaps as soon as possible, an end-to-end pair is ready after the slowest hop; for K hops of success
probability p per attempt (Bernardes, Praxmeyer, van Loock, "Rate analysis for a hybrid quantum repeater",
Phys. Rev. A 83, 012323 (2011), arXiv:1010.0106; Shchukin, Schmidt, van Loock, "Waiting time in quantum
repeaters with probabilistic entanglement swapping", Phys. Rev. A 100, 032322 (2019), arXiv:1710.06214,
with deterministic swapping):

    E[slots] = E[max(G₁, …, G_K)] = Σ_{k=1..K} (−1)^{k+1} C(K, k) / (1 − (1 − p)^k)

which is (3 − 2p)/(p(2 − p)) for K = 2. Hops of different rates use the exponential approximation.
At a repeater the earlier of its two halves waits for the later one's OK: |G₁ − G₂| cycles shifted by the
difference of their OK lags (:func:`wait_moment`).

>>> round(expected_max_geometric(2, 0.2), 6)            # (3 − 2p)/(p(2 − p))
7.222222
>>> round(abs_diff_geometric_pmf(0, 0.2), 6)            # p/(2 − p)
0.111111
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from protocols.network.model import Chain, Characters, Memory, chain_distribution, from_characters
from protocols.physical.hardware import BellDistribution

ALTERNATING_MAX_N = 20
"""Up to this many variables the alternating sum is used: its cancellation costs about 2^n ulps."""
DIRECT_SUM_MAX_TERMS = 2_000_000
"""The stable sum Σ_t P(max > t) is summed term by term while it needs fewer terms than this."""


@dataclass(frozen=True, slots=True)
class Generation:
    """How a hop makes pairs: success probability per attempt and attempt cycle (ns)."""

    success: float
    cycle_ns: float

    @property
    def mean_ns(self) -> float:
        return self.cycle_ns / self.success

    @property
    def rate(self) -> float:
        """Successes per ns (the exponential approximation's rate)."""
        return self.success / self.cycle_ns


def expected_max_geometric(n: int, p: float) -> float:
    """E[max of n independent geometric variables on {1, 2, …} with success probability p].

    Up to 20 variables: the alternating sum Σ_{k=1..n} (−1)^{k+1} C(n,k)/(1 − (1−p)^k). Above, the stable
    Σ_{t≥0} (1 − (1 − (1−p)^t)^n), summed until its terms fall below 1e-17; when that takes more than
    2·10⁶ terms (p below ~2·10⁻⁵), its Euler–Maclaurin form H_n/(−ln(1−p)) + ½, whose remainder is
    smaller than the float64 rounding there (all derivatives of order < n vanish at t = 0).
    """
    if n < 1 or not 0 < p <= 1:
        raise ValueError(f"need n ≥ 1 and 0 < p ≤ 1, got n={n}, p={p}")
    if p == 1:
        return 1.0
    if n == 1:
        return 1 / p
    log_q = math.log1p(-p)
    if n <= ALTERNATING_MAX_N:
        return sum((-1) ** (k + 1) * math.comb(n, k) / -math.expm1(k * log_q) for k in range(1, n + 1))
    terms_needed = math.log(n * 1e17) / -log_q
    if terms_needed > DIRECT_SUM_MAX_TERMS:
        return sum(1 / k for k in range(1, n + 1)) / -log_q + 0.5
    t = np.arange(1, math.ceil(terms_needed) + 1, dtype=float)
    # the t = 0 term is 1; then 1 − (1 − q^t)^n, with q^t = exp(t ln q), accurate when q^t is tiny
    return 1.0 + float(-np.expm1(n * np.log1p(-np.exp(t * log_q))).sum())


_GAUSS_NODES, _GAUSS_WEIGHTS = np.polynomial.legendre.leggauss(24)


def expected_max_exponential(rates: Sequence[float]) -> float:
    """E[max of independent exponential variables with the given rates] = ∫₀^∞ (1 − ∏(1 − e^(−rᵢt))) dt.

    The integrand falls from 1 to 0 on the scales 1/rᵢ: it is integrated with 24-point Gauss–Legendre on
    the pieces [U·2^(−j−1), U·2^(−j)], j = 0…63, with U where it is below 1e-17 (relative error ~1e-12).
    """
    r = np.asarray(rates, dtype=float)
    if r.size == 0 or np.any(r <= 0):
        raise ValueError(f"rates must be positive, got {list(rates)}")
    upper = math.log(r.size * 1e17) / float(r.min())
    edges = upper * 2.0 ** -np.arange(64, -1, -1)                          # ascending, 65 edges
    low, high = edges[:-1, None], edges[1:, None]
    t = (high - low) / 2 * _GAUSS_NODES + (high + low) / 2                 # 64 × 24 points
    survival = -np.expm1(np.sum(np.log(-np.expm1(-np.multiply.outer(t, r))), axis=-1))
    return float(edges[0] + np.sum((high - low)[:, 0] / 2 * (survival @ _GAUSS_WEIGHTS)))


def abs_diff_geometric_pmf(d: int, p: float) -> float:
    """P(|G₁ − G₂| = d) for independent geometric G₁, G₂ with success probability p:
    p/(2 − p) for d = 0, 2p(1 − p)^d/(2 − p) for d ≥ 1."""
    if d < 0:
        return 0.0
    return p / (2 - p) if d == 0 else 2 * p * (1 - p) ** d / (2 - p)


def expected_generation_ns(hops: Sequence[Generation]) -> float:
    """Expected time until every hop holds a pair, all starting together: exact (c·E[max G]) when the hops
    are identical, else the exponential approximation with rates pᵢ/cᵢ."""
    first = hops[0]
    if all(hop == first for hop in hops):
        return first.cycle_ns * expected_max_geometric(len(hops), first.success)
    return expected_max_exponential([hop.rate for hop in hops])


MOST_LIKELY = math.nextafter(1.0, 0.0)
"""A success probability of 1 is taken as this (1 − 2⁻⁵³): q = 1 − p stays above 0, so a wait the grid
allows keeps a weight (e^−36.7 per cycle of difference) and never becomes impossible by rounding."""


def _log_sum(terms: Iterable[float]) -> float:
    """log Σ e^tᵢ, factored at the largest tᵢ (−inf when there are none or all are −inf)."""
    values = [t for t in terms if t > -math.inf]
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(math.fsum(math.exp(t - top) for t in values))


def _log_geometric_range(log_x: float, count: float) -> float:
    """log Σ_{j=0..count−1} e^(j·log_x) (``count`` may be math.inf when log_x < 0), factored at its largest term."""
    if count <= 0:
        return -math.inf
    if log_x > 0:
        return (count - 1) * log_x + _log_geometric_range(-log_x, count)
    if math.isinf(count):
        return -math.log(-math.expm1(log_x))
    if log_x == 0:
        return math.log(count)
    return math.log(-math.expm1(count * log_x)) - math.log(-math.expm1(log_x))


Scaled = tuple[float, float]
"""A log moment as (reference, rest): the reference holds its large part that does not depend on the decay
rate, so that rates' moments divide exactly however far below the float range both are."""


def _log_lattice_side(log_q: float, cycle: float, offset: float, rate: float, cutoff: float, first: int) -> Scaled:
    """log Σ_{n ≥ first, |n·c + offset| ≤ cutoff} qⁿ·e^(−rate·|n·c + offset|): one sign of G_left − G_right,
    scaled by q^low (the first n kept: the largest power)."""
    finite = math.isfinite(cutoff)
    low = max(first, math.ceil((-cutoff - offset) / cycle)) if finite else first
    high = math.floor((cutoff - offset) / cycle) if finite else math.inf
    turn = max(low, math.ceil(-offset / cycle))                  # the first n with n·c + offset ≥ 0
    pieces = []
    if turn <= high:
        pieces.append((turn - low) * log_q - rate * (turn * cycle + offset)
                      + _log_geometric_range(log_q - rate * cycle, high - turn + 1))
    last = turn - 1 if math.isinf(high) else min(int(high), turn - 1)   # before the turn n·c + offset < 0
    if low <= last:
        pieces.append(rate * (low * cycle + offset) + _log_geometric_range(log_q + rate * cycle, last - low + 1))
    return low * log_q, _log_sum(pieces)


def _log_exp_segment(k: float, length: float) -> float:
    """log ∫_0^length e^(−k·v) dv (``length`` may be math.inf when k > 0)."""
    if length <= 0:
        return -math.inf
    if math.isinf(length):
        return -math.log(k)
    x = k * length
    if x < 1e-8:                            # log(length) + log((1 − e^(−x))/x), exact to x²/24 (x may be subnormal)
        return math.log(length) - x / 2
    return math.log(-math.expm1(-x)) - math.log(k)


def _log_continuous_side(success_rate: float, offset: float, rate: float, cutoff: float) -> Scaled:
    """log ∫ e^(−λy)·e^(−rate·|u|) dy over y ≥ 0 with u = y + offset, |u| ≤ cutoff: one sign of
    T_left − T_right, scaled by e^(−λ·y_min), the density at the first y kept (the largest)."""
    y_min = max(0.0, -cutoff - offset)
    low = max(0.0, offset)                                       # u ≥ 0: the piece starts at u = low
    pieces = [-success_rate * (max(0.0, -offset) - y_min) - rate * low
              + _log_exp_segment(success_rate + rate, cutoff - low)]
    top = min(-offset, cutoff)                                   # u = −v < 0, v in (0, top]: y = −v − offset ≥ 0
    if top > 0:
        k = success_rate - rate                                  # the exponent −λy − rate·v, linear in v: slope k
        peak = -success_rate * (-top - offset - y_min) - rate * top if k > 0 else -success_rate * (-offset - y_min)
        pieces.append(peak + _log_exp_segment(abs(k), top))
    return -success_rate * y_min, _log_sum(pieces)


def _scaled_log_moment(left: Generation, right: Generation, rate: float, cutoff_ns: float,
                       offset_ns: float) -> Scaled:
    """:func:`log_wait_moment` as (reference, rest), the reference the same for every rate."""
    if left.cycle_ns == right.cycle_ns:
        cycle = left.cycle_ns
        sides = (_log_lattice_side(math.log1p(-min(left.success, MOST_LIKELY)), cycle, offset_ns, rate,
                                   cutoff_ns, 0),
                 _log_lattice_side(math.log1p(-min(right.success, MOST_LIKELY)), cycle, -offset_ns, rate,
                                   cutoff_ns, 1))
    else:
        sides = (_log_continuous_side(left.rate, offset_ns, rate, cutoff_ns),
                 _log_continuous_side(right.rate, -offset_ns, rate, cutoff_ns))
    kept = [(reference, rest) for reference, rest in sides if rest > -math.inf]   # the same sides for every rate
    if not kept:
        return 0.0, -math.inf
    top = max(reference for reference, _ in kept)
    return top, _log_sum(reference - top + rest for reference, rest in kept)


def log_wait_moment(left: Generation, right: Generation, rate: float, cutoff_ns: float = math.inf,
                    offset_ns: float = 0.0) -> float:
    """log E[e^(−rate·W); W ≤ cutoff] up to a term common to every rate, for a repeater's wait W: from the
    earlier of its two halves' OKs to the later one's, W = |X + offset| with X = T_left − T_right the
    difference of the hops' success times and ``offset_ns`` (OK − herald) of the left half minus that of the
    right (:attr:`protocols.network.model.Repeater.ok_offset_ns`). −inf when no wait lies within the cutoff.

    Equal attempt cycles c: the hops attempt on one grid (as the emulated links do), X = (G_left − G_right)·c
    with geometric G, P(X = m·c) ∝ q_left^m (m ≥ 0), q_right^|m| (m < 0), summed in closed form (geometric
    sums). Different cycles: the grids slide past each other and X is taken as continuous, the difference of
    exponential times of rates λᵢ = pᵢ/cᵢ, density ∝ e^(−λ_left·x) (x ≥ 0), e^(λ_right·x) (x < 0),
    integrated in closed form. In logarithms, so that a mass far below the float range (a fast hop beside a
    slow one: e^(−λ_fast·|offset|) under a short cutoff) is a number, not 0.

    >>> hop = Generation(0.5, 1_000)
    >>> round(math.exp(log_wait_moment(hop, hop, 0.0)), 6), log_wait_moment(hop, hop, 0.0, 100, 500)
    (3.0, -inf)
    """
    reference, rest = _scaled_log_moment(left, right, rate, cutoff_ns, offset_ns)
    return reference + rest


def wait_moment(left: Generation, right: Generation, rate: float, cutoff_ns: float = math.inf,
                offset_ns: float = 0.0) -> float:
    """E[e^(−rate·W); W ≤ cutoff] up to a factor common to every rate (:func:`log_wait_moment`; it may
    underflow to 0 where the logarithm does not).

    >>> hop = Generation(0.5, 1_000)
    >>> round(wait_moment(hop, hop, 0.0), 6), round(wait_moment(hop, hop, 0.0, 500, 800), 6)   # all; m = −1 only
    (3.0, 0.5)
    """
    return math.exp(log_wait_moment(left, right, rate, cutoff_ns, offset_ns))


def swaps_within(left: Generation, right: Generation, cutoff_ns: float = math.inf, offset_ns: float = 0.0) -> bool:
    """Whether a repeater's two halves can ever be within ``cutoff_ns`` of each other (:func:`log_wait_moment`):
    with equal cycles some point of the grid, |m·c + offset| ≤ cutoff; with different ones any cutoff above 0.

    >>> hop = Generation(0.1, 10_000)
    >>> swaps_within(hop, hop, 1_000, 2_000), swaps_within(hop, hop, 2_000, 2_000)
    (False, True)
    """
    return log_wait_moment(left, right, 0.0, cutoff_ns, offset_ns) > -math.inf


def waiting_memory_channel(left: Generation, right: Generation, memory: Memory,
                           cutoff_ns: float = math.inf, offset_ns: float = 0.0) -> BellDistribution:
    """The memory channel of a repeater's earlier half, averaged over its wait W (:func:`log_wait_moment`) and
    conditioned on W ≤ ``cutoff_ns`` (the cutoff counts from the OK: a half that waited longer was
    discarded); the memory's characters e^(−γt) average in closed form. Should no wait on the grid of equal
    cycles lie within the cutoff (:func:`swaps_within` False), the continuous model stands in: the grid is the
    model's, and classical jitter (``classical_jitter_ns``) or ``qnet up``'s real timing moves the OKs off it,
    so such hops do swap in a run (review 9d: refusing them refused circuits that delivered)."""
    _, kept = _scaled_log_moment(left, right, 0.0, cutoff_ns, offset_ns)
    if kept == -math.inf and left.cycle_ns == right.cycle_ns:
        left = Generation(left.success, math.nextafter(left.cycle_ns, math.inf))
        _, kept = _scaled_log_moment(left, right, 0.0, cutoff_ns, offset_ns)
    if kept == -math.inf:
        raise ValueError(f"no wait within a cutoff of {cutoff_ns} ns")     # only a cutoff ≤ 0: decide refuses it
    rates = memory.rates
    decay = {rate: min(1.0, math.exp(_scaled_log_moment(left, right, rate, cutoff_ns, offset_ns)[1] - kept))
             for rate in set(rates[1:])}                         # T2's two characters share one moment
    chars: Characters = (1.0, decay[rates[1]], decay[rates[2]], decay[rates[3]])
    return from_characters(chars)


def mid_distribution(chain: Chain, hops: Sequence[Generation], cutoff_ns: float = math.inf) -> BellDistribution:
    """D_mid (network-design §9.5): the end-to-end pair at the last swap, without the end halves' storage:
    links ⊛ swap noise ⊛ each repeater's earlier half averaged over its wait (truncated at the cutoff) ⊛ both
    halves' Bell-measurement time and their CONFIRM waits (``Repeater.confirm_ns``). A mean-field model: each
    repeater sees its two hops as fresh and independent."""
    if len(hops) != len(chain.links):
        raise ValueError(f"{len(chain.links)} links but {len(hops)} hop generations")
    channels = []
    for index, repeater in enumerate(chain.repeaters):
        channels.append(waiting_memory_channel(hops[index], hops[index + 1], repeater.memory, cutoff_ns,
                                               repeater.ok_offset_ns))
        channels.append(repeater.memory.channel(2 * repeater.bsm_ns + sum(repeater.confirm_ns)))
    return chain_distribution([chain.static_distribution()], channels)
