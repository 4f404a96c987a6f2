"""A decoded SETUP's QCaps (protocols.packets.qcap_list): checked whole, decoded lazily, sent on as they came;
a route and a SETUP_REPLY's rules read in one go. The oracle is the decoding that came before: every QCap read
with read_qcap at decoding, the route node by node, the rules one by one."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.common import ParseError
from protocols.packets.linkservice import CREATE_SIZE, Create
from protocols.packets.qcap_list import QCaps, appended
from protocols.packets.qncp import Setup, decode_qncp
from protocols.packets.qncp_caps import (
    QCAP_HEAD_SIZE,
    QCAP_OPTIONS_AT,
    HopRule,
    QCap,
    Reader,
    distil_rule,
    read_qcap,
    read_rule,
)
from protocols.packets.qncp_common import HEADER_SIZE, parse_header
from protocols.packets.qncp_setup import REPLY_FIXED, SETUP_FIXED, SetupReply
from tests.test_network_packets import qcaps, setup_replies, setups


def _eager(data: bytes) -> Setup:
    """The SETUP as Setup.decode_body read it before, every QCap decoded with read_qcap."""
    _, status, reason, circuit_id, head_node = parse_header(data)
    reader = Reader(data, HEADER_SIZE)
    tail, create_id, hop_count, hop_index, window = reader.take(struct.Struct("!IHBBB3x"), "the SETUP fields")
    if not 1 <= hop_index <= hop_count:
        raise ParseError(f"SETUP hop index {hop_index} is not in 1..hop count ({hop_count})")
    create = Create.decode(reader.raw(CREATE_SIZE, "the CREATE"))
    route = reader.route(hop_count + 1)
    caps = tuple(read_qcap(reader) for _ in range(hop_index))
    reader.end()
    return Setup(circuit_id, head_node, tail, create_id, window, create, route, caps, status, reason)


@given(setups(), qcaps)
def test_decoded_qcaps_are_the_eager_ones_and_go_on_as_they_came(setup: Setup, cap: QCap) -> None:
    data = setup.encode()
    decoded = decode_qncp(data)
    assert isinstance(decoded, Setup) and isinstance(decoded.qcaps, QCaps)
    assert decoded == setup == _eager(data) and hash(decoded) == hash(setup)
    assert tuple(decoded.qcaps) == setup.qcaps and decoded.qcaps[-1] == setup.qcaps[-1]
    assert decoded.qcaps[1:] == setup.qcaps[1:] and len(decoded.qcaps) == len(setup.qcaps)
    assert decoded.encode() == data
    route = (*setup.route, 7) if setup.hop_index == setup.hop_count else setup.route
    forwarded = Setup(1, 2, 3, 4, 5, setup.create, route, appended(decoded.qcaps, cap))
    assert forwarded.encode() == Setup(1, 2, 3, 4, 5, setup.create, route, (*setup.qcaps, cap)).encode()


def _outcome(decode: object, data: bytes) -> object:
    try:
        return decode(data)  # type: ignore[operator]
    except ParseError as error:
        return str(error)


@given(setups(), st.data())
def test_broken_qcaps_raise_what_eager_decoding_raised(setup: Setup, data: st.DataObject) -> None:
    """Cut short anywhere, or an option count too large or too small: the same error (or the same SETUP)."""
    raw = bytearray(setup.encode())
    first = SETUP_FIXED + 4 * len(setup.route)
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(first, len(raw) - 1))]
    else:
        raw[first + QCAP_OPTIONS_AT] = data.draw(st.integers(0, 255))
    raw[6:8] = struct.pack("!H", len(raw))                  # the header's Length, so the body is what is read
    assert _outcome(decode_qncp, bytes(raw)) == _outcome(_eager, bytes(raw))


@given(setups(), st.integers(1, 255))
def test_a_qcap_with_reserved_bits_set_is_sent_on_with_them_cleared(setup: Setup, reserved: int) -> None:
    """As the eager decoding did: Reserved is not a field, so encoding gives zeros."""
    raw = bytearray(setup.encode())
    first = SETUP_FIXED + 4 * len(setup.route)
    assert raw[first + QCAP_OPTIONS_AT + 1:first + QCAP_HEAD_SIZE] == b"\0\0\0"
    raw[first + QCAP_OPTIONS_AT + 1] = reserved
    decoded = decode_qncp(bytes(raw))
    assert decoded == setup and decoded.encode() == setup.encode() != bytes(raw)


def test_an_index_out_of_range_is_an_index_error() -> None:
    caps = QCaps(())
    with pytest.raises(IndexError):
        caps[0]


def _eager_rules(data: bytes) -> tuple[tuple[int, ...], tuple[HopRule, ...]]:
    """A SETUP_REPLY's route and rules as they were read before: node by node, rule by rule."""
    _, status, _, _, _ = parse_header(data)
    reader = Reader(data, HEADER_SIZE)
    fields = reader.take(struct.Struct("!IIBBBxQQQHHHH"), "the SETUP_REPLY fields")
    distil_rule(fields[4])
    hop_count = fields[2]
    if (status == 0) != (hop_count > 0):
        raise ParseError("status")
    route = tuple(reader.take(struct.Struct("!I"), "the route")[0] for _ in range(hop_count + 1 if hop_count else 0))
    rules = tuple(read_rule(reader) for _ in range(hop_count))
    reader.end()
    return route, rules


def _fast_rules(data: bytes) -> tuple[tuple[int, ...], tuple[HopRule, ...]]:
    reply = decode_qncp(data)
    assert isinstance(reply, SetupReply)
    return reply.route, reply.rules


@given(setup_replies(), st.data())
def test_a_setup_replys_route_and_rules_are_read_as_before(reply: SetupReply, data: st.DataObject) -> None:
    """Whole, cut short anywhere, or with distillation bytes made up (most are undefined): the same route and
    rules, or the same error."""
    raw = bytearray(reply.encode())
    rules_at = REPLY_FIXED + 4 * len(reply.route)
    for index in range(len(reply.rules)):
        if data.draw(st.booleans()):
            raw[rules_at + 12 * index + 10] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(REPLY_FIXED, len(raw)))]
    raw[6:8] = struct.pack("!H", len(raw))
    if len(raw) == len(reply.encode()) and raw == reply.encode():
        assert _fast_rules(bytes(raw)) == (reply.route, reply.rules)
    assert _outcome(_fast_rules, bytes(raw)) == _outcome(_eager_rules, bytes(raw))


@given(setups())
def test_qcaps_read_from_any_buffer_go_on_as_bytes(setup: Setup) -> None:
    """A SETUP read from a bytearray (an API caller's buffer) is sent on as it came (review, 2026-12-04: the
    kept QCaps were bytearray slices, which encode() could not send)."""
    data = setup.encode()
    decoded = decode_qncp(bytearray(data))  # type: ignore[arg-type]
    assert isinstance(decoded, Setup) and decoded.encode() == data
