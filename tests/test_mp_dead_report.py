"""The report of a ``qnet up`` run one of whose node processes died: that node's records never reached the medium,
so the figures that need them (both ends' join: pairs matched, pairs at one end only, the measured fidelity; the
dead end's own counts) are null, not computed from an empty side; the summary says whose records are missing
instead of flagging pairs delivered at one end only (a bug), the dead node's row says it died, and the run's exit
status is 4 (a node died), never 1.

The medium server runs in this process and is handed the live nodes' results as its sockets would; the node that
sends none is the dead one (tests/test_multiprocess.py kills a real process).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from protocols.apps.workload import PairRecord
from protocols.common import Basis
from stack import report as reporting
from stack.multiprocess import outcome
from stack.multiprocess.medium import MediumServer
from stack.report_circuits import circuit_table
from stack.report_nodes import COUNTS
from stack.runtime import run_scenario
from tests.mp_util import NODE_IDS, medium_server, node_result
from tests.network_scenarios import chain, entry

BOTH_ENDS = ("pairs_matched", "pairs_disagreeing", "pairs_expired", "fidelity_model_measured", "fidelity_measured",
             "fidelity_stderr", "fidelity_low", "fidelity_high", "disagreement")
"""The workload figures that join both ends' records."""


def records(count: int, peer: str) -> list[list[Any]]:
    """``count`` kept pairs' records as a node's ``result`` carries them, measured in Z, X, Y by sequence number."""
    bases = (Basis.Z, Basis.X, Basis.Y)
    return [list(dataclasses.astuple(PairRecord(n, NODE_IDS[peer], "K", 0, 0, 0.95, 1_000 * (n + 1),
                                                int(bases[n % 3]), 0, n))) for n in range(count)]


def app(count: int, peer: str, errors: list[int]) -> dict[str, Any]:
    return {"sent_at": 0, "first_ok_at": 1_000, "create_id": 1, "errors": errors, "expired": [],
            "records": records(count, peer)}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MediumServer]:
    """The medium of ``two_node_toml(pairs=1)`` (alice->bob keep, then measure) at the end of its run."""
    with medium_server(tmp_path, dilation=0.01, elapsed_s=1.0) as served:
        served.finishing = True
        yield served


