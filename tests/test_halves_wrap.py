"""The 16-bit link Pair Sequence wraps under an end's delivered halves (issue 13; docs/architecture.md, "Halves").

A circuit's end keeps its delivered half (state DELIVERED) under (link id, link sequence). After 65 536 link pairs
on its hop the link layer's next OK names that key again. Engines driven directly (tests/network_harness.py); the
wrap is played by setting the harness's link sequences back to 0 after a delivered pair. Before the fix, the
new OK found the old delivered half, was counted ``unrequested`` and went nowhere: its qubit was neither used
nor discarded and no pair came of it. Now the old half, over (its pair settled at the tail; delivered at the
head), is forgotten and the new pair goes on normally.
"""

from __future__ import annotations

import pytest

from protocols.network.types import DELIVERED
from protocols.physical.hardware import Discard
from tests.network_harness import PURPOSE, Chain

HEAD, TAIL, REPEATER = 1, 2, 3


def _wrapped_chain(hops: int, pairs: int, gap: int = 0) -> Chain:
    """A ``hops``-hop circuit of ``pairs`` pairs, each made with every link's sequence set back to 0 first (so
    every pair after the first lands on the keys of the one before); ``gap`` ns pass after each pair."""
    chain = Chain(hops, window=pairs)            # (a lost pair's credit would not stop the next)
    chain.create(number=pairs)
    chain.run()
    for _ in range(pairs):
        for link in chain.seq:
            chain.seq[link] = 0                     # the link layer's 16-bit sequence came round
        for hop in range(1, hops + 1):
            chain.pair(hop)
        for _ in range(hops + 1):
            chain.answer()
        chain.advance(chain.now + gap)
    return chain


def _two_hops_one_pair_delivered(cutoffs: dict[int, int] | None = None) -> Chain:
    """A two-hop circuit of two pairs (window 2) whose first pair is made, swapped and delivered at both ends."""
    chain = Chain(2, window=2, cutoffs=cutoffs)
    chain.create(number=2)
    chain.run()
    for hop in (1, 2):
        chain.pair(hop)
    for _ in range(3):
        chain.answer()
    return chain


def _check_every_pair_delivered_and_no_qubit_lost(chain: Chain, pairs: int) -> None:
    for node in (HEAD, TAIL):
        assert chain.engines[node].counters.unrequested == 0
        assert sorted(m.sequence_number for m in chain.oks(node)) == list(range(pairs))
        assert chain.errs(node) == []
    assert all(chain.delivered[HEAD][n] == chain.delivered[TAIL][n] for n in range(pairs))
    chain.finish()
    assert chain.slots == {}, "a qubit neither used nor discarded"


def test_a_link_ok_on_a_delivered_halfs_key_makes_a_new_pair_one_hop() -> None:
    """Head and tail neighbours: each wrap's OK lands on both ends' delivered halves."""
    chain = _wrapped_chain(1, 4)
    _check_every_pair_delivered_and_no_qubit_lost(chain, 4)


def test_a_link_ok_on_a_delivered_halfs_key_makes_a_new_pair_through_a_repeater() -> None:
    """A 2-hop chain, time passing between pairs so the repeater's swap records are forgotten (its linger) while
    the ends' delivered halves stay: each wrap's OKs land on them at both ends."""
    probe = Chain(2)
    probe.create(number=1)
    probe.run()
    circuit = next(iter(probe.engines[3].node.circuits.by_handle.values()))
    gap = 2 * circuit.linger_ns
    chain = _wrapped_chain(2, 3, gap)
    _check_every_pair_delivered_and_no_qubit_lost(chain, 3)


def test_the_tails_unsettled_delivered_half_is_kept_and_the_new_qubit_discarded() -> None:
    """A wrap while the tail's pair is still unsettled (its CONFIRM unanswered: the head holds its messages) must
    not forget its half (a give-up poisons it): the new pair's qubit is discarded there (accounted), not kept."""
    chain = Chain(1, window=3)
    chain.create(number=3)
    chain.run()
    chain.held = {HEAD}                             # the CONFIRM of pair 0 waits
    chain.pair(1)
    tail = chain.engines[TAIL]
    (key,) = [key for key, half in tail.node.halves.items() if half.state is DELIVERED]
    chain.seq[1] = 0
    chain.pair(1, to=(TAIL,))                       # the tail's OK of the wrapped pair only
    assert tail.node.halves[key].state is DELIVERED and tail.node.halves[key].e2e == 0
    assert (TAIL, Discard(1)) in chain.hardware and (TAIL, 1) not in chain.slots     # the new qubit discarded
    assert tail.counters.unrequested == 1


def test_a_wrap_within_a_swap_records_life_discards_the_new_qubit_at_the_repeater() -> None:
    """The same wrap with no time between pairs: the repeater's swap records of the pair before (SWAPPED, still
    lingering: a poison may name them) keep their keys, so the repeater discards the new pair's qubits (counted
    ``unrequested``, credit returned) instead of leaving them held; the ends' halves of it are cut off later.
    No qubit is left neither used nor discarded, and no pair is delivered at one end only."""
    chain = _two_hops_one_pair_delivered()
    for link in chain.seq:
        chain.seq[link] = 0
    for hop in (1, 2):
        chain.pair(hop)
    repeater = chain.engines[3]
    assert repeater.counters.unrequested == 2
    assert not any(node == 3 for node, _ in chain.slots)
    chain.finish()
    assert chain.slots == {}
    oks = [sorted(m.sequence_number for m in chain.oks(node)) for node in (HEAD, TAIL)]
    expired = [sorted(m.sequence_number_low for m in chain.errs(node)) for node in (HEAD, TAIL)]
    assert oks[0] == oks[1] and 0 in oks[0] and expired[0] == expired[1], (oks, expired)


@pytest.mark.parametrize("wrapped", [[1], [2]])
def test_one_hop_wrapping_within_a_swap_records_life_leaves_the_old_pair_delivered(wrapped: list[int]) -> None:
    """Only one hop's sequence comes round while the repeater's swap records of the old pair still linger, and the
    cutoff is shorter than the linger (found in review): the new pair takes the end's key (its old half is over),
    the repeater discards its new qubit, and the end's new half is cut off and sends EXPIRE naming the key. That
    EXPIRE is the new pair's: the repeater answers it without touching the old swap record, whose poison would
    have reached the other end's delivered half and reported pair 0 expired there alone."""
    cutoff = 200_000
    chain = _two_hops_one_pair_delivered(cutoffs={PURPOSE: cutoff})
    for link in wrapped:
        chain.seq[link] = 0
    for hop in (1, 2):
        chain.pair(hop)
    chain.answer()
    repeater = chain.engines[REPEATER]
    circuit = next(iter(repeater.node.circuits.by_handle.values()))
    assert circuit.linger_ns > 10 * cutoff          # the old swap records still linger after the cut-off
    chain.advance(chain.now + 10 * cutoff)
    chain.finish()
    assert repeater.counters.unrequested == 1       # the new pair's qubit, discarded at the repeater
    for node in (HEAD, TAIL):
        assert sorted(m.sequence_number for m in chain.oks(node)) == [0, 1]
        assert [m.sequence_number_low for m in chain.errs(node)] == []
    assert not chain.slots                          # every qubit discarded or measured
