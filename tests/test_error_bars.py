"""The report's plain error bars against their documented formulas, with literal numbers worked out by hand.

``success_probability_stderr`` (docs/report.md): √(p(1 − p)/attempts), p the closed-form success probability;
:func:`stack.report_pairs.measured_fidelity`: F = 1 − (e_X + e_Y + e_Z)/2 and ½·√(Σ e_B(1 − e_B)/n_B). Other
tests compare runs with these figures, so they are checked here exactly, not through another run's spread.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from stack.report import build_report
from stack.report_pairs import measured_fidelity
from stack.runtime import run_scenario
from stack.scenario import load_text
from tests.fidelity_util import sigma_of_fidelity
from tests.sweep_util import tiny_toml


def test_measured_fidelity_is_the_bell_diagonal_formula_with_its_binomial_error() -> None:
    rates = {"X": {"pairs": 100, "rate": 0.1}, "Y": {"pairs": 200, "rate": 0.05}, "Z": {"pairs": 400, "rate": 0.2}}
    result = measured_fidelity(rates)
    assert result is not None
    fidelity, stderr = result
    # F = 1 − (0.1 + 0.05 + 0.2)/2 = 0.825;
    # Var = (0.1·0.9/100 + 0.05·0.95/200 + 0.2·0.8/400)/4 = (0.0009 + 0.0002375 + 0.0004)/4 = 0.000384375
    assert fidelity == pytest.approx(0.825, abs=1e-15)
    assert stderr == pytest.approx(0.019605483, abs=1e-9)
    assert stderr == pytest.approx(math.sqrt(0.000384375), rel=1e-12)


def test_measured_fidelity_error_scales_as_one_over_root_n() -> None:
    werner = {b: {"pairs": 1000, "rate": 0.05} for b in "XYZ"}     # Werner, p = 0.1: F = 0.925
    result = measured_fidelity(werner)
    assert result is not None
    assert result[0] == pytest.approx(0.925, abs=1e-15)
    assert result[1] == pytest.approx(math.sqrt(3 * 0.05 * 0.95 / 1000) / 2, rel=1e-12)     # 0.0059687
    assert result[1] == pytest.approx(0.0059687, abs=1e-7)
    quadrupled = measured_fidelity({b: {"pairs": 4000, "rate": 0.05} for b in "XYZ"})
    assert quadrupled is not None and quadrupled[1] == pytest.approx(result[1] / 2, rel=1e-12)


@pytest.mark.parametrize("bases", ["XY", "XZ", "YZ", "Z", ""])
def test_measured_fidelity_needs_all_three_bases(bases: str) -> None:
    assert measured_fidelity({b: {"pairs": 10, "rate": 0.1} for b in bases}) is None


def test_success_probability_stderr_is_the_binomial_error_of_the_closed_form_p() -> None:
    report = build_report(run_scenario(load_text(tiny_toml(40), "tiny.toml")))
    (link,) = report["links"]
    p, attempts = link["success_probability"], link["attempts"]
    assert 0 < p < 1 and attempts > 40                       # 40 pairs at p ≈ 0.1 take some hundreds
    assert link["success_probability_stderr"] == pytest.approx(math.sqrt(p * (1 - p) / attempts), rel=1e-12)
    assert link["success_probability_measured"] == pytest.approx(link["successes"] / attempts, rel=1e-12)


def test_success_probability_stderr_is_null_before_any_attempt() -> None:
    text = tiny_toml(1).replace("[[workload]]\nnode = \"alice\"\nremote = \"bob\"\ntype = \"keep\"\npairs = 1\n", "")
    report = build_report(run_scenario(load_text(text, "tiny.toml")))
    (link,) = report["links"]
    assert link["attempts"] == 0
    assert link["success_probability_stderr"] is None and link["success_probability_measured"] is None


def test_the_tests_fidelity_tolerance_bounds_the_exact_error_of_any_bell_diagonal_state() -> None:
    """:func:`tests.fidelity_util.sigma_of_fidelity`, the other tests' tolerance: exact for a Werner pair with
    the same pairs in each basis, never below the exact ½·√(Σ e_B(1 − e_B)/n_B) of any state of that F."""
    assert sigma_of_fidelity(0.925, {"X": 1000, "Y": 1000, "Z": 1000}) == pytest.approx(
        math.sqrt(3 * 0.05 * 0.95 / 1000) / 2, rel=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(2000):
        d = rng.dirichlet(np.full(4, 0.3))
        errors = {"X": d[2] + d[3], "Y": d[1] + d[2], "Z": d[1] + d[3]}       # the bases a Pauli flips
        pairs = {basis: int(n) for basis, n in zip("XYZ", rng.integers(1, 5000, 3), strict=True)}
        exact = math.sqrt(sum(e * (1 - e) / pairs[b] for b, e in errors.items())) / 2
        assert exact <= sigma_of_fidelity(float(d[0]), pairs) * (1 + 1e-12)
