"""A repeater's swap record must outlive the tail's give-up of a CONFIRM that passed through it
(docs/architecture.md, "Swap records and the tail's give-up").

When every answer to the tail's CONFIRM(n) is lost, the tail gives up after (2 · R · K + 1) intervals of its RTO
to the head, reports n expired and poisons its half; the poison reaches the head's half through the swap records
of the repeaters. A swap record lingered only from its swap, ~(2 · R · K + 2) of *its own* longest RTO, which at a
repeater nearer the head than the tail is, or after a TRACK delayed on its way, ends before that poison comes:
the poison stopped there and the head kept a pair the tail reported expired. The same happened when the
circuit closed meanwhile (a TEARDOWN: the records went with the circuit after its linger) or as the poison left
(the give-up of the last pair completes the circuit, and the stop dropped an EXPIRE still being retried).
Engines driven directly (tests/network_harness.py): the CONFIRM_ACKs towards the tail are lost until the tail
has given up, and each test checks that both ends report the same pairs.
"""

from __future__ import annotations

import numpy as np

from protocols.common import QNCP_PORT
from protocols.network.circuit import Circuit
from protocols.network.context import RTO_FLOOR_NS, Node
from protocols.network.relay import confirm_interval, confirm_retries, poison_wait_ns
from protocols.network.types import LEFT, SWAPPED, Half, NetworkConfig
from protocols.packets import linkservice as ll
from protocols.packets.qncp_common import COMPLETE, CONFIRM_ACK, EXPIRE
from tests.network_harness import Chain

HEAD, R1, R2, TAIL = 1, 3, 4, 2                        # Chain(3): a=1 — r1=3 — r2=4 — b=2
FIBRE_10_KM = 50_000                                   # one-way delay of a 10 km hop, ns


def _circuit(chain: Chain, node: int) -> Circuit:
    (circuit,) = chain.engines[node].node.circuits.by_handle.values()
    return circuit


def _tail_gives_up_ns(chain: Chain) -> int:
    """From the tail's first CONFIRM(n) to its give-up: the first send, its retransmissions, one more interval."""
    tail = chain.engines[TAIL].node
    circuit = _circuit(chain, TAIL)
    return (confirm_retries(tail, circuit) + 1) * confirm_interval(tail, circuit)


def _answers_to_tail_lost(chain: Chain, until: int, also: tuple[int, int, int, int] | None = None) -> None:
    """Every CONFIRM_ACK from r2 to the tail is lost before ``until`` (and, with ``also`` = (source, target, start,
    end), every datagram from source to target from start to before end)."""
    def lose(source: int, target: int, payload: bytes) -> bool:
        port = chain.sent[-1][1]                       # (the datagram is recorded before it is offered here)
        if also is not None and (source, target) == also[:2] and also[2] <= chain.now < also[3]:
            return True
        return (source, target) == (R2, TAIL) and port == QNCP_PORT and payload[1] == CONFIRM_ACK \
            and chain.now < until
    chain.lose = lose


def _one_pair(chain: Chain) -> None:
    for hop in (1, 2, 3):
        chain.pair(hop)
    for _ in range(4):
        chain.answer()


def _reported(chain: Chain, node: int) -> tuple[list[int], list[int]]:
    """(pairs delivered, pairs reported expired) at an end."""
    oks = sorted(m.sequence_number for m in chain.oks(node))
    expired = sorted(m.sequence_number_low for m in chain.errs(node) if m.err == ll.ERR_EXPIRE)
    return oks, expired


