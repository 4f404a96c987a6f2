"""The network layer drops QNCP messages and TRACKs about a circuit that come from another node than the one
its route says sends them (protocols/network/senders.py), and counts them (``wrong_sender``), as the link
layer checks its peer: engines driven directly (tests/network_harness.py) with forged datagrams.
"""

from __future__ import annotations

import protocols.network.senders as senders
from protocols.common import QNCP_PORT, QNP_PORT
from protocols.network.types import LEFT
from protocols.packets import linkservice as ll
from protocols.packets.qncp import CircuitEnd, Confirm, Distil, PairMessage, decode_qncp
from protocols.packets.qncp_common import (
    CONFIRM,
    CONFIRM_ACK,
    DISTIL,
    EXPIRE,
    EXPIRE_ACK,
    REASON_CUTOFF,
    SCOPE_END_TO_END,
    TEARDOWN,
    TRACK_ACK,
)
from protocols.packets.qnp import TrackFrame
from tests.network_harness import Chain, ip

HEAD, TAIL, R1, R2, STRANGER = 1, 2, 3, 4, 9


def forge(chain: Chain, source: int, target: int, payload: bytes, port: int = QNCP_PORT) -> None:
    chain.apply(target, chain.engines[target].receive(payload, (ip(source), port), port, chain.now))
    chain.run()


def started() -> tuple[Chain, tuple[int, int]]:
    """A 3-hop circuit a — r1 — r2 — b for 2 pairs, its hops' first link pairs made (not yet swapped)."""
    chain = Chain(3, extra_nodes=(STRANGER,))
    chain.create(number=2)
    chain.run()
    for hop in (1, 2, 3):
        chain.pair(hop)
    (handle,) = [c.handle for c in chain.engines[HEAD].circuits]
    return chain, handle


def hop1_pair(chain: Chain) -> PairMessage:
    message = next(decode_qncp(p) for n, port, p in chain.sent
                   if n == HEAD and port == QNCP_PORT and isinstance(decode_qncp(p), PairMessage))
    assert isinstance(message, PairMessage) and message.link_id == chain.link_of[frozenset((HEAD, R1))]
    return message


def test_forged_messages_from_the_wrong_node_are_dropped_and_counted() -> None:
    chain, (head, circuit_id) = started()
    credit = hop1_pair(chain)                                  # the head's CREDIT names hop 1's link
    expire = PairMessage(EXPIRE, circuit_id, head, credit.link_label, 0, credit.link_id, reason=REASON_CUTOFF)
    forgeries = [
        (R2, HEAD, expire.encode(), QNCP_PORT),                # hop 1's EXPIRE, but from r2 (not on hop 1)
        (STRANGER, R1, expire.encode(), QNCP_PORT),            # from a node off the route
        (TAIL, HEAD, Confirm(CONFIRM, circuit_id, head, 0, 0, 0, 0, 0).encode(), QNCP_PORT),  # not relayed
        (R1, R2, CircuitEnd(TEARDOWN, circuit_id, head, TAIL, status=ll.ERR_DOWN).encode(), QNCP_PORT),
        (STRANGER, TAIL, CircuitEnd(TEARDOWN, circuit_id, head, STRANGER, status=ll.ERR_DOWN).encode(), QNCP_PORT),
        (R1, TAIL, TrackFrame(0x8000, 0, 0, circuit_id, 0, 0).encode(), QNP_PORT),   # b's left neighbour is r2
        # an end-to-end DISTIL comes from the tail (tests/test_end_distillation.py runs the genuine ones)
        (R1, HEAD, Distil(DISTIL, circuit_id, head, 0, 0, 0, SCOPE_END_TO_END, 1, 1, 1, 0).encode(), QNCP_PORT),
    ]
    before = len(chain.sent)
    for source, target, payload, port in forgeries:
        counted = chain.engines[target].counters.wrong_sender
        forge(chain, source, target, payload, port)
        assert chain.engines[target].counters.wrong_sender == counted + 1
    assert all(chain.engines[n].counters.malformed == 0 for n in chain.engines)
    # nothing came of the dropped ones: no answer, the circuit still generates, and both pairs go through
    assert len(chain.sent) == before                           # not even an ACK
    assert all(c.generating for n in (HEAD, R1, R2, TAIL) for c in chain.engines[n].circuits)
    for _ in range(3):
        chain.answer()
    for hop in (1, 2, 3):
        chain.pair(hop)
    for _ in range(3):
        chain.answer()
    assert sorted(chain.delivered[HEAD]) == sorted(chain.delivered[TAIL]) == [0, 1]
    chain.finish()
    assert chain.settled()


