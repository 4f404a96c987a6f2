"""``qnet up``'s settling handshake (docs/wire.md §8.3): the medium sends ``finish`` only once every node has answered
a round (``ask_settled``) settled, with nothing since making the answers stale; a node answers at the instant asked
about, after every input due by then.

The race it closes: a node's last ``settled`` true is not a promise. It handles an event the medium scheduled for it
(a ``MoveResult``) when the event is due and becomes unsettled; its false then crosses the socket after the medium
saw every node's true. The medium used to wait a quiet time (20 ms of wall time) for such a false, and a false held
up longer (a starved process) was missed: ``finish`` went while the node still worked. Here the pieces run in this
process: the medium's server and settling phase, and a node's :class:`SettledReporter` on its own realtime kernel,
whose messages are held up on their way to the medium far longer than any quiet time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from protocols.physical.hardware import MoveResult
from stack.multiprocess import medium_settle
from stack.multiprocess.medium import MediumServer, RemotePort
from stack.multiprocess.medium_protocol import decode_hardware
from stack.multiprocess.medium_settle import settle
from stack.multiprocess.node_settled import SettledReporter
from stack.multiprocess.realtime import RealtimeKernel
from tests.mp_util import medium_server, say, settle_answering

NODES = ("alice", "bob", "mid")
HOLD_S = 0.1
"""How long each of alice's messages is held up on its way to the medium: five times the old quiet time."""
BUSY_NS = 2_000_000
"""How long alice's layers stay unsettled after the medium's MoveResult (her exchange, 2 ms)."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MediumServer]:
    """A medium after its drain (``settled`` expected), with every node connected and none having said anything."""
    with medium_server(tmp_path, dilation=1.0) as served:
        served.settling.active = True
        yield served


class _Alice:
    """Alice's node process, as the medium sees it: her layers are settled until the medium's MoveResult (due at its
    time) unsettles them, and settle again :data:`BUSY_NS` later; what she sends reaches the medium :data:`HOLD_S`
    after (``dispatched``, in order)."""

    name = "alice/link"

    def __init__(self, server: MediumServer) -> None:
        medium = server.kernel
        self.server, self.draining, self.busy = server, True, False
        self.kernel = RealtimeKernel(medium.epoch_ns, medium.dilation, medium.tolerance_ns)
        self._send, self._sent = trio.open_memory_channel[dict[str, Any]](float("inf"))
        self.reporter = SettledReporter(self, self.kernel, self._say, lambda: 10**11)  # 100 s: no busy machine
        self.said: list[dict[str, Any]] = []
        self.dispatched: list[dict[str, Any]] = []

    def settled(self) -> bool:
        return not self.busy

    def _say(self, message: dict[str, Any]) -> None:
        self.said.append(message)
        self._send.send_nowait(message)

    def deliver(self, event: Any) -> None:
        """Her link layer's port: the MoveResult."""
        self.busy = True
        self.reporter.check()
        self.kernel.call_at(self.kernel.now + BUSY_NS, self._exchange_over)

    def _exchange_over(self, _: Any) -> None:
        self.busy = False
        self.reporter.check()

    async def listen(self) -> None:
        """What the medium sends her: events injected at their time, rounds answered by her reporter."""
        async for message in self.server.connections["alice"].inbox:
            if message["op"] == "event":
                self.kernel.inject(message["at"], self, decode_hardware(message["event"]))
            elif message["op"] == "ask_settled":
                self.reporter.ask(message)

    async def forward(self) -> None:
        async for message in self._sent:
            await trio.sleep(HOLD_S)
            self.server._dispatch(self.server.connections["alice"], message)
            self.dispatched.append(message)


async def _others_answer(server: MediumServer) -> None:
    """bob and mid, settled all along: each answers every round true at once."""
    async with trio.open_nursery() as nursery:
        for name in ("bob", "mid"):
            nursery.start_soon(_answer_true, server, name)


