"""The report's estimates (docs/report.md) where few pairs or simultaneous OKs make the textbook formulas fail.

``pairs_per_s``: the rate over the OKs' own span while they span time, and the rate of the whole request
(n / (last OK − CREATE sent)) when they do not: an atomic request's pairs come together, a circuit's single pair
alone. Oracle: the applications' own records (OK times, when the CREATE left), not the report code.

``fidelity_stderr``, ``fidelity_low``, ``fidelity_high``: Price and Bonett's interval for F = 1 − Σ e_B/2.
Oracle: its exact coverage, summed over every outcome of three binomial samples (no simulation), which must be
near the nominal 95 % where the plain standard error's interval (F ± 1.96·½·√(Σ e(1 − e)/n)) covers the truth
almost never with a pair or two a basis.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest

from stack.report import build_report, summary
from stack.report_estimates import fidelity_figures
from stack.runtime import RunResult, run_scenario
from stack.scenario import load_text
from tests.mp_util import ROOT

NODES = """
[run]
duration_ms = 200.0
seed = 3
[nodes.a]
kind = "qpu"
communication_qubits = 4
[nodes.b]
kind = "qpu"
communication_qubits = 4
[nodes.c]
kind = "qpu"
[nodes.st]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "st"
length_km = 1.0
[links.bc]
a = "b"
b = "c"
station = "st"
length_km = 1.0
"""
ATOMIC = '[[workload]]\nnode = "a"\nremote = "b"\npairs = 4\natomic = true\n'
STREAM = '[[workload]]\nnode = "a"\nremote = "b"\npairs = 20\nstart_us = 50000\n'
ONE_ACROSS = '[[workload]]\nnode = "a"\nremote = "c"\npairs = 1\nstart_us = 100000\n'


@pytest.fixture(scope="module")
def run() -> RunResult:
    return run_scenario(load_text(NODES + ATOMIC + STREAM + ONE_ACROSS, "<rates>"))


def test_an_atomic_requests_rate_is_over_the_whole_request(run: RunResult) -> None:
    """Its four OKs come at one instant: (n − 1)/0 is no rate, n / (last OK − CREATE sent) is the request's."""
    origin = run.emulation.workloads[0].origin
    times = [r.ok_time for r in origin.records]
    assert len(times) == 4 and len(set(times)) == 1 and origin.sent_at is not None
    entry = build_report(run)["workload"][0]
    assert entry["atomic"] and entry["create_to_first_ok_ns"] == entry["create_to_last_ok_ns"] > 0
    assert entry["pairs_per_s"] == pytest.approx(4 / (times[-1] - origin.sent_at) * 1e9, rel=1e-12)


def test_a_streamed_requests_rate_is_over_its_oks_span(run: RunResult) -> None:
    origin = run.emulation.workloads[1].origin
    times = [r.ok_time for r in origin.records]
    assert len(times) == 20 and times[-1] > times[0]
    rate = build_report(run)["workload"][1]["pairs_per_s"]
    assert rate == pytest.approx(19 / (times[-1] - times[0]) * 1e9, rel=1e-12)


def test_a_circuits_single_pair_has_the_rate_of_its_request(run: RunResult) -> None:
    """One OK at the tail: 1 / (the tail's OK − the head's CREATE sent), in ``workload`` and ``circuits`` alike."""
    w = run.emulation.workloads[2]
    tail, = w.responder.records
    assert w.origin.sent_at is not None and len(w.origin.records) == 1
    report = build_report(run)
    circuit, = report["circuits"]
    assert circuit["pairs_per_s"] == pytest.approx(1e9 / (tail.ok_time - w.origin.sent_at), rel=1e-12)
    head, = w.origin.records
    assert report["workload"][2]["pairs_per_s"] == pytest.approx(1e9 / (head.ok_time - w.origin.sent_at), rel=1e-12)


def test_the_summary_shows_the_rate_and_keeps_its_columns_apart(run: RunResult) -> None:
    """A first OK after more than 100 s (a batched request's block) still leaves a space after pairs/s."""
    report = build_report(run)
    report["workload"][0]["create_to_first_ok_ns"] = 143_531_480_524
    row = next(line for line in summary(report, 1.0, None).splitlines() if line.startswith("a->b keep"))
    assert row.split()[:4] == ["a->b", "keep", "4/4", f"{report['workload'][0]['pairs_per_s']:.1f}"]
    assert row.split()[4] == "143531.481"


