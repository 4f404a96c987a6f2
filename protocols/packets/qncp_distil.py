"""QNCP DISTIL and DISTIL_ACK (types 16 and 17, 24 bytes): one end's outcome of an entanglement distillation
round, sent to the other end of the round (``docs/wire.md`` §9.3.8)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |            common header (12 bytes, Type 16 or 17)            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          Link Label           |      Kept Pair Sequence       |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |            Link ID            |     Scope     |   Protocol    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   Sacrificed Pair Sequence    |     Level     |    Outcome    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

The first 18 bytes are laid out as the pair messages' (TRACK_ACK, EXPIRE, CREDIT, ...). Scope is HOP (the
pairs are link pairs of the hop Link ID, named by their Pair Sequence) or END_TO_END (end-to-end pairs, named
by their Pair ID: the head's Pair Sequence on its first hop, Link ID). Protocol is
:class:`protocols.common.DistillProtocol`; Level the rounds the kept pair has survived before this one.
The Outcome byte holds three fields: ``outcome`` (bit 0), the sender's Z outcome of its sacrificed qubit;
``keep_parity`` (bit 1) and ``survivor`` (bits 2–3), which only an END_TO_END DISTIL (from the circuit's tail,
which alone knows the end-to-end pairs' tracked Bell states) sets: the parity that keeps the pair and the
survivor's tracked Bell state (qnetstack's encoding); DISTIL_ACK echoes them; in HOP messages they are 0, and
bits 4–7 are 0. DISTIL comes from the round's initiator (a hop's origin, the circuit's tail); DISTIL_ACK carries
the answering end's own outcome and echoes every other field, with Status 0 or 5 EXPIRE (the receiver does not
hold the pairs for this round: the round fails at both ends).

>>> from dataclasses import replace
>>> from protocols.packets.qncp_common import DISTIL, SCOPE_END_TO_END, SCOPE_HOP
>>> m = Distil(DISTIL, 0x0101, 1, link_label=0x8001, kept_pair_seq=7, link_id=2, scope=SCOPE_HOP, protocol=2,
...            sacrificed_pair_seq=8, level=1, outcome=1)
>>> m.encode().hex()
'011000000101001800000001800100070002000200080101'
>>> Distil.decode_body(m.encode(), DISTIL, 0, 0, 0x0101, 1) == m
True
>>> e2e = replace(m, scope=SCOPE_END_TO_END, keep_parity=0, survivor=1)     # Outcome byte 1 | 0 << 1 | 1 << 2
>>> e2e.encode()[-1], Distil.decode_body(e2e.encode(), DISTIL, 0, 0, 0x0101, 1).survivor
(5, 1)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError
from protocols.packets.qncp_common import (
    DISTIL_PROTOCOLS,
    HEADER_SIZE,
    MESSAGE_TYPES,
    SCOPE_HOP,
    SCOPES,
    STATUS_OK,
    check_size,
    pack_header,
)

_DISTIL = struct.Struct("!HHHBBHBB")
DISTIL_SIZE = HEADER_SIZE + _DISTIL.size
BELL_STATE_BITS = 3
"""``survivor`` holds a Bell state in qnetstack's encoding (0–3)."""


@dataclass(frozen=True, slots=True)
class Distil:
    """DISTIL (the initiator's ``outcome`` of the round distilling pair ``kept_pair_seq`` with
    ``sacrificed_pair_seq``) or DISTIL_ACK (the answering end's outcome, the rest echoed; Status 0, or 5
    EXPIRE). ``keep_parity`` and ``survivor`` are the END_TO_END round's announced parity and survivor Bell
    state (0 in HOP messages); with ``outcome`` they make the Outcome byte."""

    msg_type: int
    circuit_id: int
    head_node: int
    link_label: int
    kept_pair_seq: int
    link_id: int
    scope: int
    protocol: int
    sacrificed_pair_seq: int
    level: int
    outcome: int
    status: int = STATUS_OK
    reason: int = 0
    keep_parity: int = 0
    survivor: int = 0

    def encode(self) -> bytes:
        outcome_byte = self.outcome | self.keep_parity << 1 | self.survivor << 2
        return (pack_header(self.msg_type, self.status, self.reason, self.circuit_id, DISTIL_SIZE, self.head_node)
                + _DISTIL.pack(self.link_label, self.kept_pair_seq, self.link_id, self.scope, self.protocol,
                               self.sacrificed_pair_seq, self.level, outcome_byte))

    @classmethod
    def decode_body(cls, data: bytes, msg_type: int, status: int, reason: int, circuit_id: int,
                    head_node: int) -> Distil:
        """The message after its checked common header; ParseError unless exactly 24 bytes with a defined
        Scope and Protocol and an Outcome byte whose reserved bits (4–7) are 0, and in HOP messages bits 1–3."""
        check_size(data, DISTIL_SIZE, msg_type)
        label, kept, link, scope, protocol, sacrificed, level, byte = _DISTIL.unpack_from(data, HEADER_SIZE)
        if scope not in SCOPES or protocol not in DISTIL_PROTOCOLS or byte > (1 if scope == SCOPE_HOP else 15):
            raise ParseError(f"QNCP {MESSAGE_TYPES[msg_type]}: scope {scope}, protocol {protocol} or outcome byte "
                             f"0x{byte:02x} is undefined")
        return cls(msg_type, circuit_id, head_node, label, kept, link, scope, protocol, sacrificed, level, byte & 1,
                   status, reason, keep_parity=byte >> 1 & 1, survivor=byte >> 2 & BELL_STATE_BITS)
