"""Application exchange messages (docs/wire.md §11.2): the header :mod:`stack.api.exchange` puts on the
application messages of its reliable symmetric exchanges (BBM92's sifting, CHSH's outcomes, remote gates' and
GHZ's bits).

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Magic = 0xE7 |  Magic = 0xC4 |        Tag (bits 31-16)       |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |        Tag (bits 15-0)        |   Reserved  |R|  Payload ...  |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Magic E7 C4 marks the message as an exchange's (``AppContext.recv`` never returns one); Tag names the exchange
(a counter both ends advance in step); Flags bit 0 (R) marks a reply to a second copy, which is never answered;
bits 1-7 are reserved (zero). The payload, the exchange's own bytes (at most 1,393, so that the message fits
one 1,400-byte application message), follows.

>>> ExchangeMessage(7, 0, b"hi").encode().hex()
'e7c400000007006869'
>>> ExchangeMessage.decode(bytes.fromhex("e7c40000000701ff"))
ExchangeMessage(tag=7, flags=1, payload=b'\\xff')
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError

MAGIC = b"\xe7\xc4"
FLAG_REPLY = 1
HEADER = struct.Struct("!2sIB")
MAX_MESSAGE = 1400
"""The largest application message (bytes): one datagram, no fragmentation on a 1,500-byte MTU."""


@dataclass(frozen=True, slots=True)
class ExchangeMessage:
    """One exchange message: ``tag`` (32 bits), ``flags`` (bit 0: a reply), the exchange's ``payload``."""

    tag: int
    flags: int
    payload: bytes

    def encode(self) -> bytes:
        if not 0 <= self.tag <= 0xFFFFFFFF:
            raise ValueError(f"exchange Tag {self.tag} does not fit 32 bits")
        if self.flags & ~FLAG_REPLY & 0xFF or not 0 <= self.flags <= 0xFF:
            raise ValueError(f"exchange Flags {self.flags:#x}: only bit 0 (reply) is defined")
        if HEADER.size + len(self.payload) > MAX_MESSAGE:
            raise ValueError(f"an exchange payload holds at most {MAX_MESSAGE - HEADER.size} bytes, "
                             f"got {len(self.payload)}")
        return HEADER.pack(MAGIC, self.tag, self.flags) + bytes(self.payload)

    @classmethod
    def decode(cls, data: bytes) -> ExchangeMessage:
        """ParseError if ``data`` is shorter than the header, lacks the magic, sets a reserved flag bit or is
        larger than one application message."""
        if len(data) < HEADER.size:
            raise ParseError(f"exchange message is at least {HEADER.size} bytes, got {len(data)}")
        if len(data) > MAX_MESSAGE:
            raise ParseError(f"exchange message is at most {MAX_MESSAGE} bytes, got {len(data)}")
        magic, tag, flags = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise ParseError(f"exchange magic is E7 C4, got {magic.hex(' ').upper()}")
        if flags & ~FLAG_REPLY:
            raise ParseError(f"exchange Flags {flags:#04x}: bits 1-7 are reserved (zero)")
        return cls(tag, flags, bytes(data[HEADER.size:]))


def is_exchange(data: bytes) -> bool:
    """Whether an application message belongs to an exchange (begins with the magic)."""
    return data[:2] == MAGIC
