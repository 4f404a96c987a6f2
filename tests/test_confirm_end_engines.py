"""A pair whose CONFIRM handshake gives up ends at both ends: the link-layer engines alone (the runs are in
tests/test_confirm_end.py).

Node 1 is the master. Every CONFIRM it sends about the pair (or every answer to it) is lost; after
``reliable_retries`` retransmissions it reports the pair expired and retracts it with a RELEASE with Status
EXPIRE, and node 2 then reports it expired too, whatever it had done with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from protocols.common import EGP_PORT, Actions
from protocols.link.layer import LinkConfig, LinkLayer, RequestState
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_CONFIRM, MSG_RELEASE, EgpMessage
from protocols.packets.linkservice import Create
from protocols.physical.hardware import Discard
from protocols.physical.node import AttemptLost, BlockReady
from tests.test_engines import (
    APP1,
    APP2,
    EGP1,
    EGP2,
    LINK,
    PURPOSE,
    keep_create,
    link_pair,
    only,
    open_request,
    parse_egp,
    parse_err,
    parse_ok,
)
from tests.test_link_robust import E_EXPIRE, pair


def give_up(n1: LinkLayer, out: Actions) -> tuple[list[bytes], bytes, int]:
    """Run node 1's timers while every CONFIRM it sends is lost, until it gives up: its ERRs to its higher
    layer, its RELEASE that retracts the pair (every copy is the same), and when it gave up."""
    errs = only(out.send, APP1)
    while True:
        now = n1.confirms.deadline() or 0
        out = n1.on_timer(now)
        errs += only(out.send, APP1)
        releases = [m for m in only(out.send, EGP2) if EgpMessage.decode(m).msg_type == MSG_RELEASE]
        if releases:
            return errs, releases[0], now


def test_a_pair_whose_every_confirm_is_lost_expires_at_the_other_end_on_the_retraction() -> None:
    """Node 2 holds the pair until its confirm timeout (then frees it) and never hears a CONFIRM; node 1
    gives up and retracts it: node 2 reports it expired and settles it, so its request ends too."""
    n1, n2 = link_pair(retries=1, reliable_retries=5)
    open_request(n1, n2, keep_create(number=1))
    at_master = n1.handle(pair(7, 9_000), now=10_000)
    assert parse_ok(only(at_master.send, APP1)[0])["seq"] == 0
    n2.handle(pair(7, 9_000, slot=1), now=10_000)
    freed = n2.on_timer(10_000 + n2.timing.confirm_timeout_ns)
    assert freed.hardware == [Discard(1)] and only(freed.send, APP2) == []
    errs, release, now = give_up(n1, at_master)
    assert [parse_err(m)["err"] for m in errs[1:]] == [E_EXPIRE]
    assert n2.requests[(1, 1)].state == RequestState.GENERATING        # still waiting for its pair
    first = n2.receive(release, EGP1, EGP_PORT, now + 100)
    (err,) = [parse_err(m) for m in only(first.send, APP2)]
    assert (err["err"], n2.requests[(1, 1)].state) == (E_EXPIRE, RequestState.DONE)
    ack = only(first.send, EGP1)
    again = n2.receive(release, EGP1, EGP_PORT, now + 200)   # a retransmission: the same answer only
    assert only(again.send, APP2) == [] and only(again.send, EGP1) == ack
    n1.receive(ack[0], EGP2, EGP_PORT, now + 300)
    assert n1.settled() and n2.settled() and not n1.open and not n2.open
    assert n1.counters.expired == n2.counters.expired == 1


def test_a_pair_delivered_on_a_confirm_whose_every_answer_is_lost_is_withdrawn_at_both_ends() -> None:
    """Node 2 delivered the pair on the first CONFIRM and answers every copy; all its answers are lost.
    Node 1 gives up (ERR EXPIRE after its OK) and retracts it: node 2 withdraws it too (ERR EXPIRE after
    its OK), without counting it twice towards its request."""
    n1, n2 = link_pair(retries=1, reliable_retries=5)
    open_request(n1, n2, keep_create(number=1))
    at_master = n1.handle(pair(7, 9_000), now=10_000)
    n2.handle(pair(7, 9_000, slot=1), now=10_000)
    confirmed = n2.receive(only(at_master.send, EGP2)[0], EGP1, EGP_PORT, now=10_100)   # its ACK is lost
    assert parse_ok(only(confirmed.send, APP2)[0])["seq"] == 0
    assert n2.requests[(1, 1)].state == RequestState.DONE
    errs, release, now = give_up(n1, at_master)
    assert [parse_err(m)["err"] for m in errs[1:]] == [E_EXPIRE]
    withdrawn = n2.receive(release, EGP1, EGP_PORT, now + 100)
    assert [parse_err(m)["err"] for m in only(withdrawn.send, APP2)] == [E_EXPIRE]
    assert n2.requests[(1, 1)].delivered == 1 and withdrawn.hardware == []   # the pair is the application's
    late = n2.receive(only(at_master.send, EGP2)[0], EGP1, EGP_PORT, now + 200)   # a late CONFIRM copy
    assert only(late.send, APP2) == [] and parse_egp(only(late.send, EGP1)[0])["status"] == E_EXPIRE
    n1.receive(only(withdrawn.send, EGP1)[0], EGP2, EGP_PORT, now + 300)
    assert n1.settled() and n2.settled() and n1.counters.expired == n2.counters.expired == 1


def test_a_pair_already_expired_at_the_other_end_is_not_reported_twice() -> None:
    """Node 2 lost the herald and answered EXPIRE (reported there); every answer is lost and node 1 gives
    up and retracts it: node 2 has nothing more to report."""
    n1, n2 = link_pair(retries=1, reliable_retries=5)
    open_request(n1, n2, keep_create(number=1))
    at_master = n1.handle(pair(7, 9_000), now=10_000)
    n2.handle(AttemptLost(LINK, 7), now=10_000)
    refused = n2.receive(only(at_master.send, EGP2)[0], EGP1, EGP_PORT, now=10_100)   # its ACK is lost
    assert [parse_err(m)["err"] for m in only(refused.send, APP2)] == [E_EXPIRE]
    _, release, now = give_up(n1, at_master)
    retracted = n2.receive(release, EGP1, EGP_PORT, now + 100)
    assert only(retracted.send, APP2) == [] and len(only(retracted.send, EGP1)) == 1
    assert n2.counters.expired == 1 and n2.requests[(1, 1)].delivered == 1


def test_an_atomic_pair_kept_on_a_confirm_whose_every_answer_is_lost_is_discarded_and_replaced() -> None:
    """Atomic: node 2 keeps the pair on the CONFIRM; node 1 gives up, replaces it and retracts it: node 2
    discards it (it would otherwise hold the qubit for ever) and neither end counts it."""
    n1, n2 = link_pair(retries=1, reliable_retries=5)
    open_request(n1, n2, Create(remote_node_id=2, purpose_id=PURPOSE, number=2, ato=1))
    at_master = n1.handle(pair(7, 9_000), now=10_000)
    n2.handle(pair(7, 9_000, slot=1), now=10_000)
    n2.receive(only(at_master.send, EGP2)[0], EGP1, EGP_PORT, now=10_100)   # kept; its ACK is lost
    assert n2.held_slots() == {1}
    _, release, now = give_up(n1, at_master)
    assert n1.requests[(1, 1)].to_number == 2                             # to be generated again
    discarded = n2.receive(release, EGP1, EGP_PORT, now + 100)
    assert discarded.hardware == [Discard(1)] and n2.held_slots() == set()
    assert [parse_err(m)["err"] for m in only(discarded.send, APP2)] == [E_EXPIRE]
    assert n2.requests[(1, 1)].delivered == 0 and n2.requests[(1, 1)].state == RequestState.GENERATING


def test_a_late_retraction_of_a_delivered_pair_is_not_counted_twice() -> None:
    """Every CONFIRM_ACK is lost and so is every copy of the retraction but the last, which comes almost two
    retransmission spans after node 2 first answered: node 2 still knows it delivered the pair (each copy of
    the CONFIRM renewed its answer), so it withdraws it without counting it again towards its request (which
    would end it a pair early, while the master goes on)."""
    n1, n2 = link_pair(retries=1, reliable_retries=5)
    open_request(n1, n2, keep_create(number=2))
    at_master = n1.handle(pair(7, 9_000), now=10_000)
    n2.handle(pair(7, 9_000, slot=1), now=10_000)
    out, copies = at_master, 0
    while True:                                                       # every copy reaches node 2, no answer back
        for confirm in only(out.send, EGP2):
            if EgpMessage.decode(confirm).msg_type == MSG_CONFIRM:
                copies += 1
                n2.receive(confirm, EGP1, EGP_PORT, (out.deadline or 0) + 100)
        if any(EgpMessage.decode(m).msg_type == MSG_RELEASE for m in only(out.send, EGP2)):
            break
        out = n1.on_timer(n1.confirms.deadline() or 0)
    release = next(m for m in only(out.send, EGP2) if EgpMessage.decode(m).msg_type == MSG_RELEASE)
    last = (n1.memory.deadline() or 0) + 4 * n1.timing.interval_ns    # the last copy of the retraction
    assert last > 10_100 + n2.timing.keep_ns and copies == 6           # past what node 2 remembers of its first answer
    n2.on_timer(last)                                                 # node 2 forgets what is older than keep_ns
    withdrawn = n2.receive(release, EGP1, EGP_PORT, last + 100)
    assert [parse_err(m)["err"] for m in only(withdrawn.send, APP2)] == [E_EXPIRE]
    request = n2.requests[(1, 1)]
    assert (request.delivered, request.state) == (1, RequestState.GENERATING)


def block_pair(n2_purposes: dict[int, Any]) -> tuple[LinkLayer, LinkLayer]:
    """Two engines on a link that makes measure-directly pairs in blocks of up to 6."""
    n1 = LinkLayer(1, [LinkConfig(LINK, 2, EGP2, 1e6, 1e6, batch=6)], {}, 50_000, 1, reliable_retries=5)
    n2 = LinkLayer(2, [LinkConfig(LINK, 1, EGP1, 1e6, 1e6, batch=6)], n2_purposes, 50_000, 1, reliable_retries=5)
    return n1, n2


def block(outcomes: list[int]) -> BlockReady:
    return BlockReady(LINK, 40, 20, 9_000, (0.9, 0.05, 0.05, 0.0), np.array([1, 3, 1, 3, 3, 1], dtype=np.uint8),
                      np.packbits(outcomes), np.zeros(6, dtype=np.uint8))


@pytest.mark.parametrize("answers_lost", [False, True])
def test_a_block_whose_confirm_is_given_up_expires_whole_at_the_other_end(answers_lost: bool) -> None:
    """A block of 6 measured pairs (one CONFIRM, which names no count): node 2 retracts all 6 Sequence
    Numbers, by the count it saw, whether it never got the CONFIRM or delivered the block on it."""
    n1, n2 = block_pair({PURPOSE: APP2})
    open_request(n1, n2, Create(remote_node_id=2, purpose_id=PURPOSE, number=6, tpe=1))
    at_master = n1.handle(block([1, 0, 1, 1, 0, 0]), now=10_000)
    n2.handle(block([0, 1, 0, 0, 1, 1]), now=10_000)
    if answers_lost:
        n2.receive(only(at_master.send, EGP2)[0], EGP1, EGP_PORT, now=10_100)   # the OK-MB; its ACK is lost
    else:
        n2.on_timer(10_000 + n2.timing.confirm_timeout_ns)                       # no CONFIRM: node 2 lets it go
    _, release, now = give_up(n1, at_master)
    retracted = n2.receive(release, EGP1, EGP_PORT, now + 100)
    (err,) = [ll.decode_upward(m) for m in only(retracted.send, APP2)]
    assert isinstance(err, ll.Err) and err.err == E_EXPIRE
    assert (err.sequence_number_low, err.sequence_number_high) == (0, 6)
    request = n2.requests[(1, 1)]
    assert (request.delivered, request.state) == (6, RequestState.DONE)
    assert n1.counters.expired == n2.counters.expired == 6
