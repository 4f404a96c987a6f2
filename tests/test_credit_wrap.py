"""A hop's credit past the 16-bit link Sequence Number wrap (protocols/network/hop_flow.py; docs/architecture.md,
"Hops and credit").

The origin of a hop keys its credit bookkeeping by link Sequence Number, and remembers the last
:data:`~protocols.network.hop_flow.RECENT_FREED` pairs whose credit came back (so that a late word of one, a copy
of the granter's CREDIT RELEASED or a late link ERR EXPIRE, settles nothing). On a link the circuit shares with
others, 65 536 link pairs can pass while the circuit's flow frees fewer than that, and a new pair of the circuit
then has a number still among its recently freed. Before the fix its OK settled nothing: the credit the link
layer had used stayed counted as given (``pending``), the granter's release was ignored, and the window shrank by
one for good (a window-1 hop stopped). The wrap is played as in tests/test_halves_wrap.py: the harness's link
sequences set back to 0 (the same numbers, as a shared link would give them).
"""

from __future__ import annotations

import random

import pytest

from protocols.common import QNCP_PORT
from protocols.network import hop_flow
from protocols.network.hop_flow import HopFlow
from protocols.packets import linkservice as ll
from protocols.packets.qncp import decode_pair
from protocols.packets.qncp_common import CREDIT, CREDIT_RELEASED
from tests.network_harness import Chain, ip

HEAD, TAIL, REPEATER = 1, 2, 3


def _origin_flow(chain: Chain, node: int) -> HopFlow:
    (flow,) = [flow for flow in chain.engines[node].hops.flows.values() if flow.origin]
    return flow


def _check_credit_back(chain: Chain, hop: int, origin: int, window: int = 1) -> None:
    """Every pair of ``hop`` is settled and released at both ends: its origin holds no pair's credit and has given
    its link layer the whole window (no credit lost, none extra)."""
    flow = _origin_flow(chain, origin)
    request = chain.open_request(hop)
    assert flow.outstanding == set() and flow.own_released == set() and flow.peer_released == set()
    assert flow.request is not None and flow.request.pending == window
    assert request is not None and request.remaining == window


def _credit_releaseds(chain: Chain, sender: int, link: int) -> list[bytes]:
    sent = [payload for node, port, payload in chain.sent if node == sender and port == QNCP_PORT]
    messages = [(payload, decode_pair(payload)) for payload in sent if len(payload) == 20]
    return [payload for payload, message in messages
            if message is not None and message.msg_type == CREDIT and message.credit == CREDIT_RELEASED
            and message.link_id == link]


def test_a_pair_on_a_recently_freed_number_holds_and_returns_its_credit() -> None:
    """One hop, window 1: each pair comes on the number of the one before (freed a moment ago). Failed before the
    fix: after the first such pair the hop had no credit left and no pair could come."""
    chain = Chain(1, window=1)
    chain.create(number=4)
    chain.run()
    for n in range(4):
        chain.seq[1] = 0
        chain.pair(1, bell=n % 4)
        chain.answer()
        assert 0 in _origin_flow(chain, HEAD).freed_count
        if n < 3:
            _check_credit_back(chain, 1, HEAD)
    for node in (HEAD, TAIL):
        assert [m.sequence_number for m in chain.oks(node)] == [0, 1, 2, 3]
        assert chain.errs(node) == []
    chain.finish()
    assert chain.slots == {}


def _two_hops_first_pair_done(window: int = 1) -> Chain:
    """Two hops, a circuit of three pairs, one made, swapped, delivered and settled; then long enough that the
    repeater has forgotten its swap records (so the next pair on the same numbers is swapped as any other)."""
    chain = Chain(2, window=window)
    chain.create(number=3)
    chain.run()
    for hop in (1, 2):
        chain.pair(hop)
    chain.answer()
    chain.answer()
    _check_credit_back(chain, 2, TAIL, window)
    circuit = next(iter(chain.engines[REPEATER].node.circuits.by_handle.values()))
    chain.advance(chain.now + 2 * circuit.linger_ns)
    assert not chain.engines[REPEATER].node.halves
    return chain