def test_a_middle_repeaters_linger_is_shorter_than_the_tails_confirm_span_and_the_renewal_covers_it() -> None:
    """The two bounds, from the code's own constants, on 10 km hops: r2's linger from its swap is shorter than
    the tail's CONFIRM span (the hole), and the time a swap record is kept once the CONFIRM passed
    (``poison_wait_ns``) covers that span plus the poison's tries over the hop to r2."""
    chain = Chain(3, delay_ns=FIBRE_10_KM)
    chain.create(number=1)
    chain.run()
    config = chain.engines[R2].node.config
    give_up = _tail_gives_up_ns(chain)
    assert _circuit(chain, R2).linger_ns < give_up
    tries = config.reliable_retries + 1                # an EXPIRE's copies over one hop, and the last one's way
    tail_r2, r2_r1 = chain.engines[TAIL].node.rto(R2), chain.engines[R2].node.rto(R1)
    assert poison_wait_ns(chain.engines[R2].node, _circuit(chain, R2)) >= give_up + tries * tail_r2
    assert poison_wait_ns(chain.engines[R1].node, _circuit(chain, R1)) >= give_up + tries * (tail_r2 + r2_r1)


def test_the_tails_give_up_reaches_the_head_on_10_km_hops() -> None:
    """The head delivers pair 0, every answer to the tail is lost until the tail gives up (~500 ms after its
    first CONFIRM), and r2's record, lingered from its swap, would be gone by then (~463 ms): the tail's poison
    must still reach the head, which reports the pair expired as the tail does."""
    chain = Chain(3, delay_ns=FIBRE_10_KM)
    chain.create(number=1)
    chain.run()
    give_up = _tail_gives_up_ns(chain)
    _answers_to_tail_lost(chain, until=chain.now + give_up + 1)
    _one_pair(chain)
    assert _reported(chain, HEAD) == ([0], []) and _reported(chain, TAIL) == ([0], [])
    record = [half for half in chain.engines[R2].node.halves.values() if half.state is SWAPPED]
    assert len(record) == 2
    chain.advance(chain.now + give_up + 1)
    assert _reported(chain, TAIL) == ([0], [0])         # given up: reported expired
    chain.finish()
    assert _reported(chain, HEAD) == _reported(chain, TAIL) == ([0], [0])
    assert chain.settled()


def test_the_tails_give_up_reaches_the_head_after_a_delayed_track() -> None:
    """Short hops (RTOs ~1 ms), where r2's own linger is about the tail's CONFIRM span: the TRACK is held up
    between r1 and r2 for 20 ms after r2 swapped (r1 retransmits it), so the tail numbers the pair 20 ms after
    r2's swap record started its linger. No linger counted from the swap covers a wait of the TRACK, which is
    unbounded without cutoffs (it waits for the other repeaters' swaps): the record must be kept from the
    CONFIRM's passage."""
    chain = Chain(3)
    chain.create(number=1)
    chain.run()
    give_up = _tail_gives_up_ns(chain)
    held_up = 20 * chain.engines[R1].node.rto(R2)
    _answers_to_tail_lost(chain, until=chain.now + held_up + give_up + 1, also=(R1, R2, 0, chain.now + held_up))
    _one_pair(chain)
    assert _reported(chain, HEAD) == ([], []) and _reported(chain, TAIL) == ([], [])
    chain.advance(chain.now + held_up + 1)
    assert _reported(chain, HEAD) == ([0], []) and _reported(chain, TAIL) == ([0], [])
    chain.advance(chain.now + give_up + 1)
    assert _reported(chain, TAIL) == ([0], [0])
    chain.finish()
    assert _reported(chain, HEAD) == _reported(chain, TAIL) == ([0], [0])
    assert chain.settled()