async def _answer_true(server: MediumServer, name: str) -> None:
    async for message in server.connections[name].inbox:
        if message["op"] == "ask_settled":
            say(server, name, True, bound_ns=None, answer=message["round"])


async def test_a_false_held_up_past_any_quiet_time_still_holds_the_finish(server: MediumServer) -> None:
    """Every node settled; the MoveResult the medium scheduled for alice (due 50 ms on) unsettles her for 2 ms, and
    each of her messages takes 100 ms to reach the medium. Before, the medium sent ``finish`` 20 ms after it saw
    her first true (every event due, every node settled): her false and her exchange's end were never seen. Now
    ``finish`` waits for her answer to a round asked after the event was due, which follows them on her socket."""
    alice = _Alice(server)
    due = server.kernel.emulated_now() + 50_000_000
    server.kernel.deliver_at(due, RemotePort(server, "alice", "alice/link"), MoveResult(0, 2))
    with trio.fail_after(60):                               # a hang guard only
        async with trio.open_nursery() as nursery:
            nursery.start_soon(alice.kernel.run_realtime, 1 << 62)
            nursery.start_soon(alice.listen)
            nursery.start_soon(alice.forward)
            nursery.start_soon(_others_answer, server)
            alice.reporter.check()                          # her layers have settled since the drain
            say(server, "bob", True, bound_ns=None)
            say(server, "mid", True, bound_ns=None)
            await settle(server.kernel, server.settling, server._live, lambda: server.pending_commands,
                         server.broadcast)
            nursery.cancel_scope.cancel()
    assert alice.dispatched == alice.said                   # the medium had all she said before `finish`
    changes = [message["settled"] for message in alice.said if "round" not in message]
    assert changes == [True, False, True]                   # unprompted, in order
    assert alice.said[-1]["settled"] is True and alice.said[-1]["round"] == server.settling.round
    assert server.kernel.now >= due + BUSY_NS and server.settling.unsettled == []


async def _asks(server: MediumServer, round_: int, over: trio.Event) -> dict[str, dict[str, Any]]:
    """Each live node's ``ask_settled`` of round ``round_``, once the medium has sent it to all (earlier ones and
    the other messages are dropped); an AssertionError if the settling phase ends first."""
    asks: dict[str, dict[str, Any]] = {}
    while set(asks) != set(server._live()):
        assert not over.is_set(), f"the medium finished without asking round {round_}"
        for name in server._live():
            try:
                message = server.connections[name].inbox.receive_nowait()
            except trio.WouldBlock:
                continue
            if message["op"] == "ask_settled" and message["round"] == round_:
                asks[name] = message
        await trio.sleep(0.001)
    return asks


def _settling(server: MediumServer, over: trio.Event) -> Any:
    async def run() -> None:
        await settle(server.kernel, server.settling, server._live, lambda: server.pending_commands,
                     server.broadcast)
        over.set()
    return run


async def _yield(times: int = 10) -> None:
    """Give the medium's settling phase the chance to go on (what is asserted after holds however long this is)."""
    for _ in range(times):
        await trio.sleep(0.002)


async def test_a_false_answer_a_stale_answer_and_a_missing_one_each_hold_the_finish(server: MediumServer) -> None:
    over = trio.Event()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_settling(server, over))
            for name in NODES:
                say(server, name, True, bound_ns=None)
            first = await _asks(server, 1, over)
            assert {ask["at"] for ask in first.values()} == {first["alice"]["at"]}     # one instant for all
            await _yield()
            assert not over.is_set()                        # every node said true: no time alone ends the wait
            say(server, "alice", False, answer=1)           # she handled an event due by then: not settled
            say(server, "bob", True, bound_ns=None, answer=1)
            await _yield()
            assert not over.is_set()
            say(server, "alice", True, bound_ns=None)       # her exchange is over
            await _asks(server, 2, over)                          # round 1 is stale (her false): asked again
            say(server, "mid", True, bound_ns=None, answer=1)   # mid's answer to round 1, late: confirms nothing
            say(server, "alice", True, bound_ns=None, answer=2)
            say(server, "bob", True, bound_ns=None, answer=2)
            await _yield()
            assert not over.is_set()                        # mid has not answered round 2
            say(server, "mid", True, bound_ns=None, answer=2)
            await over.wait()
    assert server.settling.round == 2 and server.settling.unsettled == []


