"""``qnet up``'s settling phase: a run whose duration ends with work in flight goes on until the nodes' layers have
settled (stack/multiprocess/medium_settle.py), so both ends' records agree and every qubit is accounted for.

Three scenarios make the end fall mid-exchange: ``moving`` whatever the load, the two lossy ones most of the time.

- ``moving``, by construction: every kept pair moves to storage before its OK (the nodes have storage qubits), a
  move takes 10 ms of emulated time and generation ends at 3 ms, so every pair made is still moving when the drain
  time (about 1 ms) is over. Before the settling phase the medium sent ``finish`` then: the MoveResults were never
  delivered, the moved qubits sat in storage slots no layer claimed, and the ledger did not balance
  (``multi_process.accounting_error``, exit status 1) in 21 of 23 runs on the old code (8 ``qnet up``, 15 of this
  module's fixture); in the other two the ledger balanced, but the run still ended at about 4.2 ms, before any
  move was over (``end_ns``).
- ``lossy`` and ``lossier``: 30 % and 50 % of the classical datagrams are lost, so CONFIRMs and RELEASEs are
  retransmitted every interval (about 1 ms, as long as the drain time): when generation ends at 20 ms some
  exchange is likely under way, and before the settling phase the medium cut it off. Not by construction: how
  often a run catches the old code (the parent of aac89de, its whole tree, 2026-12-03, load 7-8) was measured.
  At 30 %, 13 of 15 runs left a pair awaiting its CONFIRM or RELEASE for the finish to discard
  (``discarded_at_end`` 1 or 2), 5 of 15 a pair delivered at one end only (``pairs_disagreeing`` 1 or 2; the
  only assertion this module had on it), and 2 of 15 neither; at 50 %, 12 of 13 the one or the other (both in
  10). Both losses are run, so the old code goes uncaught about once in a hundred runs (2/15 x 1/13). The
  settled code failed none of its 16 runs (7 at 30 %, 9 at 50 %); the moving old code failed 4 of 4 on
  ``discarded_at_end`` as well.

Nothing here asserts a wall time or the absence of lateness; the timeout only guards against a hang. That no
pair was delivered at one end only is asserted when the run reports it settled (the code promises no more),
otherwise skipped, saying why; that every node settled is asserted by the test of the ledger, whose purpose
it is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from protocols.physical.hardware import Discard, MoveResult
from stack.multiprocess import medium_settle, outcome
from stack.multiprocess.medium import MediumServer, RemotePort
from stack.multiprocess.medium_protocol import encode_hardware
from stack.multiprocess.outcome import EXIT_LATE, EXIT_OK
from stack.quantum.medium import Pair
from stack.quantum.state import frame_of
from tests.mp_util import medium_server, node_result, run_up, say, settle_answering, two_node_toml, unsettled

MOVE_NS = 10_000_000
SCENARIOS = {"moving": (3.0, f"storage_qubits = 2\nmove_ns = {MOVE_NS}\n", ""),
             "lossy": (20.0, "", "classical_loss = 0.3\n"),
             "lossier": (20.0, "", "classical_loss = 0.5\n")}
"""Each scenario's duration (ms) and what it adds to both QPUs and to the link."""


def _scenario(name: str) -> str:
    duration_ms, qpu, link = SCENARIOS[name]
    return two_node_toml(pairs=60000, length_km=0.2, duration_ms=duration_ms, qpu=qpu, link=link, measure=False)


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp(request.param)
    scenario = tmp / f"{request.param}.toml"
    scenario.write_text(_scenario(request.param))
    proc = run_up(scenario, tmp / "run", "--dilation", "0.005", "--json", str(tmp / "up.json"))
    assert proc.returncode in (EXIT_OK, EXIT_LATE), proc.stdout + proc.stderr
    document: dict[str, Any] = json.loads(Path(tmp / "up.json").read_text())
    document["_scenario"] = request.param
    return document


def test_every_qubit_ended_before_the_finish_and_every_node_settled(report: dict[str, Any]) -> None:
    """The medium's ledger against what it and the nodes counted apart from it (its sum, ``created`` = the
    three ends, is not asserted: the report's ledger balances by construction,
    :func:`stack.multiprocess.medium_report.final_ledger`)."""
    ledger, (link,), (workload,) = report["medium"], report["links"], report["workload"]
    assert ledger["created"] >= 2             # a pair was made: work was under way when generation ended
    assert ledger["created"] == 2 * link["successes"]       # every qubit is a half of a heralded pair
    # every qubit the medium measured is one an application was given (each keep end measures every pair it
    # is given, and nothing else measures here): the medium's count against the nodes' records
    assert ledger["measured"] == workload["pairs_delivered"] + workload["pairs_delivered_remote"]
    # once every node has settled, no qubit is left for the finish to discard: each was measured by its
    # application or discarded by its link layer. On the old code the finish came with pairs still moving
    # (``moving``) or awaiting their CONFIRM or RELEASE (``lossy``): discarded at the end.
    # Asserted, not skipped on, in an unsettled run: this test's very purpose is the settled case, that the
    # settling phase settles these runs (the old code cut them off); a node that misses its bound on a loaded
    # machine fails it here, named (the test below then skips its one-end assertions, which only a settled run
    # promises).
    assert ledger["discarded_at_end"] == 0
    mp = report["multi_process"]
    assert mp["accounting_error"] is None
    if report["_scenario"] == "moving":       # the run went on until the moves (10 ms) were over
        assert report["end_ns"] >= MOVE_NS
    assert mp["dead_nodes"] == [] and mp["unsettled_nodes"] == []


