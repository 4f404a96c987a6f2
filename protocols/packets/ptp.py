"""PTPv2 (IEEE 1588-2008/2019) messages: Sync, Delay_Req, Follow_Up, Delay_Resp, Announce.

scapy's own ``scapy.contrib.ptp_v2.PTP`` layer is the reference; :class:`PtpMessage` is the
fast struct codec producing the same bytes (tests prove it both ways). Event messages
(Sync, Delay_Req) use UDP port 319, general ones port 320, as source and destination
(scapy binds its layer only then). Common header, 34 bytes (1588 clause 13.3)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | transp| msgTyp| minor | ver 2 |         messageLength         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | domainNumber  |  minorSdoId   |           flagField           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          correctionField (Integer64, ns × 2^16)               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                     messageTypeSpecific                       |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |            sourcePortIdentity: clockIdentity (8 octets)       |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          portNumber           |          sequenceId           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | controlField  | logMsgInterval|
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

then a Timestamp (seconds UInteger48, nanoseconds UInteger32): originTimestamp (Sync,
Delay_Req, Announce), preciseOriginTimestamp (Follow_Up) or receiveTimestamp (Delay_Resp,
followed by requestingPortIdentity, 10 octets). Announce adds currentUtcOffset,
reserved, grandmasterPriority1, grandmasterClockQuality (class, accuracy,
offsetScaledLogVariance), grandmasterPriority2, grandmasterIdentity, stepsRemoved,
timeSource. Lengths: 44 (Sync, Delay_Req, Follow_Up), 54 (Delay_Resp), 64 (Announce).

Flags are set by value as 1588 table 37 numbers them (bit 1 of the first octet is
twoStepFlag, so 0x0200 as a big-endian 16-bit field), not by scapy's byte-swapped names.

Timestamps (our convention): a wire timestamp is the sender's local clock reading plus
``PTP_EPOCH_NS`` (run start = 2026-01-01, the capture epoch), an ARB timescale
(ptpTimescale 0). Sub-nanosecond parts ride in correctionField, as White Rabbit does: a
Follow_Up carries t1 rounded down and ``+(t1 − ⌊t1⌋)``, a Delay_Resp t4 rounded up and
``Delay_Req.correction + (⌈t4⌉ − t4)`` (units 2^-16 ns; never negative), so that, as 1588
prescribes, t1 = preciseOriginTimestamp + correction(Sync) + correction(Follow_Up) and
t4 = receiveTimestamp − correction(Delay_Resp).

>>> m = PtpMessage(SYNC, sequence_id=7, clock_identity=0x020000FFFE000001, flags=FLAG_TWO_STEP)
>>> data = m.encode()
>>> len(data), data[6:8].hex()
(44, '0200')
>>> PtpMessage.decode(data) == m
True
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from protocols.common import ParseError

if TYPE_CHECKING:
    from scapy.contrib.ptp_v2 import PTP

EVENT_PORT = 319
GENERAL_PORT = 320

SYNC = 0x0
DELAY_REQ = 0x1
FOLLOW_UP = 0x8
DELAY_RESP = 0x9
ANNOUNCE = 0xB
MESSAGE_NAMES = {SYNC: "Sync", DELAY_REQ: "Delay_Req", FOLLOW_UP: "Follow_Up", DELAY_RESP: "Delay_Resp",
                 ANNOUNCE: "Announce"}
CONTROL = {SYNC: 0, DELAY_REQ: 1, FOLLOW_UP: 2, DELAY_RESP: 3, ANNOUNCE: 5}
LENGTH = {SYNC: 44, DELAY_REQ: 44, FOLLOW_UP: 44, DELAY_RESP: 54, ANNOUNCE: 64}
EVENT_MESSAGES = frozenset({SYNC, DELAY_REQ})

FLAG_ALTERNATE_MASTER = 0x0100
FLAG_TWO_STEP = 0x0200
FLAG_UNICAST = 0x0400
FLAG_LEAP61 = 0x0001
FLAG_LEAP59 = 0x0002
FLAG_UTC_OFFSET_VALID = 0x0004
FLAG_PTP_TIMESCALE = 0x0008
FLAG_TIME_TRACEABLE = 0x0010
FLAG_FREQUENCY_TRACEABLE = 0x0020

LOG_INTERVAL_UNUSED = 0x7F
"""logMessageInterval of a Delay_Req (1588-2008 table 24)."""
PTP_EPOCH_NS = 1_767_225_600 * 1_000_000_000
"""Wire timestamp of local time 0 (equals ``stack.core.capture.EPOCH_NS``)."""
SCALED_NS = 1 << 16
"""correctionField units per nanosecond."""

_HEADER = struct.Struct("!BBHBBHqIQHHBb")
_TIMESTAMP = struct.Struct("!HII")
_PORT_ID = struct.Struct("!QH")
_ANNOUNCE = struct.Struct("!hBBBBHBQHB")


@dataclass(frozen=True, slots=True)
class Announce:
    """The Announce body after originTimestamp (grandmaster dataset as 1588 names it)."""

    priority1: int = 128
    clock_class: int = 248
    clock_accuracy: int = 0xFE
    variance: int = 0xFFFF
    priority2: int = 128
    grandmaster_identity: int = 0
    steps_removed: int = 0
    time_source: int = 0xA0
    current_utc_offset: int = 37


@dataclass(frozen=True, slots=True)
class PtpMessage:
    """One PTPv2 message (fast codec). ``correction`` is signed, in 2^-16 ns;
    ``log_interval`` signed; ``requesting_*`` only for Delay_Resp, ``announce`` only (and
    always) for Announce."""

    message_type: int
    sequence_id: int
    clock_identity: int
    port_number: int = 1
    seconds: int = 0
    nanoseconds: int = 0
    flags: int = 0
    correction: int = 0
    domain: int = 0
    log_interval: int = 0
    requesting_identity: int = 0
    requesting_port: int = 0
    announce: Announce | None = None

    def encode(self) -> bytes:
        mtype = self.message_type
        out = [_HEADER.pack(mtype, 2, LENGTH[mtype], self.domain, 0, self.flags, self.correction, 0,
                            self.clock_identity, self.port_number, self.sequence_id, CONTROL[mtype],
                            self.log_interval),
               _TIMESTAMP.pack(self.seconds >> 32, self.seconds & 0xFFFFFFFF, self.nanoseconds)]
        if mtype == DELAY_RESP:
            out.append(_PORT_ID.pack(self.requesting_identity, self.requesting_port))
        elif mtype == ANNOUNCE:
            a = self.announce if self.announce is not None else Announce()
            out.append(_ANNOUNCE.pack(a.current_utc_offset, 0, a.priority1, a.clock_class, a.clock_accuracy,
                                      a.variance, a.priority2, a.grandmaster_identity, a.steps_removed,
                                      a.time_source))
        return b"".join(out)

    @classmethod
    def decode(cls, data: bytes) -> PtpMessage:
        """Parse one message; TLVs and padding after the fixed part are ignored."""
        if len(data) < 44:
            raise ParseError(f"PTP message too short: {len(data)} bytes")
        (b0, b1, length, domain, _, flags, correction, _, ident, port, seq, _, log_interval) = \
            _HEADER.unpack_from(data)
        mtype = b0 & 0x0F
        if b1 & 0x0F != 2:
            raise ParseError(f"PTP version {b1 & 0x0F}, not 2")
        if mtype not in LENGTH:
            raise ParseError(f"unsupported PTP messageType {mtype:#x}")
        if not LENGTH[mtype] <= length <= len(data):
            raise ParseError(f"{MESSAGE_NAMES[mtype]} messageLength {length}, {len(data)} bytes received")
        hi, lo, ns = _TIMESTAMP.unpack_from(data, 34)
        if ns >= 1_000_000_000:
            raise ParseError(f"timestamp nanoseconds {ns} out of range")
        req_ident, req_port, announce = 0, 0, None
        if mtype == DELAY_RESP:
            req_ident, req_port = _PORT_ID.unpack_from(data, 44)
        elif mtype == ANNOUNCE:
            utc, _, p1, cls_, acc, var, p2, gm, steps, src = _ANNOUNCE.unpack_from(data, 44)
            announce = Announce(p1, cls_, acc, var, p2, gm, steps, src, utc)
        return cls(mtype, seq, ident, port, hi << 32 | lo, ns, flags, correction, domain, log_interval,
                   req_ident, req_port, announce)

    def to_scapy(self) -> PTP:
        """The same message as scapy's PTP layer (bytes(result) == self.encode()); imports scapy."""
        from scapy.contrib.ptp_v2 import PTP
        fields: dict[str, Any] = {
            "messageType": self.message_type, "version": 2, "messageLength": LENGTH[self.message_type],
            "domainNumber": self.domain, "flags": self.flags, "correctionField": self.correction % (1 << 64),
            "clockIdentity": self.clock_identity, "portNumber": self.port_number,
            "sequenceId": self.sequence_id, "controlField": CONTROL[self.message_type],
            "logMessageInterval": self.log_interval % 256,
        }
        prefix = {FOLLOW_UP: "preciseOriginTimestamp", DELAY_RESP: "receiveTimestamp"}.get(
            self.message_type, "originTimestamp")
        fields[prefix + "_seconds"] = self.seconds
        fields[prefix + "_nanoseconds"] = self.nanoseconds
        if self.message_type == ANNOUNCE:
            a = self.announce if self.announce is not None else Announce()
            fields.update(currentUtcOffset=a.current_utc_offset % (1 << 16), grandmasterPriority1=a.priority1,
                          grandmasterClockClass=a.clock_class, grandmasterClockAccuracy=a.clock_accuracy,
                          grandmasterClockVariance=a.variance, grandmasterPriority2=a.priority2,
                          grandmasterIdentity=a.grandmaster_identity, stepsRemoved=a.steps_removed,
                          timeSource=a.time_source)
        layer = PTP(**fields)
        if self.message_type == DELAY_RESP:
            # scapy's layer stops at receiveTimestamp: requestingPortIdentity follows as raw bytes.
            return layer / _PORT_ID.pack(self.requesting_identity, self.requesting_port)
        return layer

    @classmethod
    def from_scapy(cls, layer: PTP) -> PtpMessage:
        """Read a dissected scapy PTP layer back (the inverse of :meth:`to_scapy`)."""
        return cls.decode(bytes(layer))


