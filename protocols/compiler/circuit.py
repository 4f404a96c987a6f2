"""The compiler's input: a flat list of one- and two-qubit operations, read from a stim circuit.

stim circuits are read natively (``REPEAT`` blocks unrolled; ``TICK``, ``DETECTOR``, ``OBSERVABLE_INCLUDE``,
``QUBIT_COORDS`` and ``SHIFT_COORDS`` are annotations and dropped). Measurements M, MX, MY, MR, MRX, MRY and
resets R, RX, RY are kept with their record index. Noise channels, multi-qubit measurements (MPP, MXX ...) and
classically controlled gates (``CX rec[-1] 0``) are refused with a one-line :class:`CompileError`, and so is a
circuit of more than :data:`MAX_OPERATIONS` operations, counted before anything is unrolled (a few lines of
``REPEAT`` can stand for more operations than memory holds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocols.compiler.gates import CompileError, Op, canonical_clifford, clifford_ops

MEASUREMENTS = ("M", "MX", "MY", "MR", "MRX", "MRY")
RESETS = ("R", "RX", "RY")
ANNOTATIONS = ("TICK", "DETECTOR", "OBSERVABLE_INCLUDE", "QUBIT_COORDS", "SHIFT_COORDS")
MAX_OPERATIONS = 1_000_000
"""The most operations a circuit may have once unrolled (stim: each gate on each qubit or pair, each
measurement, reset and annotation; OpenQASM: each gate application, measurement and reset, and each
declared qubit and bit), checked before unrolling. Compiling takes about 15 s per 100,000 operations."""


def check_operations(count: int, what: str) -> None:
    """One-line :class:`CompileError` when ``count`` (operations of ``what``) is over :data:`MAX_OPERATIONS`."""
    if count > MAX_OPERATIONS:
        raise CompileError(f"{what} {count:,} operations: more than the compiler's limit ({MAX_OPERATIONS:,})")


@dataclass(frozen=True, slots=True)
class Circuit:
    """Qubits 0 .. num_qubits − 1 and the operations in order; ``num_measurements`` outcomes are recorded."""

    num_qubits: int
    ops: tuple[Op, ...]
    num_measurements: int = 0

    @property
    def non_clifford(self) -> tuple[str, ...]:
        """The names of the non-Clifford operations, sorted, each once."""
        return tuple(sorted({op.name for op in self.ops if not op.clifford}))

    @property
    def two_qubit_gates(self) -> int:
        return sum(1 for op in self.ops if op.is_two_qubit)

    def to_stim(self) -> object:
        """The circuit as a ``stim.Circuit`` (Clifford operations only; ValueError otherwise)."""
        import stim

        out = stim.Circuit()
        for op in self.ops:
            if not op.clifford:
                raise ValueError(f"{op.name} is not a Clifford operation")
            out.append(op.name, list(op.qubits))
        if out.num_qubits < self.num_qubits:
            out.append("I", [self.num_qubits - 1])
        return out


class CircuitBuilder:
    """Collects operations; numbers measurements in the order they are added."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.num_qubits = 0
        self.num_measurements = 0

    def touch(self, qubits: Sequence[int]) -> None:
        if qubits:
            self.num_qubits = max(self.num_qubits, max(qubits) + 1)

    def add(self, ops: Sequence[Op]) -> None:
        for op in ops:
            self.touch(op.qubits)
        self.ops.extend(ops)

    def measure(self, name: str, qubit: int) -> int:
        """A measurement (stim name); returns its record index."""
        record = self.num_measurements
        self.num_measurements += 1
        self.add([Op(name, (qubit,), (0,), kind="measure", record=record)])
        return record

    def reset(self, name: str, qubit: int) -> None:
        self.add([Op(name, (qubit,), (0,), kind="reset")])

    def build(self, num_qubits: int = 0) -> Circuit:
        return Circuit(max(num_qubits, self.num_qubits), tuple(self.ops), self.num_measurements)


def from_stim(circuit: object) -> Circuit:
    """A ``stim.Circuit`` (or its text) as a compiler :class:`Circuit`."""
    import stim

    try:
        parsed = circuit if isinstance(circuit, stim.Circuit) else stim.Circuit(str(circuit))
    except ValueError as error:
        raise CompileError(f"not a stim circuit: {str(error).splitlines()[0]}") from None
    check_operations(_stim_operations(parsed), "the stim circuit unrolls to")
    builder = CircuitBuilder()
    for instruction in parsed.flattened():
        _add_stim_instruction(builder, instruction)
    return builder.build(parsed.num_qubits)


def _stim_operations(circuit: Any) -> int:
    """Operations in the circuit once unrolled, counted without unrolling: a REPEAT block's count times its
    body's (each instruction counts its gate applications, at least one)."""
    import stim

    total = 0
    for item in circuit:
        if isinstance(item, stim.CircuitRepeatBlock):
            total += item.repeat_count * _stim_operations(item.body_copy())
        else:
            targets = len(item.targets_copy())
            total += max(1, targets // 2 if _is_two_qubit(item.name) else targets)
    return total


def _add_stim_instruction(builder: CircuitBuilder, instruction: object) -> None:
    name = instruction.name  # type: ignore[attr-defined]
    if name in ANNOTATIONS:
        return
    targets = instruction.targets_copy()  # type: ignore[attr-defined]
    odd = next((target for target in targets if not target.is_qubit_target or target.is_inverted_result_target),
               None)
    if odd is not None:
        raise CompileError(f"{instruction}: {_target_kind(name, odd)} not supported (only plain qubit targets)")
    qubits = [target.value for target in targets]
    builder.touch(qubits)
    if name in MEASUREMENTS or name == "MZ" or name == "MRZ":
        if instruction.gate_args_copy():  # type: ignore[attr-defined]
            raise CompileError(f"{name}: noisy measurements are not supported (the network's noise comes from "
                               "the scenario)")
        canonical = {"MZ": "M", "MRZ": "MR"}.get(name, name)
        for qubit in qubits:
            builder.measure(canonical, qubit)
        return
    if name in RESETS or name == "RZ":
        for qubit in qubits:
            builder.reset("R" if name == "RZ" else name, qubit)
        return
    canonical = canonical_clifford(name)
    if canonical is None:
        raise CompileError(f"unsupported stim instruction {name} (noise channels, multi-qubit measurements "
                           "and MPAD are not supported)")
    width = 2 if len(qubits) and _is_two_qubit(canonical) else 1
    for i in range(0, len(qubits), width):
        builder.add(clifford_ops(canonical, tuple(qubits[i:i + width])))


def _target_kind(name: str, target: Any) -> str:
    """What a target that is not a plain qubit is, for the error that refuses it."""
    if name in ("MPP", "SPP", "SPP_DAG"):
        return f"{name} (a Pauli-product measurement or rotation) is"
    if target.is_measurement_record_target or target.is_sweep_bit_target:
        return "a classically controlled gate (a rec[] or sweep[] target) is"
    if target.is_inverted_result_target:
        return "an inverted target (!q) is"
    return "a Pauli target (Xq, Yq, Zq) is"


def _is_two_qubit(name: str) -> bool:
    import stim

    return bool(stim.gate_data(name).is_two_qubit_gate)
