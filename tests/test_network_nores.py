"""NORES at circuit setup is retried with exponential backoff, bounded by the request's Max Time (or 8
backoffs without one), a copy of a refused SETUP sets nothing up, and closed circuits lingering do not take
a live circuit's place in the table: engines driven directly (tests/network_harness.py).
"""

from __future__ import annotations

from dataclasses import replace

from protocols.common import QNCP_PORT
from protocols.link.types import GenerationOver
from protocols.network.types import NetworkConfig
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Setup, SetupReply, decode_qncp
from protocols.packets.qncp_common import SETUP, SETUP_ACK, SETUP_REPLY
from tests.network_harness import Chain, ip

REPEATER = 3


def refusals(chain: Chain) -> list[SetupReply]:
    found = [decode_qncp(p) for n, _, p in chain.sent if n == REPEATER and p[1] == SETUP_REPLY]
    return [m for m in found if isinstance(m, SetupReply) and m.status == ll.ERR_NORES]


def deliver(chain: Chain) -> None:
    """Serve every open link request of the hops (an ended circuit's too: those pairs are discarded)."""
    for _ in range(4):
        for hop in range(1, len(chain.route)):
            while chain.open_request(hop) is not None:
                chain.pair(hop)
        chain.answer()


def test_a_request_refused_nores_sets_up_again_once_the_repeater_has_room() -> None:
    chain = Chain(2)
    table = chain.engines[REPEATER].node.circuits
    table.max_circuits = 0                         # the repeater's circuit table is full
    chain.create(number=1)
    chain.run()
    assert len(refusals(chain)) == 1 and not chain.errs(1)
    chain.advance(chain.now + 10_000_000)          # 10 ms: backoffs of 2, 4 ms (RTO ≈ 1 ms): refused again
    assert len(refusals(chain)) >= 2 and not chain.errs(1)
    table.max_circuits = 64                        # room again
    chain.advance(chain.now + 100_000_000)
    deliver(chain)
    assert chain.delivered[1].keys() == chain.delivered[2].keys() == {0}
    stats = chain.engines[1].node.records[(1, 1)]
    assert stats.nores_retries == stats.setup_attempts - 1 >= 2 and stats.ended == "complete"
    refused = len(refusals(chain))
    at_repeater = chain.engines[REPEATER].node.records[(1, 1)].messages     # its refusals are counted too
    assert refused == stats.setup_attempts - 1
    assert at_repeater["SETUP_ACK"] == refused + 1 and at_repeater["SETUP_REPLY"] == refused + 1
    chain.finish()
    assert chain.settled() and not chain.errs(1) and not chain.errs(2)


def test_nores_retries_end_before_max_time_with_err_nores() -> None:
    chain = Chain(2)
    chain.engines[REPEATER].node.circuits.max_circuits = 0
    chain.create(number=1, tu=1, max_time=20)      # 20 ms
    chain.run()
    chain.advance(chain.now + 19_000_000)
    (err,) = chain.errs(1)
    assert err.err == ll.ERR_NORES
    stats = chain.engines[1].node.records[(1, 1)]
    assert stats.setup_attempts == len(refusals(chain)) == stats.nores_retries + 1 == 4    # at 0, 2, 6, 14 ms
    assert not chain.received[2]
    assert chain.engines[REPEATER].node.records[(1, 1)].messages == {"SETUP_ACK": 4, "SETUP_REPLY": 4}
    chain.advance(chain.now + 10**10)
    assert chain.settled()


