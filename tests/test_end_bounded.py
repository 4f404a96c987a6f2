"""Each end's bookkeeping of the pairs it reported stays bounded over a long circuit (protocols/network/end_state.py,
docs/architecture.md "Bounded reports"), and every pair is still reported once at each end: OK, or ERR EXPIRE
(after an OK or not), never two ERR EXPIREs. Engines driven directly (tests/network_harness.py), a 3-hop chain,
one pair at a time with time passing between them so the head's answers are forgotten (the relay bound), and
four kinds of pair in turn:

- ``ok``: delivered at both ends;
- ``head_lost``: the head's half expires (a link ERR EXPIRE) while the pair's CONFIRM is on its way: the poison
  reaches the tail's delivered half first (ERR EXPIRE there), then the head answers CONFIRM_ACK EXPIRE (ERR
  EXPIRE at the head; nothing more at the tail);
- ``ack_first``: the same, but the tail gets the CONFIRM_ACK EXPIRE before the poison (its half is detached
  from the pair: the poison reports nothing more);
- ``unheard``: every CONFIRM of the pair towards the head is lost: r1 gives up, the tail reports the pair
  expired and poisons its half; the head never hears of it and reports it at COMPLETE.

Before, each end kept one int per pair in ``reported`` (and one per expired pair in ``expired``) for the circuit's
life: the ends here would hold 90 and 45.
"""

from __future__ import annotations

import random
from collections import Counter, deque

from protocols.network.end_state import EndState
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Confirm, decode_qncp
from protocols.packets.qncp_common import CONFIRM, CONFIRM_ACK
from tests.network_harness import Chain
from tests.test_network_relay_bound import HEAD, R1, TAIL, lifetime

PAIRS = 90
KINDS = ("ok", "head_lost", "ok", "ack_first", "ok", "unheard")


def held(state: EndState) -> int:
    """Ints an end holds about its reported pairs (the bounded form's, or the old sets')."""
    expired = getattr(state, "expired", ())                     # (the old code's second set)
    return state.reported.held() + len(expired) + len(getattr(state, "retracted", ()))


def _e2e(payload: bytes) -> int:
    message = decode_qncp(payload)
    assert isinstance(message, Confirm)
    return message.e2e_seq


def release(chain: Chain, node: int, first: int | None = None) -> None:
    """Deliver what waits for ``node`` (QNCP messages of type ``first`` before the others), keeping the rest."""
    mine = [item for item in chain.waiting if item[0] == node]
    mine.sort(key=lambda item: item[1][1] != first)
    chain.waiting = deque(item for item in chain.waiting if item[0] != node)
    chain.held.discard(node)
    chain.queue.extend(mine)
    chain.run()


def one_pair(chain: Chain, kind: str, lost: set[int], n: int) -> None:
    if kind == "unheard":
        lost.add(n)
    if kind in ("head_lost", "ack_first"):
        chain.held = {HEAD}
    seqs = [chain.pair(hop) for hop in range(1, len(chain.route))]
    for _ in range(len(chain.route)):
        chain.answer()
    if kind in ("head_lost", "ack_first"):
        if kind == "ack_first":
            chain.held.add(TAIL)                    # the poison waits for the tail
        chain.link_err(1, HEAD, ll.ERR_EXPIRE, seq=seqs[0])
        release(chain, HEAD)
        if kind == "ack_first":
            release(chain, TAIL, first=CONFIRM_ACK)


def test_the_ends_hold_a_bounded_record_of_their_reports_and_report_each_pair_once() -> None:
    chain = Chain(3)
    lost: set[int] = set()

    def lose(source: int, target: int, payload: bytes) -> bool:
        return (source, target) == (R1, HEAD) and payload[1] == CONFIRM and _e2e(payload) in lost

    chain.lose = lose
    chain.create(number=PAIRS)
    chain.run()
    gap = 2 * lifetime(chain, HEAD)                 # each pair's answer is forgotten before the next one
    most = dict.fromkeys((HEAD, TAIL), 0)
    for n in range(PAIRS):
        one_pair(chain, KINDS[n % len(KINDS)], lost, n)
        chain.advance(chain.now + gap)
        for node in (HEAD, TAIL):                   # (after the last pair the circuit is complete and forgotten)
            for state in chain.engines[node].ends.states.values():
                most[node] = max(most[node], held(state))
    assert chain.engines[R1].counters.gave_up == len(lost) == PAIRS // len(KINDS)
    assert most[HEAD] <= 2 and most[TAIL] <= 1, most
    chain.finish()
    expected = {n for n in range(PAIRS) if KINDS[n % len(KINDS)] != "ok"}
    for node in (HEAD, TAIL):
        oks = [m.sequence_number for m in chain.oks(node)]
        errs = Counter(m.sequence_number_low for m in chain.errs(node) if m.err == ll.ERR_EXPIRE)
        assert all(count == 1 for count in errs.values()), errs
        assert set(errs) == expected
        assert [m for m in chain.errs(node) if m.err != ll.ERR_EXPIRE] == []
        assert sorted(oks) == (sorted(set(range(PAIRS)) - expected) if node == HEAD else list(range(PAIRS)))
    assert all(chain.delivered[HEAD][n] == chain.delivered[TAIL][n] for n in chain.delivered[HEAD])


def test_the_bounded_set_is_the_set() -> None:
    """:class:`Reported` answers membership exactly whatever the mark does: against a plain set, over adds in a
    shuffled order and marks moved ahead of them."""
    from protocols.network.end_state import Reported  # here: the old code had none, and the test above runs there

    rng = random.Random(5)
    for _ in range(50):
        reported, plain = Reported(), set()
        numbers = list(range(200))
        rng.shuffle(numbers)
        for n in numbers[:150]:
            if rng.random() < 0.1:
                reported.close_below(rng.randrange(220))
            reported.add(n)
            plain.add(n)
        assert all((n in reported) == (n in plain) for n in range(230))
        assert reported.unreported(230) == sorted(set(range(230)) - plain)
        assert reported.held() <= 230
