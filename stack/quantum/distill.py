"""Entanglement distillation in the medium: the two ends' parts of a round on Pauli frames and distributions.

A round acts on two pairs A (kept) and B (sacrificed) shared by nodes 1 and 2. Each end's part
(:class:`protocols.physical.hardware.Distill`) is a CNOT from its half of A to its half of B (after the DEJMPS
rotation when asked) and a Z measurement of its half of B. On Bell indices the bilateral CNOT is exact and
deterministic: (a, b) → (x_a | (z_a ⊕ z_b) << 1, (x_a ⊕ x_b) | z_b << 1); the DEJMPS rotation conjugates a
Pauli by R_x(±π/2), swapping indices 2 and 3 (:mod:`protocols.network.distillation`).

The ends act at different times and their parts commute (they touch different qubits), so the medium applies
the joint map when the *second* end's command comes. At the first end's command (time t1) it samples that
end's memory noise (before its gates, so straight into the frames), draws its gate noise (kept for after the
map) and its outcome o1, uniform — the sacrificed half's marginal is maximally mixed whatever happens at the
other end — and answers at t1 + gate + readout. The round is then *pending*: the first end's kept qubit may
only be discarded, and the second end's two qubits only taken by the matching Distill or discarded, so
nothing can observe the four qubits in between. At the second end's command (t2) the medium samples that
end's memory noise, applies the rotation and the bilateral CNOT to the frames, then both ends' gate noise;
the second outcome is o2 = o1 ⊕ x(B) (B's Z parity), each outcome flipped by its node's readout error.
Measuring in this order gives exactly the joint statistics of the real order.

The kept pair's distribution becomes the closed form
:func:`protocols.network.distillation.parity_branches` of the inputs' distributions after all four memory
channels, with both ends' gate and readout noise, given the reported parity o1 ⊕ o2 (and twirled about
``twirl_about`` when asked): exact, because every step is a Pauli channel or a Clifford map of Bell indices.

A round whose partner qubits are gone (a far half discarded before the first command, or one of the second
end's qubits discarded while pending: a round abandoned, e.g. after a cutoff) still measures the sacrificed
qubit (a uniform outcome); the pairs' remaining halves are then left unentangled and maximally mixed (an
approximation: a real abandoned round can leave classical correlations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from protocols.common import Basis, DistillProtocol
from protocols.physical import physics
from protocols.physical.hardware import BellDistribution, Distill, DistillResult
from stack.core.kernel import Kernel, VirtualPort
from stack.quantum.state import (
    PAULIS,
    UNIFORM,
    NodeHardware,
    Pair,
    Qubit,
    QubitStatus,
    apply_pauli,
    bell_index,
    frame_of_bell,
)

# The closed forms of a round (protocols.network.distillation) are imported by the first round: every medium
# has this part, and a run that distils nothing would pay ~1 % of its start-up for them otherwise.
if TYPE_CHECKING:
    from protocols.network import distillation

PauliProbabilities = tuple[float, float, float]
_CYCLE = (0, 3, 1, 2)
"""The twirl's cyclic relabelling of errors X → Y → Z → X (indices 1 → 3 → 2 → 1); linear on Bell indices."""


class DistillMedium(Protocol):
    """What a round needs of :class:`stack.quantum.medium.Medium`."""

    kernel: Kernel
    rng: np.random.Generator
    nodes: dict[int, NodeHardware]
    ledger: dict[str, int]

    def take(self, node_id: int, slot: int, busy_ns: int = 0) -> Qubit: ...

    def memory_noise(self, qubit: Qubit) -> PauliProbabilities: ...

    def far_half(self, qubit: Qubit) -> Qubit | None: ...


@dataclass(slots=True)
class _Pending:
    """A round after the first end's part: its qubits, and what that part drew."""

    command: Distill
    keep: Qubit
    sacrifice: Qubit
    far_keep: Qubit
    far_sacrifice: Qubit
    outcome: int
    reported: int
    gate_paulis: tuple[str, str]
    memory: tuple[PauliProbabilities, PauliProbabilities]

    @property
    def qubits(self) -> tuple[Qubit, Qubit, Qubit]:
        return self.keep, self.far_keep, self.far_sacrifice


