"""scapy layers of :mod:`protocols.packets.qncp_caps`, the reference dissector (the runtime uses the codecs)."""

from __future__ import annotations

from scapy.fields import ByteField, FieldLenField, IntField, LongField, PacketListField, ShortField, ThreeBytesField
from scapy.packet import Packet

# Scapy sub-packets (elements of the SETUP and SETUP_REPLY list fields)

class QncpLinkOption(Packet):
    name = "QNCP Link Option"
    fields_desc = [IntField("success_probability", 0), ShortField("fidelity", 0), ShortField("error_x", 0),
                   ShortField("error_z", 0), ShortField("error_y", 0)]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class QncpQCap(Packet):
    name = "QNCP QCap"
    fields_desc = [
        IntField("node_id", 0), ByteField("comm_qubits", 0), ByteField("storage_qubits", 0),
        ByteField("free_qubits", 0), ByteField("bsm_success", 0), LongField("t1_ns", 0), LongField("t2_ns", 0),
        ShortField("gate_fidelity", 0), ShortField("readout_fidelity", 0), IntField("gate_time_ns", 0),
        IntField("readout_time_ns", 0),
        ShortField("link_id", 0), ShortField("link_label", 0), IntField("peer_node", 0),
        IntField("attempt_cycle_ns", 0), IntField("one_way_delay_ns", 0),
        FieldLenField("option_count", None, count_of="options", fmt="B"), ThreeBytesField("link_reserved", 0),
        PacketListField("options", [], QncpLinkOption, count_from=lambda pkt: pkt.option_count),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class QncpHopRule(Packet):
    name = "QNCP Hop Rule"
    fields_desc = [ShortField("link_id", 0), ShortField("link_label", 0), IntField("origin_node", 0),
                   ShortField("link_min_fidelity", 0), ByteField("distil", 0), ByteField("rule_reserved", 0)]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s
