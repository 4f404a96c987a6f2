"""scapy layer of :mod:`protocols.packets.auth`, the authentication trailer (reference dissector).

A trailer follows the payload, so no ``bind_layers`` can find it: :func:`split_frame` cuts it off an
Ethernet/IPv4/UDP frame and dissects both parts.
"""

from __future__ import annotations

from scapy.fields import LongField, ShortField, XStrFixedLenField
from scapy.layers.inet import UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from protocols.packets.auth import ICV_BYTES, SIZE


class AuthTrailer(Packet):
    """Scapy layer of the authentication trailer (docs/wire.md §10)."""

    name = "QNet Authentication Trailer"
    fields_desc = [
        ShortField("sender_id", 0),
        ShortField("receiver_id", 0),
        LongField("seq", 0),
        XStrFixedLenField("icv", bytes(ICV_BYTES), ICV_BYTES),
    ]


def split_frame(frame: bytes) -> tuple[Packet, AuthTrailer | None]:
    """An Ethernet frame dissected without its trailer, and the trailer (None: not a UDP datagram that can
    carry one)."""
    packet = Ether(frame)
    udp = packet.getlayer(UDP)
    if udp is None or len(bytes(udp.payload)) < SIZE:
        return packet, None
    return Ether(frame[:-SIZE]), AuthTrailer(frame[-SIZE:])
