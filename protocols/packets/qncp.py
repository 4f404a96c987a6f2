"""QNCP, the network layer's control protocol (UDP port 7775): every message, and one decoder.

The P4 data plane (:mod:`protocols.packets.qnp`) only carries Bell indices forward. What it
lacks — circuit setup and teardown, acknowledgements, expiry, flow control and the tail's
end-to-end decision — is this protocol, after the roles of the QNP paper (Kozlowski,
Dahlberg, Wehner, CoNEXT 2020) and draft-van-meter-qirg-quantum-connection-setup.
``docs/wire.md`` §9.3 specifies it. After the 12-byte common header
(:mod:`protocols.packets.qncp_common`) the fixed-size messages carry::

    SETUP_ACK, SETUP_REPLY_ACK (16)     Hop Index(8) Reserved(24)
    TRACK_ACK, EXPIRE, EXPIRE_ACK,      Link Label(16) Pair Sequence(16) |
    CREDIT, CREDIT_ACK (20)             Link ID(16) Window(8) Credit(8)   (Credit: CREDIT/_ACK only,
                                                                            else Reserved)
    CONFIRM, CONFIRM_ACK (24)           E2E Sequence(16) Head Pair Sequence(16) |
                                        Tail Pair Sequence(16) Bell State(8) Reserved(8) |
                                        Goodness(16) Reserved(16)
    COMPLETE, COMPLETE_ACK,             Sender Node(32)
    TEARDOWN, TEARDOWN_ACK (16)
    DISTIL, DISTIL_ACK (24)             Link Label(16) Kept Pair Sequence(16) | Link ID(16) Scope(8)
                                        Protocol(8) | Sacrificed Pair Sequence(16) Level(8) Outcome(8)

SETUP and SETUP_REPLY are in :mod:`protocols.packets.qncp_setup`, their variable parts in
:mod:`protocols.packets.qncp_caps`, DISTIL and DISTIL_ACK in :mod:`protocols.packets.qncp_distil`; this module
re-exports every codec class. :func:`decode_qncp`
decodes any message and raises :class:`protocols.common.ParseError` for anything else.

>>> from protocols.packets.qncp_common import EXPIRE, REASON_CUTOFF
>>> m = PairMessage(EXPIRE, circuit_id=0x0101, head_node=1, link_label=0x8001, pair_seq=7, link_id=2,
...                 reason=REASON_CUTOFF)
>>> m.encode().hex()
'0106000101010014000000018001000700020000'
>>> decode_qncp(m.encode()) == m
True
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError
from protocols.fastinit import fast_init, fast_new
from protocols.packets.linkservice import BELL_STATES
from protocols.packets.qncp_caps import HopRule, LinkCap, LinkOption, NodeCap, QCap
from protocols.packets.qncp_common import (
    CONFIRM_TYPES,
    CREDIT_ACK,
    CREDIT_KINDS,
    CREDIT_TYPES,
    DISTIL_TYPES,
    HEADER_SIZE,
    HOP_ACK_TYPES,
    PAIR_TYPES,
    REASONS,
    SETUP,
    SETUP_REPLY,
    STATUS,
    STATUS_OK,
    VERSION,
    check_size,
    pack_header,
    parse_header,
)
from protocols.packets.qncp_distil import Distil
from protocols.packets.qncp_setup import Setup, SetupReply

__all__ = ["CircuitEnd", "Confirm", "Distil", "HopAck", "HopRule", "LinkCap", "LinkOption", "NodeCap", "PairMessage",
           "QCap", "QncpMessage", "Setup", "SetupReply", "credit_ack", "decode_confirm", "decode_pair", "decode_qncp",
           "encode_pair", "pack_seq", "pair_template"]

_HOP_ACK = struct.Struct("!B3x")
_PAIR = struct.Struct("!HHHBB")
_CONFIRM = struct.Struct("!HHHBxHxx")
_PAIR_WHOLE = struct.Struct("!BBBBHHI" "HHHBB")
"""The common header and a pair message's body in one pack (the same bytes as ``pack_header`` + ``_PAIR``)."""
_CONFIRM_WHOLE = struct.Struct("!BBBBHHI" "HHHBxHxx")
_END = struct.Struct("!I")
HOP_ACK_SIZE = HEADER_SIZE + _HOP_ACK.size
PAIR_SIZE = HEADER_SIZE + _PAIR.size
CONFIRM_SIZE = HEADER_SIZE + _CONFIRM.size
END_SIZE = HEADER_SIZE + _END.size


@fast_init
@dataclass(frozen=True, slots=True)
class HopAck:
    """SETUP_ACK or SETUP_REPLY_ACK: ``hop_index`` is the acknowledging node's index in the route."""

    msg_type: int
    circuit_id: int
    head_node: int
    hop_index: int
    status: int = STATUS_OK
    reason: int = 0

    def encode(self) -> bytes:
        return (pack_header(self.msg_type, self.status, self.reason, self.circuit_id, HOP_ACK_SIZE, self.head_node)
                + _HOP_ACK.pack(self.hop_index))


