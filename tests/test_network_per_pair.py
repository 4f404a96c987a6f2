"""Network layer: the per-pair shortcuts give what the general code gives.

The engine's per-pair paths build a link OK's half without calling the class (:func:`types.new_held`), make a
CREDIT_ACK from the CREDIT's bytes (:func:`qncp.credit_ack`), a hop's CREDIT RELEASED from bytes made once per hop
(:meth:`HopFlow.credit_released`), and decode 20- and 24-byte QNCP messages by size (:func:`qncp.decode_pair`,
:func:`qncp.decode_confirm`), and ``NetworkLayer.receive`` writes ``_done`` out; each must equal its general
counterpart, byte for byte and field for field.
"""

from __future__ import annotations

import dataclasses
import itertools
import struct

import pytest

from protocols.common import Actions, ParseError
from protocols.network.hop_flow import HopFlow
from protocols.network.types import HELD, Half, new_held
from protocols.packets.qncp import (
    CONFIRM_SIZE,
    PAIR_SIZE,
    Confirm,
    PairMessage,
    credit_ack,
    decode_confirm,
    decode_pair,
    decode_qncp,
    encode_pair,
    pack_seq,
    pair_template,
)
from protocols.packets.qncp_common import (
    CONFIRM,
    CONFIRM_ACK,
    CREDIT,
    CREDIT_ACK,
    CREDIT_READY,
    CREDIT_RELEASED,
    EXPIRE,
    REASON_CUTOFF,
    TRACK_ACK,
)


def test_new_held_is_the_class_built_half_field_for_field() -> None:
    built = new_held(3, 7, (3, 7), (1, 0x0101), 1, 4, 2, 0x8001, 50, 0.75)
    called = Half(3, 7, (1, 0x0101), 1, HELD, 4, 2, 0x8001, 50, 0.75)
    assert type(built) is Half
    for field in dataclasses.fields(Half):      # every slot, the key (compare=False) included
        assert getattr(built, field.name) == getattr(called, field.name), field.name
    assert built == called


@pytest.mark.parametrize("credit, window, seq", [(CREDIT_READY, 1, 0), (CREDIT_READY, 255, 0),
                                                 (CREDIT_RELEASED, 0, 7), (CREDIT_RELEASED, 0, 0xFFFF)])
def test_a_credit_ack_is_the_encoded_ack_of_the_credit(credit: int, window: int, seq: int) -> None:
    sent = encode_pair(CREDIT, 0x0A01, 10, 0xC003, seq, 42, window=window, credit=credit)
    message = decode_pair(sent)
    assert message is not None and message.encode() == sent
    ack = encode_pair(CREDIT_ACK, message.circuit_id, message.head_node, message.link_label, message.pair_seq,
                      message.link_id, window=message.window, credit=message.credit)
    assert credit_ack(sent) == ack
    assert decode_qncp(ack) == PairMessage(CREDIT_ACK, 0x0A01, 10, 0xC003, seq, 42, window=window, credit=credit)


def test_a_hops_credit_released_is_encode_pair_for_every_sequence() -> None:
    flow = HopFlow(handle=(10, 0x0A01), side=1, link_id=42, label=0xC003, peer=11, origin=False, window=1)
    for seq in (0, 1, 255, 256, 0xFFFF):
        assert flow.credit_released(seq) == encode_pair(CREDIT, 0x0A01, 10, 0xC003, seq, 42, credit=CREDIT_RELEASED)
    with pytest.raises(struct.error):
        flow.credit_released(0x10000)           # as encode_pair: a Pair Sequence is 16 bits
    before, after = pair_template(EXPIRE, 0x0A01, 10, 0xC003, 42, reason=REASON_CUTOFF)
    assert before + pack_seq(9) + after == encode_pair(EXPIRE, 0x0A01, 10, 0xC003, 9, 42, reason=REASON_CUTOFF)


def test_the_size_decoders_accept_and_refuse_what_decode_qncp_does() -> None:
    pair = PairMessage(TRACK_ACK, 0x0101, 1, 0x8001, 7, 2).encode()
    confirm = Confirm(CONFIRM, 0x0101, 1, 5, 6, 7, 1, 0xFFFF).encode()
    confirm_ack = Confirm(CONFIRM_ACK, 0x0101, 1, 5, 6, 7, 1, 0xFFFF).encode()
    assert decode_pair(pair) == decode_qncp(pair)
    assert decode_confirm(confirm) == decode_qncp(confirm) and decode_confirm(confirm_ack) == decode_qncp(confirm_ack)
    # every one-byte change of the header and the checked bytes: the size decoder takes it iff decode_qncp does
    for data, decoder, size in ((pair, decode_pair, PAIR_SIZE), (confirm, decode_confirm, CONFIRM_SIZE)):
        for index, value in itertools.product((0, 1, 2, 3, 6, 7, size - 1, size - 4), (0, 1, 3, 7, 9, 12, 200)):
            changed = data[:index] + bytes((value,)) + data[index + 1:]
            try:
                general = decode_qncp(changed)
            except ParseError:
                general = None
            fast = decoder(changed)
            if fast is not None:
                assert fast == general, (index, value)
            else:
                assert general is None or type(general).__name__ == "Distil", (index, value)


def _transcript(general: bool, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """A 2-hop chain's 5 pairs (and a malformed datagram): every engine output, in order, then each node's
    counters; with ``general``, ``NetworkLayer.receive`` is the general code (``_done`` called)."""
    from protocols.common import QNCP_PORT
    from protocols.network.layer import NetworkLayer
    from tests.network_harness import Chain, ip

    if general:
        def receive(self: NetworkLayer, payload: bytes, source: tuple[str, int], port: int, now: int) -> object:
            try:
                actions = self.inbox.receive(payload, source, port, now)
            except ParseError:
                self.node.counters.malformed += 1
                actions = Actions()
            return self._done(actions, now)
        monkeypatch.setattr(NetworkLayer, "receive", receive)
    chain, seen = Chain(2), []
    apply = chain.apply

    def record(node: int, actions: Actions) -> None:
        seen.append((node, list(actions.send), list(actions.hardware), actions.deadline))
        apply(node, actions)
    chain.apply = record  # type: ignore[method-assign]
    chain.create(number=5)
    chain.run()
    for _ in range(5):
        for hop in range(1, len(chain.route)):
            chain.pair(hop)
        for _ in range(len(chain.route)):
            chain.answer()
        chain.run()
    chain.apply(2, chain.engines[2].receive(b"\x01\x02", (ip(3), QNCP_PORT), QNCP_PORT, chain.now))
    chain.advance(chain.now + 10**9)
    return seen + [repr(engine.node.counters) for engine in chain.engines.values()]


def test_receive_sets_what_done_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """``NetworkLayer.receive`` writes ``_done`` out (per datagram): a chain run gives the same outputs, deadlines
    and counters as with ``receive`` calling ``_done``."""
    fast = _transcript(False, monkeypatch)
    assert fast == _transcript(True, monkeypatch)
    assert len(fast) > 20
