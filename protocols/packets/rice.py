"""Rice-coded failure counts: the body of a QHP BATCH of coding 1 (docs/wire.md §3.3).

Each failure count ``f`` is split at ``low_bits``: its low bits go to a plane of fixed-width fields
(:func:`protocols.packets.bitpack.pack_bits`) and its quotient ``q = f >> low_bits`` to a unary plane, ``q``
zero bits then a one bit per count, most significant bit first, zero-padded to a byte. Counts of failed
attempts before a success are geometric, for which this is within a few hundredths of a bit of the best
prefix code at the right ``low_bits`` (Golomb 1966, Gallager and van Voorhis 1975); a fixed width must hold
the block's largest count (at the 10 km link of examples/two-qpus.toml: 7.2 bits a count against 9). Every plane
is made and read with whole-array operations: the unary plane by setting the bits at ``cumsum(q) + i`` and
``numpy.packbits``.

A receiver checks a BATCH without unpacking its counts: the unary plane's one bits (counted), where its last
one is, and the low plane's sum (position by position in each byte at the widths an encoder picks) give the
total of the failure counts; the counts themselves are unpacked only when asked for.

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


def low_bits_for(failures: np.ndarray, total: int | None = None) -> int:
    """The width among :data:`ENCODER_LOW_BITS` that makes the fewest bits (by the counts' mean: their sum, or
    ``total`` if given, a bound of it), at least wide enough that no quotient reaches 2^16 (0 when there are
    no counts)."""
    count = len(failures)
    if not count:
        return 0
    largest = int(failures.max())
    total = int(failures.sum(dtype=np.uint64)) if total is None else total
    least = max(0, largest.bit_length() - MAX_QUOTIENT_BITS)
    widths = [width for width in ENCODER_LOW_BITS if width >= least] or [least]
    return min(widths, key=lambda width: count * width + (total >> width))


def quotient_bits(failures: np.ndarray, low_bits: int) -> np.ndarray:
    """The bits each count takes in the unary plane, cumulated (``q + 1`` summed): where its one bit ends
    (int64: an index, as numpy's own)."""
    ends = (failures.astype(np.uint64, copy=False) >> np.uint64(low_bits)).view(np.int64)   # (q < 2^63: the same)
    np.cumsum(ends, out=ends)
    ends += _ordinals(len(failures))
    return ends


def _ordinals(count: int) -> np.ndarray:
    """1 to ``count`` (int64, read-only: a view of one array grown as needed, not a fresh arange a block)."""
    global _ORDINALS
    if len(_ORDINALS) < count:
        _ORDINALS = np.arange(1, max(count, 2 * len(_ORDINALS)) + 1, dtype=np.int64)
        _ORDINALS.flags.writeable = False
    return _ORDINALS[:count]


_ORDINALS = np.zeros(0, dtype=np.int64)


def encode(failures: np.ndarray, low_bits: int, limit: int = 1 << 20) -> tuple[bytes, bytes]:
    """The low plane and the unary plane of ``failures`` (uint64) at ``low_bits``; ValueError when the unary
    plane would be more than ``limit`` bytes."""
    return encode_summed(failures, low_bits, limit)[:2]


def encode_summed(failures: np.ndarray, low_bits: int, limit: int = 1 << 20) -> tuple[bytes, bytes, int]:
    """:func:`encode`, and the sum of the counts (from the quotients' and the low fields' sums, no pass of its
    own over the counts)."""
    failures = failures.astype(np.uint64, copy=False)
    if not len(failures):
        return b"", b"", 0
    ones = quotient_bits(failures, low_bits)
    if int(ones[-1]) > limit * 8:
        raise ValueError(f"{len(failures)} failure counts at {low_bits} low bits need more than {limit} bytes")
    flat = np.zeros(-(-int(ones[-1]) // 8) * 8 + 1, dtype=np.uint8)
    flat[ones] = 1                                   # (one bit late: the plane starts at flat[1])
    quotients = int(ones[-1]) - len(failures)
    if not low_bits:
        return b"", np.packbits(flat[1:]).tobytes(), quotients
    if low_bits <= 8:                                # the low byte first: a quarter of the memory traffic
        fields = failures.astype(np.uint8)
        fields &= np.uint8((1 << low_bits) - 1)
    else:
        fields = failures & np.uint64((1 << low_bits) - 1)
    lows = int(fields.sum(dtype=np.uint64))
    return pack_bits(fields, low_bits), np.packbits(flat[1:]).tobytes(), (quotients << low_bits) + lows


def total(low: bytes, unary: bytes, count: int, low_bits: int) -> int | None:
    """The sum of the ``count`` failure counts the planes hold, or None when the unary plane is not ``count``
    codes ending in its last byte (the padding of both planes is checked elsewhere)."""
    raw = np.frombuffer(unary, dtype=np.uint8)
    if not count or not len(raw):
        return 0 if not count and not len(raw) else None
    last = int(raw[-1])
    if not last or _ones(raw) != count:
        return None
    quotients = len(raw) * 8 - ((last & -last).bit_length() - 1) - count          # the zero bits before the last one
    if not low_bits:
        return quotients
    if 8 % low_bits == 0:                             # the fields of each byte, position by position
        fields = np.frombuffer(low, dtype=np.uint8)
        mask = np.uint8((1 << low_bits) - 1)
        lows = sum(int(((fields >> np.uint8(shift)) & mask).sum(dtype=np.uint64)) for shift in range(0, 8, low_bits))
    else:
        lows = int(unpack_bits(low, count, low_bits).sum(dtype=np.uint64))
    return (quotients << low_bits) + lows


def _ones(raw: np.ndarray) -> int:
    """The one bits of a uint8 array (numpy 2's bitwise_count where there is one)."""
    if hasattr(np, "bitwise_count"):
        return int(np.bitwise_count(raw).sum(dtype=np.uint64))
    return int(np.count_nonzero(np.unpackbits(raw)))


def decode(low: bytes, unary: bytes, count: int, low_bits: int) -> np.ndarray:
    """The failure counts (uint64) of planes :func:`total` accepted."""
    ones = np.flatnonzero(np.unpackbits(np.frombuffer(unary, dtype=np.uint8)))[:count].astype(np.uint64)
    quotients = np.diff(ones, prepend=np.uint64(0))
    quotients[1:] -= np.uint64(1)
    if not low_bits:
        return quotients
    return quotients << np.uint64(low_bits) | unpack_bits(low, count, low_bits)
