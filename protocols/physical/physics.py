"""Closed-form physics shared by the medium and the engines (pure functions).

>>> round(fibre_transmittance(5.0, 0.2), 4)
0.7943
>>> werner_distribution(0.2, 1)
(0.05, 0.85, 0.05, 0.05)
"""

from __future__ import annotations

import functools
import math

from protocols.physical.hardware import BellDistribution

SPEED_OF_LIGHT_KM_PER_NS = 299_792.458e-9
DEFAULT_REFRACTIVE_INDEX = 1.468
"""Group index of standard single-mode fibre at 1550 nm: about 4.9 µs per km."""


def fibre_delay_ns(length_km: float, refractive_index: float = DEFAULT_REFRACTIVE_INDEX) -> int:
    """One-way propagation delay through fibre, rounded to the nanosecond."""
    return round(length_km * refractive_index / SPEED_OF_LIGHT_KM_PER_NS)


def fibre_transmittance(length_km: float, attenuation_db_per_km: float) -> float:
    """Probability a photon survives the fibre: 10^(-αL/10)."""
    return 10 ** (-attenuation_db_per_km * length_km / 10)


def werner_distribution(depolarizing: float, target: int) -> BellDistribution:
    """Bell-diagonal distribution of ``target`` replaced by the maximally mixed state w.p. ``depolarizing``."""
    other = depolarizing / 4
    probs = [other] * 4
    probs[target] = 1 - 3 * other
    return (probs[0], probs[1], probs[2], probs[3])


def relabel(dist: BellDistribution, frame: int) -> BellDistribution:
    """The distribution seen after XOR-ing every Bell index with ``frame``."""
    return (dist[frame], dist[1 ^ frame], dist[2 ^ frame], dist[3 ^ frame])


def expected_parity(bell_state: int, basis: int) -> int:
    """Parity of the two outcomes when both halves of a Bell state are measured in ``basis``.

    With the Bell index ``x | z << 1``: Z basis gives x, X basis gives z, Y basis 1 ⊕ x ⊕ z
    (|Φ+⟩ has ⟨ZZ⟩ = ⟨XX⟩ = +1 and ⟨YY⟩ = -1). ``basis`` is 0 Z, 1 X, 2 Y.

    >>> [expected_parity(3, b) for b in (0, 1, 2)]
    [1, 1, 1]
    """
    x, z = bell_state & 1, bell_state >> 1 & 1
    return (x, z, 1 ^ x ^ z)[basis]


@functools.lru_cache(maxsize=4096, typed=True)
def memory_pauli_probabilities(stored_ns: float, t1_ns: float, t2_ns: float) -> tuple[float, float, float]:
    """(pX, pY, pZ) of the Pauli twirl of amplitude damping (T1) and dephasing (T2) after ``stored_ns``.

    pX = pY = (1 − e^(−t/T1))/4 and pZ = (1 − e^(−t/T2))/2 − (1 − e^(−t/T1))/4 (needs T2 ≤ 2·T1).
    Memoised (by value and type, so a caller gets the types it would have got): a run asks for the same few
    storage times (a protocol's fixed delays) thousands of times.

    >>> memory_pauli_probabilities(0.0, 1e6, 1e6)
    (0.0, 0.0, 0.0)
    """
    if stored_ns <= 0:
        return (0.0, 0.0, 0.0)
    damp = 0.0 if math.isinf(t1_ns) else 1 - math.exp(-stored_ns / t1_ns)
    dephase_total = 0.0 if math.isinf(t2_ns) else (1 - math.exp(-stored_ns / t2_ns)) / 2
    return (damp / 4, damp / 4, max(0.0, dephase_total - damp / 4))


def pauli_channel(dist: BellDistribution, px: float, py: float, pz: float) -> BellDistribution:
    """Apply a one-qubit Pauli channel to one half of a Bell-diagonal pair.

    X flips the Bell index's x bit, Z its z bit, Y both.
    """
    keep = 1 - px - py - pz
    d0, d1, d2, d3 = dist           # keep * dist[b] + px * dist[b ^ 1] + py * dist[b ^ 3] + pz * dist[b ^ 2]
    return (keep * d0 + px * d1 + py * d3 + pz * d2, keep * d1 + px * d0 + py * d2 + pz * d3,
            keep * d2 + px * d3 + py * d1 + pz * d0, keep * d3 + px * d2 + py * d0 + pz * d1)


def pauli_distribution(px: float, py: float, pz: float) -> BellDistribution:
    """A one-qubit Pauli channel as the distribution of the Bell-index shift it causes on a pair.

    With the Bell index ``x | z << 1`` (:class:`protocols.common.BellState`) X flips x (shift 1),
    Z flips z (shift 2) and Y both (shift 3), so the shift distribution is (1 − p, pX, pZ, pY).
    ``pauli_channel(dist, px, py, pz)`` equals ``xor_convolve(dist, pauli_distribution(px, py, pz))``.

    >>> pauli_distribution(0.125, 0.25, 0.5)
    (0.125, 0.125, 0.5, 0.25)
    """
    return (1 - px - py - pz, px, pz, py)


def xor_convolve(a: BellDistribution, b: BellDistribution) -> BellDistribution:
    """XOR-convolution of two Bell-index distributions: p(k) = Σ_{i⊕j=k} a(i)·b(j).

    It is the distribution of the XOR of two independent Bell indices. Every noise in the medium is a Pauli
    channel, which shifts a Bell-diagonal pair's index by a random Pauli's index; so the Bell-diagonal
    distribution after a channel, and of the pair made by a Bell-state measurement (entanglement swapping)
    of two Bell-diagonal pairs, relative to the reported outcome, is this convolution (Bennett, DiVincenzo,
    Smolin, Wootters, PRA 54, 3824 (1996) for Bell-diagonal states; for Werner pairs it gives
    F = F1·F2 + (1 − F1)(1 − F2)/3, Dür, Briegel, Cirac, Zoller, PRA 59, 169 (1999)).

    >>> xor_convolve((0.5, 0.5, 0.0, 0.0), (0.75, 0.0, 0.25, 0.0))
    (0.375, 0.375, 0.125, 0.125)
    >>> round(xor_convolve(werner_distribution(0.2, 0), werner_distribution(0.2, 0))[0], 12)
    0.73
    """
    a0, a1, a2, a3 = a
    b0, b1, b2, b3 = b
    return (a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3, a0 * b1 + a1 * b0 + a2 * b3 + a3 * b2,
            a0 * b2 + a2 * b0 + a1 * b3 + a3 * b1, a0 * b3 + a3 * b0 + a1 * b2 + a2 * b1)
