"""A circuit's ends forget their delivered halves once no message naming them can come (docs/architecture.md,
"Delivered halves at the ends").

A delivered half is final, but before it was never lingered: an end kept every one until its circuit was forgotten
or a new link OK took its key (up to 65 536 per hop). Now the head keeps it from its answer to the pair's CONFIRM,
and the tail from settling the pair, for the longest a poison of the pair may still come: any poison leaves its
origin within a retraction's span (13 of the route's longest confirm timeout) of the tail numbering the pair, or,
the tail's give-up's, (2 · R · K + 1) RTOs from the tail to the head after it, and then crosses each hop within
R + 1 of its RTOs; never less than the circuit's linger. The bounds are worked out here from the harness's
constants, not taken from the code under test. Engines driven directly (tests/network_harness.py); 10 km hops.
"""

from __future__ import annotations

from protocols.common import QNCP_PORT
from protocols.network.circuit import Circuit
from protocols.network.context import LINK_RESOLUTION_CONFIRMS
from protocols.network.types import DELIVERED, Half
from protocols.packets import linkservice as ll
from protocols.packets.qncp_common import CONFIRM_ACK, EXPIRE
from tests.network_harness import Chain

HEAD, R1, R2, TAIL = 1, 3, 4, 2                        # Chain(3): a=1 — r1=3 — r2=4 — b=2
ROUTE = (HEAD, R1, R2, TAIL)
FIBRE_10_KM = 50_000                                   # one-way delay of a 10 km hop, ns


def _circuit(chain: Chain, node: int) -> Circuit:
    (circuit,) = chain.engines[node].node.circuits.by_handle.values()
    return circuit


def _delivered(chain: Chain, node: int) -> list[Half]:
    return [half for half in chain.engines[node].node.halves.values() if half.state is DELIVERED]


def _reported(chain: Chain, node: int) -> tuple[list[int], list[int]]:
    """(pairs delivered, pairs reported expired) at an end."""
    oks = sorted(m.sequence_number for m in chain.oks(node))
    expired = sorted(m.sequence_number_low for m in chain.errs(node) if m.err == ll.ERR_EXPIRE)
    return oks, expired


def _bounds(chain: Chain) -> tuple[int, int]:
    """(the head's, the tail's) keep of a delivered half, from the harness's delays and confirm timeouts."""
    tail = chain.engines[TAIL].node
    retries, hops = tail.config.reliable_retries, len(ROUTE) - 1
    rto = 2 * FIBRE_10_KM + 1_000_000                  # one hop; no jitter
    journey = hops * (retries + 1) * rto               # a poison over every hop: R + 1 RTOs each
    retraction = LINK_RESOLUTION_CONFIRMS * 10_000
    give_up = (2 * retries * hops + 1) * (2 * hops * FIBRE_10_KM + 1_000_000)   # the tail's CONFIRM tries
    tail_keep = max(_circuit(chain, TAIL).linger_ns, retraction + journey)
    head_keep = max(_circuit(chain, HEAD).linger_ns, retraction + journey, give_up + journey)
    return head_keep, tail_keep


def _one_pair(chain: Chain) -> None:
    for hop in (1, 2, 3):
        chain.pair(hop)
    for _ in range(4):
        chain.answer()


def test_the_ends_forget_a_delivered_half_after_the_bound() -> None:
    """Pair 0 of two is delivered at both ends (the circuit goes on, waiting for pair 1): each end still holds its
    half one nanosecond before its bound and has forgotten it one after. Failed before: kept as long as the circuit."""
    chain = Chain(3, delay_ns=FIBRE_10_KM)
    chain.create(number=2)
    chain.run()
    _one_pair(chain)
    delivered = chain.now                              # the head's answer and the tail's settling (no delay here)
    assert _reported(chain, HEAD) == _reported(chain, TAIL) == ([0], [])
    head_keep, tail_keep = _bounds(chain)
    assert tail_keep < head_keep
    for node, keep in sorted(((TAIL, tail_keep), (HEAD, head_keep)), key=lambda item: item[1]):
        chain.advance(delivered + keep - 1)
        assert len(_delivered(chain, node)) == 1, node
        chain.advance(delivered + keep + 1)
        assert _delivered(chain, node) == [], node
        assert _circuit(chain, node).live          # forgotten by its linger, not with its circuit
    chain.finish()
    assert _reported(chain, HEAD) == _reported(chain, TAIL) == ([0, 1], [])
    assert chain.settled()