def event_key(payload: bytes) -> tuple[int, int] | None:
    """(messageType, sequenceId) of an event message (Sync, Delay_Req), else None: what a
    runtime needs to hand a transmit timestamp back to the engine."""
    if len(payload) < 34 or payload[0] & 0x0F not in EVENT_MESSAGES:
        return None
    return payload[0] & 0x0F, int.from_bytes(payload[30:32], "big")


CORRECTION_MAX = (1 << 63) - 1
CORRECTION_MIN = -(1 << 63)


def add_correction(payload: bytes, scaled_ns: int) -> bytes:
    """The message with ``scaled_ns`` (2^-16 ns) added to its correctionField (a
    transparent clock's residence time). A sum beyond the field's range saturates at its largest
    positive or negative value, as IEEE 1588-2008 §5.3.2 prescribes for a TimeInterval out of range.

    >>> header = bytes(8) + (CORRECTION_MAX - 1).to_bytes(8, "big") + bytes(26)
    >>> int.from_bytes(add_correction(header, 5)[8:16], "big") == CORRECTION_MAX
    True
    """
    if len(payload) < 34:
        raise ParseError(f"PTP message too short: {len(payload)} bytes")
    (value,) = struct.unpack_from("!q", payload, 8)
    corrected = min(CORRECTION_MAX, max(CORRECTION_MIN, value + scaled_ns))
    return payload[:8] + struct.pack("!q", corrected) + payload[16:]


