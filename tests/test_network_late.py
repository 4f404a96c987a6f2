"""A hop's link requests at the end of a run and after the end of their circuit: engines driven directly
(tests/network_harness.py).

Once the generation window is over no pair can come, so an origin whose credit returns then gives its link
layer none (tests/test_robustness.py's distillation.toml, loss+duplication, seed 2: such a request stayed
open at both ends for ever). A circuit that ends closes its hops' windowed link requests.
"""

from __future__ import annotations

from protocols.link.types import GenerationOver
from protocols.packets import linkservice as ll
from tests.network_harness import Chain

REPEATER = 3
"""The middle of Chain(2): the granter of both hops (the origin is the lower node id: node 1 holds hop 1-3's
request, node 2 hop 3-2's)."""


def test_an_origin_gives_no_credit_once_generation_is_over() -> None:
    chain = Chain(2)
    chain.create(number=3)
    chain.run()
    chain.pair(1)
    chain.pair(2)
    credits = [r.remaining for r in chain.requests]
    for node in (1, 2, REPEATER):               # every node learns it at the same time
        chain.apply(node, chain.engines[node].handle(GenerationOver(), chain.now))
    chain.answer()                              # the swap (or the ends' discards): credits come back to the origins
    assert [r.remaining for r in chain.requests] == credits     # and they give their link layers none
    chain.run()
    chain.finish()
    assert [e.err for e in chain.errs(1)] == [e.err for e in chain.errs(2)] == [ll.ERR_TIMEOUT]
    assert chain.settled()


def test_a_circuit_that_ends_closes_its_hops_link_requests() -> None:
    """Each hop's origin keeps one windowed link request open while the circuit generates; when the circuit
    ends (here Max Time, before any pair) it closes it (CREATE Window = CLOSE), and its link layer ends it
    at the other end too: no request stays open, and no flow outlives its circuit."""
    chain = Chain(2)
    chain.create(number=3, tu=0, max_time=500)  # 500 µs: Max Time ends it before any pair
    chain.run()
    assert [r.closed for r in chain.requests] == [False, False]
    assert all(r.remaining == 1 for r in chain.requests)          # W = 1 credit each
    chain.advance(chain.now + 10**10)           # closed everywhere, lingered and forgotten
    assert [e.err for e in chain.errs(1)] == [e.err for e in chain.errs(2)] == [ll.ERR_TIMEOUT]
    assert [r.closed for r in chain.requests] == [True, True]
    for node in (1, 2, REPEATER):
        hops = chain.engines[node].hops
        assert not chain.engines[node].node.circuits.by_handle and hops.settled() and not hops.flows
    chain.finish()
    assert chain.settled()


def test_a_hop_asks_once_and_then_gives_credit_pair_by_pair() -> None:
    """One OPEN per hop for the whole circuit; every credit that comes back is one CREDIT to the link layer."""
    chain = Chain(2)
    chain.create(number=3)
    chain.run()
    for _ in range(3):
        chain.pair(1)
        chain.pair(2)
        chain.answer()
    assert len(chain.delivered[1]) == len(chain.delivered[2]) == 3
    assert len(chain.requests) == 2             # one link request per hop
    chain.finish()
    assert chain.settled() and all(r.closed for r in chain.requests)
