"""The network-layer service on UDP port 7773: the link-service messages, end to end.

An application asks its node's network layer for pairs with any QPU exactly as it asks the
link layer for pairs with a neighbour: CREATE to port 7773, then ACK, OK-K, OK-M or ERR
from port 7773 (``docs/wire.md`` §9.4). The bytes are those of
:mod:`protocols.packets.linkservice`, and so are the struct codecs (:class:`Create`,
:func:`decode_upward`). This module only gives scapy (and, through the tests, the Wireshark
dissector) a view of its own, ``qns``, with the same field names as ``qll``.

A datagram between ports 7771 and 7773 (the network layer's own link requests) is link
service: the link-service layers were bound first, and scapy takes the first binding that
matches, as Wireshark tries the lower port first.

>>> from scapy.layers.inet import UDP
>>> reply = UDP(bytes(UDP(sport=NETWORK_SERVICE_PORT, dport=49152) / Ack(7).encode()))
>>> type(reply.payload).__name__, reply.payload.create_id
('NSAck', 7)
"""

from __future__ import annotations

from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_layers

from protocols.common import NETWORK_SERVICE_PORT
from protocols.packets.linkservice import TYPE_ACK, TYPE_ERR, TYPE_OK_K, TYPE_OK_M, Ack
from protocols.packets.scapy_layers.linkservice import (
    LLAck,
    LLCreate,
    LLErr,
    LLOkK,
    LLOkM,
    LLUpward,
)

__all__ = ["Ack", "NSAck", "NSCreate", "NSErr", "NSOkK", "NSOkM", "NSUpward"]


class NSCreate(LLCreate):
    """CREATE to the network service (fields of :class:`LLCreate`)."""

    name = "Network Service CREATE"


class NSUpward(LLUpward):
    """Dispatcher for network-service replies: picks the class by Type, as :class:`LLUpward`."""

    name = "Network Service Reply"

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: object, **kargs: object) -> type[Packet]:
        if _pkt:
            return _NS_CLASSES.get(_pkt[0] >> 4, cls)
        return cls


class NSAck(NSUpward):
    name = "Network Service ACK"
    fields_desc = list(LLAck.fields_desc)


class NSOkK(NSUpward):
    name = "Network Service OK (K)"
    fields_desc = list(LLOkK.fields_desc)


class NSOkM(NSUpward):
    name = "Network Service OK (M)"
    fields_desc = list(LLOkM.fields_desc)


class NSErr(NSUpward):
    name = "Network Service ERR"
    fields_desc = list(LLErr.fields_desc)


_NS_CLASSES: dict[int, type[Packet]] = {TYPE_ACK: NSAck, TYPE_OK_K: NSOkK, TYPE_OK_M: NSOkM, TYPE_ERR: NSErr}

bind_layers(UDP, NSCreate, dport=NETWORK_SERVICE_PORT)
bind_layers(UDP, NSUpward, sport=NETWORK_SERVICE_PORT)
