"""Bounded records of a long circuit (protocols/network/pair_records.py): each repeater forgets its answer to
a pair's CONFIRM, and the head the Status it gave, once no copy of that CONFIRM can still arrive
(:func:`protocols.network.relay.confirm_lifetime_ns`). Engines driven directly (tests/network_harness.py):
the records stay a few entries over a circuit of many pairs; a duplicate CONFIRM inside the bound gets the
very bytes of the first answer; one beyond it is counted (``late_confirms``) and dropped, and changes nothing.
"""

from __future__ import annotations

import pytest

from protocols.common import QNCP_PORT, Actions
from protocols.network.circuit import Circuit
from protocols.network.relay import Relay, _on_its_way, confirm_lifetime_ns, relayable
from protocols.packets.qncp import Confirm, decode_confirm
from protocols.packets.qncp_common import CONFIRM, CONFIRM_ACK
from tests.network_harness import Chain, ip

HEAD, R1, R2, TAIL = 1, 3, 4, 2                        # Chain(3): a=1 — r1=3 — r2=4 — b=2


def one_pair(chain: Chain) -> None:
    for hop in range(1, len(chain.route)):
        chain.pair(hop)
    for _ in range(len(chain.route)):
        chain.answer()


def lifetime(chain: Chain, node: int) -> int:
    engine = chain.engines[node]
    (circuit,) = engine.node.circuits.by_handle.values()
    return confirm_lifetime_ns(engine.node, circuit)


def records(chain: Chain) -> dict[int, int]:
    """Per node: pair records held (a repeater's answers, the head's Statuses, the tail's unsettled halves)."""
    counts = {}
    for node in (R1, R2):
        counts[node] = sum(len(r) for r in chain.engines[node].ends.relay.answers.values())
    head = [s.answered for s in chain.engines[HEAD].ends.states.values()]
    counts[HEAD] = sum(len(a) for a in head if a is not None)
    counts[TAIL] = sum(len(s.delivered) for s in chain.engines[TAIL].ends.states.values())
    return counts


def sent_between(chain: Chain, source: int, target: int, msg_type: int, start: int = 0) -> list[bytes]:
    """Payloads of ``msg_type`` ``source`` sent towards ``target`` (its neighbour on the route)."""
    side = 1 if chain.route.index(target) > chain.route.index(source) else -1
    neighbour = chain.route[chain.route.index(source) + side]
    assert neighbour == target
    found = []
    for node, port, payload in chain.sent[start:]:
        if node == source and port == QNCP_PORT and payload[1] == msg_type:
            found.append(payload)
    return found


def inject(chain: Chain, source: int, target: int, payload: bytes) -> int:
    """``payload`` from ``source`` arrives at ``target`` now; how many datagrams were sent after it."""
    before = len(chain.sent)
    chain.apply(target, chain.engines[target].receive(payload, (ip(source), QNCP_PORT), QNCP_PORT, chain.now))
    chain.run()
    return before


def test_the_records_stay_bounded_over_a_long_circuit() -> None:
    """120 pairs, each after the previous one's records could be forgotten: every node holds at most two
    pair records at any time (without forgetting, the repeaters and the head would hold 120 each), and both
    ends deliver every pair with the same Bell state."""
    pairs = 120
    chain = Chain(3)
    chain.create(number=pairs)
    chain.run()
    gap = 2 * lifetime(chain, HEAD)                    # the longest bound on the route (the head's)
    assert lifetime(chain, R2) < lifetime(chain, R1) < lifetime(chain, HEAD)
    most = dict.fromkeys((HEAD, R1, R2, TAIL), 0)
    for _ in range(pairs):
        one_pair(chain)
        chain.advance(chain.now + gap)
        for node, count in records(chain).items():
            most[node] = max(most[node], count)
    assert most[HEAD] <= 2 and most[R1] <= 2 and most[R2] <= 2 and most[TAIL] == 0
    assert sorted(chain.delivered[HEAD]) == sorted(chain.delivered[TAIL]) == list(range(pairs))
    assert all(chain.delivered[HEAD][n] == chain.delivered[TAIL][n] for n in range(pairs))
    assert all(chain.engines[n].counters.late_confirms == 0 for n in chain.route)
    chain.finish()
    assert chain.settled()
    assert not chain.errs(HEAD) and not chain.errs(TAIL)


