"""The compiler's gate set: which Pauli basis each gate leaves alone on each of its qubits.

A run of operations on a qubit that all commute with one Pauli B (they map B to +B) can be served by one cat
copy of the qubit's B value on another QPU (Andrés-Martínez & Heunen, PRA 100, 032308 (2019), §II, where B is
Z and the gates are CZs and diagonal gates; the same holds in any basis by conjugation). So every operation
carries, per operand, the bitmask of the Paulis it commutes with: X = 1, Y = 2, Z = 4.

Two-qubit gates are kept only in the controlled-Pauli form ``P1 C P2`` (stim's CX = ZCX, CZ, XCZ, YCY ...):
P1 on the first qubit and P2 on the second are both kept, so either qubit can be replaced by a cat copy of
its P value, which turns that side of the gate into a Z control. Every other two-qubit Clifford is rewritten
into CX and one-qubit gates from its stabiliser tableau (stim's ``to_circuit("elimination")``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

X, Y, Z = 1, 2, 4
PAULI_BIT = {"X": X, "Y": Y, "Z": Z}
ALL = X | Y | Z


class CompileError(ValueError):
    """A circuit or network the compiler cannot handle; the message is one line naming the problem."""


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a circuit on one or two qubits, in stim's naming when it is a Clifford."""

    name: str
    qubits: tuple[int, ...]
    keeps: tuple[int, ...]
    """Per operand, the Paulis (bitmask) the operation commutes with on that qubit; 0 for none."""
    kind: str = "gate"
    """gate, measure (records an outcome) or reset."""
    params: tuple[float, ...] = ()
    clifford: bool = True
    record: int = -1
    """For a measurement, its index in the circuit's measurement record."""

    @property
    def is_two_qubit(self) -> bool:
        return len(self.qubits) == 2


def controlled_pauli(name: str) -> tuple[str, str] | None:
    """(P1, P2) for a controlled-Pauli gate name (CX → ('Z', 'X'), XCZ → ('X', 'Z')), else None."""
    if len(name) == 2 and name[0] == "C" and name[1] in "XYZ":
        return "Z", name[1]
    if len(name) == 3 and name[0] in "XYZ" and name[1] == "C" and name[2] in "XYZ":
        return name[0], name[2]
    return None


def controlled_pauli_name(first: str, second: str) -> str:
    """stim's canonical name of the P1-controlled-P2 gate (Z, X → CX; X, Z → XCZ)."""
    return f"C{second}" if first == "Z" else f"{first}C{second}"


@cache
def _stim_gate(name: str):
    import stim

    try:
        return stim.gate_data(name)
    except (IndexError, ValueError, KeyError):
        return None


@cache
def single_qubit_keeps(name: str) -> int:
    """The Paulis a one-qubit Clifford (stim name) maps to themselves, sign included."""
    import stim

    tableau = stim.Tableau.from_named_gate(name)
    mask = 0
    for letter, bit in PAULI_BIT.items():
        pauli = stim.PauliString(letter)
        if tableau(pauli) == pauli:
            mask |= bit
    return mask


@cache
def decomposition(name: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """A two-qubit Clifford as CX and one-qubit Cliffords on operands (0, 1), equal up to global phase."""
    import stim

    circuit = stim.Tableau.from_named_gate(name).to_circuit("elimination")
    steps: list[tuple[str, tuple[int, ...]]] = []
    for instruction in circuit:
        targets = [t.value for t in instruction.targets_copy()]
        width = 2 if instruction.name in ("CX", "SWAP", "CZ") else 1
        for i in range(0, len(targets), width):
            steps.append((instruction.name, tuple(targets[i:i + width])))
    return tuple(steps)


def canonical_clifford(name: str) -> str | None:
    """stim's canonical name of a unitary one- or two-qubit Clifford, or None if ``name`` is not one."""
    data = _stim_gate(name.upper())
    if data is None or not data.is_unitary:
        return None
    return str(data.name)


def clifford_ops(name: str, qubits: tuple[int, ...]) -> list[Op]:
    """One Clifford gate (stim name, one or two qubits) as compiler operations, decomposing two-qubit gates
    that are not controlled Paulis."""
    if len(qubits) == 1:
        return [Op(name, qubits, (single_qubit_keeps(name),))]
    pair = controlled_pauli(name)
    if pair is not None:
        return [Op(name, qubits, (PAULI_BIT[pair[0]], PAULI_BIT[pair[1]]))]
    if name == "II":
        return []
    ops: list[Op] = []
    for step, operands in decomposition(name):
        ops.extend(clifford_ops(step, tuple(qubits[i] for i in operands)))
    return ops


ROTATION_AXIS = {"RX": "X", "RY": "Y", "RZ": "Z"}
QUARTER_TURNS = {"X": ("I", "SQRT_X", "X", "SQRT_X_DAG"), "Y": ("I", "SQRT_Y", "Y", "SQRT_Y_DAG"),
                 "Z": ("I", "S", "Z", "S_DAG")}
ANGLE_TOLERANCE = 1e-9


def rotation_ops(axis: str, angle: float, qubit: int) -> list[Op]:
    """exp(−iθP/2): a Clifford when θ is a multiple of π/2 (up to global phase), else a non-Clifford
    operation that still commutes with P (so it may sit inside a cat-entangled run in basis P)."""
    turns = angle / (math.pi / 2)
    nearest = round(turns)
    if abs(turns - nearest) < ANGLE_TOLERANCE:
        name = QUARTER_TURNS[axis][nearest % 4]
        return [] if name == "I" else clifford_ops(name, (qubit,))
    return [Op(f"R{axis}", (qubit,), (PAULI_BIT[axis],), params=(angle,), clifford=False)]


def non_clifford_phase(name: str, qubit: int) -> Op:
    """T or T† (diagonal: commutes with Z)."""
    return Op(name, (qubit,), (Z,), clifford=False)