def test_no_pair_is_delivered_at_one_end_only(report: dict[str, Any]) -> None:
    """Promised only in a run that settled (:func:`tests.mp_util.unsettled`): otherwise skipped, saying why, after
    what holds whatever the load."""
    (workload,) = report["workload"]
    assert workload["errors"] == ["TIMEOUT"]  # the request ends: ERR TIMEOUT at the drain
    matched, expired = workload["pairs_matched"], workload["pairs_expired"]
    for end in ("pairs_delivered", "pairs_delivered_remote"):
        assert matched <= workload[end]       # a matched pair was delivered at both ends
    reason = unsettled(report)
    if reason is not None:
        pytest.skip(f"the run did not settle ({reason}; exit status 5): only a settled run promises no "
                    "pair at one end only")
    assert workload["pairs_disagreeing"] == 0
    for end in ("pairs_delivered", "pairs_delivered_remote"):
        assert workload[end] <= matched + expired     # every pair an end delivered was matched or expired


# -- the medium's side, driven in this process (messages handed to the server as its socket would) -----------

@pytest.fixture
def server(tmp_path: Path) -> Iterator[MediumServer]:
    """A medium after its drain (``settled`` expected), with every node connected and none having said anything."""
    with medium_server(tmp_path, dilation=1.0) as served:
        served.settling.active = True
        yield served


def _say(server: MediumServer, node: str, settled: bool, bound_ns: int | None = 1_000_000_000) -> None:
    say(server, node, settled, bound_ns)


def _settle(server: MediumServer, taken: dict[str, list[dict[str, Any]]] | None = None) -> Any:
    """The settling phase, every node that has spoken answering the medium's rounds with its last word."""
    return settle_answering(server, taken)


def _discard(server: MediumServer, node: str, at: int) -> None:
    """``node``'s link layer gives up the qubit in its slot 0, its command stamped ``at``."""
    node_id = {"alice": 1, "bob": 2}[node]
    server._dispatch(server.connections[node], {"op": "command", "at": at, "node_id": node_id,
                                                "reply_to": f"{node}/link", "command": encode_hardware(Discard(0))})


@pytest.mark.parametrize("message", [
    {"settled": False},                                     # a first false without its bound
    {"settled": 1, "bound_ns": 5},
    {"settled": True, "bound_ns": -1},
    {"settled": True, "bound_ns": 10**13},
    {"settled": True, "bound_ns": 5.0},
    {"bound_ns": 5},
])
def test_a_malformed_settled_is_refused_and_counted(server: MediumServer, message: dict[str, Any]) -> None:
    server._on_message(server.connections["alice"], {"op": "settled", "at": 0} | message)
    assert server.rejected_messages == 1 and "alice" not in server.settling.states


def test_a_settled_before_the_drain_is_refused(server: MediumServer) -> None:
    server.settling.active = False
    server._on_message(server.connections["bob"], {"op": "settled", "at": 0, "settled": True, "bound_ns": 5})
    assert server.rejected_messages == 1 and server.settling.states == {}


async def test_the_medium_waits_for_every_live_node_and_not_for_a_dead_one(server: MediumServer) -> None:
    over = trio.Event()

    async def settling() -> None:
        await _settle(server)
        over.set()

    with trio.fail_after(60):                               # a hang guard only
        async with trio.open_nursery() as nursery:
            nursery.start_soon(settling)
            _say(server, "alice", False)
            _say(server, "bob", True)
            for _ in range(20):
                await trio.sleep(0.005)
            assert not over.is_set()                        # alice has not settled, mid has said nothing
            _say(server, "alice", True)
            server._node_died(server.connections["mid"])    # dead: not waited for
            await over.wait()
    assert server.settling.unsettled == []


async def _finish(server: MediumServer) -> dict[str, Any]:
    """The report once every node answered ``finish`` with a result holding nothing."""
    server.finishing = True
    for name, connection in server.connections.items():
        server._dispatch(connection, node_result(name, [], server.kernel.now))
    return await server._report(time.perf_counter())


