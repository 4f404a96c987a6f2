"""A decoded SETUP's QCaps (protocols.packets.qcap_list): checked whole, decoded lazily, sent on as they came.
The oracle is the eager decoding that came before: every QCap read with read_qcap at decoding."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.common import ParseError
from protocols.packets.linkservice import CREATE_SIZE, Create
from protocols.packets.qcap_list import QCaps, appended
from protocols.packets.qncp import Setup, decode_qncp
from protocols.packets.qncp_caps import QCAP_HEAD_SIZE, QCAP_OPTIONS_AT, QCap, Reader, read_qcap
from protocols.packets.qncp_common import HEADER_SIZE, parse_header
from protocols.packets.qncp_setup import SETUP_FIXED
from tests.test_network_packets import qcaps, setups


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
