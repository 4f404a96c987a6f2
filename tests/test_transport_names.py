"""The receiving Teleporter's records of the remote's pairs (stack.api.transport ``_hold_oks``): a retraction
is of one remote's pair, and a pair is skipped only when its QTP name (origin, Create ID, Sequence Number) was
settled here already. The layers' messages are queued by hand; the transport engine is a recorder."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import trio

from protocols.common import LINK_SERVICE_PORT, NETWORK_SERVICE_PORT
from protocols.packets import linkservice as ll
from stack.api.answers import MessageQueue
from stack.api.epr import KeptPair
from stack.api.records import EXPIRED_KEPT, RecentKeys, UsedNumbers
from stack.api.transport import Teleporter

ME, ALICE, CAROL = 1, 2, 3


class Receiver:
    """A Teleporter's ``_hold_oks`` over a hand-filled queue."""

    def __init__(self) -> None:
        self.queue = MessageQueue()
        self.discarded: list[int] = []
        self.expected: list[tuple[int, int, int]] = []
        teleporter = Teleporter.__new__(Teleporter)
        teleporter.ctx = SimpleNamespace(intake=SimpleNamespace(messages=self.queue), now=0,   # type: ignore[assignment]
                                         service_of=self.queue.service_of, discard=self.discarded.append)
        teleporter.engine = SimpleNamespace(expect=self._expect, retransmit_ns=0)  # type: ignore[assignment]
        teleporter._retracted = RecentKeys(EXPIRED_KEPT)
        teleporter.names = UsedNumbers()
        teleporter.renamed = 0
        teleporter._held_pairs = {}
        teleporter._retransmit_ns = lambda remote: 0                                # type: ignore[method-assign]
        teleporter._apply = lambda actions: None                                    # type: ignore[method-assign]
        self.teleporter = teleporter

    def _expect(self, ref: Any, destination: Any, now: int) -> None:
        self.expected.append(ref.key)

    def hold(self, remote_id: int, *messages: tuple[ll.Upward, int]) -> None:
        """Queue ``messages`` (each with its service port) and let the socket to ``remote_id`` take its own."""
        for message, port in messages:
            self.queue.arrived(message, port)
        socket = SimpleNamespace(remote_id=remote_id, remote=f"node{remote_id}", _of_kind=lambda m, kept: False,
                                 _expire=lambda err: set(err.sequences()),
                                 _kept=lambda ok, at: KeptPair(ok.lqid, "x", ok.create_id, ok.sequence_number,
                                                               ok.bell_state, 1.0, False, 0))
        self.teleporter._hold_oks(socket)  # type: ignore[arg-type]


def ok(origin: int, create_id: int, seq: int, slot: int) -> ll.OkKeep:
    """The OK (K) here of ``origin``'s request ``create_id``'s pair under ``seq``."""
    return ll.OkKeep(create_id, slot, 1, 0, seq, 0, origin, 0, 0)


def test_a_retraction_of_one_remotes_pair_does_not_discard_anothers_with_the_same_name() -> None:
    """Carol's request 1 has its pair 0 retracted before its OK; alice's request 1's pair 0 is another pair
    (Create IDs are per origin): it is held, not discarded (before, the record had no origin)."""
    receiver = Receiver()
    receiver.hold(CAROL, (ll.Err(1, ll.ERR_EXPIRE, 1, 0, 1, CAROL), LINK_SERVICE_PORT))
    receiver.hold(ALICE, (ok(ALICE, 1, 0, slot=10), LINK_SERVICE_PORT))
    assert receiver.expected == [(ALICE, 1, 0)] and receiver.discarded == []
    receiver.hold(CAROL, (ok(CAROL, 1, 0, slot=11), LINK_SERVICE_PORT))
    assert receiver.expected == [(ALICE, 1, 0)] and receiver.discarded == [11]   # carol's: the retracted one