def test_a_copy_of_a_refused_setup_sets_nothing_up() -> None:
    """A copy of a SETUP that comes after the repeater refused it NORES, when it has room again (the head's
    SETUP_ACK was lost, so it retransmitted), is answered SETUP_ACK and nothing else. Set up, it made a circuit
    the head had given up, whose tail failed the request a second time at the end of the run: ERR TIMEOUT at
    the tail after the request was served (tests/test_robustness.py's all-messages.toml, heavy, seed 5:
    ERRs [6] at the head, [6, 6] at the tail)."""
    chain = Chain(2)
    table = chain.engines[REPEATER].node.circuits
    table.max_circuits = 0                         # the repeater's circuit table is full
    chain.create(number=1)
    chain.run()
    assert len(refusals(chain)) == 1
    (setup,) = [p for n, _, p in chain.sent if n == 1 and p[1] == SETUP]
    table.max_circuits = 64                        # room again, before the head's backoff is over
    before = len(chain.sent)
    chain.queue.append((REPEATER, setup, (ip(1), QNCP_PORT), QNCP_PORT))
    chain.run()
    assert [(n, p[1]) for n, _, p in chain.sent[before:]] == [(REPEATER, SETUP_ACK)]
    assert not table.by_handle
    chain.advance(chain.now + 10_000_000)          # the head's backoff: its next circuit serves the request
    deliver(chain)
    assert chain.delivered[1].keys() == chain.delivered[2].keys() == {0}
    for node in chain.route:
        chain.apply(node, chain.engines[node].handle(GenerationOver(), chain.now))
    chain.run()
    chain.finish()
    assert not chain.errs(1) and not chain.errs(2)
    assert chain.settled() and not chain.engines[REPEATER].signalling.refused     # the refusal is forgotten too


def test_a_refusal_is_remembered_for_its_request_only() -> None:
    """The repeater remembers which request's SETUP it refused: the same Circuit ID in another request's SETUP
    (a head gives an id again once it is free there) is a new circuit, set up as usual."""
    chain = Chain(2)
    table = chain.engines[REPEATER].node.circuits
    table.max_circuits = 0
    chain.create(number=1)
    chain.run()
    (payload,) = [p for n, _, p in chain.sent if n == 1 and p[1] == SETUP]
    setup = decode_qncp(payload)
    assert isinstance(setup, Setup)
    table.max_circuits = 64
    before = len(chain.sent)
    other = replace(setup, create_id=setup.create_id + 1).encode()
    chain.apply(REPEATER, chain.engines[REPEATER].receive(other, (ip(1), QNCP_PORT), QNCP_PORT, chain.now))
    assert [(n, p[1]) for n, _, p in chain.sent[before:]] == [(REPEATER, SETUP_ACK), (REPEATER, SETUP)]
    assert (1, setup.circuit_id) in table.by_handle


def test_closed_circuits_lingering_leave_room_for_new_ones() -> None:
    """With room for 2 circuits, 6 one-pair requests one after another each set up at once: the closed
    circuits (lingering for their retransmissions' sake) are not counted against the table."""
    chain = Chain(2, config=NetworkConfig(window=1, max_circuits=2))
    for request in range(6):
        chain.create(number=1)
        chain.run()
        deliver(chain)
        assert len(chain.oks(1)) == len(chain.oks(2)) == request + 1
    for node in chain.route:
        circuits = chain.engines[node].node.circuits
        assert len(circuits.by_handle) == 6 and not any(c.live for c in circuits)
    assert all(r.setup_attempts == 1 and r.nores_retries == 0 for r in chain.engines[1].node.records.values())
    assert not chain.errs(1) and not chain.errs(2)
    chain.finish()
    assert chain.settled()


def test_a_repeater_too_small_to_swap_refuses_unsupp_at_once() -> None:
    """A repeater with one qubit in all can never hold a half on each side: its SETUP_REPLY is UNSUPP, which the
    head does not retry (NORES was retried with backoff, 8 times without a Max Time, ending ERR NORES, or ERR
    TIMEOUT when the run's end came first)."""
    chain = Chain(2)
    chain.engines[REPEATER].node.circuits.qubits = 1
    chain.create(number=1)
    chain.run()
    replies = [decode_qncp(p) for n, _, p in chain.sent if n == REPEATER and p[1] == SETUP_REPLY]
    assert [m.status for m in replies if isinstance(m, SetupReply)] == [ll.ERR_UNSUPP]
    (err,) = chain.errs(1)
    assert err.err == ll.ERR_UNSUPP
    chain.advance(chain.now + 10**9)
    assert len(replies) == 1 == chain.engines[1].node.records[(1, 1)].setup_attempts and chain.settled()
