"""How long a circuit's head takes to end a request whose tail died (docs/wire.md §9.3.7, "The head's wait").

A repeater whose link to the tail goes down tears the circuit down (TEARDOWN DOWN to every node). The head cannot
end the request on a TEARDOWN from a node other than the tail: the tail decides (it may have numbered every pair,
and then the circuit completes). It waits for the tail's verdict at most twice the circuit's linger
(:meth:`protocols.network.context.Node.linger_ns`), then reports the TEARDOWN's code alone. A dead tail never
answers, so that bound is exactly how long the head takes: the ~777 ms a 2-hop ``qnet up`` chain took to end
after its tail was killed (bench/README.md, deadend). A live tail's verdict comes at once."""

from __future__ import annotations

from protocols.packets import linkservice as ll
from protocols.packets.qncp_common import TEARDOWN
from tests.network_harness import Chain

HEAD, TAIL, REPEATER = 1, 2, 3


def _running_chain() -> Chain:
    """A 2-hop circuit a — r1 — b that has delivered one pair at both ends, its request (50 pairs) still open."""
    chain = Chain(2, delay_ns=50_000)
    chain.create(number=50)
    chain.run()
    chain.pair(1)
    chain.pair(2)
    chain.answer()
    chain.run()
    assert len(chain.oks(HEAD)) == len(chain.oks(TAIL)) == 1 and not chain.errs(HEAD)
    return chain


def _teardown_reached_head(chain: Chain) -> bool:
    return any(port == 7775 and payload[1] == TEARDOWN and node == REPEATER for node, port, payload in chain.sent)


def test_a_dead_tail_s_head_reports_down_after_twice_the_linger() -> None:
    chain = _running_chain()
    chain.lose = lambda source, target, payload: TAIL in (source, target)     # b's process is gone
    start = chain.now
    chain.link_err(2, REPEATER, ll.ERR_OTHER)                                  # r1's link to b: peer gone
    assert _teardown_reached_head(chain) and not chain.errs(HEAD)              # the head waits for b's verdict
    (circuit,) = chain.engines[HEAD].node.circuits
    bound = 2 * circuit.linger_ns
    chain.advance(start + bound - 1)
    assert not chain.errs(HEAD)
    chain.advance(start + bound)
    assert [err.err for err in chain.errs(HEAD)] == [ll.ERR_DOWN]


def test_a_live_tail_s_verdict_ends_the_head_s_wait_at_once() -> None:
    """The contrast: the same teardown with the tail alive (only r1's link to it failed); the tail's TEARDOWN, its
    verdict, reaches the head at once, and both ends report ERR DOWN."""
    chain = _running_chain()
    chain.link_err(2, REPEATER, ll.ERR_OTHER)
    assert [err.err for err in chain.errs(HEAD)] == [ll.ERR_DOWN] == [err.err for err in chain.errs(TAIL)]