async def test_a_node_that_does_not_settle_within_its_bound_is_named_and_sets_the_exit_status(
        server: MediumServer, capsys: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_settle, server)
            for name in ("alice", "bob", "mid"):
                _say(server, name, name != "bob", bound_ns=20_000_000)    # 20 ms at dilation 1
    assert server.settling.unsettled == ["bob"]
    assert server.kernel.now >= 20_000_000
    document = await _finish(server)
    assert document["multi_process"]["unsettled_nodes"] == ["bob"]
    status = outcome.conclude(document, server.run_dir, [], outcome.Outputs(None, quiet=True), {}, "qnet medium")
    assert status == outcome.EXIT_LATE
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "had settled: bob (" in warnings[0]


async def test_the_medium_waits_for_the_events_it_scheduled(server: MediumServer) -> None:
    """Every node settled, but a MoveResult the medium scheduled is due later: ``finish`` waits for it."""
    port = RemotePort(server, "alice", "alice/link")
    server.kernel.deliver_at(30_000_000, port, MoveResult(0, 2))
    taken: dict[str, list[dict[str, Any]]] = {}
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_settle, server, taken)
            for name in ("alice", "bob", "mid"):
                _say(server, name, True, bound_ns=0)
    assert server.kernel.now >= 30_000_000
    sent, asked = taken["alice"]            # the event, then the round asked about an instant it is due by
    assert sent["op"] == "event" and sent["event"]["type"] == "MoveResult"
    assert asked["op"] == "ask_settled" and asked["at"] >= sent["at"] == 30_000_000


@pytest.mark.parametrize("bob_settles", [True, False])
async def test_the_medium_waits_for_the_commands_it_received(server: MediumServer, bob_settles: bool) -> None:
    """Every node said it had settled from the start (so none sent a bound), or bob did not settle within his;
    a command alice sent is still queued for its time (30 ms later): ``finish`` waits until it has run. Before,
    the medium did not wait for it (with no bound, the bound had passed at once), and a qubit it created was
    one no node held."""
    pair = Pair(frame_of("__"), (1.0, 0.0, 0.0, 0.0))
    server.emu.medium.create(1, 0, 0, 0, pair)
    server.emu.medium.create(2, 0, 1, 0, pair)
    _discard(server, "alice", server.kernel.now + 30_000_000)
    assert server.pending_commands == 1
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_settle, server)
            for name in ("alice", "bob", "mid"):
                _say(server, name, bob_settles or name != "bob", bound_ns=None if bob_settles else 1_000)
    assert server.pending_commands == 0
    assert 0 not in server.emu.medium.nodes[1].held and 0 in server.emu.medium.nodes[2].held
    assert server.kernel.now >= 30_000_000
    assert server.settling.unsettled == ([] if bob_settles else ["bob"])


async def test_a_command_stamped_far_ahead_is_waited_for_only_until_the_cap(
        server: MediumServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command stamped 2^61 ns ahead (no process of ours does that) cannot hang the medium: after
    COMMANDS_TIMEOUT_S it finishes, and the report counts the command not run (exit status 5)."""
    monkeypatch.setattr(medium_settle, "COMMANDS_TIMEOUT_S", 0.05)
    _discard(server, "bob", 1 << 61)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_settle, server)
            for name in ("alice", "bob", "mid"):
                _say(server, name, True, bound_ns=None)
    assert server.pending_commands == 1 and server.settling.unsettled == []
    document = await _finish(server)
    assert document["multi_process"]["commands_not_run"] == 1
    assert outcome.verdict(document, {}) == outcome.EXIT_LATE


async def test_a_live_node_that_says_nothing_blocks_only_until_its_timeout(server: MediumServer,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(medium_settle, "REPORT_TIMEOUT_S", 0.05)
    monkeypatch.setattr(medium_settle, "CHECK_WALL_NS", 10_000_000)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_settle, server)
            _say(server, "alice", True)
            _say(server, "bob", True)
    assert server.settling.unsettled == ["mid"]


def test_qnet_up_help_lists_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    from stack.cli import main

    with pytest.raises(SystemExit):
        main(["up", "--help"])
    shown = capsys.readouterr().out
    assert outcome.EXIT_STATUS_HELP in shown
    codes = [line.split()[0] for line in outcome.EXIT_STATUS_HELP.splitlines()[1:] if line[2:3].strip()]
    assert codes == [str(code) for code in (outcome.EXIT_OK, outcome.EXIT_APP_FAILED, outcome.EXIT_BAD_INPUT,
                                            outcome.EXIT_NOT_FINISHED, outcome.EXIT_NODE_DIED, outcome.EXIT_LATE)
                     ] + ["128+N"]