class Distillation:
    """The distillation rounds of one medium, pending or not."""

    def __init__(self, medium: DistillMedium) -> None:
        self.medium = medium
        self.pending: dict[int, _Pending] = {}
        """Qubit id → the pending round that holds it (the first end's kept qubit, the second end's two)."""

    # -- what other commands may do ------------------------------------------------------------------
    def is_free(self, qubit: Qubit) -> bool:
        """Whether no pending round holds ``qubit`` (:meth:`check_free` would not raise)."""
        return qubit.qubit_id not in self.pending

    def check_free(self, qubit: Qubit) -> None:
        """Raise if a pending round holds ``qubit`` (any command but Discard and the round's Distill)."""
        pending = self.pending.get(qubit.qubit_id)
        if pending is not None:
            raise ValueError(f"node {qubit.node_id} slot {qubit.slot} holds a qubit of a distillation round node "
                             f"{pending.keep.node_id} started: only that round's Distill or a Discard may take it")

    def discarding(self, qubit: Qubit) -> None:
        """``qubit`` is about to be discarded: the first end's kept qubit leaves its round going; one of the
        second end's qubits abandons it."""
        pending = self.pending.pop(qubit.qubit_id, None)
        if pending is None or qubit is pending.keep:
            return
        self._release(pending)
        _unpair([q for q in (pending.keep, pending.far_keep, pending.far_sacrifice) if q is not qubit],
                self.medium.rng)

    # -- the command -----------------------------------------------------------------------------------
    def command(self, node_id: int, command: Distill, reply_to: VirtualPort) -> None:
        node = self.medium.nodes[node_id]
        slots = (command.keep_slot, command.sacrifice_slot)
        if slots[0] == slots[1] or not all(slot in node.held for slot in slots):
            raise ValueError(f"node {node_id} cannot distil slots {slots}: it needs two distinct held qubits")
        keep, sacrifice = node.held[slots[0]], node.held[slots[1]]
        if keep.pair is sacrifice.pair:
            raise ValueError(f"node {node_id} cannot distil slots {slots}: they hold the two halves of one pair")
        pending = self.pending.get(keep.qubit_id) or self.pending.get(sacrifice.qubit_id)
        if pending is not None:
            outcome = self._second(pending, node, command, keep, sacrifice)
        else:
            outcome = self._first(node, command, keep, sacrifice)
        busy = node.gate_ns + node.readout_ns
        self.medium.kernel.deliver_at(self.medium.kernel.now + busy, reply_to, DistillResult(*slots, outcome))

    def _first(self, node: NodeHardware, command: Distill, keep: Qubit, sacrifice: Qubit) -> int:
        far = (self.medium.far_half(keep), self.medium.far_half(sacrifice))
        present = [q for q in far if q is not None and q.status == QubitStatus.IN_MEMORY]
        if any(q is not None and q.status == QubitStatus.MEASURED for q in far):
            raise ValueError(f"node {node.node_id} cannot distil slots {command.keep_slot, command.sacrifice_slot}: "
                             "a far half was measured already")
        if len(present) == 2 and (present[0].node_id != present[1].node_id or present[0].node_id == node.node_id):
            raise ValueError(f"node {node.node_id} cannot distil slots {command.keep_slot, command.sacrifice_slot}: "
                             "the two pairs do not join it to one other node")
        memory, gate = self._local_part(node, keep, sacrifice)
        outcome = int(self.medium.rng.integers(2))
        sacrifice.pair.first = (Basis.Z, outcome)
        reported = _read_out(outcome, node, self.medium.rng)
        if len(present) < 2:                                   # no partner for the round: nothing to distil
            _unpair([keep, *present], self.medium.rng)
            return reported
        assert far[0] is not None and far[1] is not None
        pending = _Pending(command, keep, sacrifice, far[0], far[1], outcome, reported, gate, memory)
        for qubit in pending.qubits:
            self.pending[qubit.qubit_id] = pending
        return reported

    def _second(self, pending: _Pending, node: NodeHardware, command: Distill, keep: Qubit,
                sacrifice: Qubit) -> int:
        if keep is not pending.far_keep or sacrifice is not pending.far_sacrifice or \
                (command.protocol, command.twirl_about) != (pending.command.protocol, pending.command.twirl_about):
            raise ValueError(f"node {node.node_id}'s {command} does not match the round node "
                             f"{pending.keep.node_id} started with {pending.command} on the same pairs")
        self._release(pending)
        a, b = keep.pair, sacrifice.pair
        inputs = (a.distribution, b.distribution)
        memory, gate = self._local_part(node, keep, sacrifice)
        _bilateral_cnot(a, b, command.protocol)
        for qubits, paulis in (((pending.keep, pending.sacrifice), pending.gate_paulis), ((keep, sacrifice), gate)):
            for qubit, pauli in zip(qubits, paulis, strict=True):
                apply_pauli(qubit, pauli)
        reported = _read_out(pending.outcome ^ (bell_index(b.frame) & 1), node, self.medium.rng)
        from protocols.network import distillation

        first_node = self.medium.nodes[pending.keep.node_id]
        noise = distillation.RoundNoise((first_node.gate_fidelity, node.gate_fidelity),
                                        (first_node.readout_fidelity, node.readout_fidelity))
        a.distribution = _kept_distribution(
            command, (_after(inputs[0], pending.memory[0], memory[0]), _after(inputs[1], pending.memory[1], memory[1])),
            noise, pending.reported ^ reported)
        if command.twirl_about is not None:
            _twirl_frame(a, command.twirl_about, self.medium.rng)
        return reported

    def _local_part(self, node: NodeHardware, keep: Qubit, sacrifice: Qubit) -> tuple[
            tuple[PauliProbabilities, PauliProbabilities], tuple[str, str]]:
        """One end's part up to its readout: both qubits' memory noise into their frames, the sacrificed qubit
        taken and measured, the kept one's storage restarted; returns the memory channels and the gate's
        Paulis (to apply after the joint map)."""
        now = self.medium.kernel.now
        memory = (self.medium.memory_noise(keep), self.medium.memory_noise(sacrifice))
        keep.created = now
        self.medium.take(node.node_id, sacrifice.slot, busy_ns=node.gate_ns + node.readout_ns)
        sacrifice.status = QubitStatus.MEASURED
        self.medium.ledger["measured"] += 1
        gate = ("I", "I")
        if node.gate_fidelity < 1 and self.medium.rng.random() >= node.gate_fidelity:
            draw = int(self.medium.rng.integers(16))
            gate = (PAULIS[draw >> 2], PAULIS[draw & 3])
        return memory, gate

    def _release(self, pending: _Pending) -> None:
        for qubit in pending.qubits:
            if self.pending.get(qubit.qubit_id) is pending:
                del self.pending[qubit.qubit_id]