def report(server: MediumServer, live: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run's report once the ``live`` nodes sent their results (their apps, by layer); the others died."""
    for name, apps in live.items():
        result = node_result(name, [], server.kernel.now)
        result["apps"] = apps
        result["counters"] |= {"sent": 40 + NODE_IDS[name], "received": 50 + NODE_IDS[name]}
        server._dispatch(server.connections[name], result)
    return trio.run(server._report, time.perf_counter())


def test_an_alive_remote_without_the_pairs_is_flagged(server: MediumServer) -> None:
    """The oracle for the tests below: with bob alive and holding none of alice's 3 pairs, they are pairs at one
    end only, a bug (status 1 in a run on time and settled)."""
    document = report(server, {"alice": {"alice/app1": app(3, "bob", [])}, "bob": {}, "mid": {}})
    keep = document["workload"][0]
    assert (keep["pairs_delivered"], keep["pairs_delivered_remote"], keep["pairs_disagreeing"]) == (3, 0, 3)
    assert "dead_ends" not in keep and "dead" not in document["nodes"]["bob"]
    assert "3 PAIRS DELIVERED AT ONE END ONLY" in reporting.summary(document, 1.0, None)
    assert outcome.verdict(document, {}) == outcome.EXIT_APP_FAILED


def test_a_dead_remote_s_figures_are_unknown_not_pairs_at_one_end_only(
        server: MediumServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = report(server, {"alice": {"alice/app1": app(3, "bob", [4])}, "mid": {}})
    assert document["multi_process"]["dead_nodes"] == ["bob"]
    keep, measure = document["workload"]
    for entry_ in (keep, measure):
        assert entry_["dead_ends"] == ["bob"]
        assert entry_["pairs_delivered_remote"] is None
        assert {key: entry_[key] for key in BOTH_ENDS} == dict.fromkeys(BOTH_ENDS)
    # the origin's own figures stand: it is alive and sent its records
    assert (keep["pairs_delivered"], keep["errors"], keep["create_sent_ns"]) == (3, ["OTHER"], 0)
    assert keep["goodness_mean"] == pytest.approx(0.95) and keep["create_to_last_ok_ns"] == 3_000
    bob = document["nodes"]["bob"]
    assert bob["dead"] is True
    assert {key: bob[key] for key in COUNTS} == dict.fromkeys(COUNTS)
    assert bob["clock_copy_error_ns"] is None
    assert (document["nodes"]["alice"]["sent"], document["nodes"]["alice"]["received"]) == (41, 51)

    text = reporting.summary(document, 1.0, None)
    assert "ONE END ONLY" not in text
    rows = {line.split("  ")[0]: line for line in text.splitlines()}
    assert rows["alice->bob keep"].endswith("ERR OTHER  bob's records missing (its node died)")
    assert "3/1" in rows["alice->bob keep"]
    assert rows["bob"] == "bob         198.18.0.2        died during the run: no counts (its records are missing)"

    assert outcome.one_end_only(document) == 0
    assert outcome.verdict(document, {}) == outcome.EXIT_NODE_DIED
    status = outcome.conclude(document, tmp_path, [], outcome.Outputs(None, quiet=True), {"bob": -9}, "qnet up")
    assert status == outcome.EXIT_NODE_DIED
    assert "error:" not in capsys.readouterr().err          # no "pair(s) delivered at one end only" line


def test_a_dead_origin_s_own_figures_are_unknown_too(server: MediumServer) -> None:
    document = report(server, {"bob": {"bob/app1": app(2, "alice", [4])}, "mid": {}})
    keep = document["workload"][0]
    assert keep["dead_ends"] == ["alice"] and keep["pairs_delivered_remote"] == 2
    assert {key: keep[key] for key in (*BOTH_ENDS, *reporting.ORIGIN_FIGURES)} == dict.fromkeys(
        (*BOTH_ENDS, *reporting.ORIGIN_FIGURES))
    line = next(line for line in reporting.summary(document, 1.0, None).splitlines()
                if line.startswith("alice->bob keep"))
    assert "    -/1" in line and line.endswith("  alice's records missing (its node died)")
    assert outcome.verdict(document, {}) == outcome.EXIT_NODE_DIED


def test_a_circuit_with_a_dead_end_has_its_joined_figures_unknown() -> None:
    """A network-layer entry run in-process, reported as if its tail's node process had died: the head's figures
    are those of the full report, the ones needing the tail's records null."""
    result = run_scenario(chain(2, workload=entry(pairs=6)))
    full = reporting.build_report(result)
    tail = full["workload"][0]["remote"]
    cut = reporting.build_report(result, dead=frozenset({tail}))
    (whole,), (circuit,) = full["circuits"], cut["circuits"]
    assert whole["pairs_matched"] == whole["pairs_delivered_remote"] == 6 and whole["fidelity_measured"] is not None
    assert circuit["dead_ends"] == [tail] and circuit["errors"] == {"head": whole["errors"]["head"], "tail": None}
    for key in ("pairs_delivered_remote", "pairs_per_s", "pairs_matched", "pairs_expired", "fidelity_measured",
                "fidelity_stderr", "disagreement"):
        assert circuit[key] is None, key
    for key in ("pairs_delivered", "create_to_first_ok_ns", "goodness_mean", "circuit_id", "path"):
        assert circuit[key] == whole[key], key
    (row,) = [line for line in circuit_table(cut) if "->" in line and "records missing" in line]
    assert row.endswith(f"{tail}'s records missing (its node died)")
    assert cut["nodes"][tail]["dead"] is True and cut["nodes"][tail]["sent"] is None
    assert cut["workload"][0]["pairs_disagreeing"] is None and full["workload"][0]["pairs_disagreeing"] == 0


def test_a_circuit_with_a_dead_repeater_says_its_records_are_missing() -> None:
    """A 2-hop circuit run in-process, reported as if its repeater's node process had died: the repeater is
    missing from ``repeaters`` (its records never came) and the circuit row says so, as the node row does; the
    ends' joined figures stand (both ends are alive). The same report without the death names no one."""
    result = run_scenario(chain(2, workload=entry(pairs=6)))
    full = reporting.build_report(result)
    (whole,) = full["circuits"]
    repeater = whole["path"][1]
    cut = reporting.build_report(result, dead=frozenset({repeater}))
    (circuit,) = cut["circuits"]
    assert [r["node"] for r in whole["repeaters"]] == [repeater] and "dead_repeaters" not in whole
    assert circuit["dead_repeaters"] == [repeater] and "dead_ends" not in circuit
    assert circuit["pairs_matched"] == whole["pairs_matched"] == 6
    (row,) = [line for line in circuit_table(cut) if "->" in line]
    assert row.endswith(f"  {repeater}'s records missing (its node died)")
    assert not any("records missing" in line for line in circuit_table(full))
    text = reporting.summary(cut, 1.0, None)
    assert sum("records missing" in line or "its records are missing" in line for line in text.splitlines()) >= 2
