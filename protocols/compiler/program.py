"""The compiler's output: per-QPU programs of local operations and remote-operation calls (docs/compiler.md).

Every instruction has a ``step``: its place in one global order that is a valid execution. A QPU's program is
its instructions in step order; a remote operation (cat-entangle, teledata) appears in the programs of both
QPUs it joins, with the same step and id, and a cat-disentangle in the program of the QPU holding the copy
and of the qubit's QPU (which applies the correction). Since every program is the global order restricted to
one QPU, running each program in its order, each remote operation when both of its QPUs reach it, never
deadlocks.

Operands name circuit qubits. At a QPU an operand is the qubit itself when the qubit lives there, or, when
``copy`` is set, the cat copy of it that the QPU holds (a Z-basis copy of the qubit's value in the segment's
basis, so the compiler has already rewritten the gate's side on a copy into a Z control).

Serialised as JSON (:meth:`DistributedProgram.to_json`, :func:`program_from_json`), format
``qnetstack-distributed-program`` version 1.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

FORMAT = "qnetstack-distributed-program"
VERSION = 1


@dataclass(frozen=True, slots=True)
class Local:
    """A gate, measurement or reset at one QPU."""

    step: int
    qpu: str
    name: str
    qubits: tuple[int, ...]
    copy: tuple[bool, ...]
    kind: str = "gate"
    """gate, measure or reset."""
    params: tuple[float, ...] = ()
    clifford: bool = True
    record: int = -1
    """A measurement's index in the circuit's measurement record."""

    @property
    def qpus(self) -> tuple[str, ...]:
        return (self.qpu,)


@dataclass(frozen=True, slots=True)
class CatEntangle:
    """One ebit between ``source`` and ``target``: ``target`` gets a cat copy of ``qubit``.

    At source: the ``basis``-controlled X from the qubit (or, when ``from_copy``, a CX from the copy the source
    holds) onto its ebit half, which is measured in Z; the bit goes to target, which applies X to its half
    when it is 1. The target's half is then the copy."""

    step: int
    id: int
    qubit: int
    basis: str
    source: str
    target: str
    hops: int
    from_copy: bool = False

    @property
    def qpus(self) -> tuple[str, ...]:
        return (self.source, self.target)


@dataclass(frozen=True, slots=True)
class CatDisentangle:
    """``qpu`` measures its copy of ``qubit`` in X and sends the bit to ``home``, which applies the Pauli
    ``basis`` to the qubit when it is 1. No ebit."""

    step: int
    id: int
    qubit: int
    basis: str
    qpu: str
    home: str

    @property
    def qpus(self) -> tuple[str, ...]:
        return (self.qpu, self.home)


@dataclass(frozen=True, slots=True)
class Teledata:
    """One ebit between ``source`` and ``target``: ``qubit`` is teleported (source Bell-measures the qubit
    with its half: CX qubit→half, H on the qubit, both measured in Z; target applies X^m(half) Z^m(qubit) to its
    half), and lives at target from now on, in one of its data qubits."""

    step: int
    id: int
    qubit: int
    source: str
    target: str
    hops: int

    @property
    def qpus(self) -> tuple[str, ...]:
        return (self.source, self.target)


Instruction = Local | CatEntangle | CatDisentangle | Teledata
KINDS: dict[str, type] = {"local": Local, "cat_entangle": CatEntangle, "cat_disentangle": CatDisentangle,
                          "teledata": Teledata}


@dataclass(frozen=True)
class DistributedProgram:
    """The whole compiled circuit."""

    qpus: tuple[str, ...]
    num_qubits: int
    num_measurements: int
    placement: tuple[str, ...]
    """Each qubit's QPU at the start."""
    final_placement: tuple[str, ...]
    instructions: tuple[Instruction, ...]
    """Every instruction once, in step order."""
    non_clifford: tuple[str, ...] = ()
    """Names of the non-Clifford operations: the stabiliser medium cannot execute the program if any."""

    @property
    def executable(self) -> bool:
        """Whether the stabiliser medium can run it (Clifford operations only)."""
        return not self.non_clifford

    def program(self, qpu: str) -> tuple[Instruction, ...]:
        """The QPU's program: its instructions in step order."""
        return tuple(i for i in self.instructions if qpu in i.qpus)

    @property
    def ebits(self) -> Counter[tuple[str, str]]:
        """Ebits per QPU pair (names sorted)."""
        return Counter(tuple(sorted(i.qpus)) for i in self.instructions  # type: ignore[misc]
                       if isinstance(i, CatEntangle | Teledata))

    @property
    def total_ebits(self) -> int:
        return sum(self.ebits.values())

    @property
    def link_pairs(self) -> int:
        """Link-level pairs the ebits consume: each ebit costs its route's hops."""
        return sum(i.hops for i in self.instructions if isinstance(i, CatEntangle | Teledata))

    def count(self, kind: type) -> int:
        return sum(1 for i in self.instructions if isinstance(i, kind))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "qpus": list(self.qpus), "num_qubits": self.num_qubits,
            "num_measurements": self.num_measurements, "placement": list(self.placement),
            "final_placement": list(self.final_placement), "non_clifford": list(self.non_clifford),
            "programs": {qpu: [_encode(i) for i in self.program(qpu)] for qpu in self.qpus},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


def _encode(instruction: Instruction) -> dict[str, Any]:
    kind = next(name for name, cls in KINDS.items() if isinstance(instruction, cls))
    data: dict[str, Any] = {"op": kind}
    for name in instruction.__dataclass_fields__:
        value = getattr(instruction, name)
        if isinstance(instruction, Local) and name in ("params", "record", "clifford", "copy", "kind") \
                and value == getattr(Local, name, None):
            continue
        if name == "copy" and not any(value):
            continue
        data[name] = list(value) if isinstance(value, tuple) else value
    return data


def _decode(data: dict[str, Any]) -> Instruction:
    fields = {key: value for key, value in data.items() if key != "op"}
    cls = KINDS[data["op"]]
    if cls is Local:
        fields["qubits"] = tuple(fields["qubits"])
        fields["copy"] = tuple(fields.get("copy", [False] * len(fields["qubits"])))
        fields["params"] = tuple(fields.get("params", ()))
    return cls(**fields)


def program_from_json(text: str | dict[str, Any]) -> DistributedProgram:
    """Read a program written by :meth:`DistributedProgram.to_json`; a joint instruction must be the same in
    both QPUs' programs (ValueError otherwise)."""
    data = json.loads(text) if isinstance(text, str) else text
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"not a {FORMAT} version {VERSION} document")
    by_step: dict[int, Instruction] = {}
    for qpu, program in data["programs"].items():
        for item in program:
            instruction = _decode(item)
            if qpu not in instruction.qpus:
                raise ValueError(f"step {instruction.step} in {qpu}'s program does not involve {qpu}")
            known = by_step.setdefault(instruction.step, instruction)
            if known != instruction:
                raise ValueError(f"step {instruction.step} differs between the programs of {known.qpus}")
    return DistributedProgram(tuple(data["qpus"]), data["num_qubits"], data["num_measurements"],
                              tuple(data["placement"]), tuple(data["final_placement"]),
                              tuple(by_step[s] for s in sorted(by_step)), tuple(data["non_clifford"]))
