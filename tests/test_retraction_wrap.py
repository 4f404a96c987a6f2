"""A link ERR EXPIRE for a wrapped key's new pair that reaches an end before (instead of) its link OK
(docs/architecture.md, "Halves" and "Known limits").

An end keeps its delivered half under (link id, link sequence) until a new link OK takes the key. The link layer
may retract a pair before its OK came at this end (ERR EXPIRE alone: its CONFIRM failed). For the wrapped key's
new pair, that ERR EXPIRE found the old delivered half and killed it: the old pair, delivered and settled, was
reported expired at that end. Through a repeater that had forgotten its swap records the news went nowhere else,
so the old pair was reported delivered at one end and expired at the other. A link layer retracts a pair within
a bound after its OK (``context.LINK_RESOLUTION_CONFIRMS`` confirm timeouts, as the linger counts it): an
ERR EXPIRE naming a delivered half that is over and older than that bound is the new pair's. A retraction
within the bound still reaches the delivered pair (tests/test_credit_wrap.py retracts one: both ends report it).
"""

from __future__ import annotations

import pytest

from protocols.network.context import LINK_RESOLUTION_CONFIRMS
from protocols.network.types import DEAD
from protocols.packets import linkservice as ll
from tests.network_harness import Chain

HEAD, TAIL, REPEATER = 1, 2, 3


@pytest.mark.parametrize("hops", [1, 2])
def test_a_retraction_of_a_wrapped_keys_new_pair_before_its_ok_leaves_the_old_pair_delivered(hops: int) -> None:
    chain = Chain(hops, window=1)
    chain.create(number=2)
    chain.run()
    for hop in range(1, hops + 1):
        chain.pair(hop)
    for _ in range(hops + 1):
        chain.answer()
    link = chain.engines[TAIL].node.topology.link(hops)
    wait = 2 * LINK_RESOLUTION_CONFIRMS * link.confirm_timeout_ns
    if hops > 1:
        circuit = next(iter(chain.engines[REPEATER].node.circuits.by_handle.values()))
        wait = max(wait, 2 * circuit.linger_ns)          # the repeater has forgotten its swap records
    chain.advance(chain.now + wait)
    chain.seq[hops] = 0                                 # the tail's hop came round
    request = chain.open_request(hops)
    assert request is not None
    request.remaining -= 1                              # the link layer made the pair, and retracts it at once
    chain.seq[hops] += 1
    for node in (chain.route[-2], TAIL):
        chain.link_err(hops, node, ll.ERR_EXPIRE, seq=0)
    tail = chain.engines[TAIL]
    assert tail.node.halves[(hops, 0)].state is DEAD   # the new pair's tombstone (it never came here)
    for node in (HEAD, TAIL):
        assert [m.sequence_number for m in chain.oks(node)] == [0]
        assert chain.errs(node) == [], node             # pair 0 stays delivered, at both ends
    chain.finish()
    for node in (HEAD, TAIL):
        assert [m.sequence_number for m in chain.oks(node)] == [0, 1]
        assert chain.errs(node) == []
    assert chain.slots == {}


def test_a_retraction_of_the_new_pair_soon_after_the_old_pairs_late_credit_still_ends_the_request() -> None:
    """The origin tells a late retraction of the old pair from the new pair's by the old pair's OK, as the ends do,
    not by when its credit came back: an end's credit comes back at delivery, which a slow CONFIRM puts long after
    the OK. Measured from the credit, this ERR EXPIRE (half a retraction bound after it, two after the OK) was taken
    for the old pair's: the new pair's credit stayed counted as given to the link layer, and with a window of 1 the
    hop never asked for another pair (review, 2026-12-04: the request hung at both ends)."""
    chain = Chain(1, window=1)
    chain.create(number=2)
    chain.run()
    retraction = LINK_RESOLUTION_CONFIRMS * chain.engines[HEAD].node.topology.link(1).confirm_timeout_ns
    chain.held = {HEAD}                                 # the tail's CONFIRM and CREDIT RELEASED come late
    chain.pair(1)
    chain.advance(chain.now + 2 * retraction)
    chain.release()                                     # the head delivers pair 0; its credit comes back now
    chain.answer()
    assert [m.sequence_number for m in chain.oks(HEAD)] == [0]
    flow = next(f for f in chain.engines[HEAD].hops.flows.values() if f.origin)
    assert flow.was_freed(0)
    chain.advance(chain.now + retraction // 2)
    chain.seq[1] = 0                                    # the hop came round: the new pair on number 0 ...
    request = chain.open_request(1)
    assert request is not None
    request.remaining -= 1
    chain.seq[1] += 1
    for node in (HEAD, TAIL):                           # ... retracted before its OK
        chain.link_err(1, node, ll.ERR_EXPIRE, seq=0)
    chain.finish()
    for node in (HEAD, TAIL):
        assert [m.sequence_number for m in chain.oks(node)] == [0, 1], node
        assert chain.errs(node) == [], node
    assert chain.slots == {}