def _bilateral_cnot(a: Pair, b: Pair, protocol: DistillProtocol) -> None:
    """Both ends' rotation (DEJMPS) and CNOT on the frames of the kept pair ``a`` and the sacrificed ``b``."""
    from protocols.network import distillation

    ia, ib = bell_index(a.frame), bell_index(b.frame)
    if protocol == DistillProtocol.DEJMPS:
        ia, ib = distillation.ROTATED[ia], distillation.ROTATED[ib]
    ia, ib = distillation.bilateral_cnot_indices(ia, ib)
    _set_frame(a, ia)
    _set_frame(b, ib)


def _kept_distribution(command: Distill, inputs: tuple[BellDistribution, BellDistribution],
                       noise: distillation.RoundNoise, parity: int) -> BellDistribution:
    from protocols.network import distillation

    keep, sacrifice = inputs
    if command.protocol == DistillProtocol.DEJMPS:
        keep, sacrifice = distillation.rotate(keep), distillation.rotate(sacrifice)
    output = distillation.parity_branches(keep, sacrifice, noise)[parity].output
    return output if command.twirl_about is None else distillation.twirl(output, command.twirl_about)


def _twirl_frame(pair: Pair, about: int, rng: np.random.Generator) -> None:
    """Relabel the error relative to ``about`` by a random power of the cycle X → Y → Z."""
    error = bell_index(pair.frame) ^ about
    for _ in range(int(rng.integers(3))):
        error = _CYCLE[error]
    _set_frame(pair, about ^ error)


def _after(distribution: BellDistribution, *channels: PauliProbabilities) -> BellDistribution:
    for channel in channels:
        if any(channel):
            distribution = physics.xor_convolve(distribution, physics.pauli_distribution(*channel))
    return distribution


def _read_out(outcome: int, node: NodeHardware, rng: np.random.Generator) -> int:
    if node.readout_fidelity < 1 and rng.random() >= node.readout_fidelity:
        return outcome ^ 1
    return outcome


def _set_frame(pair: Pair, index: int) -> None:
    pair.frame = frame_of_bell(index)


def _unpair(qubits: list[Qubit], rng: np.random.Generator) -> None:
    """Leave each qubit still in memory alone in a fresh, maximally mixed, partnerless pair."""
    for qubit in qubits:
        if qubit.status == QubitStatus.IN_MEMORY:
            pair = Pair(frame_of_bell(int(rng.integers(4))), UNIFORM, None,
                        [qubit.qubit_id, 0])
            qubit.pair, qubit.side = pair, 0
