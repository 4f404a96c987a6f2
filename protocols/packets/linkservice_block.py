"""OK type MB of the link-layer service: a block of measure-directly pairs in one message (docs/wire.md §4.6),
re-exported by :mod:`protocols.packets.linkservice`.

>>> import numpy as np
>>> block = OkMeasureBlock(3, 0, 7, 1, 2, 65535, np.array([1, 0, 1], np.uint8), np.array([0, 1, 2], np.uint8),
...                        np.zeros(3, np.uint8))
>>> OkMeasureBlock.decode(block.encode()) == block, block_size(3) == len(block.encode())
(True, True)
"""

from __future__ import annotations

import struct

import numpy as np

from protocols.common import ParseError
from protocols.packets.bitpack import pack_bits, unpack_bits
from protocols.packets.heralding_batch import MAX_PAYLOAD
from protocols.packets.linkservice_codes import TYPE_OK_MB

_OK_MB = struct.Struct("!IHHIHHI")


class OkMeasureBlock:
    """OK type MB: a block of measure-directly pairs in one message (qnetstack's extension, docs/wire.md §4.6).

    Pairs ``sequence_number`` to ``sequence_number + count - 1`` (modulo 2^16); for each, this end's outcome
    (1 bit), its basis (2 bits: 0 Z, 1 X, 2 Y) and the Bell state delivered (2 bits), each array packed most
    significant bit first and padded with zero bits to a byte, after a 20-byte header.

    Made from one array per field (one entry a pair), or from the packed arrays (:meth:`from_planes`, what the
    link layer sends and :meth:`decode` returns): each form is computed from the other only when asked for, so
    a block passes through the runtime packed, ~5 bits a pair.
    """

    __slots__ = (
        "_arrays",
        "_planes",
        "count",
        "create_id",
        "d",
        "goodness",
        "purpose_id",
        "remote_node_id",
        "sequence_number",
    )

    def __init__(self, create_id: int, d: int, sequence_number: int, purpose_id: int, remote_node_id: int,
                 goodness: int, outcomes: np.ndarray, bases: np.ndarray, bell_states: np.ndarray) -> None:
        self.create_id, self.d, self.sequence_number = create_id, d, sequence_number
        self.purpose_id, self.remote_node_id, self.goodness = purpose_id, remote_node_id, goodness
        self.count = len(outcomes)
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = (outcomes, bases, bell_states)
        self._planes: tuple[bytes, bytes, bytes] | None = None

    @classmethod
    def from_planes(cls, create_id: int, d: int, sequence_number: int, purpose_id: int, remote_node_id: int,
                    goodness: int, count: int, outcomes: bytes | memoryview, bases: bytes | memoryview,
                    bell_states: bytes | memoryview) -> OkMeasureBlock:
        """The block of ``count`` pairs whose arrays are already packed (checked as :meth:`decode` checks them;
        ParseError when they break the rules)."""
        planes = (bytes(outcomes), bytes(bases), bytes(bell_states))
        for plane, width in zip(planes, _OK_MB_WIDTHS, strict=True):
            if len(plane) != -(-count * width // 8):
                raise ParseError(f"OK-MB of {count} pairs has a {width}-bit array of {len(plane)} bytes")
            spare = len(plane) * 8 - count * width
            if spare and plane[-1] & ((1 << spare) - 1):
                raise ParseError("OK-MB padding bits are not zero")
        if has_three(planes[1]):
            raise ParseError("OK-MB basis 3 is unused")
        block = cls.__new__(cls)
        block.create_id, block.d, block.sequence_number = create_id, d, sequence_number
        block.purpose_id, block.remote_node_id, block.goodness = purpose_id, remote_node_id, goodness
        block.count = count
        block._arrays, block._planes = None, planes
        return block

    def _unpacked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            assert self._planes is not None
            outcomes, bases, bells = (unpack_bits(plane, self.count, width).astype(np.uint8, copy=False)
                                      for plane, width in zip(self._planes, _OK_MB_WIDTHS, strict=True))
            self._arrays = (outcomes, bases, bells)
        return self._arrays

    @property
    def outcomes(self) -> np.ndarray:
        """This end's outcome of each pair (uint8, 0 or 1)."""
        return self._unpacked()[0]

    @property
    def bases(self) -> np.ndarray:
        """This end's basis of each pair (uint8: 0 Z, 1 X, 2 Y)."""
        return self._unpacked()[1]

    @property
    def bell_states(self) -> np.ndarray:
        """The Bell state each outcome refers to (uint8)."""
        return self._unpacked()[2]

    def planes(self) -> tuple[bytes, bytes, bytes]:
        """The three arrays as they are on the wire: outcomes, bases, Bell states, each zero-padded to a byte."""
        if self._planes is None:
            outcomes, bases, bells = self._unpacked()
            count = self.count
            if not len(bases) == len(bells) == count:
                raise ValueError(f"OK-MB arrays differ in length: {count}, {len(bases)}, {len(bells)}")
            if count and (int(bases.max()) > 2 or int(bells.max()) > 3 or int(outcomes.max()) > 1):
                raise ValueError("OK-MB value out of range")
            self._planes = (pack_bits(outcomes, 1), pack_bits(bases, 2), pack_bits(bells, 2))
        return self._planes

    def encode(self) -> bytes:
        planes = self.planes()
        if block_size(self.count) > MAX_PAYLOAD:
            raise ValueError(f"OK-MB of {self.count} pairs is larger than one datagram")
        w0 = TYPE_OK_MB << 28 | self.create_id << 12 | self.d << 11
        return b"".join((_OK_MB.pack(w0, self.sequence_number, self.purpose_id, self.remote_node_id, self.goodness, 0,
                                     self.count), *planes))

    @classmethod
    def decode(cls, data: bytes) -> OkMeasureBlock:
        if len(data) < _OK_MB.size:
            raise ParseError(f"OK-MB is at least {_OK_MB.size} bytes, got {len(data)}")
        w0, seq, purpose, remote, goodness, _, count = _OK_MB.unpack_from(data)
        if len(data) != block_size(count):
            raise ParseError(f"OK-MB of {count} pairs is {block_size(count)} bytes, got {len(data)}")
        view, start, planes = memoryview(data), _OK_MB.size, []
        for width in _OK_MB_WIDTHS:
            end = start + -(-count * width // 8)
            planes.append(view[start:end])
            start = end
        return cls.from_planes(w0 >> 12 & 0xFFFF, w0 >> 11 & 1, seq, purpose, remote, goodness, count, *planes)

    def _head(self) -> tuple[int, ...]:
        return (self.create_id, self.d, self.sequence_number, self.purpose_id, self.remote_node_id, self.goodness,
                self.count)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OkMeasureBlock):
            return NotImplemented
        return self._head() == other._head() and self.planes() == other.planes()

    def __repr__(self) -> str:
        return (f"OkMeasureBlock(create_id={self.create_id}, d={self.d}, sequence_number={self.sequence_number}, "
                f"purpose_id={self.purpose_id}, remote_node_id={self.remote_node_id}, goodness={self.goodness}, "
                f"count={self.count})")

    __hash__ = None  # type: ignore[assignment]


_OK_MB_WIDTHS = (1, 2, 2)


def has_three(plane: bytes) -> bool:
    """Whether a plane of 2-bit fields (zero-padded) holds a 3: both bits of a field set."""
    raw = np.frombuffer(plane, dtype=np.uint8)
    return bool(np.any(raw & (raw >> 1) & 0x55))


def block_size(count: int) -> int:
    """The size in bytes of an OK-MB of ``count`` pairs."""
    return _OK_MB.size + -(-count // 8) + 2 * -(-count * 2 // 8)
