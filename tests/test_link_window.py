"""Windowed link requests (docs/wire.md §4.1.1): CREATE with Window OPEN, CREDIT, CLOSE, engines driven directly.

The master numbers no more pairs than the credit its higher layer gave; a CREDIT starts the next run at
once and without a SCHEDULE (the other end already follows the request); CLOSE ends the request at the
master and, by the master's abort, at the other end; only the master may hold a window.
"""

from __future__ import annotations

import math

from protocols.common import EGP_PORT, LINK_SERVICE_PORT, BellState
from protocols.link.layer import LinkConfig, LinkLayer
from protocols.link.types import RequestState
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_REQ, MSG_REQ_ACK, MSG_SCHEDULE, MSG_SCHEDULE_ACK, EgpMessage
from protocols.physical.node import PairReady, StartGeneration, StopGeneration

APP1, APP2 = ("198.18.0.1", 49152), ("198.18.0.2", 49152)
EGP1, EGP2 = ("198.18.0.1", EGP_PORT), ("198.18.0.2", EGP_PORT)
PURPOSE = 7


def engine(node_id: int) -> LinkLayer:
    peer = 2 if node_id == 1 else 1
    link = LinkConfig(1, peer, EGP2 if peer == 2 else EGP1, math.inf, math.inf)
    return LinkLayer(node_id, [link], {PURPOSE: APP2 if node_id == 2 else APP1}, retransmit_ns=10**6)


def window(op: int, number: int = 1, remote: int = 2, **fields: int) -> bytes:
    return ll.Create(remote_node_id=remote, purpose_id=PURPOSE, number=number, window=op, **fields).encode()


def upward(actions: object, app: tuple[str, int]) -> list[object]:
    return [ll.decode_upward(p) for d, p in actions.send if d == app]  # type: ignore[attr-defined]


def egp(actions: object, to: tuple[str, int]) -> list[EgpMessage]:
    return [EgpMessage.decode(p) for d, p in actions.send if d == to]  # type: ignore[attr-defined]


def pair(seq: int, at: int) -> PairReady:
    return PairReady(1, 0, seq, BellState.PHI_PLUS, seq, 1, at, (1.0, 0.0, 0.0, 0.0), None, None)


def opened(credit: int) -> tuple[LinkLayer, LinkLayer, int]:
    """A windowed request of ``credit`` pairs opened at the master (node 1), accepted and scheduled: the
    master's first run is armed for ``credit`` pairs."""
    master, other = engine(1), engine(2)
    first = master.receive(window(ll.WINDOW_OPEN, credit), APP1, LINK_SERVICE_PORT, 0)
    (ack,) = upward(first, APP1)
    assert isinstance(ack, ll.Ack)
    (req,) = egp(first, EGP2)
    assert req.msg_type == MSG_REQ and req.create is not None and req.create.windowed
    (req_ack,) = egp(other.receive(req.encode(), EGP1, EGP_PORT, 10), EGP1)
    assert req_ack.msg_type == MSG_REQ_ACK and req_ack.status == 0
    (schedule,) = egp(master.receive(req_ack.encode(), EGP2, EGP_PORT, 20), EGP2)
    assert schedule.msg_type == MSG_SCHEDULE
    (schedule_ack,) = egp(other.receive(schedule.encode(), EGP1, EGP_PORT, 30), EGP1)
    armed = master.receive(schedule_ack.encode(), EGP2, EGP_PORT, 40)
    assert [d.pairs for d in armed.down if isinstance(d, StartGeneration)] == [credit]
    return master, other, ack.create_id


def test_the_master_numbers_no_more_than_the_credit_and_a_credit_restarts_it_without_a_schedule() -> None:
    master, _, create_id = opened(credit=1)
    numbered = master.handle(pair(1, at=50), 60)
    assert [ok.sequence_number for ok in upward(numbered, APP1) if isinstance(ok, ll.OkKeep)] == [0]
    request = master.open[(1, create_id)]
    assert request.to_number == 0 and request.state == RequestState.GENERATING      # open, idle
    late = master.handle(pair(2, at=70), 80)                  # no credit: no run, the pair is nobody's
    assert not upward(late, APP1) and master.counters.unrequested == 1
    credit = master.receive(window(ll.WINDOW_CREDIT, 3), APP1, LINK_SERVICE_PORT, 90)
    assert not upward(credit, APP1) and not egp(credit, EGP2)          # no answer, nothing on the link
    assert [d.pairs for d in credit.down if isinstance(d, StartGeneration)] == [3]
    for seq in range(3, 6):
        master.handle(pair(seq, at=100 + seq), 110 + seq)
    assert master.open[(1, create_id)].numbered == 4 and master.open[(1, create_id)].to_number == 0


