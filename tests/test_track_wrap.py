"""A TRACK for a wrapped key's new pair that reaches the tail before the tail's own link OK (docs/architecture.md,
"Halves" and "Known limits").

After 65 536 link pairs on the tail's hop a new pair takes the key (link id, link sequence) of an old pair the
tail delivered and settled (its half is *over*). The new pair's TRACK may come before the tail's link OK for it
(an early TRACK); the key then still holds the old delivered half. Before the fix that TRACK was taken for a
duplicate of the old pair's (acknowledged and dropped), so the new half never had a TRACK: the tail cut it off
(τ_end) and the pair was lost at both ends. Now the delivered half keeps the TRACK, and the new pair's OK takes it
over as it would an early TRACK, if it came no longer ago than an early TRACK waits and names the new pair's link
Bell state; a late copy of the old pair's own TRACK is not taken. The wrap is played as in
tests/test_halves_wrap.py: the harness's link sequences set back to 0.
"""

from __future__ import annotations

import pytest

from protocols.common import QNCP_PORT, QNP_PORT
from protocols.network.relay import confirm_interval, confirm_retries
from protocols.network.types import DELIVERED
from protocols.packets.qncp_common import CONFIRM_ACK
from tests.network_harness import Chain, ip

HEAD, TAIL, REPEATER = 1, 2, 3


def _first_pair_settled(hops: int, bells: tuple[int, ...], copy_at_once: bool = False) -> Chain:
    """A ``hops``-hop circuit of two pairs (window 2) whose first pair (link Bell states ``bells``, one a hop) is
    delivered and settled at both ends, and then long enough ago that no copy of its TRACK can still come and a
    repeater has forgotten its swap records (so the next pair on the same keys is swapped as any other).
    ``copy_at_once``: a copy of the first pair's TRACK reaches the tail right after its delivery."""
    chain = Chain(hops, window=2)
    chain.create(number=2)
    chain.run()
    if hops > 1:
        _answers_to_tail_late(chain)
    for hop in range(1, hops + 1):
        chain.pair(hop, bell=bells[hop - 1])
    for _ in range(hops + 1):
        chain.answer()
    assert [m.sequence_number for m in chain.oks(TAIL)] == [0]
    tail = chain.engines[TAIL]
    if copy_at_once:
        _copy_of_the_first_track(chain, hops)
        (old,) = tail.node.halves.values()
        assert old.next_track is None                   # a copy of its own TRACK may still come: not kept
    circuit = next(iter(tail.node.circuits.by_handle.values()))
    copies_span = (tail.node.config.reliable_retries + 1) * circuit.hop(0).rto_ns
    chain.advance(chain.now + copies_span + 1)
    if hops > 1:
        repeater = chain.engines[REPEATER]
        chain.advance(max(half.forget_at or 0 for half in repeater.node.halves.values()) + 1)
        assert not repeater.node.halves
        (old,) = tail.node.halves.values()              # settled late: it outlives the repeater's records
        assert old.state is DELIVERED and tail.ends.over(old)
    return chain


def _answers_to_tail_late(chain: Chain) -> None:
    """The answers to the tail's CONFIRMs are lost for half its give-up span: the tail settles its pair that much
    later, and keeps its delivered half (lingered from the settling) past the repeater's swap records (kept from
    the CONFIRM's passage), so that a new pair may take the tail's key while the old half is still there."""
    tail = chain.engines[TAIL].node
    (circuit,) = tail.circuits.by_handle.values()
    until = chain.now + (confirm_retries(tail, circuit) + 1) * confirm_interval(tail, circuit) // 2

    def lose(source: int, target: int, payload: bytes) -> bool:
        return (source, target) == (REPEATER, TAIL) and chain.sent[-1][1] == QNCP_PORT \
            and payload[1] == CONFIRM_ACK and chain.now < until
    chain.lose = lose


def _wrapped_pair(chain: Chain, hops: int, bells: tuple[int, ...], tail_ok_last: bool) -> None:
    """The next pair, on the keys of the first (every link sequence set back to 0); with ``tail_ok_last`` the
    tail's link OK comes after everything else (the TRACK first)."""
    for link in chain.seq:
        chain.seq[link] = 0
    for hop in range(1, hops):
        chain.pair(hop, bell=bells[hop - 1])
    chain.pair(hops, bell=bells[hops - 1], queued=True)
    late = [item for item in chain.queue if item[0] == TAIL] if tail_ok_last else []
    for item in late:
        chain.queue.remove(item)
    chain.run()
    chain.answer()                                  # the repeater's swap (none with one hop)
    tail = chain.engines[TAIL]
    if tail_ok_last:
        (half,) = tail.node.halves.values()
        assert half.e2e == 0 and [m.sequence_number for m in chain.oks(TAIL)] == [0]     # the TRACK came first
    chain.queue.extend(late)
    chain.run()
    chain.answer()


