"""The authentication trailer: the last 28 bytes of every classical datagram between the nodes.

Modelled on the IPsec Authentication Header (RFC 4302) but carried after the payload, so the
protocols' own bytes (draft-dahlberg, P4, IEEE 1588) stay where their dissectors expect them. The
Sender and Receiver IDs name the security association (AH's SPI: one per ordered node pair); the
Sequence Number is AH's extended (64-bit) sequence number sent in full; the ICV is HMAC-SHA256
truncated to 128 bits (RFC 4868's HMAC-SHA-256-128) over the pseudo-header
(:data:`PSEUDO_HEADER`: sender, receiver, source port, destination port, sequence number) and the
payload (docs/wire.md §10)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           Sender ID           |          Receiver ID          |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                  Sequence Number (64 bits)                    |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                                                               |
    +          Integrity Check Value (ICV, 128 bits)                +
    |                                                               |
    +                                                               +
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

>>> t = Trailer(sender=1, receiver=2, seq=5, icv=bytes(16))
>>> split(b"hello" + t.encode()) == (b"hello", t)
True
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError

_FORMAT = struct.Struct("!HHQ16s")
SIZE = _FORMAT.size
ICV_BYTES = 16
PSEUDO_HEADER = struct.Struct("!HHHHQ")
"""What the ICV covers before the payload: Sender ID, Receiver ID, source port, destination port, Sequence
Number (the ports are the protocols' logical UDP ports, the same in both run modes)."""
_U16 = (1 << 16) - 1
_U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Trailer:
    """The authentication trailer of one datagram."""

    sender: int
    receiver: int
    seq: int
    icv: bytes

    def encode(self) -> bytes:
        if not (0 <= self.sender <= _U16 and 0 <= self.receiver <= _U16 and 0 <= self.seq <= _U64):
            raise ValueError(f"trailer field out of range: {self}")
        if len(self.icv) != ICV_BYTES:
            raise ValueError(f"the ICV is {ICV_BYTES} bytes, not {len(self.icv)}")
        return _FORMAT.pack(self.sender, self.receiver, self.seq, self.icv)

    @classmethod
    def decode(cls, data: bytes) -> Trailer:
        if len(data) != SIZE:
            raise ParseError(f"an authentication trailer is {SIZE} bytes, not {len(data)}")
        return cls(*_FORMAT.unpack(data))


def split(datagram: bytes) -> tuple[bytes, Trailer]:
    """A datagram's payload and its trailer; ParseError if it is too short to carry one."""
    if len(datagram) < SIZE:
        raise ParseError(f"{len(datagram)} bytes cannot carry a {SIZE}-byte authentication trailer")
    return datagram[:-SIZE], Trailer(*_FORMAT.unpack_from(datagram, len(datagram) - SIZE))


def pseudo_header(sender: int, receiver: int, sport: int, dport: int, seq: int) -> bytes:
    """The bytes the ICV covers before the payload."""
    return PSEUDO_HEADER.pack(sender, receiver, sport, dport, seq)