def to_wire(local_ns: float, epoch_ns: int = PTP_EPOCH_NS, up: bool = False) -> tuple[int, int, int]:
    """A local reading as (seconds, nanoseconds, sub-ns in 2^-16 ns, 0..65535): the
    timestamp rounded down, ``local = timestamp + sub``; with ``up``, rounded up and
    ``local = timestamp − sub`` (so a Delay_Resp's correctionField stays non-negative).

    >>> to_wire(1.25) == (1_767_225_600, 1, 16384)
    True
    >>> to_wire(1.25, up=True) == (1_767_225_600, 2, 49152)
    True
    """
    whole = math.ceil(local_ns) if up else math.floor(local_ns)
    sub = round(abs(local_ns - whole) * SCALED_NS)
    if sub == SCALED_NS:
        whole, sub = whole + (-1 if up else 1), 0
    seconds, nanoseconds = divmod(int(whole) + epoch_ns, 1_000_000_000)
    return seconds, nanoseconds, sub


def from_wire(seconds: int, nanoseconds: int, correction: int = 0, epoch_ns: int = PTP_EPOCH_NS) -> float:
    """Local ns from a wire timestamp plus a correction (2^-16 ns): the inverse of to_wire."""
    return float(seconds * 1_000_000_000 + nanoseconds - epoch_ns) + correction / SCALED_NS


def eui64(mac: str) -> int:
    """clockIdentity from a MAC address (EUI-48 → EUI-64 with FF:FE in the middle).

    >>> hex(eui64("02:00:00:00:00:01"))
    '0x20000fffe000001'
    """
    octets = bytes.fromhex(mac.replace(":", ""))
    return int.from_bytes(octets[:3] + b"\xff\xfe" + octets[3:], "big")
