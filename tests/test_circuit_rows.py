"""The report's circuit rows (docs/report.md, ``circuits[]`` and the summary's circuit table) for circuits that
never ran: refused at setup (no rules: nulls, ``ended`` the refusal's error code) or before any circuit (the
entry's own path shown), and the flag for pairs withdrawn after their OK."""

from __future__ import annotations

from pathlib import Path

from stack.report import build_report
from stack.report_circuits import circuit_table
from stack.runtime import run_scenario
from stack.scenario import load
from tests.network_scenarios import chain, entry

RULES = ("window", "cutoff_ns", "end_cutoff_ns", "link_min_fidelity", "expected_pair_ns", "fidelity_model",
         "fidelity_worst_model")


def report_of(workload: str, **kwargs: object) -> dict:
    return build_report(run_scenario(chain(2, workload=workload, **kwargs)))


def test_a_circuit_the_tail_refuses_has_no_rules_and_ends_with_the_error_code() -> None:
    """NOTIME (60000 pairs in 1 ms) at the tail: the head got the SETUP_REPLY's error; no W, τ or model."""
    (circuit,) = report_of(entry(pairs=60_000, max_time_ms=1))["circuits"]
    assert circuit["errors"]["head"] == ["NOTIME"] and circuit["circuit_id"] is not None
    assert circuit["ended"] == "NOTIME"
    assert {key: circuit[key] for key in RULES} == dict.fromkeys(RULES)


def test_a_rejected_circuit_ends_rejected() -> None:
    """examples/all-messages.toml's circuit no application listens for (the tail's ERR REJECTED); the others
    have rules and end complete or with their teardown's code."""
    report = build_report(run_scenario(load(Path(__file__).resolve().parent.parent / "examples" /
                                            "all-messages.toml")))
    ended = [c["ended"] for c in report["circuits"]]
    assert ended.count("REJECTED") == 1 and "closed" not in ended
    for circuit in report["circuits"]:
        refused = circuit["ended"] == "REJECTED"
        assert (circuit["window"] is None) == refused and (circuit["cutoff_ns"] is None) == refused


def test_a_path_refused_before_setup_is_shown() -> None:
    """A given path that cannot meet the Minimum Fidelity: UNSUPP at the head, no circuit, its path shown."""
    report = report_of(entry(path=["a", "r1", "b"], min_fidelity=0.99), depolarizing=0.02)
    (circuit,) = report["circuits"]
    assert circuit["errors"]["head"] == ["UNSUPP"] and circuit["circuit_id"] is None and circuit["ended"] is None
    assert circuit["path"] == ["a", "r1", "b"] and circuit["hops"] == 0
    assert circuit_table(report)[2].split()[2] == "a>r1>b"
    (unrouted,) = report_of(entry(min_fidelity=0.99), depolarizing=0.02)["circuits"]   # no route chosen: none
    assert unrouted["path"] == []


def test_withdrawn_pairs_are_flagged_like_the_workload_row() -> None:
    report = report_of(entry(pairs=20))
    header, row = circuit_table(report)[1:3]
    assert header.endswith("halves expired") and "matched" not in row
    circuit = report["circuits"][0]
    circuit["pairs_expired"], circuit["pairs_matched"] = 3, circuit["pairs_delivered"] - 3
    assert circuit_table(report)[2].endswith(f"  3 expired (ERR EXPIRE), {circuit['pairs_delivered'] - 3} matched")