def test_a_duplicate_inside_the_bound_gets_the_same_answer_and_one_beyond_it_is_counted() -> None:
    chain = Chain(3)
    chain.create(number=3)
    chain.run()
    one_pair(chain)                                    # pair 0 delivered and settled
    assert 0 in chain.delivered[HEAD] and 0 in chain.delivered[TAIL]
    confirm_to_r1 = sent_between(chain, R2, R1, CONFIRM)[0]
    answer_to_r2 = sent_between(chain, R1, R2, CONFIRM_ACK)[0]
    confirm_to_head = sent_between(chain, R1, HEAD, CONFIRM)[0]
    answer_to_r1 = sent_between(chain, HEAD, R1, CONFIRM_ACK)[0]

    chain.advance(chain.now + lifetime(chain, R1) // 2)       # inside both bounds
    start = inject(chain, R2, R1, confirm_to_r1)
    assert sent_between(chain, R1, R2, CONFIRM_ACK, start) == [answer_to_r2]
    assert sent_between(chain, R1, HEAD, CONFIRM, start) == []   # answered here, not passed on
    start = inject(chain, R1, HEAD, confirm_to_head)
    assert sent_between(chain, HEAD, R1, CONFIRM_ACK, start) == [answer_to_r1]

    one_pair(chain)                                    # pair 1, then both bounds pass
    chain.advance(chain.now + lifetime(chain, HEAD) + 1)
    for source, target, payload in ((R2, R1, confirm_to_r1), (R1, HEAD, confirm_to_head)):
        start = inject(chain, source, target, payload)
        assert chain.sent[start:] == []                # dropped: no answer, not passed on
        assert chain.engines[target].counters.late_confirms == 1
    assert records(chain)[R1] == 0 and records(chain)[HEAD] == 0

    one_pair(chain)                                    # the circuit goes on: pair 2 as usual
    assert sorted(chain.delivered[HEAD]) == sorted(chain.delivered[TAIL]) == [0, 1, 2]
    chain.finish()
    assert chain.settled()
    assert not chain.errs(HEAD) and not chain.errs(TAIL)


def test_a_record_still_needed_is_kept_another_bound_and_the_floor_follows_the_numbering() -> None:
    """PairRecords alone: a record ``keep`` says is still needed (a CONFIRM on its way) survives its first
    bound; pairs below the floor without a record are late, pairs above it are new."""
    from protocols.network.pair_records import PairRecords

    records = PairRecords[str](keep_ns=100)
    records.put(0, "on its way", now=0)
    records.put(2, "answer", now=10)
    records.forget(now=150, keep=lambda value: value == "on its way")
    assert records.get(0) == "on its way" and records.get(2) is None
    assert records.floor == 3 and records.late(1) and records.late(2) and not records.late(0)
    assert not records.late(3)
    records.put(0, "answer", now=160)                  # replaced: still forgotten 100 after its re-queue (150)
    records.forget(now=249)
    assert records.get(0) == "answer"
    records.forget(now=250)
    assert len(records) == 0 and records.late(0)


def _late_transcript(general: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[object], int]:
    """Four pairs over Chain(3), with a copy of pair 0's CONFIRM at R1 inside the bound (answered), copies of
    pairs 0 and 1 beyond it (late: pair 1 is just below the floor that forgetting both left), then pairs 2 (at
    the floor) and 3: every engine output in order, then each node's counters and deliveries; and R1's late
    CONFIRMs. With ``general``, ``Relay.on_confirm`` is the code it was before it was written out per pair
    (``answers.get``, ``answers.late``, ``forget`` and ``relayable`` called)."""
    if general:
        def on_confirm(self: Relay, circuit: Circuit, message: Confirm, now: int,
                       data: bytes | None = None) -> Actions:
            answers = self.answers.get(circuit.handle)
            if answers is None:
                answers = self._answers(circuit)
            answers.forget(now, _on_its_way)
            n = message.e2e_seq
            answer = answers.get(n)
            if answer is not None:
                return Actions() if answer.msg_type == CONFIRM else Actions(send=[(answers.to_tail,
                                                                                   answer.encode())])
            if answers.late(n):
                self.node.counters.late_confirms += 1
                return Actions()
            answers.put(n, message, now)
            self._keep_swap_record(circuit, message.head_pair_seq, answers.poison_ns, now)
            if data is None or not relayable(data):
                data = message.encode()
            return self.node.outbox.send(("confirm", circuit.handle, n), answers.to_head, data,
                                         answers.interval, answers.retries, now)
        monkeypatch.setattr(Relay, "on_confirm", on_confirm)
    chain = Chain(3)
    seen: list[object] = []
    apply = chain.apply

    def record(node: int, actions: Actions) -> None:
        seen.append((node, list(actions.send), list(actions.hardware), actions.deadline))
        apply(node, actions)
    chain.apply = record  # type: ignore[method-assign]
    chain.create(number=4)
    chain.run()
    one_pair(chain)
    (copy,) = sent_between(chain, R2, R1, CONFIRM)
    chain.advance(chain.now + lifetime(chain, R1) // 2)
    inject(chain, R2, R1, copy)                        # inside the bound: answered again
    one_pair(chain)
    (first, second) = sent_between(chain, R2, R1, CONFIRM)
    pair_1 = decode_confirm(second)
    assert first == copy and pair_1 is not None and pair_1.e2e_seq == 1
    chain.advance(chain.now + lifetime(chain, HEAD) + 1)
    inject(chain, R2, R1, copy)                        # beyond it: late
    inject(chain, R2, R1, second)                      # pair 1's, just below the floor: late too
    one_pair(chain)
    one_pair(chain)
    chain.finish()
    seen += [repr(chain.engines[n].counters) for n in chain.route] + [chain.delivered]
    return seen, chain.engines[R1].counters.late_confirms


def test_a_relays_written_out_late_test_is_answers_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Relay.on_confirm`` tests ``n < answers.floor`` for ``answers.late(n)`` (per pair, once ``n`` is known
    not to be among the answers): the run gives the same outputs, deadlines, counters and deliveries as with
    ``late`` called, with copies of pairs 0 and 1 dropped as late and pair 2, at the floor, passed on."""
    fast, late = _late_transcript(False, monkeypatch)
    assert late == 2 and len(fast) > 40
    assert fast == _late_transcript(True, monkeypatch)[0]
