"""The CHSH test from Pauli correlators.

The stabiliser medium measures in Z, X and Y only, not at the CHSH angles (22.5° off the Pauli axes). For a
Bell-diagonal (Pauli-twirled) state the correlation matrix T_ij = ⟨σ_i ⊗ σ_j⟩ is diagonal, and the largest
CHSH value over all measurement settings is 2·sqrt(t1² + t2²) for its two largest |t| (Horodecki, Horodecki
and Horodecki, Phys. Lett. A 200, 340 (1995)). With Alice's settings Z, X and Bob's (Z ± X)/√2, the CHSH
combination is exactly S = √2 (|E_ZZ| + |E_XX|) in expectation (a sign choice per correlator), which equals
that optimum when |E_ZZ| = |E_XX|, as for Werner states. So measuring E_ZZ and E_XX on pairs with random Z/X
bases gives S, without the medium measuring at 22.5°.

On Werner pairs of fidelity F: E_ZZ = E_XX = (4F − 1)/3, so S = 2√2 (4F − 1)/3 (> 2, a violation, for
F > (3/(2√2) + 1)/4 ≈ 0.78).

>>> round(werner_s(1.0), 6), round(chsh_s(1.0, -1.0), 6)
(2.828427, 2.828427)

The ends compare a block (one request) pair by pair in one application message each way (docs/wire.md §11.2):
the request's pairs in the order both ends agree on (by serial, :func:`protocols.apps.qkd.request_order`), the
first one's Sequence Number and the count, then one bit per pair for "delivered here", one for its basis and one
for its outcome. Pairs are told apart by their place in that order, never by a Sequence Number, which repeats
within a request that shares its link with others.

>>> encode_block(65534, np.array([1, 0, 1], bool), np.array([1, 1, 0], np.uint8),
...              np.array([0, 1, 1], np.uint8)).hex()            # the middle pair retracted here
'fffe0003a08020'
>>> first, count, present, bases, outcomes = decode_block(bytes.fromhex("fffe0003a08020"))
>>> first, count, present.tolist(), bases.tolist(), outcomes.tolist()
(65534, 3, [True, False, True], [1, 0, 0], [0, 0, 1])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from protocols.apps.bit_planes import decode_planes, encode_planes
from protocols.apps.intervals import Interval, linear_interval

MAX_BLOCK = 512
"""Pairs per block (one request): 4 + 3 × 64 bytes of payload at most."""


def werner_s(fidelity: float) -> float:
    """S of Werner pairs of fidelity ``fidelity``: 2√2 (4F − 1)/3."""
    return 2 * math.sqrt(2) * (4 * fidelity - 1) / 3


def chsh_s(e_zz: float, e_xx: float) -> float:
    """S = √2 (|E_ZZ| + |E_XX|)."""
    return math.sqrt(2) * (abs(e_zz) + abs(e_xx))


def correlator(parities: Sequence[int]) -> tuple[float, float]:
    """E = mean of (−1)^parity over the pairs measured in one basis, and its plain standard error
    sqrt((1 − E²)/N) (0 when every parity agrees: :func:`chsh_interval` is the honest one)."""
    n = len(parities)
    if n == 0:
        raise ValueError("no pairs measured in this basis")
    e = sum(1 - 2 * (p & 1) for p in parities) / n
    return e, math.sqrt(max(0.0, 1 - e * e) / n)


def chsh_interval(zz: Sequence[int], xx: Sequence[int]) -> Interval:
    """S's standard error and 95 % interval (within [0, 2√2]) after Price and Bonett
    (:mod:`protocols.apps.intervals`): with each E's sign as measured, S = √2(±E_ZZ ± E_XX) is linear in the
    two shares of odd parities q, E = 1 − 2q; from a few pairs it is not ±0 as the plain √2·√(σ_ZZ² + σ_XX²),
    σ² = (1 − E²)/N, is when every parity agrees. ValueError if a basis has no pairs.

    >>> iv = chsh_interval([0, 0], [0, 0])                   # four pairs, all agreeing: S = 2√2 but not ± 0
    >>> round(iv.stderr, 3), round(iv.low, 3), round(iv.high, 3)
    (0.866, 0.0, 2.828)
    """
    terms, constant = [], 0.0
    for parities in (zz, xx):
        if not parities:
            raise ValueError("no pairs measured in this basis")
        odd = sum(p & 1 for p in parities)
        sign = 1.0 if 2 * odd <= len(parities) else -1.0
        constant += math.sqrt(2) * sign
        terms.append((-2 * math.sqrt(2) * sign, odd, len(parities)))
    return linear_interval(terms, constant, (0.0, 2 * math.sqrt(2)))


def chsh_from_parities(zz: Sequence[int], xx: Sequence[int]) -> tuple[float, float]:
    """S and its standard error (:func:`chsh_interval`) from the outcome parities of the ZZ and XX pairs
    (independent estimates); ValueError if a basis has no pairs."""
    e_zz, _ = correlator(zz)
    e_xx, _ = correlator(xx)
    return chsh_s(e_zz, e_xx), chsh_interval(zz, xx).stderr


def encode_block(first_seq: int, present: np.ndarray, bases: np.ndarray, outcomes: np.ndarray) -> bytes:
    """One end's block: the first pair's Sequence Number, the pair count, then one bit per pair for "delivered
    here", one for its basis (0 Z, 1 X) and one for its outcome (both 0 where not delivered), each packed MSB
    first to whole bytes. ValueError if the arrays differ in length or hold more than :data:`MAX_BLOCK`."""
    return encode_planes(first_seq, [present, bases, outcomes], MAX_BLOCK)


def decode_block(data: bytes) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """(first Sequence Number, count, delivered (bool), bases (uint8), outcomes (uint8)) of
    :func:`encode_block`'s bytes; ParseError if the count is over :data:`MAX_BLOCK` or the size is wrong."""
    first, count, (present, bases, outcomes) = decode_planes(data, 3, MAX_BLOCK, "CHSH block")
    return first, count, present, bases, outcomes