@pytest.mark.parametrize("scheduled", [True, False])
async def test_an_event_sent_after_the_ask_makes_the_round_stale(server: MediumServer, scheduled: bool) -> None:
    """Round 1 asked; then the medium sends alice an event: one it schedules due 20 ms later (as a command run
    meanwhile would), or one it sends at once (an ``Emitted``). It follows the ask on her socket: her answer to
    round 1 may have come before she handled it, so round 2 is asked once it is due."""
    over = trio.Event()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_settling(server, over))
            for name in NODES:
                say(server, name, True, bound_ns=None)
            await _asks(server, 1, over)
            due = server.kernel.now + (20_000_000 if scheduled else 0)
            port = RemotePort(server, "alice", "alice/link")
            if scheduled:
                server.kernel.deliver_at(due, port, MoveResult(0, 2))
            else:
                port.deliver(MoveResult(0, 2))
            for name in NODES:
                say(server, name, True, bound_ns=None, answer=1)
            second = await _asks(server, 2, over)
            assert not over.is_set() and second["bob"]["at"] >= due
            for name in NODES:
                say(server, name, True, bound_ns=None, answer=2)
            await over.wait()
    assert server.settling.unsettled == []


async def test_a_death_during_a_round_makes_it_stale(server: MediumServer) -> None:
    """mid dies after answering: its peers get ``peer_down``, which their answers did not see. The next round asks
    only the live nodes."""
    over = trio.Event()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_settling(server, over))
            for name in NODES:
                say(server, name, True, bound_ns=None)
            await _asks(server, 1, over)
            say(server, "alice", True, bound_ns=None, answer=1)
            say(server, "bob", True, bound_ns=None, answer=1)
            server._node_died(server.connections["mid"])
            second = await _asks(server, 2, over)
            assert set(second) == {"alice", "bob"}
            for name in ("alice", "bob"):
                say(server, name, True, bound_ns=None, answer=2)
            await over.wait()
    assert server.settling.unsettled == []


