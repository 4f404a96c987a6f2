"""Local Clifford gates on a node's qubits (data qubits and pair halves alike), and the Bell measurement of
qubits that live in tableau components.

A Pauli gate (``X``, ``Y``, ``Z``, ``I``) on a pair half in the frame algebra stays there: it multiplies the
frame and shifts the pair's tracked Bell index (X by 1, Z by 2, Y by 3). Any other gate moves its qubits into
one component (:mod:`stack.quantum.components`) and runs there.

Noise: after every gate, with probability 1 − ``gate_fidelity`` a uniformly random Pauli on the gate's qubits
(of the 4 for one qubit, of the 16 for two, identity included): the depolarising channel of the node's
``gate_fidelity``, as for a move to storage and the Bell measurement's CNOT. On a frame half this channel is
also folded into the pair's tracked distribution, with the memory noise sampled before the gate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from protocols.common import Basis
from protocols.physical import physics
from stack.quantum.components import Components
from stack.quantum.sampling import top_bits
from stack.quantum.state import PAULIS, NodeHardware, Qubit, apply_pauli
from stack.quantum.swap import PauliProbabilities
from stack.quantum.swap import _read_out as read_out

PAULI_SHIFT = {"I": 0, "X": 1, "Z": 2, "Y": 3}
"""The Bell-index shift of a Pauli on one half of a pair (index ``x | z << 1``)."""


def depolarise(qubits: Sequence[Qubit], fidelity: float, rng: np.random.Generator) -> None:
    """With probability 1 − ``fidelity``, a uniformly random Pauli on ``qubits`` (identity included)."""
    if fidelity < 1 and rng.random() >= fidelity:
        width = 2 * len(qubits)
        draw = top_bits(rng, width) if width <= 32 else int(rng.integers(4 ** len(qubits)))
        for qubit in reversed(qubits):
            apply_pauli(qubit, PAULIS[draw & 3])
            draw >>= 2


def apply_gate(components: Components, node: NodeHardware, name: str, qubits: Sequence[Qubit],
               memory: PauliProbabilities, rng: np.random.Generator) -> None:
    """Apply gate ``name`` and its noise to ``qubits`` (their memory noise, ``memory`` for the first one,
    already sampled)."""
    qubit = qubits[0]
    if name in PAULI_SHIFT and qubit.component is None:
        apply_pauli(qubit, name)
        depolarise(qubits, node.gate_fidelity, rng)
        gate = (1 - node.gate_fidelity) / 4
        pair = qubit.pair
        shifted = physics.relabel(pair.distribution, PAULI_SHIFT[name])
        pair.distribution = physics.pauli_channel(physics.pauli_channel(shifted, *memory), gate, gate, gate)
        return
    components.join(qubits).apply(name, qubits)
    depolarise(qubits, node.gate_fidelity, rng)


def bell_measure(components: Components, node: NodeHardware, qubits: tuple[Qubit, Qubit],
                 rng: np.random.Generator, far: Qubit | None = None) -> tuple[int, bool]:
    """The Bell measurement when either qubit is in a component: both join one, CNOT a→b and its noise, H on a,
    both measured in Z (the index's z bit from a, its x bit from b), readout errors. A failure (probability
    1 − ``bsm_success``) traces both qubits out untouched, which leaves the far halves of two pairs maximally
    mixed and uncorrelated, as in the frame algebra. Returns (reported index, success)."""
    qa, qb = qubits
    if node.bsm_success < 1 and rng.random() >= node.bsm_success:
        components.discard(qa)
        components.discard(qb)
        return 0, False
    if components.teleportable(qa, qb, far):
        return _teleport(components, node, qa, qb, far, rng), True      # type: ignore[arg-type]
    component = components.join(qubits)
    component.apply("CX", qubits)
    depolarise(qubits, node.gate_fidelity, rng)
    component.apply("H", (qa,))
    z = components.measure(qa, Basis.Z)
    x = components.measure(qb, Basis.Z)
    return read_out(x | z << 1, node.readout_fidelity, rng), True


def _teleport(components: Components, node: NodeHardware, qa: Qubit, qb: Qubit, far: Qubit,
              rng: np.random.Generator) -> int:
    """:func:`bell_measure` of a data qubit alone in its component (``qa``) with a frame half (``qb``) whose
    partner ``far`` is in memory: teleportation, done without a tableau (:meth:`Components.teleport`). The
    outcomes are uniform; the CNOT's depolarising Pauli acts before H and the Z measurements, so Z or Y on
    ``qa`` flips its outcome (z) and X or Y on ``qb`` flips its (x), leaving ``far``'s state as it was."""
    z = top_bits(rng, 1)                            # int(rng.integers(2)), cheaply
    x = top_bits(rng, 1)
    components.teleport(qa, qb, far, x, z)
    reported_z, reported_x = z, x
    if node.gate_fidelity < 1 and rng.random() >= node.gate_fidelity:
        draw = top_bits(rng, 4)                     # as depolarise: qb's Pauli in the low 2 bits, then qa's
        reported_x ^= PAULIS[draw & 3] in ("X", "Y")
        reported_z ^= PAULIS[draw >> 2 & 3] in ("Z", "Y")
    return read_out(reported_x | reported_z << 1, node.readout_fidelity, rng)
