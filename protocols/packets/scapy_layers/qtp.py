"""scapy layer of :mod:`protocols.packets.qtp`, the reference dissector (the runtime uses the codec)."""

from __future__ import annotations

from scapy.fields import BitEnumField, BitField, ByteEnumField, ByteField, ShortField
from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_layers

from protocols.common import QTP_PORT
from protocols.packets.qtp import ERROR_CODES, TYPES, WIRE_ERRORS


class QTP(Packet):
    """QTP DATA, ACK and ERR (one layout, docs/wire.md §11)."""

    name = "QTP"
    fields_desc = [
        BitField("version", 1, 4),
        BitEnumField("msg_type", 1, 4, TYPES),
        BitField("cx", 0, 1),
        BitField("cz", 0, 1),
        BitField("reserved1", 0, 6),
        ShortField("purpose_id", 0),
        ShortField("transfer_seq", 0),
        ShortField("create_id", 0),
        ShortField("pair_seq", 0),
        ShortField("origin_node", 0),
        ByteEnumField("error", 0, {0: "NONE", **{code: ERROR_CODES[code] for code in WIRE_ERRORS}}),
        ByteField("attempt", 0),
        ShortField("reserved2", 0),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


bind_layers(UDP, QTP, dport=QTP_PORT)
bind_layers(UDP, QTP, sport=QTP_PORT)
