"""The summary's workload row says when pairs were withdrawn (docs/wire.md §4.4: a pair whose CONFIRM is given up is
delivered at the master and then retracted by ERR EXPIRE at both ends): its pairs column counts OKs, so without
the note a row read 60/60 for a request that left 59 usable pairs (a `qnet up` run, review 2026-12-04)."""

from __future__ import annotations

from typing import Any

from stack.report import workload_table


def _entry(**changes: Any) -> dict[str, Any]:
    entry = {"node": "alice", "remote": "bob", "type": "measure", "pairs_requested": 60, "pairs_delivered": 60,
             "pairs_delivered_remote": 60, "pairs_matched": 60, "pairs_disagreeing": 0, "pairs_expired": 0,
             "errors": [], "fidelity_measured": None, "fidelity_stderr": None, "disagreement": {},
             "create_to_first_ok_ns": 1_567_000, "pairs_per_s": 2853.0, "goodness_mean": 0.9625}
    return entry | changes


def test_a_withdrawn_pair_is_named_on_its_row() -> None:
    row = workload_table({"workload": [_entry(pairs_delivered_remote=59, pairs_matched=59, pairs_expired=1)]})[-1]
    assert row.startswith("alice->bob measure") and "60/60" in row
    assert row.endswith("  1 expired (ERR EXPIRE), 59 matched")


def test_a_clean_row_has_no_note() -> None:
    row = workload_table({"workload": [_entry()]})[-1]
    assert "expired" not in row and "matched" not in row
