"""A hop's link requests at the end of a run and after the end of their circuit: engines driven directly
(tests/network_harness.py).

Once the generation window is over no pair can come, so a repeater whose credit returns then asks its link
layer for none (tests/test_robustness.py's distillation.toml, loss+duplication, seed 2: such a request stayed
open at both ends for ever). A circuit forgotten while one of its hop's link requests is still open keeps that
hop's flow until the request ends: the request's OKs, which no circuit's label names any more, settle it by
Create ID and their qubits are discarded.
"""

from __future__ import annotations

from protocols.link.types import GenerationOver
from protocols.packets import linkservice as ll
from protocols.physical.hardware import Discard
from tests.network_harness import Chain

REPEATER = 3
"""The middle of Chain(2): the origin (higher node id) of both hops."""


def test_a_repeater_asks_for_no_link_pair_once_generation_is_over() -> None:
    chain = Chain(2)
    chain.create(number=3)
    chain.run()
    chain.pair(1)
    chain.pair(2)
    requests = len(chain.requests)
    chain.apply(REPEATER, chain.engines[REPEATER].handle(GenerationOver(), chain.now))
    chain.answer()                              # the swap: both hops' credits come back to the repeater
    assert len(chain.delivered[1]) == len(chain.delivered[2]) == 1
    assert len(chain.requests) == requests      # and it asks for no more pairs
    for node in (1, 2):                         # the ends learn it too: the request fails at both
        chain.apply(node, chain.engines[node].handle(GenerationOver(), chain.now))
    chain.run()
    chain.finish()
    assert [e.err for e in chain.errs(1)] == [e.err for e in chain.errs(2)] == [ll.ERR_TIMEOUT]
    assert chain.settled()


def test_an_open_link_request_of_a_forgotten_circuit_is_settled_by_its_oks() -> None:
    chain = Chain(2)
    chain.create(number=3, tu=0, max_time=500)  # 500 µs: Max Time ends it before any pair
    chain.run()
    chain.advance(chain.now + 10**10)           # closed everywhere, lingered and forgotten
    assert [e.err for e in chain.errs(1)] == [e.err for e in chain.errs(2)] == [ll.ERR_TIMEOUT]
    hops = chain.engines[REPEATER].hops
    assert not chain.engines[REPEATER].node.circuits.by_handle and not hops.settled()
    discards = len(chain.hardware)
    for hop in (1, 2):                          # the link layer finishes the requests (one pair each)
        chain.pair(hop)
    assert hops.settled() and not hops.flows    # the kept flows are gone with their requests
    discarded = [(node, c.slot) for node, c in chain.hardware[discards:] if isinstance(c, Discard)]
    assert sorted(node for node, _ in discarded) == [1, 2, REPEATER, REPEATER]
    chain.finish()
    assert chain.settled() and chain.engines[REPEATER].node.counters.unrequested == 2