@fast_init
@dataclass(frozen=True, slots=True)
class PairMessage:
    """TRACK_ACK, EXPIRE, EXPIRE_ACK, CREDIT or CREDIT_ACK about link pair (``link_id``, ``pair_seq``).

    ``reason``: EXPIRE and EXPIRE_ACK (``REASON_*``). ``credit`` (CREDIT, CREDIT_ACK): ``CREDIT_RELEASED``
    (this end no longer holds the pair) or ``CREDIT_READY`` (installed, ``window`` credits); a Reserved
    byte, always 0, in the other three."""

    msg_type: int
    circuit_id: int
    head_node: int
    link_label: int
    pair_seq: int
    link_id: int
    status: int = STATUS_OK
    reason: int = 0
    window: int = 0
    credit: int = 0

    def encode(self) -> bytes:
        return encode_pair(self.msg_type, self.circuit_id, self.head_node, self.link_label, self.pair_seq,
                           self.link_id, self.status, self.reason, self.window, self.credit)


def encode_pair(msg_type: int, circuit_id: int, head_node: int, link_label: int, pair_seq: int, link_id: int,
                status: int = STATUS_OK, reason: int = 0, window: int = 0, credit: int = 0) -> bytes:
    """The bytes of ``PairMessage(...)``'s encoding, without building the message (the engines' acks and
    credits: one a link pair).

    >>> from protocols.packets.qncp_common import TRACK_ACK
    >>> encode_pair(TRACK_ACK, 0x0101, 1, 0x8001, 7, 2) == PairMessage(TRACK_ACK, 0x0101, 1, 0x8001, 7, 2).encode()
    True
    """
    return _PAIR_WHOLE.pack(VERSION, msg_type, status, reason, circuit_id, PAIR_SIZE, head_node, link_label,
                            pair_seq, link_id, window, credit)


_BEFORE_SEQ = struct.Struct("!BBBBHHI" "H")
_AFTER_SEQ = struct.Struct("!HBB")
pack_seq = struct.Struct("!H").pack
"""A Pair Sequence's two bytes (:func:`pair_template`)."""


def pair_template(msg_type: int, circuit_id: int, head_node: int, link_label: int, link_id: int,
                  status: int = STATUS_OK, reason: int = 0, window: int = 0, credit: int = 0) -> tuple[bytes, bytes]:
    """The bytes of :func:`encode_pair`'s encoding before and after its Pair Sequence, for messages that differ
    only in it (a hop's CREDIT RELEASEDs: one a link pair, the rest made once per hop).

    >>> from protocols.packets.qncp_common import CREDIT, CREDIT_RELEASED
    >>> before, after = pair_template(CREDIT, 0x0101, 1, 0x8001, 2, credit=CREDIT_RELEASED)
    >>> before + pack_seq(7) + after == encode_pair(CREDIT, 0x0101, 1, 0x8001, 7, 2, credit=CREDIT_RELEASED)
    True
    """
    return (_BEFORE_SEQ.pack(VERSION, msg_type, status, reason, circuit_id, PAIR_SIZE, head_node, link_label),
            _AFTER_SEQ.pack(link_id, window, credit))


_CREDIT_ACK_HEAD = bytes((VERSION, CREDIT_ACK, STATUS_OK, 0))


def credit_ack(credit: bytes) -> bytes:
    """The CREDIT_ACK of a valid CREDIT's bytes (as :func:`decode_pair` accepts them): the same bytes but its type,
    Status 0 and Reason 0, which is what :func:`encode_pair` makes of the CREDIT's fields (every other byte of a
    CREDIT is a field the ACK repeats).

    >>> from protocols.packets.qncp_common import CREDIT, CREDIT_READY
    >>> credit = encode_pair(CREDIT, 0x0101, 1, 0x8001, 0, 2, window=3, credit=CREDIT_READY)
    >>> credit_ack(credit) == encode_pair(CREDIT_ACK, 0x0101, 1, 0x8001, 0, 2, window=3, credit=CREDIT_READY)
    True
    """
    return _CREDIT_ACK_HEAD + credit[4:]


@fast_init
@dataclass(frozen=True, slots=True)
class Confirm:
    """CONFIRM (tail → head: deliver end-to-end pair ``e2e_seq``) or CONFIRM_ACK (Status 0 delivered, or
    EXPIRE). ``bell_state`` is in our encoding (:class:`protocols.common.BellState`); goodness n / 65535."""

    msg_type: int
    circuit_id: int
    head_node: int
    e2e_seq: int
    head_pair_seq: int
    tail_pair_seq: int
    bell_state: int
    goodness: int
    status: int = STATUS_OK
    reason: int = 0

    def encode(self) -> bytes:
        return _CONFIRM_WHOLE.pack(VERSION, self.msg_type, self.status, self.reason, self.circuit_id, CONFIRM_SIZE,
                                   self.head_node, self.e2e_seq, self.head_pair_seq, self.tail_pair_seq,
                                   self.bell_state, self.goodness)


