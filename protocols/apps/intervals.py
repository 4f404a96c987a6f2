"""Honest error bars from a few outcomes: the standard error and 95 % interval of a linear function of binomial
proportions after Price and Bonett (2004), "An improved confidence interval for a linear function of binomial
proportions", Computational Statistics & Data Analysis 45, 449–456 (the Agresti–Coull idea, "add two successes
and two failures", shared out over m proportions).

For θ = c₀ + Σⱼ cⱼ·pⱼ estimated from kⱼ successes in nⱼ trials, each proportion gets 2/m of a success and 2/m of a
failure added, p̃ⱼ = (kⱼ + 2/m)/(nⱼ + 4/m); the standard error is √(Σⱼ cⱼ²·p̃ⱼ(1 − p̃ⱼ)/(nⱼ + 4/m)) and the 95 %
interval (c₀ + Σⱼ cⱼ·p̃ⱼ) ± 1.96 of it. The plain √(Σ cⱼ²·pⱼ(1 − pⱼ)/nⱼ) is 0 whenever every pⱼ is 0 or 1 (one
pair, or a few that all agree: "±0"); this one never is, and tends to it as the trials grow. With m = 1 it is the
Agresti–Coull interval of one proportion. The report's workload uses it for its measured fidelity
(:mod:`stack.report_estimates`), the applications for QBER, S, and the teleportation and GHZ fidelities.

>>> one = linear_interval([(1.0, 0, 3)])                  # 0 errors in 3 bits: not "0 ± 0"
>>> round(one.stderr, 3), round(one.low, 3), round(one.high, 3)
(0.171, 0.0, 0.62)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95 % interval."""


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimate's standard error and 95 % interval (within the bounds asked for)."""

    stderr: float
    low: float
    high: float


def linear_interval(terms: Sequence[tuple[float, int, int]], constant: float = 0.0,
                    bounds: tuple[float, float] = (0.0, 1.0)) -> Interval:
    """Price–Bonett for ``constant`` + Σ c·(k/n) over ``terms`` (c, k successes, n trials), n ≥ 1 each (module
    docstring); the interval is clipped to ``bounds``. ValueError with no terms or a term of no trials.

    >>> iv = linear_interval([(-0.5, 0, 1)] * 3, constant=1.0)    # F = 1 − Σe/2, one pair a basis, all agree
    >>> round(iv.stderr, 3), round(iv.low, 3), iv.high
    (0.256, 0.069, 1.0)
    """
    if not terms or any(n < 1 for _, _, n in terms):
        raise ValueError("an interval needs at least one proportion, each of one trial or more")
    m = len(terms)
    adjusted = [(c, (k + 2 / m) / (n + 4 / m), n + 4 / m) for c, k, n in terms]
    stderr = math.sqrt(sum(c * c * p * (1 - p) / size for c, p, size in adjusted))
    centre = constant + sum(c * p for c, p, _ in adjusted)
    return Interval(stderr, max(bounds[0], centre - Z_95 * stderr), min(bounds[1], centre + Z_95 * stderr))