def test_close_ends_the_request_at_both_ends() -> None:
    master, other, create_id = opened(credit=2)
    closed = master.receive(window(ll.WINDOW_CLOSE, 0), APP1, LINK_SERVICE_PORT, 50)
    assert not upward(closed, APP1)
    assert any(isinstance(d, StopGeneration) for d in closed.down)
    (abort,) = egp(closed, EGP2)
    assert abort.msg_type == MSG_SCHEDULE and abort.status == ll.ERR_TIMEOUT and abort.create_id == create_id
    assert (1, create_id) not in master.open
    ended = other.receive(abort.encode(), EGP1, EGP_PORT, 60)
    (err,) = upward(ended, APP2)
    assert isinstance(err, ll.Err) and err.err == ll.ERR_TIMEOUT and err.create_id == create_id
    assert any(isinstance(d, StopGeneration) for d in ended.down)
    (answer,) = egp(ended, EGP1)
    assert answer.msg_type == MSG_SCHEDULE_ACK and answer.status == 0
    master.receive(answer.encode(), EGP2, EGP_PORT, 70)
    assert master.settled() and not other.open


def test_a_window_is_held_by_the_master_only_and_never_atomic() -> None:
    master, other = engine(1), engine(2)
    (refused,) = upward(other.receive(window(ll.WINDOW_OPEN, 2, remote=1), APP2, LINK_SERVICE_PORT, 0), APP2)
    assert isinstance(refused, ll.Err) and refused.err == ll.ERR_UNSUPP
    (atomic,) = upward(master.receive(window(ll.WINDOW_OPEN, 2, ato=1), APP1, LINK_SERVICE_PORT, 0), APP1)
    assert isinstance(atomic, ll.Err) and atomic.err == ll.ERR_UNSUPP
    # a REQ carrying OPEN to the master (the other end opened it): refused too
    req = EgpMessage(MSG_REQ, 0, 9, 1, 2, 0, ll.Create(remote_node_id=1, purpose_id=PURPOSE, number=2,
                                                       window=ll.WINDOW_OPEN))
    (answer,) = egp(master.receive(req.encode(), EGP2, EGP_PORT, 0), EGP2)
    assert answer.msg_type == MSG_REQ_ACK and answer.status == ll.ERR_UNSUPP


def test_one_window_per_purpose_and_stale_credits_are_counted() -> None:
    master = engine(1)
    stale = master.receive(window(ll.WINDOW_CREDIT, 2), APP1, LINK_SERVICE_PORT, 0)
    assert not stale.send and master.counters.stale_windows == 1
    (ack,) = upward(master.receive(window(ll.WINDOW_OPEN, 2), APP1, LINK_SERVICE_PORT, 0), APP1)
    assert isinstance(ack, ll.Ack)
    (second,) = upward(master.receive(window(ll.WINDOW_OPEN, 2), APP1, LINK_SERVICE_PORT, 0), APP1)
    assert isinstance(second, ll.Err) and second.err == ll.ERR_REJECTED
    master.receive(window(ll.WINDOW_CLOSE, 0), APP1, LINK_SERVICE_PORT, 1)
    again = master.receive(window(ll.WINDOW_CLOSE, 0), APP1, LINK_SERVICE_PORT, 2)
    assert not again.send and master.counters.stale_windows == 2


def test_a_req_that_comes_after_its_close_leaves_nothing_open() -> None:
    """The master closes a windowed request before its REQ reached the other end (lost, retransmitted,
    overtaken by the abort): the late REQ is refused with the abort's Status instead of opening a request
    that nothing would ever end."""
    master, other = engine(1), engine(2)
    first = master.receive(window(ll.WINDOW_OPEN, 2), APP1, LINK_SERVICE_PORT, 0)
    (req,) = egp(first, EGP2)
    (abort,) = egp(master.receive(window(ll.WINDOW_CLOSE, 0), APP1, LINK_SERVICE_PORT, 5), EGP2)
    (answer,) = egp(other.receive(abort.encode(), EGP1, EGP_PORT, 10), EGP1)
    assert answer.msg_type == MSG_SCHEDULE_ACK and answer.status == 0
    (req_ack,) = egp(other.receive(req.encode(), EGP1, EGP_PORT, 20), EGP1)
    assert req_ack.msg_type == MSG_REQ_ACK and req_ack.status == ll.ERR_TIMEOUT
    assert not other.open and not upward(master.receive(req_ack.encode(), EGP2, EGP_PORT, 30), APP1)


def test_ended_windowed_requests_are_not_kept_by_their_key() -> None:
    """Each circuit's hop has its own label (the windowed request's Purpose ID), so a key rarely comes back: an
    ended windowed request is forgotten when it ends, not when its key is looked up again (four circuits in a row
    over a 2-hop chain left four ended requests at each hop's origin)."""
    from stack.runtime import run_scenario
    from tests.network_scenarios import chain, entry

    result = run_scenario(chain(2, workload="".join(entry(pairs=3) for _ in range(4))))
    assert [len(w.responder.records) for w in result.emulation.workloads] == [3, 3, 3, 3]
    assert [len(layer.queue._windows) for layer in result.emulation.link_layers] == [0, 0, 0]
