"""scapy layers of :mod:`protocols.packets.qncp`, the reference dissector (the runtime uses the codecs)."""

from __future__ import annotations

from scapy.fields import ByteEnumField, ByteField, ConditionalField, IntField, ShortField, ThreeBytesField
from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_layers

from protocols.common import QNCP_PORT
from protocols.packets.linkservice import BELL_STATES
from protocols.packets.qncp_common import (
    COMPLETE,
    CONFIRM,
    CONFIRM_TYPES,
    CREDIT_KINDS,
    CREDIT_TYPES,
    DISTIL_TYPES,
    END_TYPES,
    EXPIRE,
    HOP_ACK_TYPES,
    PAIR_TYPES,
    SETUP,
    SETUP_ACK,
    SETUP_REPLY,
)
from protocols.packets.scapy_layers.qncp_common import QncpLayer, header_fields
from protocols.packets.scapy_layers.qncp_distil import QncpDistil
from protocols.packets.scapy_layers.qncp_setup import QncpSetup, QncpSetupReply

# Scapy layers (reference dissectors)

class QncpHopAck(QncpLayer):
    name = "QNCP hop ACK"
    fields_desc = [*header_fields(SETUP_ACK), ByteField("hop_index", 0), ThreeBytesField("reserved", 0)]


class QncpPair(QncpLayer):
    name = "QNCP pair message"
    fields_desc = [
        *header_fields(EXPIRE),
        ShortField("link_label", 0), ShortField("pair_seq", 0), ShortField("link_id", 0), ByteField("window", 0),
        ConditionalField(ByteEnumField("credit", 0, CREDIT_KINDS), lambda pkt: pkt.msg_type in CREDIT_TYPES),
        ConditionalField(ByteField("reserved", 0), lambda pkt: pkt.msg_type not in CREDIT_TYPES),
    ]


class QncpConfirm(QncpLayer):
    name = "QNCP CONFIRM"
    fields_desc = [
        *header_fields(CONFIRM),
        ShortField("e2e_seq", 0), ShortField("head_pair_seq", 0), ShortField("tail_pair_seq", 0),
        ByteEnumField("bell_state", 0, BELL_STATES), ByteField("reserved", 0), ShortField("goodness", 0),
        ShortField("reserved2", 0),
    ]


class QncpEnd(QncpLayer):
    name = "QNCP circuit end"
    fields_desc = [*header_fields(COMPLETE), IntField("sender_node", 0)]


_LAYER_BY_TYPE: dict[int, type[Packet]] = {
    SETUP: QncpSetup, SETUP_REPLY: QncpSetupReply,
    **dict.fromkeys(HOP_ACK_TYPES, QncpHopAck), **dict.fromkeys(PAIR_TYPES, QncpPair),
    **dict.fromkeys(CONFIRM_TYPES, QncpConfirm), **dict.fromkeys(END_TYPES, QncpEnd),
    **dict.fromkeys(DISTIL_TYPES, QncpDistil),
}


class QNCP(QncpLayer):
    """Dispatcher: the QNCP layer for the Message Type in byte 1 (the common header alone if unknown)."""

    name = "QNCP"
    fields_desc = [*header_fields(0)]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: object, **kargs: object) -> type[Packet]:
        if _pkt and len(_pkt) > 1:
            return _LAYER_BY_TYPE.get(_pkt[1], cls)
        return cls


QNCP_LAYERS = (QNCP, QncpSetup, QncpSetupReply, QncpHopAck, QncpPair, QncpConfirm, QncpEnd, QncpDistil)

bind_layers(UDP, QNCP, dport=QNCP_PORT)
bind_layers(UDP, QNCP, sport=QNCP_PORT)
