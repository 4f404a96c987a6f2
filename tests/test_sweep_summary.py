"""The summary's confidence interval: Student's t, checked against NIST's table and by its coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stack.sweep.summary import format_value, summarise, t_interval, t_quantile

# NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.6.7.2 "Critical values of the Student's t
# distribution" (https://www.itl.nist.gov/div898/handbook/eda/section3/eda3672.htm), upper-tail 0.025 column.
NIST_T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 10: 2.228, 30: 2.042, 100: 1.984}


@pytest.mark.parametrize(("dof", "value"), sorted(NIST_T_975.items()))
def test_t_quantiles_match_the_nist_table(dof: int, value: float) -> None:
    assert t_quantile(0.975, dof) == pytest.approx(value, abs=0.0005)      # the table has three decimals


def test_interval_is_mean_plus_minus_t_s_over_root_n() -> None:
    values = [2.0, 4.0, 9.0, 5.0]
    interval = t_interval(values)
    s = float(np.std(values, ddof=1))
    assert interval.n == 4 and interval.mean == 5.0 and interval.std == pytest.approx(s)
    assert interval.half_width == pytest.approx(NIST_T_975[3] * s / 2, abs=0.0005 * s / 2)
    assert (interval.low, interval.high) == (5.0 - interval.half_width, 5.0 + interval.half_width)
    single = t_interval([3.0])
    assert single.mean == 3.0 and math.isnan(single.half_width)
    assert t_interval([]).n == 0


def test_coverage_is_95_percent_for_normal_samples_of_four() -> None:
    """Over many samples of n = 4 from a normal distribution the 95 % t interval covers the true mean
    95 % of the time (tolerance: four binomial standard errors); the normal-quantile interval
    (±1.96 s/√n), which ignores the uncertainty of s, covers clearly less: why the summary uses t."""
    rng = np.random.default_rng(2026)
    trials, n, mu = 4000, 4, 3.0
    samples = rng.normal(mu, 2.0, size=(trials, n))
    covered = sum(t_interval(list(sample)).low <= mu <= t_interval(list(sample)).high for sample in samples)
    tolerance = 4 * math.sqrt(0.95 * 0.05 / trials)
    assert abs(covered / trials - 0.95) < tolerance
    half_z = 1.959964 * samples.std(axis=1, ddof=1) / math.sqrt(n)
    covered_z = np.mean(np.abs(samples.mean(axis=1) - mu) <= half_z)
    assert covered_z < 0.95 - tolerance


def test_summarise_per_point_and_figure() -> None:
    rows = [
        {"point": 0, "k": 1.0, "status": "ok", "f": 1.0, "g": None, "flag": True},
        {"point": 0, "k": 1.0, "status": "ok", "f": 3.0, "g": 2.0, "flag": False},
        {"point": 0, "k": 1.0, "status": "failed", "error": "boom"},
        {"point": 1, "k": 2.0, "status": "ok", "f": 10.0, "g": 1.0, "flag": True},
    ]
    summary = {(r["point"], r["figure"]): r for r in summarise(rows, ["k"], ["f", "g", "flag"])}
    f0 = summary[0, "f"]
    assert (f0["k"], f0["runs"], f0["failed"], f0["n"], f0["mean"]) == (1.0, 3, 1, 2, 2.0)
    assert f0["half_width"] == pytest.approx(NIST_T_975[1] * math.sqrt(2) / math.sqrt(2), abs=1e-3)
    assert summary[0, "g"]["n"] == 1 and math.isnan(summary[0, "g"]["half_width"])   # None is no value
    assert summary[0, "flag"]["n"] == 0                                                # booleans are not averaged
    assert summary[1, "f"]["mean"] == 10.0 and summary[1, "f"]["confidence"] == 0.95


@pytest.mark.parametrize(("mean", "half", "text"), [
    (2935.2, 196.4, "2935 ± 196"), (0.95812, 0.0271, "0.958 ± 0.027"), (30.86, 3.71, "30.9 ± 3.7"),
    (215.9, 10.2, "216 ± 10"), (5.0, math.nan, "5"), (math.nan, math.nan, "-"), (2e-9, 1e-10, "2.000e-09 ± 1.0e-10"),
])
def test_format_value(mean: float, half: float, text: str) -> None:
    assert format_value({"mean": mean, "half_width": half}) == text


def test_a_null_rate_is_left_out_not_counted_as_0_and_the_window_rate_is_0() -> None:
    """100 km, 1 s runs, 4 seeds: one run delivered a pair 0.741 s after its CREATE (its report's rate 1/0.741 =
    1.349 pairs/s), three delivered none, whose reports leave the rate null. The report's rate is over the
    request's own span, not the run, so a null is no value: the point's pairs_per_s is over the one run and
    says n=1/4 (counting the nulls as 0 made the mean 1.349/4, a rate the runs never had, biased upward at
    low rates: the review's 2.58 at 100 km over a physical bound of 0.743). The derived delivered_per_s, pairs
    per second of generation after the CREATE, is 0 for the three and 1/0.99 for the one: the mean over all four
    runs; a fidelity, which a run without pairs has no value of, is over the one run."""
    from stack.sweep.derived import with_derived

    common = {"point": 0, "k": 100, "status": "ok", "generation_end_ns": 1_000_000_000,
              "workload[0].create_sent_ns": 10_000_000}
    runs = [{**common, "workload[0].pairs_per_s": None, "workload[0].pairs_delivered": 0,
             "workload[0].fidelity_measured": None} for _ in range(3)]
    runs.append({**common, "workload[0].pairs_per_s": 1.349, "workload[0].pairs_delivered": 1,
                 "workload[0].fidelity_measured": 0.9})
    runs = [with_derived(row) for row in runs]
    figures = ["workload[0].pairs_per_s", "workload[0].delivered_per_s", "workload[0].fidelity_measured"]
    summary = {r["figure"]: r for r in summarise(runs, ["k"], figures)}
    rate = summary["workload[0].pairs_per_s"]
    assert (rate["n"], rate["mean"], rate["runs"]) == (1, 1.349, 4)
    assert format_value(rate) == "1.349 (n=1/4)"
    window = summary["workload[0].delivered_per_s"]
    assert [row["workload[0].delivered_per_s"] for row in runs] == [0.0, 0.0, 0.0, pytest.approx(1 / 0.99)]
    assert (window["n"], window["mean"]) == (4, pytest.approx(1 / 0.99 / 4))
    assert window["half_width"] == pytest.approx(NIST_T_975[3] * (1 / 0.99) / 2 / 2, rel=1e-3)   # s = (1/0.99)/2
    assert "(n=" not in format_value(window)
    fidelity = summary["workload[0].fidelity_measured"]
    assert (fidelity["n"], fidelity["mean"]) == (1, 0.9) and format_value(fidelity) == "0.9 (n=1/4)"
    nothing = summarise(runs[:3], ["k"], ["workload[0].pairs_per_s"])[0]
    assert nothing["n"] == 0 and format_value(nothing) == "- (n=0/3)"


def test_the_window_rate_has_no_value_without_a_window() -> None:
    from stack.sweep.derived import derive

    row = {"status": "ok", "generation_end_ns": 5, "workload[0].pairs_delivered": 0, "workload[0].create_sent_ns": None,
           "workload[1].pairs_delivered": 2, "workload[1].create_sent_ns": 5}
    assert derive(row) == {"workload[0].delivered_per_s": None, "workload[1].delivered_per_s": None}
    assert derive({**row, "status": "failed"}) == {}
