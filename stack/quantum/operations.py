"""The timed operations a node's commands run on its qubits in the medium (:class:`stack.quantum.medium.Medium`).

Each starts once the qubits' last gate or move is over (:func:`start_of`), takes what it needs from memory,
applies the memory noise of the storage until it starts, and answers when it ends: measurement, a move to a
storage qubit (the gate's depolarising noise), a Bell measurement (entanglement swapping,
:mod:`stack.quantum.swap`, or on tableau components, :mod:`stack.quantum.gates`), a data qubit's
initialisation and a Clifford gate. The medium checks each command before it calls one of these.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from protocols.common import Basis
from protocols.fastinit import fast_new
from protocols.physical import physics
from protocols.physical.hardware import BellMeasure, BellMeasureResult, Gate, Measure, MeasureResult, Move, MoveResult
from stack.core.kernel import Kernel, VirtualPort
from stack.quantum import gates, swap
from stack.quantum.components import Components
from stack.quantum.distill import Distillation
from stack.quantum.state import PAULIS, UNIFORM, NodeHardware, Pair, Qubit, QubitStatus, apply_pauli

_new_measure_result = fast_new(MeasureResult)


class Medium(Protocol):
    """What the operations need of :class:`stack.quantum.medium.Medium` (a protocol, not an import: the
    medium imports this module)."""

    kernel: Kernel
    rng: np.random.Generator
    nodes: dict[int, NodeHardware]
    components: Components
    distillation: Distillation
    ledger: dict[str, int]

    def take(self, node_id: int, slot: int, busy_ns: int = 0) -> Qubit: ...

    def release(self, node: NodeHardware, slot: int, busy_ns: int = 0) -> None: ...

    def create(self, node_id: int, slot: int, side: int, created: float, pair: Pair) -> Qubit: ...

    def far_half(self, qubit: Qubit) -> Qubit | None: ...

    def memory_noise(self, qubit: Qubit, at: int | None = None) -> tuple[float, float, float]: ...

    def measure(self, qubit: Qubit, basis: Basis, at: int | None = None) -> int: ...


def run_measure(medium: Medium, node_id: int, command: Measure, reply_to: VirtualPort) -> None:
    """Measure a held qubit; the result comes after the readout."""
    node = medium.nodes[node_id]
    qubit = node.held.get(command.slot)
    if qubit is None or qubit.qubit_id in medium.distillation.pending:
        medium.take(node_id, command.slot)          # raises: no qubit there, or a pending round holds it
    assert qubit is not None
    measure_held(medium, node, qubit, command, reply_to)


def measure_held(medium: Medium, node: NodeHardware, qubit: Qubit, command: Measure, reply_to: VirtualPort) -> None:
    """:func:`run_measure` of ``qubit``, which ``node`` holds in the command's slot and no pending distillation
    round holds (the medium checked)."""
    kernel = medium.kernel
    now = kernel.now
    ready_at = qubit.ready_at
    start = ready_at if ready_at > now else now         # after the qubit's last gate or move (start_of)
    done = start + node.readout_ns
    medium.release(node, command.slot, done - now)      # take()
    basis = command.basis
    outcome = medium.measure(qubit, basis, at=start)
    kernel.deliver_at(done, reply_to, _new_measure_result(command.slot, qubit.qubit_id, basis, outcome))


def start_of(medium: Medium, node_id: int, slots: tuple[int, ...]) -> int:
    """When a command on ``slots`` starts: now, or when the last gate or move on one of them ends."""
    held = medium.nodes[node_id].held
    start = medium.kernel.now
    for slot in slots:
        qubit = held.get(slot)
        if qubit is not None and qubit.ready_at > start:
            start = qubit.ready_at
    return start


def run_init(medium: Medium, node_id: int, slot: int) -> None:
    """A fresh data qubit in ``slot`` (|0>, in its own tableau component) once the slot is free."""
    node = medium.nodes[node_id]
    if not node.is_data(slot) or slot in node.held:
        first = node.slots + node.storage
        raise ValueError(f"node {node_id} cannot initialise slot {slot}: it needs a free data qubit "
                         f"(slots {first}..{first + node.data - 1})")
    start = max(medium.kernel.now, node.busy_until.get(slot, 0))
    qubit = medium.create(node_id, slot, 0, start, Pair(0, UNIFORM))
    qubit.ready_at = start
    medium.components.fresh(qubit)


def run_gate(medium: Medium, node_id: int, command: Gate) -> None:
    """A Clifford gate on held qubits (:mod:`stack.quantum.gates`), after their memory noise until it starts."""
    node = medium.nodes[node_id]
    if len(set(command.slots)) != len(command.slots) or not all(slot in node.held for slot in command.slots):
        raise ValueError(f"node {node_id} cannot apply {command.name} to slots {command.slots}: "
                         "it needs distinct held qubits")
    start = start_of(medium, node_id, command.slots)
    qubits = [node.held[slot] for slot in command.slots]
    for qubit in qubits:
        medium.distillation.check_free(qubit)
    memory = [medium.memory_noise(qubit, at=start) for qubit in qubits]
    for qubit in qubits:
        qubit.created, qubit.ready_at = start, start + node.gate_ns
    gates.apply_gate(medium.components, node, command.name, qubits, memory[0], medium.rng)


def run_move(medium: Medium, node_id: int, command: Move, reply_to: VirtualPort) -> None:
    """Move a held qubit to a free storage qubit (none free: the result says so), with the gate's noise."""
    node = medium.nodes[node_id]
    target = node.free_storage(medium.kernel.now)
    if target is None:
        medium.kernel.deliver_at(medium.kernel.now, reply_to, MoveResult(command.slot, None))
        return
    start = start_of(medium, node_id, (command.slot,))
    done = start + node.move_ns
    qubit = medium.take(node_id, command.slot, busy_ns=done - medium.kernel.now)
    memory = medium.memory_noise(qubit, at=start)
    qubit.created, qubit.ready_at = start, done
    if medium.rng.random() < 1 - node.gate_fidelity:
        apply_pauli(qubit, PAULIS[int(medium.rng.integers(4))])
    gate = (1 - node.gate_fidelity) / 4
    pair = qubit.pair
    if qubit.component is None:
        pair.distribution = physics.pauli_channel(physics.pauli_channel(pair.distribution, *memory), gate, gate,
                                                  gate)
    qubit.slot = target
    node.held[target] = qubit
    medium.kernel.deliver_at(done, reply_to, MoveResult(command.slot, target))


def run_bell_measure(medium: Medium, node_id: int, command: BellMeasure, reply_to: VirtualPort) -> None:
    """Entanglement swapping (:mod:`stack.quantum.swap`); the result comes after the gate and the readout."""
    node = medium.nodes[node_id]
    slots = (command.slot_a, command.slot_b)
    start = start_of(medium, node_id, slots)
    busy = start - medium.kernel.now + node.gate_ns + node.readout_ns
    qubits = (medium.take(node_id, slots[0], busy_ns=busy), medium.take(node_id, slots[1], busy_ns=busy))
    memory = (medium.memory_noise(qubits[0], at=start), medium.memory_noise(qubits[1], at=start))
    for qubit in qubits:
        qubit.status = QubitStatus.MEASURED
    medium.ledger["measured"] += 2
    if qubits[0].component is not None or qubits[1].component is not None:
        bell, success = gates.bell_measure(medium.components, node, qubits, medium.rng, medium.far_half(qubits[1]))
    else:
        far = (medium.far_half(qubits[0]), medium.far_half(qubits[1]))
        bell, success = swap.bell_measure(node, qubits, memory, far, medium.rng)
    medium.kernel.deliver_at(medium.kernel.now + busy, reply_to, BellMeasureResult(*slots, bell, success))
