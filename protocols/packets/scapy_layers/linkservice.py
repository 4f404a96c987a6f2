"""scapy layers of :mod:`protocols.packets.linkservice`, the reference dissector (the runtime uses the codecs)."""

from __future__ import annotations

from scapy.fields import BitEnumField, BitField, ByteField, FieldLenField, IntField, ShortField
from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_layers

from protocols.common import LINK_SERVICE_PORT
from protocols.packets.linkservice import (
    BASES,
    BELL_STATES,
    DISTIL_MODES,
    ERROR_CODES,
    RANDOM_BASIS,
    TIME_UNITS,
    TPE_KEEP,
    TPE_MEASURE,
    TYPE_ACK,
    TYPE_ERR,
    TYPE_OK_K,
    TYPE_OK_M,
    TYPE_OK_MB,
    TYPES,
    WINDOW_OPS,
)
from protocols.packets.scapy_layers.heralding import PackedUIntsField


class LLCreate(Packet):
    """Scapy layer of CREATE."""

    name = "Link Layer CREATE"
    fields_desc = [
        IntField("remote_node_id", 0),
        ShortField("minimum_fidelity", 0),
        BitEnumField("tu", 0, 2, TIME_UNITS),
        BitField("max_time", 0, 14),
        ShortField("purpose_id", 0),
        ShortField("number", 1),
        BitField("priority", 0, 3),
        BitEnumField("tpe", TPE_KEEP, 1, {TPE_KEEP: "K", TPE_MEASURE: "M"}),
        BitField("ato", 0, 1),
        BitField("con", 1, 1),
        BitEnumField("rl", 0, 2, RANDOM_BASIS),
        BitEnumField("rr", 0, 2, RANDOM_BASIS),
        BitEnumField("distil", 0, 2, DISTIL_MODES),
        BitEnumField("window", 0, 2, WINDOW_OPS),
        BitField("reserved", 0, 2),
        ByteField("pl1", 0), ByteField("pl2", 0), ByteField("pr1", 0), ByteField("pr2", 0),
        ByteField("rotx1l", 0), ByteField("rotyl", 0), ByteField("rotx2l", 0),
        ByteField("rotx1r", 0), ByteField("rotyr", 0), ByteField("rotx2r", 0),
    ]


class LLUpward(Packet):
    """Dispatcher for link-layer → higher-layer messages: picks the class by Type."""

    name = "Link Layer Reply"
    fields_desc = [BitEnumField("type", 0, 4, TYPES), BitField("create_id", 0, 16),
                   BitField("unused", 0, 12)]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: object, **kargs: object) -> type[Packet]:
        if _pkt:
            return _UPWARD_CLASSES.get(_pkt[0] >> 4, cls)
        return cls


class LLAck(LLUpward):
    name = "Link Layer ACK"
    fields_desc = [BitEnumField("type", TYPE_ACK, 4, TYPES), BitField("create_id", 0, 16),
                   BitField("unused", 0, 12)]


class LLOkK(LLUpward):
    name = "Link Layer OK (K)"
    fields_desc = [
        BitEnumField("type", TYPE_OK_K, 4, TYPES), BitField("create_id", 0, 16),
        BitField("lqid", 0, 4), BitField("d", 0, 1),
        BitEnumField("bell_state", 0, 2, BELL_STATES), BitField("unused", 0, 5),
        ShortField("sequence_number", 0), ShortField("purpose_id", 0),
        IntField("remote_node_id", 0),
        ShortField("goodness", 0), ShortField("time_of_goodness", 0),
    ]


class LLOkM(LLUpward):
    name = "Link Layer OK (M)"
    fields_desc = [
        BitEnumField("type", TYPE_OK_M, 4, TYPES), BitField("create_id", 0, 16),
        BitField("m", 0, 1), BitField("d", 0, 1), BitEnumField("basis", 0, 3, BASES),
        BitEnumField("bell_state", 0, 2, BELL_STATES), BitField("unused", 0, 5),
        ShortField("sequence_number", 0), ShortField("purpose_id", 0),
        IntField("remote_node_id", 0),
        ShortField("goodness", 0), ShortField("unused2", 0),
    ]


class LLErr(LLUpward):
    name = "Link Layer ERR"
    fields_desc = [
        BitEnumField("type", TYPE_ERR, 4, TYPES), BitField("create_id", 0, 16),
        BitEnumField("err", 0, 4, ERROR_CODES), BitField("s", 0, 1), BitField("unused", 0, 7),
        ShortField("sequence_number_low", 0), ShortField("sequence_number_high", 0),
        IntField("origin_node", 0),
    ]


class LLOkMB(LLUpward):
    """OK type MB: a block of measure-directly pairs (qnetstack's extension; docs/wire.md §4.6)."""

    name = "Link Layer OK (MB)"
    fields_desc = [
        BitEnumField("type", TYPE_OK_MB, 4, TYPES), BitField("create_id", 0, 16),
        BitField("d", 0, 1), BitField("unused", 0, 11),
        ShortField("sequence_number", 0), ShortField("purpose_id", 0),
        IntField("remote_node_id", 0),
        ShortField("goodness", 0), ShortField("unused2", 0),
        FieldLenField("count", None, count_of="outcomes", fmt="!I"),
        PackedUIntsField("outcomes", lambda pkt: 1, lambda pkt: pkt.count),
        PackedUIntsField("bases", lambda pkt: 2, lambda pkt: pkt.count),
        PackedUIntsField("bell_states", lambda pkt: 2, lambda pkt: pkt.count),
    ]


_UPWARD_CLASSES: dict[int, type[Packet]] = {TYPE_ACK: LLAck, TYPE_OK_K: LLOkK, TYPE_OK_M: LLOkM,
                                            TYPE_ERR: LLErr, TYPE_OK_MB: LLOkMB}

bind_layers(UDP, LLCreate, dport=LINK_SERVICE_PORT)
bind_layers(UDP, LLUpward, sport=LINK_SERVICE_PORT)
