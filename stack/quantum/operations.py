"""The timed operations a node's commands run on its qubits in the medium (:class:`stack.quantum.medium.Medium`).

Each starts once the qubits' last gate or move is over (:func:`start_of`), takes what it needs from memory,
applies the memory noise of the storage until it starts, and answers when it ends: measurement, a move to a
storage qubit (the gate's depolarising noise), a Bell measurement (entanglement swapping,
:mod:`stack.quantum.swap`, or on tableau components, :mod:`stack.quantum.gates`), a data qubit's
initialisation and a Clifford gate. The medium checks each command before it calls one of these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from protocols.common import Basis
from protocols.fastinit import fast_new
from protocols.physical.hardware import BellMeasure, BellMeasureResult, Gate, Measure, MeasureResult, Move, MoveResult
from protocols.physical.physics import pauli_channel
from stack.core.kernel import Kernel, VirtualPort
from stack.quantum import gates, swap
from stack.quantum.components import Components
from stack.quantum.distill import Distillation
from stack.quantum.memory import sample
from stack.quantum.sampling import top_bits
from stack.quantum.state import (
    ANTICOMMUTES,
    IDEAL_PARITY,
    MEASURED,
    PAULIS,
    UNIFORM,
    NodeHardware,
    Pair,
    Qubit,
    apply_pauli,
)

_new_measure_result = fast_new(MeasureResult)
_new_move_result = fast_new(MoveResult)
_new_bell_result = fast_new(BellMeasureResult)


class Medium(Protocol):
    """What the operations need of :class:`stack.quantum.medium.Medium` (a protocol, not an import: the
    medium imports this module)."""

    kernel: Kernel
    rng: np.random.Generator
    uniform: Callable[[], float]
    bit: Callable[[], int]
    nodes: dict[int, NodeHardware]
    qubits: dict[int, Qubit]
    components: Components
    distillation: Distillation
    ledger: dict[str, int]

    def take(self, node_id: int, slot: int, busy_ns: int = 0) -> Qubit: ...

    def release(self, node: NodeHardware, slot: int, busy_ns: int = 0) -> None: ...

    def create(self, node_id: int, slot: int, side: int, created: float, pair: Pair) -> Qubit: ...

    def memory_noise(self, qubit: Qubit, at: int | None = None) -> tuple[float, float, float]: ...


def run_measure(medium: Medium, node_id: int, command: Measure, reply_to: VirtualPort) -> None:
    """Measure a held qubit; the result comes after the readout."""
    node, qubit = _held(medium, node_id, command.slot)
    measure_held(medium, node, qubit, command, reply_to)


def _held(medium: Medium, node_id: int, slot: int) -> tuple[NodeHardware, Qubit]:
    """The node and the qubit it holds in ``slot``, which no pending distillation round holds; else the medium's
    ``take`` raises why not (the general path of a command the medium's checks refused)."""
    node = medium.nodes[node_id]
    qubit = node.held.get(slot)
    if qubit is None or qubit.qubit_id in medium.distillation.pending:
        medium.take(node_id, slot)                  # raises: no qubit there, or a pending round holds it
    assert qubit is not None
    return node, qubit


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
    outcome = measure_taken(medium, node, qubit, basis, start)
    kernel.deliver_at(done, reply_to, _new_measure_result(command.slot, qubit.qubit_id, basis, outcome))


def measure_taken(medium: Medium, node: NodeHardware, qubit: Qubit, basis: Basis, at: int) -> int:
    """Measure ``qubit`` of ``node``, already taken out of memory, after its memory noise until ``at``; returns the
    (read-out) outcome (:meth:`stack.quantum.medium.Medium.measure`). A half whose pair has a half measured in
    the same basis gets the outcome the frame fixes; else a fair bit, kept as the pair's first."""
    sample(node, qubit, at - qubit.created, medium.uniform)
    qubit.status = MEASURED
    medium.ledger["measured"] += 1
    pair = qubit.pair
    if qubit.component is not None:
        outcome = medium.components.measure(qubit, basis)
    elif pair.first is None or pair.first[0] != basis:
        outcome = medium.bit()
        if pair.first is None:
            pair.first = (basis, outcome)
    else:
        outcome = pair.first[1] ^ IDEAL_PARITY[basis] ^ ANTICOMMUTES[basis][pair.frame]      # anticommutes()
    fidelity = node.readout_fidelity
    if fidelity < 1 and medium.uniform() >= fidelity:
        outcome ^= 1
    return outcome


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
    node, qubit = _held(medium, node_id, command.slot)
    move_held(medium, node, qubit, command, reply_to)


def move_held(medium: Medium, node: NodeHardware, qubit: Qubit, command: Move, reply_to: VirtualPort) -> None:
    """:func:`run_move` of ``qubit``, which ``node`` holds in the command's slot and no pending distillation round
    holds (the medium checked): its memory noise until the move starts, then the gate's depolarising noise (a
    uniform, and a Pauli drawn when it hits); the pair's distribution takes both channels."""
    kernel = medium.kernel
    now = kernel.now
    held, busy = node.held, node.busy_until
    target, end = node.slots, node.slots + node.storage
    while target < end and (target in held or busy.get(target, 0) > now):     # node.free_storage(now), inline
        target += 1
    if target == end:
        kernel.deliver_at(now, reply_to, _new_move_result(command.slot, None))
        return
    ready_at = qubit.ready_at
    start = ready_at if ready_at > now else now                 # after the qubit's last gate or move (start_of)
    done = start + node.move_ns
    medium.release(node, command.slot, done - now)              # take()
    uniform = medium.uniform
    memory = sample(node, qubit, start - qubit.created, uniform)
    qubit.created, qubit.ready_at = start, done
    error = 1 - node.gate_fidelity
    if uniform() < error:
        apply_pauli(qubit, PAULIS[top_bits(medium.rng, 2)])    # int(rng.integers(4)), cheaply
    if qubit.component is None:
        pair = qubit.pair
        distribution = pair.distribution
        if memory[0] + memory[1] + memory[2]:                   # an identity channel leaves it as it is
            distribution = pauli_channel(distribution, *memory)
        gate = error / 4
        if gate:
            distribution = pauli_channel(distribution, gate, gate, gate)
        pair.distribution = distribution
    qubit.slot = target
    held[target] = qubit
    kernel.deliver_at(done, reply_to, _new_move_result(command.slot, target))


def run_bell_measure(medium: Medium, node_id: int, command: BellMeasure, reply_to: VirtualPort) -> None:
    """Entanglement swapping (:mod:`stack.quantum.swap`); the result comes after the gate and the readout."""
    node = medium.nodes[node_id]
    qa, qb = node.held.get(command.slot_a), node.held.get(command.slot_b)
    pending = medium.distillation.pending
    if qa is None or qa.qubit_id in pending or qb is None or qb.qubit_id in pending or qa is qb:
        medium.take(node_id, command.slot_a)        # raises (the second, if the first can be taken)
        medium.take(node_id, command.slot_b)
    assert qa is not None and qb is not None
    bell_held(medium, node, qa, qb, command, reply_to)


def bell_held(medium: Medium, node: NodeHardware, qa: Qubit, qb: Qubit, command: BellMeasure,
              reply_to: VirtualPort) -> None:
    """:func:`run_bell_measure` of ``qa`` and ``qb``, which ``node`` holds in the command's two (distinct) slots
    and no pending distillation round holds (the medium checked)."""
    kernel = medium.kernel
    now = kernel.now
    start = now                                                 # start_of, inline
    if qa.ready_at > start:
        start = qa.ready_at
    if qb.ready_at > start:
        start = qb.ready_at
    busy = start - now + node.gate_ns + node.readout_ns
    medium.release(node, command.slot_a, busy)                  # take() of each
    medium.release(node, command.slot_b, busy)
    uniform = medium.uniform
    memory_a = sample(node, qa, start - qa.created, uniform)
    memory_b = sample(node, qb, start - qb.created, uniform)
    qa.status = qb.status = MEASURED
    medium.ledger["measured"] += 2
    qubits = medium.qubits
    far_a = qa.pair.members[1 - qa.side]                        # far_half(), inline
    far_b = qb.pair.members[1 - qb.side]
    far = (qubits.get(far_a) if far_a else None, qubits.get(far_b) if far_b else None)
    if qa.component is not None or qb.component is not None:
        bell, success = gates.bell_measure(medium.components, node, (qa, qb), medium.rng, far[1])
    else:
        bell, success = swap.bell_measure(node, (qa, qb), (memory_a, memory_b), far, medium.rng, uniform)
    kernel.deliver_at(now + busy, reply_to, _new_bell_result(command.slot_a, command.slot_b, bell, success))
