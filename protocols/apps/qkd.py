"""BBM92 quantum key distribution: sifting, the QBER estimate and the asymptotic key rate (closed forms).

Both ends measure each pair in Z or X, drawn independently (Bennett, Brassard and Mermin, PRL 68, 557
(1992)). Over the classical channel they compare bases block by block and keep the pairs measured in the same
basis (*sifting*); they reveal a random sample of the sifted bits to estimate the quantum bit error rate e and
keep the rest. The asymptotic secret key fraction of BBM92 (BB84's, Shor and Preskill, PRL 85, 441 (2000)) is
1 − 2h(e), h the binary entropy; the key rate is the sifted rate times that.

On Werner pairs of fidelity F the error rate is the same in both bases: the weight of the two Bell states that
flip the parity of that basis, e = 2(1 − F)/3.

>>> round(werner_qber(0.85), 12), round(key_fraction(0.0), 12), key_fraction(0.2)
(0.1, 1.0, 0.0)
>>> sift([0, 1, 1, 0], [0, 1, 0, 0])
[0, 1, 3]

Sifting a request of many pairs goes window by window (:data:`WINDOW` pairs, one application message each):
both ends know the request's pairs by serial (every pair is delivered or retracted at both; the serial is the
Sequence Number unless a shared link's numbers came round again), put them in one order (:func:`request_order`)
and send, per window, whether they hold each pair and its basis (:func:`encode_window`).

>>> request_order(np.array([0, 1, 2, 65534, 65535])).tolist()
[65534, 65535, 0, 1, 2]
>>> decode_window(encode_window(65534, np.array([1, 0, 1], bool), np.array([1, 1, 0], np.uint8)))
(65534, 3, [True, False, True], [1, 0, 0])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from protocols.apps.bit_planes import decode_planes, encode_planes

WINDOW = 5400
"""Pairs per sifting message: 4 + 2 × 675 bytes of payload, within one application message (1,400 bytes)."""
_SPAN = 1 << 16


def binary_entropy(p: float) -> float:
    """h(p) = −p log2 p − (1 − p) log2 (1 − p)."""
    if p <= 0 or p >= 1:
        return 0.0
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def key_fraction(qber: float) -> float:
    """Asymptotic secret key per sifted bit, 1 − 2h(e), 0 when that is negative (no key above e ≈ 11 %: h is
    symmetric about 1/2, so e > 1/2 is 0 too, not the key of the flipped bits, which this protocol never flips).

    >>> round(key_fraction(0.05), 6), key_fraction(0.2), key_fraction(0.9)
    (0.427206, 0.0, 0.0)
    """
    if qber >= 0.5:
        return 0.0
    return max(0.0, 1 - 2 * binary_entropy(qber))


def werner_qber(fidelity: float) -> float:
    """QBER in Z or in X of a Werner pair of fidelity ``fidelity``: 2(1 − F)/3."""
    return 2 * (1 - fidelity) / 3


def sift(bases_a: Sequence[int], bases_b: Sequence[int]) -> list[int]:
    """Indices of the pairs both ends measured in the same basis."""
    if len(bases_a) != len(bases_b):
        raise ValueError(f"bases of {len(bases_a)} and {len(bases_b)} pairs")
    return [i for i, (a, b) in enumerate(zip(bases_a, bases_b, strict=True)) if a == b]


def pack_bits(bits: Sequence[int]) -> bytes:
    """Bits, first in the most significant bit of the first byte, zero-padded to whole bytes."""
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i >> 3] |= 0x80 >> (i & 7)
    return bytes(out)


def unpack_bits(data: bytes, count: int) -> list[int]:
    """The first ``count`` bits of ``data`` (:func:`pack_bits`' inverse); ValueError if there are fewer."""
    if len(data) * 8 < count:
        raise ValueError(f"{len(data)} bytes hold fewer than {count} bits")
    return [data[i >> 3] >> (7 - (i & 7)) & 1 for i in range(count)]


def request_order(settled: np.ndarray) -> np.ndarray:
    """A request's pairs (their serials, sorted: a Sequence Number 0..65535 plus 2^16 for each earlier pair of the
    request under it, :mod:`stack.api.measured`) in one order both ends agree on: the first pair under each
    number in the order the link layer numbered them, which may wrap from 65535 to 0 (sorted, starting after the
    widest gap between neighbours on the circle), then the second pair under each number in that order, and so
    on (a request's numbers come round again only when it shares its link with others).

    >>> request_order(np.array([5, 65534, 65535, 65541])).tolist()      # 5 twice: the second is 65541
    [65534, 65535, 5, 65541]
    """
    if len(settled) < 2:
        return settled
    first = settled[settled < _SPAN]
    gaps = np.diff(first, append=first[0] + _SPAN)
    start = int(first[(int(np.argmax(gaps)) + 1) % len(first)])
    key = (settled & ~np.int64(_SPAN - 1)) + ((settled - start) & (_SPAN - 1))
    return settled[np.argsort(key, kind="stable")]


def encode_window(first_seq: int, present: np.ndarray, bases: np.ndarray) -> bytes:
    """One sifting message: the window's first Sequence Number, its pair count, then one bit per pair for
    "delivered here" and one for its basis (0 Z, 1 X; 0 where not delivered), each packed to whole bytes."""
    return encode_planes(first_seq, [present, bases], WINDOW)


def decode_window(data: bytes) -> tuple[int, int, list[bool], list[int]]:
    """The inverse of :func:`encode_window` as lists; :func:`decode_window_arrays` gives arrays."""
    first, count, present, bases = decode_window_arrays(data)
    return first, count, present.tolist(), bases.tolist()


def decode_window_arrays(data: bytes) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(first Sequence Number, count, delivered (bool), bases (uint8)); ParseError if the size is wrong."""
    first, count, (present, bases) = decode_planes(data, 2, WINDOW, "sifting window")
    return first, count, present, bases
