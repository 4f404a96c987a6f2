"""Rice-coded failure counts: the body of a QHP BATCH of coding 1 (docs/wire.md §3.3).

Each failure count ``f`` is split at ``low_bits``: its low bits go to a plane of fixed-width fields
(:func:`protocols.packets.bitpack.pack_bits`) and its quotient ``q = f >> low_bits`` to a unary plane, ``q``
zero bits then a one bit per count, most significant bit first, zero-padded to a byte. Counts of failed
attempts before a success are geometric, for which this is within a few hundredths of a bit of the best
prefix code at the right ``low_bits`` (Golomb 1966, Gallager and van Voorhis 1975); a fixed width must hold
the block's largest count (at the 10 km link of examples/two-qpus.toml: 7.2 bits a count against 9). Every plane
is made and read with whole-array operations: the unary plane by setting the bits at ``cumsum(q) + i`` and
``numpy.packbits``.

A receiver checks a BATCH without unpacking its counts: the unary plane's ones (a table look-up a byte), where
its last one is, and the low plane's sum (a table look-up a byte at the widths an encoder picks) give the total
of the failure counts; the counts themselves are unpacked only when asked for.

>>> low, unary = encode(np.array([2, 0, 5]), 1)     # low bits 0 0 1; quotients 1, 0, 2: 01 1 001
>>> low.hex(), unary.hex(), decode(low, unary, 3, 1).tolist(), total(low, unary, 3, 1)
('20', '64', [2, 0, 5], 7)
"""

from __future__ import annotations

import numpy as np

from protocols.packets.bitpack import pack_bits, unpack_bits

ENCODER_LOW_BITS = (0, 1, 2, 4, 8, 16)
"""The widths an encoder here picks among (their low planes pack and sum fastest); a decoder takes any up to 32."""
MAX_QUOTIENT_BITS = 16
"""An encoder keeps every quotient below 2^16, so one count's unary code (at most 8 kB) fits any datagram."""
_POPCOUNT = np.array([bin(byte).count("1") for byte in range(256)], dtype=np.uint8)


def _field_sums(width: int) -> np.ndarray:
    """For each byte value, the sum of the ``width``-bit fields it holds (``width`` divides 8)."""
    mask = (1 << width) - 1
    return np.array([sum(byte >> shift & mask for shift in range(0, 8, width)) for byte in range(256)],
                    dtype=np.uint64)


_SUMS = {width: _field_sums(width) for width in (1, 2, 4, 8)}


def low_bits_for(failures: np.ndarray) -> int:
    """The width among :data:`ENCODER_LOW_BITS` that makes the fewest bits (by the counts' mean), at least wide
    enough that no quotient reaches 2^16 (0 when there are no counts)."""
    count = len(failures)
    if not count:
        return 0
    total, largest = int(failures.sum(dtype=np.uint64)), int(failures.max())
    least = max(0, largest.bit_length() - MAX_QUOTIENT_BITS)
    widths = [width for width in ENCODER_LOW_BITS if width >= least] or [least]
    return min(widths, key=lambda width: count * width + (total >> width))


def quotient_bits(failures: np.ndarray, low_bits: int) -> np.ndarray:
    """The bits each count takes in the unary plane, cumulated (``q + 1`` summed): where its one bit ends."""
    ends = np.cumsum(failures >> np.uint64(low_bits), dtype=np.uint64)
    ends += np.arange(1, len(failures) + 1, dtype=np.uint64)
    return ends


def encode(failures: np.ndarray, low_bits: int, limit: int = 1 << 20) -> tuple[bytes, bytes]:
    """The low plane and the unary plane of ``failures`` (uint64) at ``low_bits``; ValueError when the unary
    plane would be more than ``limit`` bytes."""
    failures = failures.astype(np.uint64, copy=False)
    if not len(failures):
        return b"", b""
    ones = quotient_bits(failures, low_bits)
    if int(ones[-1]) > limit * 8:
        raise ValueError(f"{len(failures)} failure counts at {low_bits} low bits need more than {limit} bytes")
    ones -= np.uint64(1)
    flat = np.zeros(-(-int(ones[-1] + 1) // 8) * 8, dtype=np.uint8)
    flat[ones] = 1
    low = pack_bits(failures & np.uint64((1 << low_bits) - 1), low_bits) if low_bits else b""
    return low, np.packbits(flat).tobytes()


def total(low: bytes, unary: bytes, count: int, low_bits: int) -> int | None:
    """The sum of the ``count`` failure counts the planes hold, or None when the unary plane is not ``count``
    codes ending in its last byte (the padding of both planes is checked elsewhere)."""
    raw = np.frombuffer(unary, dtype=np.uint8)
    if not count or not len(raw):
        return 0 if not count and not len(raw) else None
    last = int(raw[-1])
    if not last or int(_POPCOUNT[raw].sum(dtype=np.uint64)) != count:
        return None
    quotients = len(raw) * 8 - ((last & -last).bit_length() - 1) - count          # the zero bits before the last one
    if not low_bits:
        return quotients
    if low_bits in _SUMS:
        lows = int(_SUMS[low_bits][np.frombuffer(low, dtype=np.uint8)].sum(dtype=np.uint64))
    else:
        lows = int(unpack_bits(low, count, low_bits).sum(dtype=np.uint64))
    return (quotients << low_bits) + lows


def decode(low: bytes, unary: bytes, count: int, low_bits: int) -> np.ndarray:
    """The failure counts (uint64) of planes :func:`total` accepted."""
    ones = np.flatnonzero(np.unpackbits(np.frombuffer(unary, dtype=np.uint8)))[:count].astype(np.uint64)
    quotients = np.diff(ones, prepend=np.uint64(0))
    quotients[1:] -= np.uint64(1)
    if not low_bits:
        return quotients
    return quotients << np.uint64(low_bits) | unpack_bits(low, count, low_bits)
