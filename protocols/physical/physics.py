"""Closed-form physics shared by the medium and the engines (pure functions).

>>> round(fibre_transmittance(5.0, 0.2), 4)
0.7943
>>> werner_distribution(0.2, 1)
(0.05, 0.85, 0.05, 0.05)
"""

from __future__ import annotations

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


def memory_pauli_probabilities(stored_ns: float, t1_ns: float, t2_ns: float) -> tuple[float, float, float]:
    """(pX, pY, pZ) of the Pauli twirl of amplitude damping (T1) and dephasing (T2) after ``stored_ns``.

    pX = pY = (1 − e^(−t/T1))/4 and pZ = (1 − e^(−t/T2))/2 − (1 − e^(−t/T1))/4 (needs T2 ≤ 2·T1).

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
    return tuple(keep * dist[b] + px * dist[b ^ 1] + py * dist[b ^ 3] + pz * dist[b ^ 2]  # type: ignore[return-value]
                 for b in range(4))


def xor_convolve(a: BellDistribution, b: BellDistribution) -> BellDistribution:
    """Bell-diagonal distribution of the XOR of two independent Bell indices: p(k) = Σ_{i⊕j=k} a(i)·b(j).

    It composes Pauli channels, and it is the distribution a perfect swap of two Bell-diagonal pairs leaves
    (relative to the tracked state). Commutative and associative, with (1, 0, 0, 0) as identity.

    >>> [round(p, 12) for p in xor_convolve((0.9, 0.1, 0.0, 0.0), (0.8, 0.0, 0.2, 0.0))]
    [0.72, 0.08, 0.18, 0.02]
    """
    return (a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3],
            a[0] * b[1] + a[1] * b[0] + a[2] * b[3] + a[3] * b[2],
            a[0] * b[2] + a[2] * b[0] + a[1] * b[3] + a[3] * b[1],
            a[0] * b[3] + a[3] * b[0] + a[1] * b[2] + a[2] * b[1])


def pauli_distribution(px: float, py: float, pz: float) -> BellDistribution:
    """The one-qubit Pauli channel (X w.p. ``px``, Y w.p. ``py``, Z w.p. ``pz``) as the distribution of the
    Bell-index flip it causes, in index order x | z << 1: (1 − px − py − pz, px, pz, py).

    X flips the x bit (index 1), Z the z bit (index 2), Y both (index 3), so
    ``xor_convolve(d, pauli_distribution(px, py, pz)) == pauli_channel(d, px, py, pz)``.

    >>> [round(p, 12) for p in pauli_distribution(0.1, 0.2, 0.3)]
    [0.4, 0.1, 0.3, 0.2]
    """
    return (1 - px - py - pz, px, pz, py)
