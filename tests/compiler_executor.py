"""A reference executor for compiled programs: the test oracle of tests/test_compiler.py.

It runs a :class:`~protocols.compiler.DistributedProgram` with ideal ebits in ONE stim ``TableauSimulator``:
every QPU's data and link qubits are simulator qubits, an ebit is a Bell pair prepared by H and CX on two
fresh link qubits, and the remote operations are written out as their gates, measurements and classically
controlled Pauli corrections (Eisert, Jacobs, Papadopoulos, Plenio, PRA 62, 052317 (2000) for the cat-entangler
and disentangler; Bennett et al., PRL 70, 1895 (1993) for teleportation). It knows nothing of how the
compiler chose the program: it follows the instructions, checks every resource (a data qubit the QPU holds, a
copy it holds, free data and link qubits within the capacities) and fails loudly otherwise.

It runs the QPUs' programs either in the global step order or interleaved at random, a joint instruction
executing when it is next in the program of every QPU it involves, as independent QPUs would.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import stim

from protocols.compiler import CatDisentangle, CatEntangle, DistributedProgram, Local, Teledata

MeasureHook = Callable[[stim.TableauSimulator, str, int, int], bool]
"""(simulator, stim measurement or reset name, simulator qubit, record index or −1 for a reset) → the outcome,
after doing it (a reset's return value is ignored). A reset is a measurement whose outcome is forgotten, so a
test comparing outcome distributions needs to see both."""


class ExecutionError(AssertionError):
    pass


class Executor:
    """One run of a program; ``qubits`` maps each circuit qubit to its simulator qubit at the end."""

    def __init__(self, program: DistributedProgram, data_capacity: dict[str, int], link_capacity: dict[str, int],
                 sim: stim.TableauSimulator, first_free: int = 0, measure: MeasureHook | None = None) -> None:
        self.program = program
        self.sim = sim
        self.data_capacity = data_capacity
        self.link_capacity = link_capacity
        self.measure_hook = measure or _measure
        self.next_index = first_free
        self.free: list[int] = []
        self.data: dict[int, tuple[str, int]] = {}
        self.copies: dict[tuple[str, int], int] = {}
        self.data_used = dict.fromkeys(program.qpus, 0)
        self.link_used = dict.fromkeys(program.qpus, 0)
        self.records: dict[int, bool] = {}
        for qubit, qpu in enumerate(program.placement):
            self.data[qubit] = (qpu, self._allocate(qpu, "data"))

    # -- resources -------------------------------------------------------------------------------------------

    def _allocate(self, qpu: str, kind: str) -> int:
        used, capacity = (self.data_used, self.data_capacity) if kind == "data" else (self.link_used,
                                                                                       self.link_capacity)
        if used[qpu] >= capacity[qpu]:
            raise ExecutionError(f"{qpu} has no free {kind} qubit (capacity {capacity[qpu]})")
        used[qpu] += 1
        if self.free:
            return self.free.pop()
        self.next_index += 1
        return self.next_index - 1

    def _release(self, qpu: str, kind: str, index: int) -> None:
        (self.data_used if kind == "data" else self.link_used)[qpu] -= 1
        self.sim.reset(index)
        self.free.append(index)

    def _data_at(self, qubit: int, qpu: str) -> int:
        where, index = self.data[qubit]
        if where != qpu:
            raise ExecutionError(f"qubit {qubit} is at {where}, not at {qpu}")
        return index

    def _copy_at(self, qubit: int, qpu: str) -> int:
        if (qpu, qubit) not in self.copies:
            raise ExecutionError(f"{qpu} holds no copy of qubit {qubit}")
        return self.copies[qpu, qubit]

    def _bell_pair(self, a: str, b: str) -> tuple[int, int]:
        ea, eb = self._allocate(a, "link"), self._allocate(b, "link")
        self.sim.h(ea)
        self.sim.cx(ea, eb)
        return ea, eb

    def _do(self, name: str, *targets: int) -> None:
        self.sim.do(stim.CircuitInstruction(name, list(targets)))

    def _measure_z(self, index: int) -> bool:
        return bool(self.sim.measure(index))

    # -- instructions -------------------------------------------------------------------------------------

    def execute(self, instruction: object) -> None:
        if isinstance(instruction, Local):
            self._local(instruction)
        elif isinstance(instruction, CatEntangle):
            self._cat_entangle(instruction)
        elif isinstance(instruction, CatDisentangle):
            self._cat_disentangle(instruction)
        elif isinstance(instruction, Teledata):
            self._teledata(instruction)
        else:
            raise ExecutionError(f"unknown instruction {instruction!r}")

    def _local(self, op: Local) -> None:
        targets = [self._copy_at(q, op.qpu) if copy else self._data_at(q, op.qpu)
                   for q, copy in zip(op.qubits, op.copy, strict=True)]
        if not op.clifford:
            raise ExecutionError(f"{op.name} is not a Clifford gate")
        if op.kind == "measure":
            self.records[op.record] = self.measure_hook(self.sim, op.name, targets[0], op.record)
        elif op.kind == "reset":
            self.measure_hook(self.sim, op.name, targets[0], -1)
        else:
            self._do(op.name, *targets)

    def _cat_entangle(self, op: CatEntangle) -> None:
        if op.from_copy:
            control, basis = self._copy_at(op.qubit, op.source), "Z"
        else:
            control, basis = self._data_at(op.qubit, op.source), op.basis
        if (op.target, op.qubit) in self.copies:
            raise ExecutionError(f"{op.target} already holds a copy of qubit {op.qubit}")
        half, copy = self._bell_pair(op.source, op.target)
        self._do("CX" if basis == "Z" else f"{basis}CX", control, half)
        if self._measure_z(half):
            self.sim.x(copy)
        self._release(op.source, "link", half)
        self.copies[op.target, op.qubit] = copy

    def _cat_disentangle(self, op: CatDisentangle) -> None:
        copy = self._copy_at(op.qubit, op.qpu)
        del self.copies[op.qpu, op.qubit]
        self.sim.h(copy)
        outcome = self._measure_z(copy)
        self._release(op.qpu, "link", copy)
        if outcome:
            self._do(op.basis, self._data_at(op.qubit, op.home))

    def _teledata(self, op: Teledata) -> None:
        if any(qubit == op.qubit for _, qubit in self.copies):
            raise ExecutionError(f"qubit {op.qubit} is teleported while copies of it exist")
        source = self._data_at(op.qubit, op.source)
        half, far = self._bell_pair(op.source, op.target)
        self.sim.cx(source, half)
        self.sim.h(source)
        z, x = self._measure_z(source), self._measure_z(half)
        if x:
            self.sim.x(far)
        if z:
            self.sim.z(far)
        self._release(op.source, "data", source)
        self._release(op.source, "link", half)
        slot = self._allocate(op.target, "data")
        self.sim.swap(far, slot)
        self._release(op.target, "link", far)
        self.data[op.qubit] = (op.target, slot)

    # -- running ------------------------------------------------------------------------------------------

    def run(self, interleave: np.random.Generator | None = None) -> None:
        """Every instruction: in step order, or each QPU's program in its own order, picking a ready QPU at
        random each time."""
        if interleave is None:
            for instruction in self.program.instructions:
                self.execute(instruction)
        else:
            self._run_interleaved(interleave)
        if self.copies:
            raise ExecutionError(f"copies left at the end: {sorted(self.copies)}")
        if any(self.link_used.values()):
            raise ExecutionError(f"link qubits still held at the end: {self.link_used}")
        for qubit, qpu in enumerate(self.program.final_placement):
            self._data_at(qubit, qpu)

    def _run_interleaved(self, rng: np.random.Generator) -> None:
        programs = {qpu: list(self.program.program(qpu)) for qpu in self.program.qpus}
        heads = dict.fromkeys(programs, 0)
        while True:
            ready = []
            for qpu, program in programs.items():
                if heads[qpu] < len(program):
                    instruction = program[heads[qpu]]
                    if all(heads[other] < len(programs[other]) and programs[other][heads[other]] == instruction
                           for other in instruction.qpus):
                        ready.append(instruction)
            if not ready:
                if any(heads[qpu] < len(program) for qpu, program in programs.items()):
                    raise ExecutionError("deadlock: no QPU can go on")
                return
            instruction = ready[int(rng.integers(len(ready)))]
            self.execute(instruction)
            for qpu in set(instruction.qpus):
                heads[qpu] += 1

    def final_qubits(self) -> list[int]:
        return [self.data[q][1] for q in range(self.program.num_qubits)]


def _measure(sim: stim.TableauSimulator, name: str, target: int, record: int) -> bool:
    sim.do(stim.CircuitInstruction(name, [target]))
    return record >= 0 and bool(sim.current_measurement_record()[-1])