Rates = dict[str, dict[str, float]]


def _coverage(error_rate: float, n: int, interval: Callable[[Rates], tuple[float, float]]) -> float:
    """P(the interval holds the true F) when each of X, Y, Z has ``n`` pairs disagreeing with ``error_rate``."""
    truth = 1 - 3 * error_rate / 2
    total = 0.0
    for ks in itertools.product(range(n + 1), repeat=3):
        p = math.prod(math.comb(n, k) * error_rate**k * (1 - error_rate) ** (n - k) for k in ks)
        low, high = interval({b: {"pairs": n, "rate": k / n} for b, k in zip("XYZ", ks, strict=True)})
        total += p * (low <= truth <= high)
    return total


def _price_bonett(rates: Rates) -> tuple[float, float]:
    figures = fidelity_figures(rates)
    low, high = figures["fidelity_low"], figures["fidelity_high"]
    assert low is not None and high is not None
    return low, high


def _plain(rates: Rates) -> tuple[float, float]:
    f = 1 - sum(r["rate"] for r in rates.values()) / 2
    s = math.sqrt(sum(r["rate"] * (1 - r["rate"]) / r["pairs"] for r in rates.values())) / 2
    return f - 1.96 * s, f + 1.96 * s


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 30])
def test_the_fidelity_interval_covers_the_truth_with_few_pairs(n: int) -> None:
    """Exact coverage over true error rates 0..0.5 per basis: at least 0.85 from one pair a basis, at least 0.92
    from three (Price and Bonett's own tables are of this order); the plain interval's is 0 at one pair."""
    rates = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
    coverage = [_coverage(e, n, _price_bonett) for e in rates]
    assert min(coverage) >= (0.92 if n >= 3 else 0.85), coverage
    assert sum(coverage) / len(coverage) >= 0.93, coverage
    if n == 1:
        assert max(_coverage(e, n, _plain) for e in rates[1:]) == 0.0


def test_few_pairs_show_their_uncertainty(run: RunResult) -> None:
    """The atomic entry's four pairs (two, one and one a basis): not "±0.000" in the summary, an interval that
    holds the estimate, and a standard error of the large-sample size when the pairs are many."""
    report = build_report(run)
    entry = report["workload"][0]
    assert sum(r["pairs"] for r in entry["disagreement"].values()) == 4
    assert entry["fidelity_stderr"] > 0.1
    assert entry["fidelity_low"] <= entry["fidelity_measured"] <= entry["fidelity_high"]
    row = next(line for line in summary(report, 1.0, None).splitlines() if line.startswith("a->b keep"))
    assert f"±{entry['fidelity_stderr']:.3f}" in row and "±0.000" not in row
    many = {b: {"pairs": 10_000, "rate": e} for b, e in zip("XYZ", (0.01, 0.02, 0.03), strict=True)}
    plain = math.sqrt(sum(e * (1 - e) / 10_000 for e in (0.01, 0.02, 0.03))) / 2
    assert fidelity_figures(many)["fidelity_stderr"] == pytest.approx(plain, rel=0.01)


def test_a_request_in_blocks_comes_at_the_links_rate_not_faster() -> None:
    """Two OK-MB blocks of 1,000 (qkd-batched.toml with `batch = 1000`): pairs after the first instant over the
    span, B/T; (n − 1)/span counted it twice as fast (review: 950 pairs/s on a link of 460). The second block's
    T is B attempts' successes apart: a negative binomial whose relative standard deviation is √((1 − p)/B), so
    B/T is the link's physical bound p/cycle within a few of those."""
    text = (ROOT / "examples/qkd-batched.toml").read_text()
    text = text.replace("batch = 65535", "batch = 1000").replace("pairs = 65535", "pairs = 2000")
    run = run_scenario(load_text(text, "qkd-batched.toml"))
    origin = run.emulation.workloads[0].origin
    times = [r.ok_time for r in origin.records]
    assert len(times) == 2000 and len(set(times)) == 2
    report = build_report(run)
    rate, link = report["workload"][0]["pairs_per_s"], report["links"][0]
    assert rate == pytest.approx(1000 / (times[-1] - times[0]) * 1e9, rel=1e-12)
    sigma = math.sqrt((1 - link["success_probability"]) / 1000)
    assert abs(rate / link["physical_bound_pairs_per_s"] - 1) < 5 * sigma          # (n − 1)/span: +100 %
