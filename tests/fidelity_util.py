"""A workload's measured fidelity and the tolerance a test allows it, from the raw per-basis counts.

The estimate is F̂ = 1 − (ê_X + ê_Y + ê_Z)/2 (a Bell-diagonal pair's fidelity from its disagreement rates,
:func:`stack.report_pairs.measured_fidelity`'s formula, which ``tests/test_error_bars.py`` checks). Its
standard error is worked out here from the pair counts n_b and the *expected* fidelity F, not taken from the
report's own error bar: each ê_b is a binomial proportion, so Var(F̂) = Σ_b e_b(1 − e_b)/(4 n_b). With
S = Σ_b e_b = 2(1 − F) and Σ_b e_b² ≥ S²/3 (Cauchy–Schwarz), Var(F̂) ≤ (S − S²/3)/(4 n_min), n_min the fewest
pairs in a basis: a bound that holds for any Bell-diagonal state of fidelity F, and is exact for a Werner
pair measured equally often in the three bases.

>>> round(sigma_of_fidelity(0.925, {"X": 1000, "Y": 1000, "Z": 1000}), 6)    # Werner p = 0.1: e_b = 0.05
0.005969
"""

from __future__ import annotations

import math
from typing import Any

from stack.report import disagreement, joined


def sigma_of_fidelity(expected: float, pairs: dict[str, int]) -> float:
    """The bound on the standard error of F̂ above, for the expected fidelity and the pairs in each basis."""
    assert set(pairs) == {"X", "Y", "Z"} and min(pairs.values()) > 0, pairs
    total = 2 * (1 - expected)
    return math.sqrt(max(0.0, total - total * total / 3) / (4 * min(pairs.values())))


def fidelity_and_sigma(workload: Any, expected: float) -> tuple[float, float]:
    """(F̂, its standard error for fidelity ``expected``) of a keep workload's matched pairs; the pairs must have
    been measured in each of X, Y and Z (no fallback: a run that matched none fails here)."""
    rates = disagreement(joined(workload))
    assert set(rates) == {"X", "Y", "Z"}, f"pairs matched in bases {sorted(rates)} only"
    fidelity = 1 - sum(rate["rate"] for rate in rates.values()) / 2
    return fidelity, sigma_of_fidelity(expected, {basis: int(rate["pairs"]) for basis, rate in rates.items()})
