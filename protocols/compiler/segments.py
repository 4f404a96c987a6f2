"""Runs of operations on a qubit that one cat copy can serve, and the hypergraph over them.

Andrés-Martínez & Heunen (PRA 100, 032308 (2019), §III): a qubit's wire is cut into *segments* at the
operations that do not commute with its control basis; all two-qubit gates of a segment can be served by one
cat-entangled copy per other QPU. The hypergraph has one vertex per qubit (weight 1: it takes a data qubit)
and one per two-qubit gate (weight 0: where the gate runs), and one hyperedge per segment with a two-qubit
gate: its qubit and its gates. A partition puts every qubit and gate on a QPU, and a hyperedge spanning λ
QPUs needs λ − 1 ebits (the connectivity − 1 metric), or, weighted by hops, a Steiner tree over them.

A segment here is a maximal run of a qubit's operations that all commute with a common Pauli B (mapping B to
+B): the paper's Z-diagonal runs generalised to any basis (a CX target is a run in X).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.compiler.circuit import Circuit
from protocols.compiler.gates import ALL, X, Z


@dataclass(slots=True)
class Segment:
    """A run of a qubit's operations containing at least one two-qubit gate."""

    qubit: int
    gates: list[int] = field(default_factory=list)
    """Indices (into the circuit's operations) of its two-qubit gates, in order."""
    basis: str = "Z"

    @property
    def first_gate(self) -> int:
        return self.gates[0]


@dataclass(slots=True)
class SegmentTable:
    segments: list[Segment]
    by_qubit: list[list[int]]
    """Each qubit's segment ids, in circuit order."""
    of_gate: dict[int, tuple[int, int]]
    """A two-qubit gate's segment on each of its operands."""


def basis_of(mask: int) -> str:
    return "Z" if mask & Z else ("X" if mask & X else "Y")


def find_segments(circuit: Circuit) -> SegmentTable:
    """Cut every qubit's wire into segments, greedily left to right (a maximal run closes only when the next
    operation shares no Pauli with it, which gives the fewest runs)."""
    n = circuit.num_qubits
    masks = [ALL] * n
    open_segment: list[int | None] = [None] * n
    segments: list[Segment] = []
    by_qubit: list[list[int]] = [[] for _ in range(n)]
    of_gate: dict[int, tuple[int, int]] = {}

    def close(qubit: int) -> None:
        current = open_segment[qubit]
        if current is not None:
            segments[current].basis = basis_of(masks[qubit])
            open_segment[qubit] = None

    for index, op in enumerate(circuit.ops):
        ids = []
        for qubit, keeps in zip(op.qubits, op.keeps, strict=True):
            if masks[qubit] & keeps:
                masks[qubit] &= keeps
            else:
                close(qubit)
                masks[qubit] = keeps if keeps else ALL
                if not keeps:
                    continue
            if op.is_two_qubit:
                current = open_segment[qubit]
                if current is None:
                    current = len(segments)
                    segments.append(Segment(qubit))
                    by_qubit[qubit].append(current)
                    open_segment[qubit] = current
                segments[current].gates.append(index)
                ids.append(current)
        if op.is_two_qubit:
            of_gate[index] = (ids[0], ids[1])
    for qubit in range(n):
        close(qubit)
    return SegmentTable(segments, by_qubit, of_gate)
