"""scapy layer of :mod:`protocols.packets.qncp_distil` (QNCP DISTIL and DISTIL_ACK), the reference dissector."""

from __future__ import annotations

from scapy.fields import BitEnumField, BitField, ByteEnumField, ByteField, ShortField

from protocols.packets.linkservice import BELL_STATES
from protocols.packets.qncp_common import DISTIL, DISTIL_PROTOCOLS, SCOPES
from protocols.packets.scapy_layers.qncp_common import QncpLayer, header_fields


class QncpDistil(QncpLayer):
    name = "QNCP DISTIL"
    fields_desc = [
        *header_fields(DISTIL),
        ShortField("link_label", 0), ShortField("kept_pair_seq", 0), ShortField("link_id", 0),
        ByteEnumField("scope", 0, SCOPES), ByteEnumField("protocol", 1, DISTIL_PROTOCOLS),
        ShortField("sacrificed_pair_seq", 0), ByteField("level", 0),
        # the Outcome byte: END_TO_END messages also carry the keep parity and the survivor's Bell state
        BitField("outcome_reserved", 0, 4), BitEnumField("survivor", 0, 2, BELL_STATES),
        BitField("keep_parity", 0, 1), BitField("outcome", 0, 1),
    ]