def _copy_of_the_first_track(chain: Chain, hops: int) -> None:
    """A copy of the first TRACK sent to the tail (a retransmission that crossed the TRACK_ACK) reaches it now."""
    sender = REPEATER if hops > 1 else HEAD
    copy = next(payload for node, port, payload in chain.sent if node == sender and port == QNP_PORT)
    chain.queue.append((TAIL, copy, (ip(sender), QNP_PORT), QNP_PORT))
    chain.run()


def _check_both_pairs_delivered_right(chain: Chain) -> None:
    """Both pairs delivered at both ends with their true Bell states, before any other pair was made (the
    finish makes pairs for credits still open: a lost pair's place would be taken), and no qubit lost."""
    for node in (HEAD, TAIL):
        assert sorted(m.sequence_number for m in chain.oks(node)) == [0, 1], node
    chain.finish()
    for node in (HEAD, TAIL):
        assert chain.errs(node) == []
        assert chain.engines[node].counters.unrequested == 0
        for n in (0, 1):
            reported, true = chain.delivered[node][n]
            assert reported == true, (node, n)
    assert chain.delivered[HEAD][1] == chain.delivered[TAIL][1]
    assert chain.slots == {}, "a qubit neither used nor discarded"


@pytest.mark.parametrize("hops", [1, 2])
def test_a_track_before_the_tails_link_ok_of_a_wrapped_key_delivers_the_new_pair(hops: int) -> None:
    """Failed before the fix: the new pair was neither delivered nor reported at either end (cut off)."""
    chain = _first_pair_settled(hops, (0,) * hops)
    bells = (1, 2)[:hops]
    _wrapped_pair(chain, hops, bells, tail_ok_last=True)
    _check_both_pairs_delivered_right(chain)


@pytest.mark.parametrize(("aged", "bells"), [(True, (1, 0)), (False, (1, 2))])
def test_a_late_copy_of_the_old_pairs_track_is_not_taken_by_the_new_pair(aged: bool, bells: tuple[int, int]) -> None:
    """A copy of the old pair's TRACK reaches the tail after its pair is settled (a retransmission that crossed
    the TRACK_ACK) and is kept on the delivered half. Then the wrapped key's new pair, of another end-to-end Bell
    state, has its OK at the tail before its own TRACK: long after the copy (``aged``; the same link Bell state
    on the tail's hop), or at once but with another link Bell state on the tail's hop. Either way the copy is not
    the new pair's early TRACK: the new pair waits for its own and is delivered with its true Bell state (it
    would have been delivered with the old pair's had the copy been taken)."""
    chain = _first_pair_settled(2, (0, 0))
    _copy_of_the_first_track(chain, 2)                 # (later than a copy can come: adopt's own guards)
    (old,) = chain.engines[TAIL].node.halves.values()
    assert old.next_track is not None
    if aged:
        circuit = next(iter(chain.engines[REPEATER].node.circuits.by_handle.values()))
        chain.advance(chain.now + circuit.linger_ns)
    _wrapped_pair(chain, 2, bells, tail_ok_last=False)
    _check_both_pairs_delivered_right(chain)
    assert chain.delivered[TAIL][1][1] == bells[0] ^ bells[1] != 0


@pytest.mark.parametrize("hops", [1, 2])
def test_a_copy_of_the_old_pairs_track_while_copies_may_come_is_not_kept(hops: int) -> None:
    """A copy of the old pair's TRACK that comes right after its delivery (as copies do: within its sender's
    retransmission span) is not kept on the delivered half, so the wrapped key's new pair cannot take it, even
    with the same link Bell state on every hop (review, 2026-12-04: it was kept, and the new pair was delivered
    with the old pair's Bell state before its own swap was answered, then withdrawn)."""
    bells = (1, 0)[:hops] if hops > 1 else (0,)
    chain = _first_pair_settled(hops, (0,) * hops, copy_at_once=True)
    _wrapped_pair(chain, hops, bells, tail_ok_last=False)
    _check_both_pairs_delivered_right(chain)
