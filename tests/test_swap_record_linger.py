"""A repeater's swap record must outlive the tail's give-up of a CONFIRM that passed through it
(docs/architecture.md, "Swap records and the tail's give-up").

When every answer to the tail's CONFIRM(n) is lost, the tail gives up after (2 · R · K + 1) intervals of its RTO
to the head, reports n expired and poisons its half; the poison reaches the head's half through the swap records
of the repeaters. A swap record lingered only from its swap, ~(2 · R · K + 2) of *its own* longest RTO, which at a
repeater nearer the head than the tail is, or after a TRACK delayed on its way, ends before that poison comes:
the poison stopped there and the head kept a pair the tail reported expired. Engines driven directly
(tests/network_harness.py): the CONFIRM_ACKs towards the tail are lost until the tail has given up, and the
test checks that both ends report the same pairs.
"""

from __future__ import annotations

from protocols.common import QNCP_PORT
from protocols.network.circuit import Circuit
from protocols.network.relay import confirm_interval, confirm_retries, poison_wait_ns
from protocols.network.types import SWAPPED
from protocols.packets.qncp_common import CONFIRM_ACK
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


def _answers_to_tail_lost(chain: Chain, until: int, also: tuple[int, int] | None = None, also_until: int = 0) -> None:
    """Every CONFIRM_ACK from r2 to the tail is lost before ``until`` (and every datagram from ``also[0]`` to
    ``also[1]`` before ``also_until``)."""
    def lose(source: int, target: int, payload: bytes) -> bool:
        port = chain.sent[-1][1]                       # (the datagram is recorded before it is offered here)
        if also is not None and (source, target) == also and chain.now < also_until:
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
    expired = sorted(m.sequence_number_low for m in chain.errs(node))
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
    _answers_to_tail_lost(chain, until=chain.now + held_up + give_up + 1, also=(R1, R2), also_until=chain.now + held_up)
    _one_pair(chain)
    assert _reported(chain, HEAD) == ([], []) and _reported(chain, TAIL) == ([], [])
    chain.advance(chain.now + held_up + 1)
    assert _reported(chain, HEAD) == ([0], []) and _reported(chain, TAIL) == ([0], [])
    chain.advance(chain.now + give_up + 1)
    assert _reported(chain, TAIL) == ([0], [0])
    chain.finish()
    assert _reported(chain, HEAD) == _reported(chain, TAIL) == ([0], [0])
    assert chain.settled()