def test_the_granters_release_of_a_wrapped_pair_before_the_origins_ok_is_counted() -> None:
    """Hop 2's origin is the tail. The wrapped pair's OK at the tail comes last: the repeater has swapped it and
    sent CREDIT RELEASED first, for a number the tail has among its recently freed. That release is the new
    pair's: once the tail has delivered the pair, the hop has its credit back (it would be lost had the release
    been taken for a copy of the old pair's)."""
    chain = _two_hops_first_pair_done()
    for link in chain.seq:
        chain.seq[link] = 0
    chain.pair(1)
    chain.pair(2, queued=True)
    late = [item for item in chain.queue if item[0] == TAIL]
    for item in late:
        chain.queue.remove(item)
    chain.run()
    chain.answer()                                  # the swap: the repeater releases both its halves
    assert 0 in _origin_flow(chain, TAIL).freed_count
    chain.queue.extend(late)
    chain.run()
    for node in (HEAD, TAIL):
        assert [m.sequence_number for m in chain.oks(node)] == [0, 1]
    _check_credit_back(chain, 2, TAIL)
    _check_credit_back(chain, 1, HEAD)
    chain.finish()
    assert chain.slots == {}


def test_a_late_copy_of_the_old_pairs_release_is_not_counted_for_the_new_pair() -> None:
    """A copy of the repeater's CREDIT RELEASED of the old hop-2 pair reaches the tail after that pair's credit
    came back (a retransmission that crossed the CREDIT_ACK); long after, a new pair comes on the same number,
    held at the repeater (no hop-1 pair to swap it with). The old copy must not count as the repeater's release
    of the new pair: the credit would come back while the repeater still holds its half (a second pair on a
    window-1 hop)."""
    chain = _two_hops_first_pair_done()
    (copy,) = _credit_releaseds(chain, REPEATER, 2)
    chain.queue.append((TAIL, copy, (ip(REPEATER), QNCP_PORT), QNCP_PORT))
    chain.run()
    chain.advance(chain.now + 10 * chain.engines[TAIL].node.rto(REPEATER))
    for link in chain.seq:
        chain.seq[link] = 0
    chain.pair(2)
    flow = _origin_flow(chain, TAIL)
    assert flow.outstanding == {0} and 0 not in flow.peer_released
    request = chain.open_request(2)
    assert request is None or request.remaining == 0           # no credit beyond the one pair in flight
    chain.pair(1)
    chain.answer()
    for node in (HEAD, TAIL):
        assert [m.sequence_number for m in chain.oks(node)] == [0, 1]
    _check_credit_back(chain, 2, TAIL)
    chain.finish()
    assert chain.slots == {}


@pytest.mark.parametrize("forgotten", [True, False])
def test_a_freed_pairs_late_link_err_expire_leaves_no_release_for_the_next_pair_on_its_number(
        monkeypatch: pytest.MonkeyPatch, forgotten: bool) -> None:
    """One hop, window 1. Pair 0 is delivered and its credit is back; then the link layer retracts it at both
    ends (a late ERR EXPIRE: its master gave up the pair's CONFIRM), and both ends report it expired. That ERR
    EXPIRE settles nothing and must leave no mark of a release: once 0 has left the recently freed (here
    :data:`RECENT_FREED` is 1, and pair 1 is freed after it), such a mark would count as the tail's release of the
    next pair numbered 0, whose credit would then come back as soon as the head was done with it. That next pair
    comes once the ends' tombstones of pair 0 are ``forgotten``, or while they linger: then it is discarded at
    both ends, and its credit must still come back (it did not: the tombstone's release was taken for its)."""
    monkeypatch.setattr(hop_flow, "RECENT_FREED", 1)
    chain = Chain(1, window=1)
    chain.create(number=4)
    chain.run()
    chain.pair(1)
    chain.answer()
    for node in (HEAD, TAIL):
        chain.link_err(1, node, ll.ERR_EXPIRE, seq=0)
        assert [m.sequence_number_low for m in chain.errs(node)] == [0]
    flow = _origin_flow(chain, HEAD)
    assert 0 not in flow.peer_released and 0 not in flow.own_released
    _check_credit_back(chain, 1, HEAD)
    chain.pair(1)
    chain.answer()
    assert flow.was_freed(1) and not flow.was_freed(0)
    if forgotten:
        circuit = next(iter(chain.engines[HEAD].node.circuits.by_handle.values()))
        chain.advance(chain.now + 2 * circuit.linger_ns)
        assert (1, 0) not in chain.engines[HEAD].node.halves
    chain.seq[1] = 0
    chain.pair(1)
    chain.answer()
    _check_credit_back(chain, 1, HEAD)
    for node in (HEAD, TAIL):
        assert [m.sequence_number for m in chain.oks(node)] == ([0, 1, 2] if forgotten else [0, 1])
        assert [m.sequence_number_low for m in chain.errs(node)] == [0]
    chain.finish()
    assert chain.slots == {}