def test_a_pair_under_a_name_the_other_service_used_is_skipped() -> None:
    """Alice's link request 1 and network request 1 both deliver a pair under 5: QTP cannot tell them apart,
    so the second is skipped (as alice's stream skips it: tests/test_stream_settling.py)."""
    receiver = Receiver()
    receiver.hold(ALICE, (ok(ALICE, 1, 5, slot=10), LINK_SERVICE_PORT),
                  (ok(ALICE, 1, 5, slot=11), NETWORK_SERVICE_PORT), (ok(ALICE, 1, 6, slot=12), NETWORK_SERVICE_PORT))
    assert receiver.expected == [(ALICE, 1, 5), (ALICE, 1, 6)]
    assert receiver.discarded == [11] and receiver.teleporter.renamed == 1


def test_a_single_send_skips_a_pair_whose_name_was_used_as_the_receiver_does() -> None:
    """``Teleporter.send`` over alice's network request 1's pair under 5, after her link request 1's pair under
    5: the receiver skips the second pair by name, so the sender discards it and sends over a new one."""
    pairs = [KeptPair(10, "bob", 1, 5, 0, 1.0, False, 0), KeptPair(11, "bob", 1, 5, 0, 1.0, False, 0),
             KeptPair(12, "bob", 2, 6, 0, 1.0, False, 0)]
    sent: list[int] = []
    discarded: list[int] = []

    async def create_one(correct: bool) -> KeptPair:
        return pairs.pop(0)

    async def send_over(remote: str, slot: int, pair: KeptPair, receiver_ok_ns: int | None = None) -> int:
        sent.append(pair.slot)
        return len(sent)

    teleporter = Teleporter.__new__(Teleporter)
    teleporter.ctx = SimpleNamespace(node_id=ALICE, discard=discarded.append)  # type: ignore[assignment]
    teleporter.sent_names, teleporter.renamed = UsedNumbers(), 0
    socket: Any = SimpleNamespace(create_one=create_one, remote_id=2)
    teleporter._socket = lambda remote, service: socket  # type: ignore[method-assign]
    teleporter.send_over = send_over  # type: ignore[method-assign]
    assert trio.run(teleporter.send, "bob", 0, "link") == 1
    assert trio.run(teleporter.send, "bob", 0, "network") == 2
    assert sent == [10, 12] and discarded == [11] and teleporter.renamed == 1


def test_a_name_used_with_one_remote_does_not_skip_a_pair_to_another() -> None:
    """Alice's link request 1 to carol and her network request 1 to bob each deliver a pair under 0: each
    receiver sees only its own, so neither may be skipped (review 9d: the sender's one table, keyed without the
    remote, discarded bob's pair while bob kept his half and waited for a qubit until its deadline)."""
    pairs = {"carol": [KeptPair(10, "carol", 1, 0, 0, 1.0, False, 0)],
             "bob": [KeptPair(11, "bob", 1, 0, 0, 1.0, False, 0)]}
    sent: list[int] = []
    discarded: list[int] = []

    async def send_over(remote: str, slot: int, pair: KeptPair, receiver_ok_ns: int | None = None) -> int:
        sent.append(pair.slot)
        return len(sent)

    def socket_to(remote: str, service: str) -> Any:
        async def create_one(correct: bool) -> KeptPair:
            return pairs[remote].pop(0)
        return SimpleNamespace(create_one=create_one, remote_id={"bob": ME, "carol": CAROL}[remote])

    teleporter = Teleporter.__new__(Teleporter)
    teleporter.ctx = SimpleNamespace(node_id=ALICE, discard=discarded.append)  # type: ignore[assignment]
    teleporter.sent_names, teleporter.renamed = UsedNumbers(), 0
    teleporter._socket = socket_to  # type: ignore[method-assign]
    teleporter.send_over = send_over  # type: ignore[method-assign]
    assert trio.run(teleporter.send, "carol", 0, "link") == 1
    assert trio.run(teleporter.send, "bob", 0, "network") == 2
    assert sent == [10, 11] and discarded == [] and teleporter.renamed == 0
