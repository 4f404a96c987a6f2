"""scapy layers of :mod:`protocols.packets.heralding`, the reference dissector (the runtime uses the codecs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scapy.fields import (
    ByteEnumField,
    ByteField,
    Field,
    FieldLenField,
    IntField,
    LongField,
    ShortField,
)
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
from protocols.packets.heralding_batch import FIXED, MSG_BATCH, RICE


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

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kwargs: Any) -> type[Packet]:
        """A QHP datagram of type 3 is a BATCH; every other is a HERALD or REPORT."""
        if _pkt is not None and len(_pkt) >= 2 and _pkt[1] == MSG_BATCH:
            return QHPBatch
        return cls


class PackedUIntsField(Field[list[int], bytes]):
    """A list of ``width``-bit unsigned integers, most significant bit first, zero-padded to a byte.

    The width and the count come from other fields of the packet; written with plain Python integers,
    independently of the codec's numpy packing, so the two check each other."""

    __slots__ = ["count_from", "width_from"]
    islist = 1

    def __init__(self, name: str, width_from: Callable[[Packet], int], count_from: Callable[[Packet], int]) -> None:
        super().__init__(name, [])
        self.width_from = width_from
        self.count_from = count_from

    def _size(self, pkt: Packet) -> int:
        return -(-self.count_from(pkt) * self.width_from(pkt) // 8)

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, list[int]]:
        width, count, size = self.width_from(pkt), self.count_from(pkt), self._size(pkt)
        number = int.from_bytes(s[:size], "big")
        spare = size * 8 - count * width
        number >>= spare
        values = [(number >> (width * (count - 1 - i))) & ((1 << width) - 1) for i in range(count)] if width else \
            [0] * count
        return s[size:], values

    def addfield(self, pkt: Packet, s: bytes, val: list[int] | None) -> bytes:
        width = self.width_from(pkt)
        values = list(val or [])
        number = 0
        for value in values:
            number = (number << width) | value
        size = -(-len(values) * width // 8)
        number <<= size * 8 - len(values) * width
        return s + number.to_bytes(size, "big")

    def i2len(self, pkt: Packet, x: Any) -> int:
        return self._size(pkt)

    def i2count(self, pkt: Packet | None, x: Any) -> int:
        return len(x) if isinstance(x, list) else 0


class FailuresField(PackedUIntsField):
    """A BATCH's failure counts: at coding 0 fixed-width fields (:class:`PackedUIntsField`); at coding 1, after
    the Bell states, their low ``width`` bits packed so, then their quotients in unary (``q`` zero bits, a one
    bit), zero-padded to a byte, to the end of the message. Read here, before the Bell states, it hands the Bell
    states' bytes back; :meth:`QHPBatch.post_build` puts them first. Plain Python integers, independently of
    :mod:`protocols.packets.rice`."""

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, list[int]]:
        if pkt.coding != RICE:
            return super().getfield(pkt, s)
        count, width = self.count_from(pkt), self.width_from(pkt)
        bells = -(-count * 2 // 8)
        rest, lows = super().getfield(pkt, s[bells:])
        bits = "".join(f"{byte:08b}" for byte in rest)
        quotients: list[int] = []
        q = 0
        for bit in bits:
            if len(quotients) == count:
                break
            if bit == "1":
                quotients.append(q)
                q = 0
            else:
                q += 1
        quotients += [0] * (count - len(quotients))
        return s[:bells], [q << width | low for q, low in zip(quotients, lows, strict=True)]

    def addfield(self, pkt: Packet, s: bytes, val: list[int] | None) -> bytes:
        if pkt.coding != RICE:
            return super().addfield(pkt, s, val)
        width = self.width_from(pkt)
        values = list(val or [])
        s = super().addfield(pkt, s, [value & ((1 << width) - 1) for value in values])
        bits = "".join("0" * (value >> width) + "1" for value in values)
        bits += "0" * (-len(bits) % 8)
        return s + int(bits or "0", 2).to_bytes(len(bits) // 8, "big")

    def i2len(self, pkt: Packet, x: Any) -> int:
        return len(self.addfield(pkt, b"", x))


class QHPBatch(Packet):
    """Scapy layer of the BATCH message (a block of heralded attempts; reference dissector)."""

    name = "QHP Batch"
    fields_desc = [
        ByteField("version", VERSION),
        ByteEnumField("msg_type", MSG_BATCH, MESSAGE_TYPES | {MSG_BATCH: "BATCH"}),
        ByteField("delta_bits", 0),
        ByteEnumField("coding", FIXED, {FIXED: "fixed width", RICE: "Rice"}),
        ShortField("link_id", 0),
        ByteEnumField("scheme", SCHEME_DOUBLE_CLICK, SCHEMES),
        ByteField("reserved2", 0),
        LongField("attempt_seq", 0),
        IntField("attempts", 0),
        FieldLenField("count", None, count_of="bells", fmt="!I"),
        LongField("detection_time", 0),
        FailuresField("failures", lambda pkt: pkt.delta_bits, lambda pkt: pkt.count),
        PackedUIntsField("bells", lambda pkt: 2, lambda pkt: pkt.count),
    ]

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        """At coding 1 the Bell states come before the failure counts (built after them here)."""
        if self.coding != RICE:
            return pkt + pay
        bells = -(-len(self.bells or []) * 2 // 8)
        body = pkt[32:]
        return pkt[:32] + body[len(body) - bells:] + body[:len(body) - bells] + pay


bind_layers(UDP, QHPHerald, dport=HERALD_PORT)
bind_layers(UDP, QHPHerald, sport=HERALD_PORT)
