"""scapy layers of :mod:`protocols.packets.qnp`, the reference dissector (the runtime uses the codecs)."""

from __future__ import annotations

from scapy.fields import BitEnumField, BitField, ShortField
from scapy.layers.inet import UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Padding, bind_layers

from protocols.common import ETHERTYPE_P4_EGP, ETHERTYPE_P4_QNP, QNP_PORT
from protocols.packets.qnp import P4_BELL_INDEX


class P4Egp(Packet):
    """Scapy layer of P4 ``egp_t``; ``bell_index`` is the wire value (P4 encoding)."""

    name = "P4 EGP"
    fields_desc = [
        ShortField("link_label", 0),
        ShortField("pair_seq", 0),
        BitEnumField("bell_index", 0, 2, P4_BELL_INDEX),
        BitField("reserved", 0, 30),
    ]

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        under = self.underlayer
        if isinstance(under, Ether) and under.type == ETHERTYPE_P4_EGP:
            return Padding  # an EGP-only frame: what follows is Ethernet padding
        return P4Qnp


class P4Qnp(Packet):
    """Scapy layer of P4 ``qnp_t``; ``bell_index`` is the wire value (P4 encoding)."""

    name = "P4 QNP"
    fields_desc = [
        ShortField("circuit_id", 0),
        ShortField("pair_id", 0),
        BitEnumField("bell_index", 0, 2, P4_BELL_INDEX),
        BitField("reserved", 0, 30),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


bind_layers(UDP, P4Egp, dport=QNP_PORT)
bind_layers(UDP, P4Egp, sport=QNP_PORT)
bind_layers(Ether, P4Egp, type=ETHERTYPE_P4_EGP)
bind_layers(Ether, P4Egp, type=ETHERTYPE_P4_QNP)
