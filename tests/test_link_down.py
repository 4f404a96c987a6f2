"""LinkDown: when the peer (or the station between) dies, each open request fails and nothing hangs."""

from __future__ import annotations

from protocols.common import LINK_SERVICE_PORT, BellState
from protocols.link.layer import RequestState
from protocols.packets import linkservice as ll
from protocols.physical.hardware import Discard, LinkDown
from protocols.physical.node import PairReady, StopGeneration
from tests.test_engines import (
    APP1,
    APP2,
    EGP2,
    LINK,
    keep_create,
    link_pair,
    only,
    open_request,
    parse_err,
)


def _pair(slot: int, attempt: int, now: int) -> PairReady:
    return PairReady(LINK, slot, 10 + slot, BellState.PHI_PLUS, attempt, 1, now, (0.9, 0.05, 0.03, 0.02), None, None)


def test_master_expires_unconfirmed_pairs_and_fails_the_request() -> None:
    n1, n2 = link_pair()
    create_id, *_ = open_request(n1, n2, keep_create(number=5))
    out = n1.handle(_pair(0, 0, 10_000), 10_000)             # OK delivered, CONFIRM to the peer...
    assert only(out.send, EGP2)                               # ...which will never answer
    down = n1.handle(LinkDown(LINK), 20_000)
    errs = [parse_err(p) for p in only(down.send, APP1)]
    assert [e["err"] for e in errs] == [ll.ERR_EXPIRE, ll.ERR_OTHER]
    assert all(e["create_id"] == create_id for e in errs)
    assert StopGeneration(LINK) in down.down
    assert n1.requests[(1, create_id)].state == RequestState.FAILED
    assert n1.settled() and n1.held_slots() == set()
    assert only(n1.on_timer(10**9).send, EGP2) == []         # no retransmission to the dead peer
    again = n1.receive(keep_create().encode(), APP1, LINK_SERVICE_PORT, 30_000)
    assert [parse_err(p)["err"] for p in only(again.send, APP1)] == [ll.ERR_OTHER]
    assert only(again.send, EGP2) == []


def test_other_end_frees_pairs_awaiting_confirmation() -> None:
    n1, n2 = link_pair()
    open_request(n1, n2, keep_create(number=5))
    n2.handle(_pair(1, 0, 10_000), 10_000)                    # heralded here; the master's CONFIRM never comes
    assert n2.held_slots() == {1}
    down = n2.handle(LinkDown(LINK), 20_000)
    assert Discard(1) in down.hardware
    assert [parse_err(p)["err"] for p in only(down.send, APP2)] == [ll.ERR_OTHER]
    assert n2.held_slots() == set() and n2.settled()
    assert n2.handle(LinkDown(LINK), 30_000).send == []      # a second report changes nothing
