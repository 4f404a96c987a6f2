"""scapy layers of :mod:`protocols.packets.heralding`, the reference dissector (the runtime uses the codecs)."""

from __future__ import annotations

from scapy.fields import ByteEnumField, ByteField, IntField, LongField, ShortField
from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_layers

from protocols.common import HERALD_PORT
from protocols.packets.heralding import (
    BELL_STATES,
    MESSAGE_TYPES,
    MSG_HERALD,
    OUTCOME_SUCCESS,
    OUTCOMES,
    SCHEME_DOUBLE_CLICK,
    SCHEMES,
    VERSION,
)


class QHPHerald(Packet):
    """Scapy layer of the HERALD message (reference dissector)."""

    name = "QHP Herald"
    fields_desc = [
        ByteField("version", VERSION),
        ByteEnumField("msg_type", MSG_HERALD, MESSAGE_TYPES),
        ByteEnumField("outcome", OUTCOME_SUCCESS, OUTCOMES),
        ByteEnumField("bell_state", 0, BELL_STATES),
        ShortField("link_id", 0),
        ByteEnumField("scheme", SCHEME_DOUBLE_CLICK, SCHEMES),
        ByteField("reserved", 0),
        LongField("attempt_seq", 0),
        IntField("attempts", 1),
        LongField("detection_time", 0),
    ]


bind_layers(UDP, QHPHerald, dport=HERALD_PORT)
bind_layers(UDP, QHPHerald, sport=HERALD_PORT)
