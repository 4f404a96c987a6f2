"""Closed forms of the transport layer: teleportation's fidelity and the deadline memory decoherence sets.

Teleportation over a pair whose Bell-diagonal state has fidelity F (the weight of the ideal state) applies to
the sent qubit the Pauli channel of the pair's other three weights (Bennett et al., PRL 70, 1895 (1993); Bowen
and Bose, PRL 87, 267901 (2001)); a Pauli channel with total error weight p has average fidelity 1 − 2p/3
(Horodecki, Horodecki and Horodecki, PRA 60, 1888 (1999): F_avg = (d·F_e + 1)/(d + 1), d = 2). So

    F_avg = (2F + 1)/3,

2/3 for a useless pair: the best a classical measure-and-prepare scheme achieves.

>>> teleport_fidelity(1.0), round(teleport_fidelity(0.25), 12)
(1.0, 0.5)
>>> round(stored_fidelity(0.0, 1e6, 1e6), 12)
1.0
"""

from __future__ import annotations

import functools
import math

from protocols.physical.physics import memory_pauli_probabilities

CLASSICAL_LIMIT = 2 / 3
"""The average fidelity of the best measure-and-prepare scheme: a qubit worse than this is not worth sending."""
MAX_BUDGET_NS = 10_000_000_000
"""The deadline budget when memory never decays that far (infinite T1 and T2): 10 s."""


def teleport_fidelity(pair_fidelity: float) -> float:
    """Average fidelity of a qubit teleported over a Bell-diagonal pair of fidelity ``pair_fidelity``."""
    return (2 * pair_fidelity + 1) / 3


def stored_fidelity(stored_ns: float, t1_ns: float, t2_ns: float) -> float:
    """Average fidelity of a qubit after ``stored_ns`` in a memory of ``t1_ns`` and ``t2_ns`` (its Pauli twirl)."""
    return 1 - 2 * sum(memory_pauli_probabilities(stored_ns, t1_ns, t2_ns)) / 3


@functools.lru_cache(maxsize=256)
def deadline_budget_ns(t1_ns: float, t2_ns: float, floor: float = CLASSICAL_LIMIT) -> int:
    """How long the receiver's half may wait for the corrections: the storage time after which the memory
    alone brings the teleported qubit's average fidelity down to ``floor`` (default: the classical limit).
    :data:`MAX_BUDGET_NS` if it never does. A pure function of its arguments, remembered (a bisection of ~70
    steps, asked again for every teleported qubit)."""
    if not 0.5 <= floor <= 1:
        raise ValueError(f"floor must be in [0.5, 1], got {floor}")
    high = 1.0
    while stored_fidelity(high, t1_ns, t2_ns) > floor:
        high *= 2
        if high > MAX_BUDGET_NS or math.isinf(high):
            return MAX_BUDGET_NS
    low = 0.0
    for _ in range(64):                    # bisection: the fidelity falls monotonically with time
        middle = (low + high) / 2
        if stored_fidelity(middle, t1_ns, t2_ns) > floor:
            low = middle
        else:
            high = middle
    return max(1, math.floor(low))