def _all_but_the_last_copy_lost(chain: Chain, kind: int, also: tuple[int, int, int] | None = None) -> list[int]:
    """Every copy of a ``kind`` message over a hop is lost but the last of its R + 1 (the latest it can come); with
    ``also`` = (source, target, until), every CONFIRM_ACK from source to target before ``until``. Returns the times
    the copies of ``kind`` got through."""
    retries = chain.engines[HEAD].node.config.reliable_retries
    copies: dict[tuple[int, int], int] = {}
    through: list[int] = []

    def lose(source: int, target: int, payload: bytes) -> bool:
        if chain.sent[-1][1] != QNCP_PORT:
            return False
        if also is not None and (source, target) == also[:2] and payload[1] == CONFIRM_ACK:
            return chain.now < also[2]
        if payload[1] != kind:
            return False
        seen = copies[source, target] = copies.get((source, target), 0) + 1
        if seen <= retries:
            return True
        through.append(chain.now)
        return False
    chain.lose = lose
    return through


def test_the_tails_give_up_reaches_the_head_late_within_its_bound() -> None:
    """Every answer to the tail's CONFIRM(0) is lost, so it gives up and poisons its half; every EXPIRE of that
    poison is lost but the last copy over each hop: it reaches the head's delivered half near the end of the head's
    bound (after the give-up and R RTOs of each hop), which still reports the pair expired, as the tail did."""
    chain = Chain(3, delay_ns=FIBRE_10_KM)
    chain.create(number=1)
    chain.run()
    start = chain.now
    head_keep, _ = _bounds(chain)
    through = _all_but_the_last_copy_lost(chain, EXPIRE, also=(R2, TAIL, start + head_keep))
    _one_pair(chain)
    assert _reported(chain, HEAD) == ([0], [])
    chain.finish()
    assert _reported(chain, HEAD) == _reported(chain, TAIL) == ([0], [0])
    retries = chain.engines[HEAD].node.config.reliable_retries
    give_up = (2 * retries * 3 + 1) * (2 * 3 * FIBRE_10_KM + 1_000_000)
    assert head_keep == give_up + 3 * (retries + 1) * (2 * FIBRE_10_KM + 1_000_000)
    assert max(through) - start >= give_up + 3 * retries * (2 * FIBRE_10_KM + 1_000_000)     # it came late
    assert chain.settled()


def test_a_retraction_of_the_heads_pair_reaches_the_tail_late_within_its_bound() -> None:
    """Pair 0 is delivered and settled at both ends; then the link layer retracts the head's link pair (within its
    span: ERR EXPIRE at once) and the head's poison loses every EXPIRE copy but the last over each hop: it reaches
    the tail's delivered half R RTOs a hop later, and the tail reports the pair expired, as the head does."""
    chain = Chain(3, delay_ns=FIBRE_10_KM)
    chain.create(number=1)
    chain.run()
    through = _all_but_the_last_copy_lost(chain, EXPIRE)
    _one_pair(chain)
    settled = chain.now
    assert _reported(chain, HEAD) == _reported(chain, TAIL) == ([0], [])
    chain.link_err(1, HEAD, ll.ERR_EXPIRE, seq=0)
    assert _reported(chain, HEAD) == ([0], [0])
    chain.finish()
    assert _reported(chain, TAIL) == ([0], [0])
    retries = chain.engines[HEAD].node.config.reliable_retries
    assert max(through) - settled >= 3 * retries * (2 * FIBRE_10_KM + 1_000_000)   # the poison came late
    assert chain.settled()