@fast_init
@dataclass(frozen=True, slots=True)
class CircuitEnd:
    """COMPLETE (tail, Status 0), TEARDOWN (any node, Status = the failure's error code) or their ACKs."""

    msg_type: int
    circuit_id: int
    head_node: int
    sender_node: int
    status: int = STATUS_OK
    reason: int = 0

    def encode(self) -> bytes:
        return (pack_header(self.msg_type, self.status, self.reason, self.circuit_id, END_SIZE, self.head_node)
                + _END.pack(self.sender_node))


_new_pair = fast_new(PairMessage)
_new_confirm = fast_new(Confirm)
"""The per-pair decoder's constructors: the same objects as the classes', built without calling them."""

QncpMessage = Setup | SetupReply | HopAck | PairMessage | Confirm | CircuitEnd | Distil


def decode_qncp(data: bytes) -> QncpMessage:
    """Decode any QNCP message; ParseError unless it is exactly one valid message."""
    size = len(data)
    if size in (PAIR_SIZE, CONFIRM_SIZE):          # the per-pair messages: header and body in one unpack
        message = decode_per_pair(data, size)
        if message is not None:
            return message
    msg_type, status, reason, circuit_id, head_node = parse_header(data)
    if msg_type == SETUP:
        return Setup.decode_body(data, status, reason, circuit_id, head_node)
    if msg_type == SETUP_REPLY:
        return SetupReply.decode_body(data, status, reason, circuit_id, head_node)
    if msg_type in DISTIL_TYPES:
        return Distil.decode_body(data, msg_type, status, reason, circuit_id, head_node)
    if msg_type in HOP_ACK_TYPES:
        check_size(data, HOP_ACK_SIZE, msg_type)
        return HopAck(msg_type, circuit_id, head_node, data[HEADER_SIZE], status, reason)
    if msg_type in PAIR_TYPES:
        check_size(data, PAIR_SIZE, msg_type)
        label, seq, link, window, credit = _PAIR.unpack_from(data, HEADER_SIZE)
        if msg_type not in CREDIT_TYPES:
            credit = 0  # a Reserved byte there
        elif credit not in CREDIT_KINDS:
            raise ParseError(f"QNCP {msg_type} credit kind {credit} is undefined")
        return PairMessage(msg_type, circuit_id, head_node, label, seq, link, status, reason, window, credit)
    if msg_type in CONFIRM_TYPES:
        check_size(data, CONFIRM_SIZE, msg_type)
        e2e, head_seq, tail_seq, bell, goodness = _CONFIRM.unpack_from(data, HEADER_SIZE)
        if bell not in BELL_STATES:
            raise ParseError(f"QNCP CONFIRM Bell state {bell} is undefined")
        return Confirm(msg_type, circuit_id, head_node, e2e, head_seq, tail_seq, bell, goodness, status, reason)
    check_size(data, END_SIZE, msg_type)  # END_TYPES: parse_header let only defined types through
    return CircuitEnd(msg_type, circuit_id, head_node, _END.unpack_from(data, HEADER_SIZE)[0], status, reason)


def decode_per_pair(data: bytes, size: int) -> PairMessage | Confirm | None:
    """A valid pair message (20 bytes) or CONFIRM/CONFIRM_ACK (24 bytes) decoded with one ``struct`` call; None
    for anything else of those sizes (a DISTIL, or a message :func:`decode_qncp`'s checks then refuse, with
    their own errors), so what it accepts and what it refuses are exactly the general path's."""
    return decode_pair(data) if size == PAIR_SIZE else decode_confirm(data)


def decode_pair(data: bytes) -> PairMessage | None:
    """:func:`decode_per_pair` of 20 bytes (``len(data) == PAIR_SIZE``): a pair message, or None."""
    version, msg_type, status, reason, circuit_id, length, head_node, label, seq, link, window, credit = \
        _PAIR_WHOLE.unpack(data)
    if (version != VERSION or length != PAIR_SIZE or msg_type not in PAIR_TYPES or status not in STATUS
            or reason not in REASONS):
        return None
    if msg_type not in CREDIT_TYPES:
        credit = 0  # a Reserved byte there
    elif credit not in CREDIT_KINDS:
        return None
    return _new_pair(msg_type, circuit_id, head_node, label, seq, link, status, reason, window, credit)


def decode_confirm(data: bytes) -> Confirm | None:
    """:func:`decode_per_pair` of 24 bytes (``len(data) == CONFIRM_SIZE``): a CONFIRM or CONFIRM_ACK, or None (a
    DISTIL, or anything :func:`decode_qncp` refuses)."""
    version, msg_type, status, reason, circuit_id, length, head_node, e2e, head_seq, tail_seq, bell, goodness = \
        _CONFIRM_WHOLE.unpack(data)
    if (version != VERSION or length != CONFIRM_SIZE or msg_type not in CONFIRM_TYPES or status not in STATUS
            or reason not in REASONS or bell not in BELL_STATES):
        return None
    return _new_confirm(msg_type, circuit_id, head_node, e2e, head_seq, tail_seq, bell, goodness, status, reason)
