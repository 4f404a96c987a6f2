"""CONFIRM relayed hop by hop (protocols/network/relay.py, docs/wire.md §9.3.6), with the engines driven
directly (tests/network_harness.py): each node sends its CONFIRM to its neighbour towards the head once on a
lossless chain and CONFIRM_ACK retraces the route; a loss is repaired over one hop; a repeater that never
hears from the head answers EXPIRE UNKNOWN and both ends end up reporting the pair expired.
"""

from __future__ import annotations

from protocols.common import QNCP_PORT
from protocols.network.relay import relayable
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Confirm, decode_confirm, decode_qncp
from protocols.packets.qncp_common import CONFIRM, CONFIRM_ACK, REASON_UNKNOWN
from tests.network_harness import Chain, ip


def confirms(chain: Chain) -> list[tuple[int, Confirm]]:
    """(sender, message) of every CONFIRM and CONFIRM_ACK sent so far."""
    found = []
    for node, port, payload in chain.sent:
        if port == QNCP_PORT and payload[1] in (CONFIRM, CONFIRM_ACK):
            message = decode_qncp(payload)
            assert isinstance(message, Confirm)
            found.append((node, message))
    return found


def deliver_one(chain: Chain) -> None:
    chain.create(number=1)
    chain.run()
    for hop in range(1, len(chain.route)):
        chain.pair(hop)
    for _ in range(len(chain.route)):
        chain.answer()


def test_a_lossless_chain_relays_each_confirm_once_per_hop_and_the_ack_back() -> None:
    chain = Chain(3)                                   # a=1 — r1=3 — r2=4 — b=2
    deliver_one(chain)
    sent = confirms(chain)
    assert [(node, m.msg_type) for node, m in sent] == [(2, CONFIRM), (4, CONFIRM), (3, CONFIRM),
                                                         (1, CONFIRM_ACK), (3, CONFIRM_ACK), (4, CONFIRM_ACK)]
    assert len({(m.e2e_seq, m.head_pair_seq, m.tail_pair_seq, m.bell_state, m.goodness) for _, m in sent}) == 1
    assert chain.delivered[1][0] == chain.delivered[2][0]
    chain.finish()
    assert chain.settled()


def test_a_lost_confirm_is_repaired_over_its_hop_only() -> None:
    """The first two copies from r1 to the head are lost: r1 sends it again until one gets through, and the
    head sees (and answers) one copy. The tail and r2 keep retransmitting to their neighbours meanwhile (those
    copies are ignored while the answer is on its way), at most as often as r1."""
    chain = Chain(3)
    lost = []

    def lose(source: int, target: int, payload: bytes) -> bool:
        if source == 3 and target == 1 and payload[1] == CONFIRM and len(lost) < 2:
            lost.append(payload)
            return True
        return False

    chain.lose = lose
    deliver_one(chain)
    assert 0 not in chain.delivered[1]
    chain.advance(chain.now + 10**8)                   # 100 ms: r1's retransmissions (about one per ms)
    sent = confirms(chain)
    senders = [node for node, m in sent if m.msg_type == CONFIRM]
    assert senders.count(3) == 3 and senders.count(2) <= 3 and senders.count(4) <= 3
    assert [node for node, m in sent if m.msg_type == CONFIRM_ACK].count(1) == 1
    assert chain.delivered[1][0] == chain.delivered[2][0]
    chain.finish()
    assert chain.settled()
    assert not chain.errs(1) and not chain.errs(2)


def test_a_repeater_that_never_hears_from_the_head_expires_the_pair_at_both_ends() -> None:
    """Every CONFIRM from r1 to the head is lost: r1 gives up after 2 × 64 tries and answers EXPIRE UNKNOWN;
    the tail reports pair 0 expired and poisons its half, which reaches the head: neither end keeps it."""
    chain = Chain(3)
    chain.lose = lambda source, target, payload: source == 3 and target == 1 and payload[1] == CONFIRM
    deliver_one(chain)
    chain.advance(chain.now + 2 * 10**8)               # r1 gives up after 128 ms (its RTO is about 1 ms)
    sent = confirms(chain)
    assert sum(1 for node, m in sent if node == 3 and m.msg_type == CONFIRM) == 1 + 2 * 64
    (answer,) = [m for node, m in sent if node == 3 and m.msg_type == CONFIRM_ACK]
    assert (answer.status, answer.reason) == (ll.ERR_EXPIRE, REASON_UNKNOWN)
    assert 0 not in chain.delivered[1]                 # the head never got the CONFIRM, so never delivered
    chain.finish()
    for end in (1, 2):
        assert [(e.err, e.sequence_number_low) for e in chain.errs(end)] == [(ll.ERR_EXPIRE, 0)]
    assert chain.settled()


def relayed_copies(reserved: int | None, kind: int) -> tuple[bytes, bytes, bytes]:
    """A chain a=1 — r1=3 — r2=4 — b=2 where the first ``kind`` (CONFIRM from the tail, or CONFIRM_ACK from the
    head) reaches its neighbour with Reserved byte ``reserved`` set (None: as sent). (the bytes sent, the bytes
    that arrived, the bytes the neighbour passed on)."""
    chain = Chain(3)
    first, neighbour = (2, 4) if kind == CONFIRM else (1, 3)
    seen: list[bytes] = []

    def tamper(source: int, target: int, payload: bytes) -> bool:
        if source != first or payload[1] != kind or seen:
            return False
        seen.append(payload)
        if reserved is None:
            return False
        tampered = bytearray(payload)
        tampered[reserved] = 0xA5
        seen.append(bytes(tampered))
        chain.queue.append((target, seen[-1], (ip(source), QNCP_PORT), QNCP_PORT))
        return True

    chain.lose = tamper
    deliver_one(chain)
    assert chain.delivered[1][0] == chain.delivered[2][0]
    passed_on = [payload for node, port, payload in chain.sent if node == neighbour and payload[1] == kind]
    assert len(passed_on) == 1
    return seen[0], seen[-1], passed_on[0]


def test_a_repeater_passes_a_confirm_and_its_ack_on_as_they_came() -> None:
    """wire.md §9.3.6: relayed unchanged; the bytes that came are sent (the same object: not encoded again)."""
    for kind in (CONFIRM, CONFIRM_ACK):
        sent, arrived, passed_on = relayed_copies(None, kind)
        assert arrived is sent and passed_on is arrived


def test_a_repeater_re_encodes_a_confirm_or_ack_with_reserved_bits_set() -> None:
    """A copy with a Reserved byte set decodes to the same message; it goes on as its canonical encoding."""
    for kind in (CONFIRM, CONFIRM_ACK):
        for reserved in (19, 22, 23):
            sent, arrived, passed_on = relayed_copies(reserved, kind)
            assert arrived != sent and decode_qncp(arrived) == decode_qncp(sent)
            assert passed_on == sent


def test_relayable_is_exactly_the_codec_round_trip() -> None:
    canonical = Confirm(CONFIRM_ACK, 0x0101, 1, 7, 3, 4, 2, 0xBEEF, status=ll.ERR_EXPIRE,
                        reason=REASON_UNKNOWN).encode()
    for at in range(len(canonical)):
        for value in (0x01, 0x80):
            data = bytearray(canonical)
            data[at] ^= value
            message = decode_confirm(bytes(data))
            if message is not None:
                assert relayable(bytes(data)) == (message.encode() == bytes(data)), at
    assert relayable(canonical)
