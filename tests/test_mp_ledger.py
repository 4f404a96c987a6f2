"""The multi-process medium's qubit ledger at the end of a run: late nodes' last commands count, and a ledger
that does not balance is a one-line error with the details in the report, never a traceback.

A node that runs late goes on after the medium's last instant until ``finish`` reaches it, and what it does
meanwhile (a link layer giving a pair up: ``Discard``) reaches the medium after its kernel stopped. These
tests drive the medium server in this process, with the node's messages handed to it as its socket would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from protocols.physical.hardware import Discard
from stack.multiprocess import outcome
from stack.multiprocess.medium import MediumServer
from stack.multiprocess.medium_protocol import encode_hardware
from stack.multiprocess.realtime import RealtimeKernel
from stack.quantum.medium import Pair
from stack.quantum.state import frame_of
from tests.mp_util import medium_server, node_result


@pytest.fixture
def ended(tmp_path: Path) -> Iterator[tuple[MediumServer, int]]:
    """A medium whose run is over (its kernel stopped at its last instant, ``finish`` sent), with a kept pair
    in bob's slot 0 and alice's slot 0; the qubit id of bob's half."""
    with medium_server(tmp_path, dilation=0.01, elapsed_s=1.0) as server:   # 10 ms of emulated time have passed
        pair = Pair(frame_of("__"), (1.0, 0.0, 0.0, 0.0))
        server.emu.medium.create(1, 0, 0, 0, pair)
        bob_half = server.emu.medium.create(2, 0, 1, 0, pair)
        server.finishing = True
        yield server, bob_half.qubit_id


def _report(server: MediumServer) -> dict[str, Any]:
    return trio.run(server._report, time.perf_counter())


def test_a_discard_sent_after_the_medium_s_last_instant_runs_before_the_ledger(
        ended: tuple[MediumServer, int]) -> None:
    """Bob's link layer gave its pair up after the medium stopped (it was late), then sent its result without
    the slot: the medium runs the Discard first, so every qubit is accounted for."""
    server, _ = ended
    last = server.kernel.now
    bob = server.connections["bob"]
    server._dispatch(bob, {"op": "command", "at": last + 150_000, "node_id": 2, "reply_to": "bob/link",
                           "command": encode_hardware(Discard(0))})
    for name, connection in server.connections.items():
        server._dispatch(connection, node_result(name, [0] if name == "alice" else [], last + 200_000))
    document = _report(server)
    assert document["multi_process"]["accounting_error"] is None
    ledger = document["medium"]
    assert (ledger["created"], ledger["discarded"], ledger["discarded_at_end"]) == (2, 1, 1)
    assert server.emu.medium.nodes[2].held == {}


def test_a_qubit_no_layer_holds_is_named_in_the_report_and_printed_as_one_line(
        ended: tuple[MediumServer, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bob's result does not claim his half and nothing released it: the ledger does not balance. The report
    is still written, naming the qubit, and the verdict is exit status 1 with one line on stderr."""
    server, qubit_id = ended
    for name, connection in server.connections.items():
        server._dispatch(connection, node_result(name, [0] if name == "alice" else [], server.kernel.now))
    document = _report(server)
    error = document["multi_process"]["accounting_error"]
    assert error == f"1 qubit(s) in memory that no layer holds: qubit {qubit_id} (node 2 slot 0)"
    ledger = document["medium"]
    assert ledger["created"] == ledger["measured"] + ledger["discarded"] + ledger["discarded_at_end"] == 2
    status = outcome.conclude(document, tmp_path, [], outcome.Outputs(None, quiet=True), {}, "qnet medium")
    assert status == outcome.EXIT_APP_FAILED
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == ["qnet medium: error: the qubit ledger does not balance: 1 qubit(s) in memory that no "
                      "layer holds (details: report.json, multi_process.accounting_error)"]


async def test_a_halt_during_a_batch_still_runs_the_inputs_that_arrived_before_it() -> None:
    """``finish`` reaches a late node while its kernel runs a batch: the medium's events that arrived during that
    batch (an ``Emitted``: a qubit its physical layer must claim) are due before the halt, so they run too."""
    kernel = RealtimeKernel(epoch_ns=time.time_ns(), dilation=1.0)
    seen: list[str] = []
    busy = trio.Event()

    def slow(label: str) -> None:          # the batch takes 2 ms of wall (and emulated) time
        seen.append(label)
        busy.set()
        time.sleep(0.002)

    async def medium() -> None:            # runs at the batch's first yield to trio
        await busy.wait()
        kernel.call_external(seen.append, "event")       # stamped now: after the batch's target
        kernel.halt()

    for index in range(8 * kernel.yield_every):
        kernel.call_at(0, slow if index == 0 else seen.append, str(index))
    with trio.fail_after(30):                             # a hang guard only
        async with trio.open_nursery() as nursery:
            nursery.start_soon(medium)
            await kernel.run_realtime(until=10**15)
    assert seen == [str(index) for index in range(8 * kernel.yield_every)] + ["event"]


@pytest.mark.parametrize("late", [False, True])
def test_a_pair_at_one_end_only_in_a_run_on_time_is_status_1_with_one_line(
        ended: tuple[MediumServer, int], tmp_path: Path, capsys: pytest.CaptureFixture[str], late: bool) -> None:
    """A balanced ledger, every node settled, and a workload entry that delivered a pair at one end only: in a
    run that kept up (nothing else explains it) exit status 1 and one line; in a late run, 5 (lateness may
    explain it: the WARNING says so)."""
    server, _ = ended
    for name, connection in server.connections.items():
        server._dispatch(connection, node_result(name, [0], server.kernel.now))
    document = _report(server)
    assert document["multi_process"]["accounting_error"] is None
    assert outcome.verdict(document, {}) == outcome.EXIT_OK      # no workload entry: nothing at one end only
    document["workload"] = [{"pairs_disagreeing": 0}, {"pairs_disagreeing": 2}]
    document["multi_process"]["late_inputs"] = int(late)
    assert outcome.verdict(document, {}) == (outcome.EXIT_LATE if late else outcome.EXIT_APP_FAILED)
    if not late:
        status = outcome.conclude(document, tmp_path, [], outcome.Outputs(None, quiet=True), {}, "qnet up")
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert status == outcome.EXIT_APP_FAILED and errors == [
            "qnet up: error: 2 pair(s) delivered at one end only with every node on time and settled (the link "
            "layer promises none within the bound of docs/architecture.md, Known limits: report.json, "
            "workload[].pairs_disagreeing)"]