def test_the_same_expire_from_the_right_neighbour_is_acted_on() -> None:
    """The control: the EXPIRE the forgery imitated, from r1 (the head's neighbour on hop 1), kills the half."""
    chain, (head, circuit_id) = started()
    credit = hop1_pair(chain)
    expire = PairMessage(EXPIRE, circuit_id, head, credit.link_label, 0, credit.link_id, reason=REASON_CUTOFF)
    forge(chain, R1, HEAD, expire.encode())
    assert chain.engines[HEAD].counters.wrong_sender == 0
    assert chain.engines[HEAD].node.records[(1, 1)].expired_by_reason == {REASON_CUTOFF: 1}


def test_the_per_pair_checks_follow_senders_expected() -> None:
    """The inbox writes out ``senders.expected`` for the per-pair messages (pair messages of every hop, CONFIRM,
    CONFIRM_ACK): at every node of the route, from every node, a message is dropped as ``wrong_sender`` exactly
    when the rule names another sender."""
    chain, (head, circuit_id) = started()
    messages = [PairMessage(EXPIRE_ACK, circuit_id, head, 0x8000, 999, link_id) for link_id in chain.link_of.values()]
    messages += [Confirm(kind, circuit_id, head, 999, 0, 0, 0, 0) for kind in (CONFIRM, CONFIRM_ACK)]
    checked = 0
    for target in (HEAD, R1, R2, TAIL):
        circuit = chain.engines[target].node.circuits.get((head, circuit_id))
        assert circuit is not None
        for message in messages:
            rule = senders.expected(circuit, message)
            for source in (HEAD, R1, R2, TAIL, STRANGER):
                if source == target:
                    continue
                counted = chain.engines[target].counters.wrong_sender
                forge(chain, source, target, message.encode())
                assert chain.engines[target].counters.wrong_sender == counted + (source != rule)
                checked += source == rule
    assert checked >= 12        # each hop's pair messages at both its ends, each CONFIRM and CONFIRM_ACK in the middle


def test_the_track_check_follows_senders_track_from_expected() -> None:
    """The inbox writes out ``senders.track_from_expected`` too: at every node of the route, from every node, a TRACK
    naming the circuit is dropped as ``wrong_sender`` exactly when the rule says its sender may not send it (the
    left neighbour may; none may send one to the head)."""
    chain, (_, circuit_id) = started()
    track = TrackFrame(0x8000, 999, 0, circuit_id, 999, 0).encode()
    checked = 0
    for target in (HEAD, R1, R2, TAIL):
        node = chain.engines[target].node
        for source in (HEAD, R1, R2, TAIL, STRANGER):
            if source == target:
                continue
            allowed = senders.track_from_expected(node, TrackFrame.decode(track), source)
            counted = chain.engines[target].counters.wrong_sender
            forge(chain, source, target, track, QNP_PORT)
            assert chain.engines[target].counters.wrong_sender == counted + (not allowed)
            checked += allowed
    assert checked == 3         # r1 from a, r2 from r1, b from r2


def test_a_track_is_taken_only_with_the_label_its_circuit_has_on_the_senders_link() -> None:
    """The inbox hands the circuit the TRACK's Circuit ID names to the tracker, which takes it only when the link's
    label is bound to that circuit's left hop: a TRACK from the right sender with another label is malformed."""
    chain, handle = started()
    r1 = chain.engines[R1]
    circuit = r1.node.circuits.get(handle)
    assert circuit is not None and circuit.hops[LEFT] is not None
    label = circuit.hops[LEFT].label
    for link_label, taken in ((label, True), (label ^ 1, False), (label ^ 0x4000, False)):
        malformed, sent = r1.node.counters.malformed, len(chain.sent)
        forge(chain, HEAD, R1, TrackFrame(link_label, 999, 0, handle[1], 999, 0).encode(), QNP_PORT)
        assert r1.node.counters.malformed == malformed + (not taken)
        acks = [p for n, port, p in chain.sent[sent:] if n == R1 and port == QNCP_PORT and p[1] == TRACK_ACK]
        assert len(acks) == taken