async def test_a_node_that_does_not_answer_is_named_after_the_timeout(server: MediumServer,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """bob said true but never answers (a process that cannot): after ANSWER_TIMEOUT_S the medium finishes and names
    him, so the run's exit status is 5."""
    monkeypatch.setattr(medium_settle, "ANSWER_TIMEOUT_S", 0.05)
    monkeypatch.setattr(medium_settle, "CHECK_WALL_NS", 10_000_000)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(settle_answering, server, None, frozenset({"bob"}))
            for name in NODES:
                say(server, name, True, bound_ns=None)
    assert server.settling.unsettled == ["bob"]


@pytest.mark.parametrize("answer", [0, 2, "1", True, 1.0, -1])
def test_an_answer_to_a_round_not_asked_is_refused_and_counted(server: MediumServer, answer: Any) -> None:
    server.settling.ask()
    server._on_message(server.connections["alice"], {"op": "settled", "at": 0, "settled": True, "round": answer})
    assert server.rejected_messages == 1 and "alice" not in server.settling.states
    say(server, "alice", True, bound_ns=None, answer=1)
    assert server.settling.confirmed == {"alice"}


# -- the node's side: its answer follows every input due by the instant asked about ----------------------------

class _Layers:
    """A node's layers as the reporter reads them: settled unless ``busy``."""

    def __init__(self) -> None:
        self.draining, self.busy = True, False

    def settled(self) -> bool:
        return not self.busy


def _reporter() -> tuple[SettledReporter, _Layers, list[dict[str, Any]]]:
    """A reporter on a kernel whose wall clock is far behind (``now`` moves only with :meth:`Kernel.run`)."""
    import time

    layers, sent = _Layers(), []
    kernel = RealtimeKernel(time.time_ns() + 10**15, 1.0)
    return SettledReporter(layers, kernel, sent.append, lambda: 77), layers, sent


def test_the_answer_comes_after_what_the_instant_s_inputs_queued_for_that_instant() -> None:
    """The MoveResult due at 500 settles the link layer, which hands the pair to the network layer at that same
    instant, which then waits for an answer: asked about 500, the node is not settled (answering between the two
    would say it was)."""
    reporter, layers, sent = _reporter()
    kernel = reporter.kernel

    def network_takes_the_pair(_: Any) -> None:
        layers.busy = True
        reporter.check()

    kernel.call_external(lambda _: kernel.call_at(500, network_takes_the_pair), None, 500)   # the MoveResult
    reporter.ask({"op": "ask_settled", "at": 500, "round": 3})
    trio.run(kernel.run, 1_000)
    assert sent == [{"op": "settled", "at": 500, "settled": False, "bound_ns": 77},
                    {"op": "settled", "at": 500, "settled": False, "round": 3}]


def test_a_round_asked_about_a_later_instant_is_answered_then() -> None:
    """Asked about 800 while at 0: the event due at 600 (sent before the round) is handled first, the one due at
    900 after."""
    reporter, layers, sent = _reporter()
    kernel = reporter.kernel

    def flip(_: Any) -> None:
        layers.busy = not layers.busy
        reporter.check()

    reporter.check()                                        # settled since the drain
    kernel.call_external(flip, None, 600)
    reporter.ask({"op": "ask_settled", "at": 800, "round": 1})
    kernel.call_external(flip, None, 900)
    trio.run(kernel.run, 1_000)
    assert [(m["at"], m["settled"], m.get("round")) for m in sent] == [
        (0, True, None), (600, False, None), (800, False, 1), (900, True, None)]
    assert sent[1]["bound_ns"] == 77 and "bound_ns" not in sent[2]     # the first false only carries it


@pytest.mark.parametrize("message", [{"at": 5, "round": 0}, {"at": 5, "round": "1"}, {"at": 5.0, "round": 1},
                                     {"at": 5}])
def test_a_malformed_ask_is_an_error(message: dict[str, Any]) -> None:
    reporter, _, sent = _reporter()
    with pytest.raises((TypeError, KeyError)):
        reporter.ask({"op": "ask_settled"} | message)
    assert reporter.kernel.next_due() is None and sent == []


def test_nothing_is_said_before_the_drain_or_after_the_finish() -> None:
    reporter, layers, sent = _reporter()
    layers.draining = False
    reporter.check()
    layers.draining = True
    reporter.check()
    reporter.check()                                        # unchanged: said once
    reporter.ask({"op": "ask_settled", "at": 10, "round": 1})
    reporter.finishing = True
    layers.busy = True
    reporter.check()
    trio.run(reporter.kernel.run, 100)
    assert sent == [{"op": "settled", "at": 0, "settled": True}]


def test_the_handshake_example_of_wire_md_is_what_frame_sends() -> None:
    """docs/wire.md §8.3 prints a round's ask and its answer with their length prefixes: those are the bytes."""
    import json

    from stack.multiprocess.medium_protocol import frame

    text = (Path(__file__).resolve().parent.parent / "docs" / "wire.md").read_text()
    lines = [line.strip() for line in text.splitlines() if line.startswith("    00 00 00 ")
             and ('"op":"ask_settled"' in line or '"round":' in line)]
    assert len(lines) == 2
    for line in lines:
        prefix, body = line[:11], line[11:].strip()
        assert frame(json.loads(body)) == bytes.fromhex(prefix) + body.encode()
