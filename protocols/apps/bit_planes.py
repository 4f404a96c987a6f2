"""The layout BBM92's sifting windows and CHSH's blocks share (docs/wire.md §11.2): a 16-bit first Sequence
Number, a 16-bit pair count, then one plane of bits per field, a bit per pair, each packed MSB first to whole
bytes. The first plane says which pairs were delivered here; every other plane's bit is 0 where one was not.

>>> data = encode_planes(65534, [np.array([1, 0, 1]), np.array([1, 1, 0])], 512)
>>> data.hex(), decode_planes(data, 2, 512, "block")[:2]
('fffe0003a080', (65534, 3))
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from protocols.common import ParseError

HEAD = struct.Struct("!HH")


def encode_planes(first_seq: int, planes: Sequence[np.ndarray], limit: int) -> bytes:
    """The head and ``planes`` (the first: delivered here; the others masked by it, 1 bit each); ValueError if
    the planes differ in length or hold more than ``limit`` pairs."""
    lengths = [len(plane) for plane in planes]
    if len(set(lengths)) != 1 or lengths[0] > limit:
        raise ValueError(f"at most {limit} pairs, one bit each, got bits for {', '.join(map(str, lengths))}")
    present = np.asarray(planes[0], bool)
    packed = [np.packbits(present)] + [np.packbits((np.asarray(plane) & 1) & present) for plane in planes[1:]]
    return HEAD.pack(first_seq, lengths[0]) + b"".join(plane.tobytes() for plane in packed)


def decode_planes(data: bytes, planes: int, limit: int, what: str) -> tuple[int, int, list[np.ndarray]]:
    """(first Sequence Number, count, ``planes`` bit arrays, the first as bool) of :func:`encode_planes`'s
    bytes; ParseError (naming ``what``) if the count is over ``limit`` or the size is wrong."""
    if len(data) < HEAD.size:
        raise ParseError(f"{what} of {len(data)} bytes, at least {HEAD.size}")
    first, count = HEAD.unpack_from(data)
    size = -(-count // 8)
    if count > limit or len(data) != HEAD.size + planes * size:
        raise ParseError(f"{what} of {count} pairs in {len(data)} bytes")
    bits = np.unpackbits(np.frombuffer(data, np.uint8, offset=HEAD.size).reshape(planes, size), axis=1,
                         count=count)
    return first, count, [bits[0].astype(bool), *bits[1:]]
