"""QTP, the qubit transport protocol (UDP port 7776): teleportation's classical half (docs/wire.md §11).

The sender Bell-measures the qubit it sends with its half of a pair and sends DATA: the two correction bits
the receiver must apply to its half (X^CX then Z^CZ: the Bell measurement's outcome XOR the pair's Bell
index) and what names the pair at both ends (the Origin Node ID that sent the CREATE, its Create ID and the
OK's Sequence Number), with the sender's Transfer Sequence. The receiver answers ACK (it applied them) or ERR
(it could not: the pair is unknown, or its half decohered past the deadline and was discarded). DATA is
retransmitted until answered or until the deadline set by the receiver's memory decoherence::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Ver  | Type  |X|Z| Reserved  |          Purpose ID           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |       Transfer Sequence       |           Create ID           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Pair Sequence Number      |        Origin Node ID         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Error Code   |    Attempt    |           Reserved            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

>>> m = Qtp(TYPE_DATA, purpose_id=100, transfer_seq=1, create_id=2, pair_seq=3, origin_node=1, cx=1)
>>> m.encode().hex()
'11800064000100020003000100000000'
>>> Qtp.decode(m.encode()) == m
True
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError

VERSION = 1
TYPE_DATA, TYPE_ACK, TYPE_ERR = 1, 2, 3
TYPES = {TYPE_DATA: "DATA", TYPE_ACK: "ACK", TYPE_ERR: "ERR"}
ERR_NOPAIR, ERR_DEADLINE, ERR_BSM, ERR_UNANSWERED = 1, 2, 3, 4
ERROR_CODES = {0: "NONE", ERR_NOPAIR: "NOPAIR", ERR_DEADLINE: "DEADLINE", ERR_BSM: "BSM", ERR_UNANSWERED: "UNANSWERED"}
"""NOPAIR: the receiver holds no such pair; DEADLINE: its half decohered past the deadline and was discarded
(on the wire, from the receiver); BSM: the sender's Bell measurement failed or was refused; UNANSWERED: no
answer before the deadline (BSM and UNANSWERED are local errors, never sent)."""
WIRE_ERRORS = (ERR_NOPAIR, ERR_DEADLINE)

_QTP = struct.Struct("!BBHHHHHBBH")
SIZE = _QTP.size


@dataclass(frozen=True, slots=True)
class Qtp:
    """One QTP message (all three types share the layout; unused fields are 0)."""

    type: int
    purpose_id: int = 0
    transfer_seq: int = 0
    create_id: int = 0
    pair_seq: int = 0
    origin_node: int = 0
    cx: int = 0
    cz: int = 0
    error: int = 0
    attempt: int = 0

    def encode(self) -> bytes:
        return _QTP.pack(VERSION << 4 | self.type, self.cx << 7 | self.cz << 6, self.purpose_id, self.transfer_seq,
                         self.create_id, self.pair_seq, self.origin_node, self.error, self.attempt, 0)

    @property
    def pair(self) -> tuple[int, int, int]:
        """What names the pair at both ends: (origin node, Create ID, pair sequence number)."""
        return (self.origin_node, self.create_id, self.pair_seq)

    @classmethod
    def decode(cls, data: bytes) -> Qtp:
        if len(data) != SIZE:
            raise ParseError(f"QTP message is {SIZE} bytes, got {len(data)}")
        first, flags, purpose, transfer, create, seq, origin, error, attempt, reserved = _QTP.unpack(data)
        if first >> 4 != VERSION:
            raise ParseError(f"QTP version {first >> 4} (expected {VERSION})")
        kind = first & 0xF
        if kind not in TYPES:
            raise ParseError(f"unknown QTP type {kind}")
        if flags & 0x3F or reserved:
            raise ParseError("QTP reserved bits are set")
        if kind != TYPE_DATA and flags:
            raise ParseError(f"QTP {TYPES[kind]} carries correction bits")
        if (kind == TYPE_ERR) != (error != 0) or (kind == TYPE_ERR and error not in WIRE_ERRORS):
            raise ParseError(f"QTP {TYPES[kind]} with error code {error}")
        return cls(kind, purpose, transfer, create, seq, origin, flags >> 7, flags >> 6 & 1, error, attempt)
