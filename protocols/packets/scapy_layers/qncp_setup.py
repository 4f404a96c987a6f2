"""scapy layers of :mod:`protocols.packets.qncp_setup`, the reference dissector (the runtime uses the codecs)."""

from __future__ import annotations

from scapy.fields import (
    ByteField,
    FieldLenField,
    FieldListField,
    IntField,
    LongField,
    PacketLenField,
    PacketListField,
    ShortField,
    ThreeBytesField,
)

from protocols.packets.linkservice import CREATE_SIZE
from protocols.packets.qncp_common import SETUP, SETUP_REPLY
from protocols.packets.scapy_layers.linkservice import LLCreate
from protocols.packets.scapy_layers.qncp_caps import QncpHopRule, QncpQCap
from protocols.packets.scapy_layers.qncp_common import QncpLayer, header_fields

# Scapy layers (reference dissectors). The route is the list field ``route_node`` (``Packet.route`` is a
# scapy method).

class QncpSetup(QncpLayer):
    name = "QNCP SETUP"
    fields_desc = [
        *header_fields(SETUP),
        IntField("tail_node", 0), ShortField("create_id", 0),
        FieldLenField("hop_count", None, count_of="route_node", fmt="B", adjust=lambda pkt, n: n - 1),
        FieldLenField("hop_index", None, count_of="qcaps", fmt="B"),
        ByteField("window", 1), ThreeBytesField("reserved", 0),
        PacketLenField("create", LLCreate(), LLCreate, length_from=lambda pkt: CREATE_SIZE),
        FieldListField("route_node", [], IntField("", 0), count_from=lambda pkt: pkt.hop_count + 1),
        PacketListField("qcaps", [], QncpQCap, count_from=lambda pkt: pkt.hop_index),
    ]


class QncpSetupReply(QncpLayer):
    name = "QNCP SETUP_REPLY"
    fields_desc = [
        *header_fields(SETUP_REPLY),
        IntField("tail_node", 0), IntField("reporting_node", 0),
        FieldLenField("hop_count", None, count_of="rules", fmt="B"), ByteField("window", 0),
        ByteField("end_distil", 0), ByteField("reserved", 0),
        LongField("cutoff_ns", 0), LongField("end_cutoff_ns", 0), LongField("expected_pair_time_ns", 0),
        ShortField("model_fidelity", 0), ShortField("model_error_x", 0), ShortField("model_error_z", 0),
        ShortField("model_error_y", 0),
        FieldListField("route_node", [], IntField("", 0),
                       count_from=lambda pkt: pkt.hop_count + 1 if pkt.hop_count else 0),
        PacketListField("rules", [], QncpHopRule, count_from=lambda pkt: pkt.hop_count),
    ]
