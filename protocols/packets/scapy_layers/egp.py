"""scapy layers of :mod:`protocols.packets.egp`, the reference dissector (the runtime uses the codecs)."""

from __future__ import annotations

from scapy.fields import ByteEnumField, ByteField, ConditionalField, IntField, LongField, ShortField
from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_layers

from protocols.common import EGP_PORT
from protocols.packets.egp import MESSAGE_TYPES, MSG_REQ, PAIR_MESSAGES, RUN_MESSAGES, STATUS, VERSION
from protocols.packets.scapy_layers.linkservice import LLCreate


class EGP(Packet):
    """Scapy layer of the EGP header; a REQ carries an :class:`LLCreate` payload."""

    name = "EGP"
    fields_desc = [
        ByteField("version", VERSION),
        ByteEnumField("msg_type", MSG_REQ, MESSAGE_TYPES),
        ByteEnumField("status", 0, STATUS),
        ByteField("reserved", 0),
        ShortField("create_id", 0),
        ShortField("link_id", 0),
        IntField("origin_node", 0),
        IntField("queue_seq", 0),
        ConditionalField(LongField("attempt_seq", 0), lambda pkt: pkt.msg_type in PAIR_MESSAGES),
        ConditionalField(ShortField("sequence_number", 0), lambda pkt: pkt.msg_type in PAIR_MESSAGES),
        ConditionalField(ShortField("reserved2", 0), lambda pkt: pkt.msg_type in PAIR_MESSAGES),
        ConditionalField(IntField("run", 0), lambda pkt: pkt.msg_type in RUN_MESSAGES),
        ConditionalField(ShortField("pairs", 0), lambda pkt: pkt.msg_type in RUN_MESSAGES),
        ConditionalField(ShortField("reserved3", 0), lambda pkt: pkt.msg_type in RUN_MESSAGES),
    ]


bind_layers(UDP, EGP, dport=EGP_PORT)
bind_layers(UDP, EGP, sport=EGP_PORT)
bind_layers(EGP, LLCreate, msg_type=MSG_REQ)
