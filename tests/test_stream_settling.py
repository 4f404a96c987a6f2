"""A teleport stream's accounting of its standing request's pairs (stack.api.stream): it makes a new request
exactly when every pair of the current one is settled at its end, when the request's Sequence Numbers come
round too. The layers' messages are scripted: each wait of the stream delivers the next one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import trio

from protocols.common import LINK_SERVICE_PORT
from protocols.packets import linkservice as ll
from protocols.packets import qtp
from stack.api.answers import MessageQueue
from stack.api.errors import LinkError, TransportError
from stack.api.intake import Intake
from stack.api.records import UsedNumbers
from stack.api.stream import RequestPairs, Settling, TeleportStream

ME, PEER, REQUEST = 1, 2, 7


class WouldWaitForever(Exception):
    """The stream waited with no message left to come."""


def ok(seq: int, slot: int) -> ll.OkKeep:
    """This end's OK (K) of request REQUEST under ``seq``, its half in ``slot``."""
    return ll.OkKeep(REQUEST, slot, 0, 0, seq, 0, PEER, 0, 0)


def expire(seq: int) -> ll.Err:
    """The layer's ERR EXPIRE of request REQUEST's pair under ``seq``."""
    return ll.Err(REQUEST, ll.ERR_EXPIRE, 1, seq, seq + 1, ME)


class Harness:
    """A stream over scripted messages; ``acks`` says, per send, whether the receiver acknowledges it."""

    def __init__(self, script: list[ll.Upward], acks: list[bool]) -> None:
        self.script, self.acks = script, acks
        self.creates: list[int] = []
        self.discarded: list[int] = []
        self.sent: list[int] = []
        queue = MessageQueue()

        async def wait() -> None:
            if not self.script:
                raise WouldWaitForever(f"left={self.stream.left}")
            queue.arrived(self.script.pop(0), LINK_SERVICE_PORT)

        async def create(remote: str, number: int, service: str) -> int:
            self.creates.append(number)
            return REQUEST

        ctx = SimpleNamespace(intake=Intake(queue, {}, wait, lambda: None), node_id=ME, create=create,
                              discard=self.discarded.append)
        socket = SimpleNamespace(service="auto", port=None, remote_id=PEER, _mine=lambda m: True,
                                 _expire=lambda e: set(e.sequences()),
                                 _kept=lambda m, at: SimpleNamespace(slot=m.lqid, sequence_number=m.sequence_number))
        self.teleporter = SimpleNamespace(ctx=ctx, renamed=0, sent_names=UsedNumbers(), _socket=lambda r, s: socket,
                                          send_over=self.send_over)
        self.stream = TeleportStream(self.teleporter, "bob")

    async def send_over(self, remote: str, slot: int, pair: Any, receiver_ok_ns: int | None = None) -> int:
        self.sent.append(pair.slot)
        if not self.acks.pop(0):
            raise TransportError(qtp.ERR_NOPAIR, "the receiver holds no such pair")
        return len(self.sent)

    def send(self, remaining: int) -> str:
        """One send; what came of it ("sent", or the error's class)."""
        async def one() -> str:
            try:
                await self.stream.send(0, remaining)
            except (LinkError, TransportError) as error:
                return type(error).__name__
            return "sent"
        return trio.run(one)


def test_an_expiry_under_an_acknowledged_number_is_a_later_pair_and_ends_the_request() -> None:
    """Pair 1 under 5 is delivered at both ends and its qubit acknowledged; the numbers come round and the next
    pair under 5 expires before its OK came here: the request's two pairs are settled (the old stream took
    the ERR for pair 1's and waited for ever)."""
    h = Harness([ok(5, 10), expire(5)], acks=[True, True])
    assert h.send(2) == "sent"
    assert h.send(1) == "LinkError"            # EXPIRE: the request's last pair was retracted
    assert h.creates == [2] and h.stream.left == 0
    h.script.append(ok(6, 11))                 # the new request's pair
    assert h.send(1) == "sent"                 # the caller's retry goes over a new request
    assert h.creates == [2, 1] and h.sent == [10, 11]


