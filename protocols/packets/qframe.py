"""QFRAME: a photon on a quantum channel, as a frame in the capture.

Quantum frames are not IP traffic: they travel on fibre, so they are captured as
Ethernet frames with the IEEE 802 Local Experimental EtherType 0x88B5, source MAC of
the emitting node, destination MAC of the receiving station. 32 bytes::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |    Version    |  Frame Type   |            Link ID            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                        Source Node ID                         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |              Attempt Sequence Number (64 bits)                |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                 Emission Time (64 bits, ns)                   |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                    Qubit ID (64 bits)                         |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Qubit ID names the memory qubit the photon is entangled with (the medium's ledger id).

>>> f = QuantumFrame(frame_type=1, link_id=1, source_node=2, attempt_seq=9,
...                  emission_time=5, qubit_id=11)
>>> QuantumFrame.decode(f.encode()) == f
True
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError
from protocols.fastinit import fast_init

VERSION = 1
FRAME_PHOTON = 1
FRAME_TYPES = {FRAME_PHOTON: "PHOTON"}

_FORMAT = struct.Struct("!BBHIQQQ")
SIZE = _FORMAT.size


@fast_init
@dataclass(frozen=True, slots=True)
class QuantumFrame:
    """One photon leaving a node towards a station (fast codec)."""

    frame_type: int
    link_id: int
    source_node: int
    attempt_seq: int
    emission_time: int
    qubit_id: int

    def encode(self) -> bytes:
        return _FORMAT.pack(VERSION, self.frame_type, self.link_id, self.source_node,
                            self.attempt_seq, self.emission_time, self.qubit_id)

    @classmethod
    def decode(cls, data: bytes) -> QuantumFrame:
        if len(data) != SIZE:
            raise ParseError(f"QFRAME is {SIZE} bytes, got {len(data)}")
        version, ftype, link, node, seq, t, qubit = _FORMAT.unpack(data)
        if version != VERSION or ftype not in FRAME_TYPES:
            raise ParseError(f"not a QFRAME v{VERSION}: version {version}, type {ftype}")
        return cls(ftype, link, node, seq, t, qubit)


def frame_bytes(frame_type: int, link_id: int, source_node: int, attempt_seq: int, emission_time: int,
                qubit_id: int) -> bytes:
    """The bytes of ``QuantumFrame(...).encode()`` with these fields, without the object (the capture writes one
    a photon: two a pair).

    >>> frame_bytes(FRAME_PHOTON, 1, 2, 9, 5, 11) == QuantumFrame(FRAME_PHOTON, 1, 2, 9, 5, 11).encode()
    True
    """
    return _FORMAT.pack(VERSION, frame_type, link_id, source_node, attempt_seq, emission_time, qubit_id)
