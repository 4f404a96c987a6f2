"""The report's ``pairs_per_s`` (docs/report.md): the rate over the OKs' own span while they span time, and the
rate of the whole request (n / (last OK − CREATE sent)) when they do not: an atomic request's pairs come
together, a circuit's single pair alone. Oracle: the applications' own records (OK times, when the CREATE left),
not the report code."""

from __future__ import annotations

import pytest

from stack.report import build_report, summary
from stack.runtime import RunResult, run_scenario
from stack.scenario import load_text

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