def test_the_tails_give_up_reaches_the_head_after_a_teardown() -> None:
    """As on 10 km hops above, but the circuit (two pairs) is torn down 10 ms after pair 0 is delivered (r2's hop
    to the tail goes down): every node closes it while the tail still tries CONFIRM(0), and the poison's EXPIREs
    from r1 to the head are lost for 30 ms after the give-up (r1 retries them). A closed circuit lingered its
    linger time from the close and was then forgotten with its swap records, its answers and the head's delivered
    half; the head and the repeaters now keep it while a CONFIRM they passed or answered may still be given up
    (and its poison come)."""
    chain = Chain(3, delay_ns=FIBRE_10_KM)
    chain.create(number=2)
    chain.run()
    give_up = _tail_gives_up_ns(chain)
    start = chain.now
    _answers_to_tail_lost(chain, until=start + give_up + 1, also=(R1, HEAD, start + 1, start + give_up + 30_000_000))
    _one_pair(chain)
    chain.advance(chain.now + 10_000_000)
    chain.link_err(3, R2, ll.ERR_OTHER)                # the link r2 — tail is down: TEARDOWN
    assert all(not circuit.live for node in chain.route for circuit in chain.engines[node].node.circuits)
    chain.advance(chain.now + give_up + 1)
    chain.finish()
    assert _reported(chain, HEAD) == _reported(chain, TAIL) == ([0], [0])
    assert chain.errs(HEAD)[0].err == chain.errs(TAIL)[0].err != ll.ERR_EXPIRE     # the request's own end
    assert chain.settled()
    assert all(not chain.engines[node].node.circuits.by_handle for node in chain.route)     # forgotten in the end


def test_a_poison_on_its_way_survives_the_circuits_end() -> None:
    """The tail's give-up of the last pair completes the circuit: its poison and its COMPLETE leave together. At
    r1 the poison's EXPIRE to the head is lost for 10 ms (r1 retries it) and the COMPLETE comes while it is
    pending; closing the circuit stopped every retransmission of it but a CONFIRM's and a COMPLETE's, so the
    poison died at r1 and the head kept the pair. An EXPIRE now goes on after the stop."""
    chain = Chain(3, delay_ns=FIBRE_10_KM)
    chain.create(number=1)
    chain.run()
    until = chain.now + _tail_gives_up_ns(chain) + 1

    def lose(source: int, target: int, payload: bytes) -> bool:
        if chain.sent[-1][1] != QNCP_PORT:
            return False
        late = {(R2, TAIL, CONFIRM_ACK): until, (TAIL, R1, COMPLETE): until + 2_000_000,
                (R1, HEAD, EXPIRE): until + 10_000_000}
        return chain.now < late.get((source, target, payload[1]), 0)
    chain.lose = lose
    _one_pair(chain)
    chain.advance(until + 5_000_000)                   # the COMPLETE came to r1, its poison not to the head
    r1 = chain.engines[R1]
    assert _reported(chain, TAIL) == ([0], [0]) and not any(c.live for c in r1.node.circuits)   # closed
    pending = r1.node.outbox.keys()
    assert any(isinstance(key, tuple) and key[0] == "expire" for key in pending)    # its poison still retried
    chain.finish()
    assert _reported(chain, HEAD) == _reported(chain, TAIL) == ([0], [0])
    assert chain.settled()


def test_the_index_holds_a_record_only_until_its_confirm_or_its_end() -> None:
    """``SwapRecords`` stays bounded: an entry goes when its pair's CONFIRM passes (every pair of a lossless
    circuit), or with its half when that is forgotten first (here: a record of no circuit, lingered the floor),
    and a forgotten half does not take a later record's entry for the same Pair ID with it."""
    chain = Chain(3, window=2)
    chain.create(number=2)
    chain.run()
    for _ in range(2):
        _one_pair(chain)
    assert _reported(chain, HEAD) == _reported(chain, TAIL) == ([0, 1], [])
    assert all(len(chain.engines[node].node.swaps) == 0 for node in (R1, R2))

    node = Node(1, chain.topology, NetworkConfig(), np.random.default_rng(0))
    old, new = (node.add_half(Half(1, seq, (1, 1), LEFT, SWAPPED)) for seq in (1, 2))
    for half in (old, new):
        half.pair_id = 7
        node.swaps.note((1, 1), 7, half.key)            # the head's sequence came round: new takes Pair ID 7
        node.linger(half, None, 0)
    node.forget_due(RTO_FLOOR_NS, RTO_FLOOR_NS)
    assert not node.halves and len(node.swaps) == 0
    node.swaps.note((1, 1), 7, new.key)
    node.swaps.drop((1, 1), 7, old.key)                  # an older half's drop leaves the newer entry
    assert node.swaps.pop((1, 1), 7) == new.key