def test_an_expiry_of_a_taken_pair_whose_qubit_was_lost_is_that_pairs_retraction() -> None:
    """The receiver never had pair 5 (NOPAIR): the ERR EXPIRE that follows retracts it, no other pair."""
    h = Harness([ok(5, 10), expire(5), ok(6, 11)], acks=[False, True])
    assert h.send(2) == "TransportError"
    assert h.send(2) == "sent"
    assert h.creates == [2] and h.sent == [10, 11] and not h.script


def test_an_expiry_of_a_skipped_pair_is_its_retraction() -> None:
    """Pair 2 under 5 (numbers came round) is skipped; the ERR EXPIRE under 5 then retracts it (at the end that
    delivers at the herald, the only reading: the other end lost its herald), so a third pair still comes."""
    h = Harness([ok(5, 10), ok(5, 11), expire(5), ok(6, 12)], acks=[True, True])
    assert h.send(3) == "sent"
    assert h.send(2) == "sent"
    assert h.creates == [3] and h.sent == [10, 12] and h.discarded == [11] and h.teleporter.renamed == 1
    assert h.stream.left == 0 and not h.script


def test_an_ok_after_an_expiry_under_its_number_is_a_later_pair() -> None:
    """The stream's request has CON set: the layer never delivers an expired pair's OK afterwards, so an OK
    under a number an ERR EXPIRE named is the next pair under it (skipped: its QTP name was used), and both
    settle the request (taking the OK as the expired pair's, the measure-directly tally's reading for CON
    clear, would wait for a pair that never comes)."""
    h = Harness([expire(5), ok(5, 10), ok(6, 11)], acks=[True])
    assert h.send(2) == "sent"
    assert h.creates == [2, 2] and h.discarded == [10] and h.sent == [11] and h.teleporter.renamed == 1


@pytest.mark.parametrize("script", [[ok(5, 10), ok(6, 11)], [ok(5, 10), expire(6)]])
def test_each_pair_settles_the_request_once(script: list[ll.Upward]) -> None:
    h = Harness(list(script), acks=[True, True])
    assert h.send(2) == "sent"
    assert h.stream.left == 1
    assert h.send(1) == ("sent" if isinstance(script[1], ll.OkKeep) else "LinkError")
    assert h.creates == [2] and h.stream.left == 0


def test_request_pairs_transitions() -> None:
    """Every (last, now) pair of the table, against the rule written out."""
    for first in (None, Settling.OK, Settling.EXPIRE):
        for acked in (False, True):
            for now in (Settling.OK, Settling.EXPIRE):
                pairs = RequestPairs(5)
                if first is Settling.OK:
                    pairs.ok(9)
                    if acked:
                        pairs.settle(9, Settling.ACK)
                elif first is Settling.EXPIRE:
                    pairs.expire([9])
                before = pairs.left
                used = None
                if now is Settling.OK:
                    used = pairs.ok(9)
                else:
                    pairs.expire([9])
                retraction = now is Settling.EXPIRE and first is Settling.OK and not acked
                assert before - pairs.left == (0 if retraction else 1)
                assert used is (None if now is Settling.EXPIRE else first is not None)


def test_streams_over_the_two_services_skip_a_pair_whose_qtp_name_the_other_used() -> None:
    """The link and network services number their requests apart: a request of each can be Create ID 7, and
    QTP, which names a pair (origin, Create ID, Sequence Number) with no service, could not tell their pairs
    under 5 apart. The receiver skips the second by name whatever its service; the sender's second stream does
    too (before, it used it, and its qubit went over a pair the receiver had discarded)."""
    link, network = Harness([ok(5, 10)], acks=[True]), Harness([ok(5, 11), ok(6, 12)], acks=[True])
    network.teleporter.sent_names = link.teleporter.sent_names    # one Teleporter, two streams
    assert link.send(1) == "sent" and network.send(2) == "sent"
    assert network.sent == [12] and network.discarded == [11] and network.teleporter.renamed == 1
    assert network.creates == [2] and network.stream.left == 0
