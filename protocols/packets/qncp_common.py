"""QNCP, the network layer's control protocol (UDP port 7775): numbers, the common header, fixed point.

Every QNCP message starts with the same 12 bytes::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |    Version    |  Message Type |    Status     |    Reason     |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          Circuit ID           |            Length             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           Head Node                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

(Head Node, Circuit ID) names the circuit; Length is the whole message in bytes and must
equal the UDP payload's. The messages are in :mod:`protocols.packets.qncp` (fixed size)
and :mod:`protocols.packets.qncp_setup` (SETUP, SETUP_REPLY), :mod:`protocols.packets.qncp_distil`
(DISTIL, DISTIL_ACK); ``docs/wire.md`` §9.3
specifies them.

>>> parse_header(pack_header(EXPIRE, 0, REASON_CUTOFF, 0x0101, 12, 1))
(6, 0, 1, 257, 1)
"""

from __future__ import annotations

import struct

from protocols.common import DistillProtocol, ParseError
from protocols.packets.linkservice import ERROR_CODES

VERSION = 1

SETUP = 1
SETUP_ACK = 2
SETUP_REPLY = 3
SETUP_REPLY_ACK = 4
TRACK_ACK = 5
EXPIRE = 6
EXPIRE_ACK = 7
CREDIT = 8
CREDIT_ACK = 9
CONFIRM = 10
CONFIRM_ACK = 11
COMPLETE = 12
COMPLETE_ACK = 13
TEARDOWN = 14
TEARDOWN_ACK = 15
DISTIL = 16
DISTIL_ACK = 17
MESSAGE_TYPES = {SETUP: "SETUP", SETUP_ACK: "SETUP_ACK", SETUP_REPLY: "SETUP_REPLY",
                 SETUP_REPLY_ACK: "SETUP_REPLY_ACK", TRACK_ACK: "TRACK_ACK", EXPIRE: "EXPIRE",
                 EXPIRE_ACK: "EXPIRE_ACK", CREDIT: "CREDIT", CREDIT_ACK: "CREDIT_ACK", CONFIRM: "CONFIRM",
                 CONFIRM_ACK: "CONFIRM_ACK", COMPLETE: "COMPLETE", COMPLETE_ACK: "COMPLETE_ACK",
                 TEARDOWN: "TEARDOWN", TEARDOWN_ACK: "TEARDOWN_ACK", DISTIL: "DISTIL", DISTIL_ACK: "DISTIL_ACK"}
HOP_ACK_TYPES = (SETUP_ACK, SETUP_REPLY_ACK)
PAIR_TYPES = (TRACK_ACK, EXPIRE, EXPIRE_ACK, CREDIT, CREDIT_ACK)
CREDIT_TYPES = (CREDIT, CREDIT_ACK)
CONFIRM_TYPES = (CONFIRM, CONFIRM_ACK)
END_TYPES = (COMPLETE, COMPLETE_ACK, TEARDOWN, TEARDOWN_ACK)
DISTIL_TYPES = (DISTIL, DISTIL_ACK)

STATUS_OK = 0
STATUS = {STATUS_OK: "OK", **ERROR_CODES}
"""Status: 0, or an error code of the link service's table (docs/wire.md §4.3, with 9-11)."""

REASON_NONE = 0
REASON_CUTOFF = 1
REASON_SWAP_FAILED = 2
REASON_LINK_EXPIRED = 3
REASON_UNKNOWN = 4
REASON_TEARDOWN = 5
REASONS = {REASON_NONE: "NONE", REASON_CUTOFF: "CUTOFF", REASON_SWAP_FAILED: "SWAP_FAILED",
           REASON_LINK_EXPIRED: "LINK_EXPIRED", REASON_UNKNOWN: "UNKNOWN", REASON_TEARDOWN: "TEARDOWN"}
"""Why a half died: the Reason of EXPIRE and EXPIRE_ACK (0 in every other message)."""

CREDIT_RELEASED = 0
CREDIT_READY = 1
CREDIT_KINDS = {CREDIT_RELEASED: "RELEASED", CREDIT_READY: "READY"}

SCOPE_HOP = 0
SCOPE_END_TO_END = 1
SCOPES = {SCOPE_HOP: "HOP", SCOPE_END_TO_END: "END_TO_END"}
"""What a DISTIL's pairs are: link pairs of one hop, or end-to-end pairs of the circuit."""
DISTIL_PROTOCOLS = {int(p): p.name for p in DistillProtocol}
"""A DISTIL's Protocol: :class:`protocols.common.DistillProtocol` (1 BBPSSW, 2 DEJMPS)."""

INFINITE_NS = 2**64 - 1
"""T1 or T2 of a memory that does not decay."""
PROBABILITY_SCALE = 2**32 - 1
"""A success probability p is sent as round(p × (2^32 − 1))."""
BSM_SCALE = 255
"""A Bell-measurement success probability q is sent as round(q × 255)."""

HEADER = struct.Struct("!BBBBHHI")
HEADER_SIZE = HEADER.size
MAX_LENGTH = 0xFFFF


def encode_probability(p: float) -> int:
    """A probability in [0, 1] as the 32-bit n with p = n / (2^32 − 1), rounded."""
    return max(0, min(PROBABILITY_SCALE, round(p * PROBABILITY_SCALE)))


def decode_probability(n: int) -> float:
    return n / PROBABILITY_SCALE


def pack_header(msg_type: int, status: int, reason: int, circuit_id: int, length: int, head_node: int) -> bytes:
    return HEADER.pack(VERSION, msg_type, status, reason, circuit_id, length, head_node)


def parse_header(data: bytes) -> tuple[int, int, int, int, int]:
    """(msg_type, status, reason, circuit_id, head_node) of a QNCP message, checked: ParseError unless the
    Version is 1, Type, Status and Reason are defined, and Length is the message's length."""
    if len(data) < HEADER_SIZE:
        raise ParseError(f"QNCP message too short: {len(data)} bytes")
    version, msg_type, status, reason, circuit_id, length, head_node = HEADER.unpack_from(data)
    if version != VERSION:
        raise ParseError(f"QNCP version {version}, expected {VERSION}")
    if msg_type not in MESSAGE_TYPES or status not in STATUS or reason not in REASONS:
        raise ParseError(f"bad QNCP header: type {msg_type}, status {status}, reason {reason}")
    if length != len(data):
        raise ParseError(f"QNCP Length says {length} bytes, the message has {len(data)}")
    return msg_type, status, reason, circuit_id, head_node


def check_size(data: bytes, size: int, msg_type: int) -> None:
    if len(data) != size:
        raise ParseError(f"QNCP {MESSAGE_TYPES[msg_type]} is {size} bytes, got {len(data)}")