@pytest.mark.parametrize("hops", [1, 2])
def test_a_circuit_on_shared_links_goes_round_the_wrap_with_its_window(hops: int) -> None:
    """Every link of the circuit also serves others: between two of the circuit's pairs it numbers 16 383 pairs
    for them, so each fourth pair of the circuit comes on the number of one it freed 65 536 link pairs before
    (its emulated time a repeater's linger: the swap records of that pair are gone). Every pair is delivered
    at both ends with its true Bell state, and each hop keeps exactly its window of credit. Failed before the
    fix from the fifth pair on (the first number to come round)."""
    window, pairs = 2, 12
    chain = Chain(hops, window=window)
    chain.create(number=pairs)
    chain.run()
    origins = {hop: min(chain.route[hop - 1], chain.route[hop]) for hop in range(1, hops + 1)}
    linger = max(next(iter(chain.engines[node].node.circuits.by_handle.values())).linger_ns for node in chain.route)
    for n in range(pairs):
        for hop in range(1, hops + 1):
            chain.seq[hop] = n * 16_384 & 0xFFFF
            assert (chain.seq[hop] in _origin_flow(chain, origins[hop]).freed_count) == (n >= 4)
            chain.pair(hop, bell=(n + hop) % 4)
        for _ in range(hops + 1):
            chain.answer()
        assert sorted(m.sequence_number for m in chain.oks(TAIL)) == list(range(n + 1))
        if n < pairs - window:          # (later the pairs still needed, fewer than the window, bound the credit)
            for hop, origin in origins.items():
                _check_credit_back(chain, hop, origin, window)
        chain.advance(chain.now + linger)
    for node in (HEAD, TAIL):
        assert [m.sequence_number for m in chain.oks(node)] == list(range(pairs))
        assert chain.errs(node) == []
        assert all(reported == true for reported, true in chain.delivered[node].values())
    assert all(engine.counters.unrequested == 0 for engine in chain.engines.values())
    chain.finish()
    assert chain.slots == {}


@pytest.mark.parametrize("seed", range(6))
def test_shared_links_round_the_wrap_on_a_reordering_duplicating_channel(seed: int) -> None:
    """As above over two hops, the link OKs and every datagram delivered in a random order, a fifth of the
    datagrams twice (late copies of TRACKs, CREDITs and EXPIREs reach the numbers that come round), and half of
    the tail's OKs after the repeater's swap (its TRACK and CREDIT RELEASED may come first). Whatever
    was delivered, expired or lost: the same pairs delivered and the same reported expired at both ends, each
    with its true Bell state, and every qubit accounted for."""
    rng = random.Random(seed)
    pairs = 12
    chain = Chain(2, window=2)
    chain.create(number=pairs)
    chain.run()
    linger = max(next(iter(chain.engines[node].node.circuits.by_handle.values())).linger_ns for node in chain.route)
    for n in range(pairs):
        for hop in (1, 2):
            if chain.open_request(hop) is not None:
                chain.seq[hop] = n * 16_384 & 0xFFFF
                chain.pair(hop, bell=rng.randrange(4), queued=True)
        late = [item for item in chain.queue if item[0] == TAIL and rng.random() < 0.5]    # after the swap
        for item in late:
            chain.queue.remove(item)
        chain.run(rng, duplicate=0.2)
        for _ in range(3):
            chain.answer()
            chain.queue.extend(late)
            late = []
            chain.run(rng, duplicate=0.2)
        chain.advance(chain.now + linger)
    chain.finish()
    delivered = {node: {m.sequence_number for m in chain.oks(node)} for node in (HEAD, TAIL)}
    expired = {node: {m.sequence_number_low for m in chain.errs(node)} for node in (HEAD, TAIL)}
    assert delivered[HEAD] - expired[HEAD] == delivered[TAIL] - expired[TAIL]
    assert expired[HEAD] == expired[TAIL]
    assert len(delivered[HEAD] | expired[HEAD]) == pairs
    for node in (HEAD, TAIL):
        assert all(reported == true for reported, true in chain.delivered[node].values())
    assert chain.slots == {}
