"""Arrays of small unsigned fields packed most significant bit first, as the batched messages carry them
(QHP BATCH, OK-MB: docs/wire.md §3.3 and §4.6), each array zero-padded to a whole byte.

Each form works on whole arrays (numpy column operations, not one per field): fields of 3 bits or more in
groups of eight, which make exactly ``width`` bytes, assembled in 32-bit words up to 16 bits a field and in
64-bit words above (half the memory traffic for the common failure counts of 9 to 12 bits); 1-bit fields eight
a byte (``numpy.packbits``), 2-bit fields four a byte by one multiplication of a word (:data:`_GATHER`). A
block's planes pass through the runtime packed: :func:`join_planes` joins the planes of a block's parts by
shifting bytes, :func:`constant_plane` makes a plane of one repeated value (and
:func:`pack_uniform` uses it when the fields turn out to be one value).

>>> data = pack_bits(np.array([2, 0, 5]), 3)             # 010 000 101 + 7 zero bits
>>> data.hex(), unpack_bits(data, 3, 3).tolist()
('4280', [2, 0, 5])
>>> join_planes([pack_bits(np.array([1, 3, 1]), 2), constant_plane(2, 2, 2)], [3, 2], 2).hex()
'7680'
"""

from __future__ import annotations

import functools

import numpy as np

_WORDS = {32: (np.uint32, ">u4", ">u2"), 64: (np.uint64, ">u8", ">u4")}
"""Word size → (its dtype, big-endian form, the big-endian half word unpacking reads the data in)."""


def _word_bits(width: int) -> int:
    return 32 if width <= 16 else 64


def pack_bits(values: np.ndarray, width: int) -> bytes:
    """``values`` as ``width``-bit unsigned fields, most significant bit first, zero-padded to a byte."""
    count = len(values)
    if width == 0 or count == 0:
        return b""
    if width == 1:
        return np.packbits(values.astype(np.uint8, copy=False)).tobytes()
    if width == 2:
        return _pack_pairs_of_bits(values)
    if width in _WHOLE:                              # a field a byte or two: a cast
        return values.astype(_WHOLE[width], copy=False).tobytes()
    if width == 4:
        return _pack_nibbles(values)
    return _pack_groups(values, width)


_WHOLE: dict[int, np.dtype] = {8: np.dtype(np.uint8), 16: np.dtype(">u2")}


def _pack_nibbles(values: np.ndarray) -> bytes:
    """:func:`pack_bits` for 4-bit fields: two fields (one a byte) read as a little-endian 16-bit word ``a | b <<
    8``, multiplied by 0x1001 (adding ``a << 12``), and the high byte, ``a << 4 | b``, kept."""
    count = len(values)
    if count % 2 or values.dtype != np.uint8:
        flat = np.zeros(count + count % 2, dtype=np.uint8)
        flat[:count] = values
    else:
        flat = values
    words = flat.view("<u2") * np.uint16(0x1001)
    return words.view(np.uint8)[1::2].tobytes()


_GATHER = np.uint32(1 << 30 | 1 << 20 | 1 << 10 | 1)
"""Four shifted copies of a word (x + x << 10 + x << 20 + x << 30): for four 2-bit fields in the bytes of a
little-endian word it gathers them, most significant first, into the word's top byte; for one byte it spreads
the byte's four fields, shifted right by 6, one to each byte. The copies never overlap where it matters, so no
carry disturbs the bits kept."""


