"""scapy layers of :mod:`protocols.packets.qframe`, the reference dissector (the runtime uses the codecs)."""

from __future__ import annotations

from scapy.fields import ByteEnumField, ByteField, IntField, LongField, ShortField
from scapy.layers.l2 import Ether
from scapy.packet import Packet, bind_layers

from protocols.common import QFRAME_ETHERTYPE
from protocols.packets.qframe import FRAME_PHOTON, FRAME_TYPES, VERSION


class QFrame(Packet):
    """Scapy layer of the quantum frame (reference dissector)."""

    name = "Quantum Frame"
    fields_desc = [
        ByteField("version", VERSION),
        ByteEnumField("frame_type", FRAME_PHOTON, FRAME_TYPES),
        ShortField("link_id", 0),
        IntField("source_node", 0),
        LongField("attempt_seq", 0),
        LongField("emission_time", 0),
        LongField("qubit_id", 0),
    ]


bind_layers(Ether, QFrame, type=QFRAME_ETHERTYPE)
