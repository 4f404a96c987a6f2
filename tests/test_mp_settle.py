"""``qnet up``'s settling phase: a run whose duration ends with work in flight goes on until the nodes' layers have
settled (stack/multiprocess/medium_settle.py), so both ends' records agree and every qubit is accounted for.

The scenario makes the end fall mid-exchange by construction, whatever the load: every kept pair moves to
storage before its OK (the nodes have storage qubits), a move takes 10 ms of emulated time, and generation ends
at 3 ms, so every pair made is still moving when the drain time (about 1 ms) is over. Before the settling phase
the medium sent ``finish`` then: the MoveResults were never delivered, the moved qubits sat in storage slots no
layer claimed, and the ledger did not balance (``multi_process.accounting_error``). Nothing here asserts a wall
time or the absence of lateness; the timeout only guards against a hang.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stack.multiprocess.outcome import EXIT_LATE, EXIT_OK
from tests.mp_util import run_up

MOVE_NS = 10_000_000
DURATION_MS = 3.0


def _scenario() -> str:
    nodes = "".join(f"""
[nodes.{name}]
kind = "qpu"
t2_ms = 1000.0
readout_ns = 1000
storage_qubits = 2
move_ns = {MOVE_NS}
""" for name in ("alice", "bob"))
    return f"""
[run]
duration_ms = {DURATION_MS}
seed = 3
{nodes}
[nodes.mid]
kind = "station"
detection_window_ns = 1

[links.alice-bob]
a = "alice"
b = "bob"
station = "mid"
length_km = 0.2
attempt_duration_ns = 1000
depolarizing = 0.05

[[workload]]
node = "alice"
remote = "bob"
type = "keep"
pairs = 60000
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("settle")
    scenario = tmp / "moving.toml"
    scenario.write_text(_scenario())
    proc = run_up(scenario, tmp / "run", "--dilation", "0.005", "--json", str(tmp / "up.json"))
    assert proc.returncode in (EXIT_OK, EXIT_LATE), proc.stdout + proc.stderr
    document: dict[str, Any] = json.loads(Path(tmp / "up.json").read_text())
    return document


def test_a_run_ended_mid_move_balances_its_ledger(report: dict[str, Any]) -> None:
    ledger = report["medium"]
    assert ledger["created"] >= 2             # a pair was made, so a move was in flight when the drain ended
    assert ledger["created"] == ledger["measured"] + ledger["discarded"] + ledger["discarded_at_end"]
    mp = report["multi_process"]
    assert mp["accounting_error"] is None
    assert mp["dead_nodes"] == [] and mp["unsettled_nodes"] == []


def test_no_pair_is_delivered_at_one_end_only(report: dict[str, Any]) -> None:
    (workload,) = report["workload"]
    assert workload["errors"] == ["TIMEOUT"]  # the request ends: ERR TIMEOUT at the drain
    matched, expired = workload["pairs_matched"], workload["pairs_expired"]
    for end in ("pairs_delivered", "pairs_delivered_remote"):
        assert matched <= workload[end] <= matched + expired
    if expired == 0:
        assert workload["pairs_delivered"] == workload["pairs_delivered_remote"] == matched


def test_the_run_went_on_until_the_moves_were_over(report: dict[str, Any]) -> None:
    """The moves end after the duration plus the drain: the run's emulated end is past the first of them."""
    assert report["end_ns"] >= MOVE_NS