def _pack_pairs_of_bits(values: np.ndarray) -> bytes:
    """:func:`pack_bits` for 2-bit fields: four fields (one a byte) read as a little-endian word, multiplied by
    :data:`_GATHER`, and the top byte kept (two passes over a quarter as many words)."""
    count = len(values)
    if count % 4 or values.dtype != np.uint8:
        flat = np.zeros(-(-count // 4) * 4, dtype=np.uint8)
        flat[:count] = values
    else:
        flat = values
    words = flat.view("<u4") * _GATHER
    return words.view(np.uint8)[3::4].tobytes()


def _pack_groups(values: np.ndarray, width: int) -> bytes:
    """:func:`pack_bits` for widths 3 to 32: eight fields make ``width`` whole bytes, so each group of eight is
    assembled in words, field by field (eight column operations, not one per field), and its first ``width``
    bytes kept."""
    count = len(values)
    bits = _word_bits(width)
    dtype, big_endian, _ = _WORDS[bits]
    groups = -(-count // 8)
    if count % 8 or values.dtype != dtype:
        padded = np.zeros(groups * 8, dtype=dtype)
        padded[:count] = values
    else:
        padded = values
    columns = padded.reshape(groups, 8)
    words = np.zeros((groups, -(-width * 8 // bits)), dtype=dtype)
    for i in range(8):
        word, offset = divmod(i * width, bits)
        end = offset + width
        if end <= bits:
            words[:, word] |= columns[:, i] << dtype(bits - end)
        else:                                        # the field straddles two words
            words[:, word] |= columns[:, i] >> dtype(end - bits)
            words[:, word + 1] |= columns[:, i] << dtype(2 * bits - end)
    whole = words.astype(big_endian).view(np.uint8).reshape(groups, -1)[:, :width]
    return whole.tobytes()[:-(-count * width // 8)]


def unpack_bits(data: bytes, count: int, width: int) -> np.ndarray:
    """The inverse of :func:`pack_bits`: ``count`` fields of ``width`` bits (uint8 up to 2 bits, else uint64)."""
    if width == 0 or count == 0:
        return np.zeros(count, dtype=np.uint64)
    raw = np.frombuffer(data, dtype=np.uint8)
    if width == 1:
        return np.unpackbits(raw, count=count)
    if width == 2:                     # each byte spread to a little-endian word's four bytes (:data:`_GATHER`)
        words = raw.astype("<u4")
        words *= _GATHER
        words >>= np.uint32(6)
        words &= np.uint32(0x0303_0303)
        return words.view(np.uint8)[:count]
    bits = _word_bits(width)
    dtype, _, half = _WORDS[bits]
    step = bits // 16                                                    # bytes in a half word
    padded = np.zeros(-(-len(raw) // step) * step + 2 * step, dtype=np.uint8)
    padded[:len(raw)] = raw
    words = padded.view(half).astype(dtype)                              # the data as half words
    windows = words[:-1] << dtype(bits // 2)                             # a word's bits from each half word on
    windows |= words[1:]
    index, shifts = _layout(count, width)
    fields = windows.take(index)
    fields >>= shifts
    fields &= dtype((1 << width) - 1)
    return fields.astype(np.uint64, copy=False)


@functools.lru_cache(maxsize=8)
def _layout(count: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``count`` fields of ``width`` (3 to 32) bits lies: the half word its first bit is in, and
    how far its value is shifted in the word from that half word on. Cached (read-only): blocks repeat their
    sizes, and building these index arrays afresh cost more than the packing itself."""
    bits = _word_bits(width)
    half = bits // 2
    starts = np.arange(0, count * width, width, dtype=np.int64)
    index = starts // half
    shifts = ((bits - width) - starts % half).astype(_WORDS[bits][0])
    index.flags.writeable = False
    shifts.flags.writeable = False
    return index, shifts


def pack_uniform(values: np.ndarray, width: int) -> bytes:
    """:func:`pack_bits` of fields that usually all hold one value (a block's bases when each end's is fixed):
    then a fill (:func:`constant_plane`), no pass over the fields but the check."""
    if width in (1, 2) and len(values) and values[0] == values[-1]:
        low, high = int(values.min()), int(values.max())
        if low == high and 0 <= low < 1 << width:
            return constant_plane(low, len(values), width)
    return pack_bits(values, width)


def constant_plane(value: int, count: int, width: int) -> bytes:
    """:func:`pack_bits` of ``count`` fields of ``width`` (1 or 2) bits that all hold ``value``."""
    pattern = (0xFF if value else 0) if width == 1 else value * 0x55
    size, spare = -(-count * width // 8), -(count * width) % 8
    if not size:
        return b""
    return bytes((pattern,)) * (size - 1) + bytes((pattern & (0xFF << spare) & 0xFF,))


def join_planes(planes: list[bytes], counts: list[int], width: int) -> bytes:
    """The packed planes of consecutive runs of ``width``-bit fields (``counts[i]`` fields in ``planes[i]``, each
    zero-padded to a byte) as one plane: :func:`pack_bits` of their fields end to end, by shifting bytes, not by
    unpacking them."""
    out = np.zeros(-(-sum(counts) * width // 8) + 1, dtype=np.uint8)
    used = 0                                                         # bits written
    for plane, count in zip(planes, counts, strict=True):
        raw = np.frombuffer(plane, dtype=np.uint8)
        start, shift = divmod(used, 8)
        if shift == 0:
            out[start:start + len(raw)] |= raw
        elif len(raw):
            out[start:start + len(raw)] |= raw >> np.uint8(shift)
            out[start + 1:start + 1 + len(raw)] |= raw << np.uint8(8 - shift)
        used += count * width
    return out[:-(-used // 8)].tobytes()
