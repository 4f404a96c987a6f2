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
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def binary_entropy(p: float) -> float:
    """h(p) = −p log2 p − (1 − p) log2 (1 − p)."""
    if p <= 0 or p >= 1:
        return 0.0
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def key_fraction(qber: float) -> float:
    """Asymptotic secret key per sifted bit, 1 − 2h(e), 0 when that is negative (no key above e ≈ 11 %)."""
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
