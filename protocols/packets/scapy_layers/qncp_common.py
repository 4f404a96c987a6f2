"""scapy layers of :mod:`protocols.packets.qncp_common`, the reference dissector (the runtime uses the codecs)."""

from __future__ import annotations

import struct
from typing import Any

from scapy.fields import ByteEnumField, ByteField, Field, IntField, ShortField
from scapy.packet import Packet

from protocols.packets.qncp_common import MESSAGE_TYPES, REASON_NONE, REASONS, STATUS, STATUS_OK, VERSION


def header_fields(msg_type: int) -> list[Field[Any, Any]]:
    """Fresh scapy fields of the common header (Length None: filled in when built)."""
    return [
        ByteField("version", VERSION),
        ByteEnumField("msg_type", msg_type, MESSAGE_TYPES),
        ByteEnumField("status", STATUS_OK, STATUS),
        ByteEnumField("reason", REASON_NONE, REASONS),
        ShortField("circuit_id", 0),
        ShortField("length", None),
        IntField("head_node", 0),
    ]


class QncpLayer(Packet):
    """Base of the QNCP scapy layers: fills in Length when it is None."""

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        if self.length is None:
            pkt = pkt[:6] + struct.pack("!H", len(pkt)) + pkt[8:]
        return pkt + pay
