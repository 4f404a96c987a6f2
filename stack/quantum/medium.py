"""The quantum medium: qubits, entangled pairs, memories, measurement and Bell measurement.

A pair (:mod:`stack.quantum.state`) is an ideal Bell state plus a Pauli frame held as a two-qubit
``stim.PauliString`` (qubit 0 at end *a*, qubit 1 at end *b*); measuring both ends in
the same basis gives outcomes whose parity is fixed by whether the frame commutes with
that basis' correlator. Alongside the sampled frame each pair carries its Bell-diagonal
distribution (the fidelity estimate). Memory noise is the Pauli twirl of T1/T2 over a
qubit's storage time, sampled when it is measured or moved; readout flips an outcome with
probability 1 − readout fidelity; a move to a storage qubit applies the gate's
depolarising noise. A Bell measurement of two qubits of a node swaps entanglement onto
their far halves (:mod:`stack.quantum.swap`); the two ends' parts of a distillation round
act on two pairs' frames and distributions (:mod:`stack.quantum.distill`).

Data qubits (``Init``) and Clifford gates (``Gate``, :mod:`stack.quantum.gates`) take qubits out of the frame
algebra into small stim tableau components (:mod:`stack.quantum.components`); measurement, moves, discards and
Bell measurements work on either kind. Commands on a qubit run in order: one issued while the qubit's last
gate or move is still running starts when it ends (``Qubit.ready_at``).

Entanglement generation itself lives in :mod:`stack.quantum.heralding`. Every qubit is
accounted for: it ends measured or discarded, and :meth:`Medium.finish` fails loudly when
a qubit is still in memory that no protocol layer claims.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol

import numpy as np
import stim

from protocols.common import Basis
from protocols.physical import physics
from protocols.physical.hardware import (
    GATES,
    Arm,
    BellMeasure,
    BellMeasureResult,
    CommandRejected,
    Disarm,
    Discard,
    Distill,
    Gate,
    Init,
    Measure,
    MeasureResult,
    Move,
    MoveResult,
)
from stack.core.kernel import Kernel, VirtualPort
from stack.quantum import gates, swap
from stack.quantum.commands import REPLIES, refusal, slot_of
from stack.quantum.components import Components
from stack.quantum.distill import Distillation
from stack.quantum.state import (
    FRAME_OF_BELL,
    IDEAL_PARITY,
    PAULIS,
    UNIFORM,
    NodeHardware,
    Pair,
    Qubit,
    QubitStatus,
    anticommutes,
    apply_pauli,
)

__all__ = ["FRAME_OF_BELL", "AccountingError", "Generation", "Medium", "NodeHardware", "Pair", "Qubit",
           "QubitStatus"]


class Generation(Protocol):
    """Entanglement generation as the medium drives it (:class:`stack.quantum.heralding.Heralding`)."""

    def command(self, node_id: int, command: Arm | Disarm) -> None:
        """A node armed or disarmed its end of a link."""

    def slot_freed(self, node_id: int) -> None:
        """A communication qubit of ``node_id`` became free for the next attempt."""

    def link_ends(self, link_id: Any) -> Collection[int] | None:
        """The nodes that may arm link ``link_id`` (None: there is no such link)."""


_ARMS = (Arm, Disarm)
_LOCAL = (Init, Gate, Distill)
_UNPENDING = (Discard, Arm, Disarm)
PRUNE_FLOOR = 4096
"""Size of :attr:`Medium.qubits` below which it is never pruned."""


class AccountingError(RuntimeError):
    """The medium holds qubits that no protocol layer claims: something leaked."""


class Medium:
    """Owns all quantum state; only the medium and :mod:`stack.quantum.heralding` touch stim."""

    def __init__(self, kernel: Kernel, rng: np.random.Generator,
                 capture: Callable[[int, int, bytes], None] | None = None) -> None:
        self.kernel = kernel
        self.rng = rng
        self.capture = capture
        self.nodes: dict[int, NodeHardware] = {}
        self.qubits: dict[int, Qubit] = {}
        """Qubits a far-half lookup can still reach: pruned (:meth:`_prune`) once it has doubled in size."""
        self._prune_at = PRUNE_FLOOR
        self.ledger = {"created": 0, "measured": 0, "discarded": 0, "discarded_at_end": 0}
        self.heralding: Generation | None = None
        self.components = Components(rng, self.qubits)
        self.distillation = Distillation(self)
        self.rejected_commands = 0
        """Commands refused before they ran (:mod:`stack.quantum.commands`): ``medium.rejected_commands``."""
        self.last_rejection: str | None = None
        """Why the last refused command was refused (for tests and debugging)."""
        self._next_qubit = 1

    def add_node(self, hardware: NodeHardware) -> None:
        self.nodes[hardware.node_id] = hardware

    def clock_adjusted(self, node_id: int, adjust: Any, at_ns: int) -> None:
        """A node's servo adjusted its clock. In-process the heralding shares the node's
        :class:`stack.timing.clocks.Clock`, so there is nothing to do; the multi-process medium
        client forwards the adjustment to the medium process's copy of the clock."""

    # -- commands from nodes ----------------------------------------------------------------
    def command(self, node_id: int, command: Any, reply_to: VirtualPort) -> None:
        """Execute one hardware command issued by a layer of ``node_id``, or refuse it: a command that cannot
        run (an empty slot, a link the node does not end, a value out of range) is counted and, if its sender
        waits for a result, answered with :class:`CommandRejected`; nothing else happens."""
        kind = type(command)            # the per-pair commands: their checks inline (_held_free)
        if kind is Measure:
            if isinstance(command.basis, Basis) and self._held_free(node_id, command.slot):
                self._measure(node_id, command, reply_to)
                return
        elif kind is BellMeasure:
            if command.slot_a != command.slot_b and self._held_free(node_id, command.slot_a, command.slot_b):
                self._bell_measure(node_id, command, reply_to)
                return
        elif kind is Move and self._held_free(node_id, command.slot):
            self._move(node_id, command, reply_to)
            return
        reason = self._refusal(node_id, command)
        if reason is not None:
            self._reject(node_id, command, reason, reply_to)
            return
        if isinstance(command, _ARMS):
            assert self.heralding is not None, "no heralded links"
            self.heralding.command(node_id, command)
        elif isinstance(command, Measure):
            self._measure(node_id, command, reply_to)
        elif isinstance(command, Discard):
            self._discard(node_id, command.slot)
        elif isinstance(command, Move):
            self._move(node_id, command, reply_to)
        elif isinstance(command, BellMeasure):
            self._bell_measure(node_id, command, reply_to)
        elif isinstance(command, Init):
            self._init(node_id, command.slot)
        elif isinstance(command, Gate):
            self._gate(node_id, command)
        elif isinstance(command, Distill):
            self._distill(node_id, command, reply_to)
        else:
            raise TypeError(f"unknown hardware command {command!r}")

    def _held_free(self, node_id: int, *slots: Any) -> bool:
        """Whether each of ``slots`` of ``node_id`` is a slot number holding a qubit no pending distillation
        round holds: with its own checks (basis; distinct slots) what :meth:`_refusal` asks of a Measure, Move
        or BellMeasure. A command that fails one takes the general path, which says why."""
        node = self.nodes.get(node_id)
        if node is None:
            return False
        held, free = node.held, self.distillation.is_free
        for slot in slots:
            if type(slot) is not int or slot < 0:
                return False
            qubit = held.get(slot)
            if qubit is None or not free(qubit):
                return False
        return True

    def _measure(self, node_id: int, command: Measure, reply_to: VirtualPort) -> None:
        now = self.kernel.now
        node = self.nodes[node_id]
        ready_at = node.held[command.slot].ready_at
        start = ready_at if ready_at > now else now         # after the qubit's last gate or move (_start)
        done = start + node.readout_ns
        qubit = self.take(node_id, command.slot, busy_ns=done - now)
        outcome = self.measure(qubit, command.basis, at=start)
        self.kernel.deliver_at(done, reply_to, MeasureResult(command.slot, qubit.qubit_id, command.basis, outcome))

    def _start(self, node_id: int, slots: tuple[int, ...]) -> int:
        """When a command on ``slots`` starts: now, or when the last gate or move on one of them ends."""
        held = self.nodes[node_id].held
        start = self.kernel.now
        for slot in slots:
            qubit = held.get(slot)
            if qubit is not None and qubit.ready_at > start:
                start = qubit.ready_at
        return start

    def _init(self, node_id: int, slot: int) -> None:
        node = self.nodes[node_id]
        if not node.is_data(slot) or slot in node.held:
            first = node.slots + node.storage
            raise ValueError(f"node {node_id} cannot initialise slot {slot}: it needs a free data qubit "
                             f"(slots {first}..{first + node.data - 1})")
        start = max(self.kernel.now, node.busy_until.get(slot, 0))
        qubit = self.create(node_id, slot, 0, start, Pair(stim.PauliString(2), UNIFORM))
        qubit.ready_at = start
        self.components.fresh(qubit)

    def _gate(self, node_id: int, command: Gate) -> None:
        node = self.nodes[node_id]
        if len(set(command.slots)) != len(command.slots) or not all(slot in node.held for slot in command.slots):
            raise ValueError(f"node {node_id} cannot apply {command.name} to slots {command.slots}: "
                             "it needs distinct held qubits")
        start = self._start(node_id, command.slots)
        qubits = [node.held[slot] for slot in command.slots]
        for qubit in qubits:
            self.distillation.check_free(qubit)
        memory = [self.memory_noise(qubit, at=start) for qubit in qubits]
        for qubit in qubits:
            qubit.created, qubit.ready_at = start, start + node.gate_ns
        gates.apply_gate(self.components, node, command.name, qubits, memory[0], self.rng)

    def _reject(self, node_id: int, command: Any, reason: str, reply_to: VirtualPort) -> None:
        """Refuse a command: count it, keep the reason, and answer it if its sender waits for a result."""
        self.rejected_commands += 1
        self.last_rejection = f"node {node_id}: {reason}"
        if isinstance(command, REPLIES):
            rejected = CommandRejected(type(command).__name__, slot_of(command), self.last_rejection)
            self.kernel.deliver_at(self.kernel.now, reply_to, rejected)

    def _distill(self, node_id: int, command: Distill, reply_to: VirtualPort) -> None:
        try:
            self.distillation.command(node_id, command, reply_to)
        except ValueError as error:       # the round's own rules (pairs, partners, pending rounds): nothing taken
            self._reject(node_id, command, str(error), reply_to)

    def _discard(self, node_id: int, slot: int) -> None:
        qubit = self.nodes[node_id].held.get(slot)
        if qubit is not None:
            self.distillation.discarding(qubit)
        qubit = self.take(node_id, slot)
        qubit.status = QubitStatus.DISCARDED
        self.ledger["discarded"] += 1
        if qubit.component is not None:
            self.components.discard(qubit)

    def refusal(self, node_id: int, command: Any, app_held: Collection[int] = ()) -> str | None:
        """Why the medium would refuse ``command`` of ``node_id`` now (None: it would run it). Nothing is
        counted: the application API asks before it issues a command that has no result to refuse it with.
        ``app_held`` (the slots the asking application holds) is for a medium that cannot see the node's memory
        (the multi-process node's client); this one knows it and ignores them."""
        return self._refusal(node_id, command)

    def free_data_slot(self, node_id: int, app_held: Collection[int] = ()) -> int | None:
        """The first data slot of ``node_id`` that holds no qubit (None: every one does); ``app_held`` as for
        :meth:`refusal`."""
        node = self.nodes[node_id]
        first = node.slots + node.storage
        return next((slot for slot in range(first, first + node.data) if slot not in node.held), None)

    def _refusal(self, node_id: int, command: Any) -> str | None:
        node = self.nodes.get(node_id)
        if node is None:
            return f"no node {node_id}"
        if isinstance(command, _LOCAL):
            return self._local_refusal(node, command)
        link = getattr(command, "link_id", None)
        ends = None if self.heralding is None or link is None else self.heralding.link_ends(link)
        reason = refusal(command, node.held, ends, node_id)
        if reason is None and not isinstance(command, _UNPENDING):
            reason = self._pending_refusal(node, getattr(command, "slot", None), getattr(command, "slot_a", None),
                                           getattr(command, "slot_b", None))
        return reason

    def _local_refusal(self, node: NodeHardware, command: Init | Gate | Distill) -> str | None:
        """Data-qubit and distillation commands (commands.refusal covers the others)."""
        if isinstance(command, Init):
            if not (isinstance(command.slot, int) and node.is_data(command.slot)) or command.slot in node.held:
                first = node.slots + node.storage
                return (f"cannot initialise slot {command.slot!r}: it needs a free data qubit "
                        f"(slots {first}..{first + node.data - 1})")
            return None
        if isinstance(command, Gate):
            slots = command.slots
            if GATES.get(command.name) != len(slots) or len(set(slots)) != len(slots) \
                    or not all(slot in node.held for slot in slots):
                return f"cannot apply {command.name} to slots {slots!r}: it needs distinct held qubits"
            return self._pending_refusal(node, *slots)
        slots = (command.keep_slot, command.sacrifice_slot)       # the rest is the round's own check
        if any(slot in node.held and node.held[slot].component is not None for slot in slots):
            return f"cannot distil slots {slots!r}: a qubit left the Pauli-frame algebra (a gate put it in a " \
                   "tableau component)"
        return None

    def _pending_refusal(self, node: NodeHardware, *slots: int | None) -> str | None:
        for slot in slots:
            if slot is not None and slot in node.held:
                try:
                    self.distillation.check_free(node.held[slot])
                except ValueError as error:
                    return str(error)
        return None

    def _move(self, node_id: int, command: Move, reply_to: VirtualPort) -> None:
        node = self.nodes[node_id]
        target = node.free_storage(self.kernel.now)
        if target is None:
            self.kernel.deliver_at(self.kernel.now, reply_to, MoveResult(command.slot, None))
            return
        start = self._start(node_id, (command.slot,))
        done = start + node.move_ns
        qubit = self.take(node_id, command.slot, busy_ns=done - self.kernel.now)
        memory = self.memory_noise(qubit, at=start)
        qubit.created, qubit.ready_at = start, done
        if self.rng.random() < 1 - node.gate_fidelity:
            apply_pauli(qubit, PAULIS[int(self.rng.integers(4))])
        gate = (1 - node.gate_fidelity) / 4
        pair = qubit.pair
        if qubit.component is None:
            pair.distribution = physics.pauli_channel(physics.pauli_channel(pair.distribution, *memory), gate, gate,
                                                      gate)
        qubit.slot = target
        node.held[target] = qubit
        self.kernel.deliver_at(done, reply_to, MoveResult(command.slot, target))

    def _bell_measure(self, node_id: int, command: BellMeasure, reply_to: VirtualPort) -> None:
        """Entanglement swapping (:mod:`stack.quantum.swap`); the result comes after the gate and the readout."""
        node = self.nodes[node_id]
        slots = (command.slot_a, command.slot_b)
        start = self._start(node_id, slots)
        busy = start - self.kernel.now + node.gate_ns + node.readout_ns
        qubits = (self.take(node_id, slots[0], busy_ns=busy), self.take(node_id, slots[1], busy_ns=busy))
        memory = (self.memory_noise(qubits[0], at=start), self.memory_noise(qubits[1], at=start))
        for qubit in qubits:
            qubit.status = QubitStatus.MEASURED
        self.ledger["measured"] += 2
        if qubits[0].component is not None or qubits[1].component is not None:
            bell, success = gates.bell_measure(self.components, node, qubits, self.rng, self.far_half(qubits[1]))
        else:
            far = (self.far_half(qubits[0]), self.far_half(qubits[1]))
            bell, success = swap.bell_measure(node, qubits, memory, far, self.rng)
        self.kernel.deliver_at(self.kernel.now + busy, reply_to, BellMeasureResult(*slots, bell, success))

    # -- qubits -----------------------------------------------------------------------------
    def create(self, node_id: int, slot: int, side: int, created: float, pair: Pair) -> Qubit:
        """A new qubit in ``slot`` of ``node_id``, holding side ``side`` of ``pair``."""
        qubit = Qubit(self._next_qubit, node_id, slot, side, created, pair)
        pair.members[side] = qubit.qubit_id
        self._next_qubit += 1
        self.qubits[qubit.qubit_id] = qubit
        self.nodes[node_id].held[slot] = qubit
        self.ledger["created"] += 1
        if len(self.qubits) >= self._prune_at:
            self._prune()
        return qubit

    def _prune(self) -> None:
        """Forget the qubits no far-half lookup can reach any more, so a long run's memory stays bounded:
        amortised O(1) per qubit, and no random draw (runs stay byte-for-byte the same)."""
        for qubit_id in [qubit_id for qubit_id, q in self.qubits.items() if not self._reachable(q)]:
            del self.qubits[qubit_id]
        self._prune_at = max(PRUNE_FLOOR, 2 * len(self.qubits))

    def _reachable(self, qubit: Qubit) -> bool:
        """Whether ``qubit`` may still be looked up: it is in memory or in a tableau component, or it is the
        far half of one that is (a half whose partner was swapped away belongs to a dissolved pair)."""
        if qubit.status is QubitStatus.IN_MEMORY or qubit.component is not None:
            return True
        far_id = qubit.pair.members[1 - qubit.side]
        far = self.qubits.get(far_id) if far_id else None
        return (far is not None and far.pair is qubit.pair
                and (far.status is QubitStatus.IN_MEMORY or far.component is not None))

    def take(self, node_id: int, slot: int, busy_ns: int = 0) -> Qubit:
        """Remove the qubit in ``slot`` from memory; the slot is free once ``busy_ns`` (a readout, a move) is over."""
        node = self.nodes[node_id]
        if slot not in node.held:
            raise ValueError(f"node {node_id} has no qubit in slot {slot}")
        self.distillation.check_free(node.held[slot])
        qubit = node.held.pop(slot)
        if busy_ns > 0:
            node.busy_until[slot] = self.kernel.now + busy_ns
        if self.heralding is not None and slot < node.slots:
            if busy_ns > 0:
                self.kernel.call_at(self.kernel.now + busy_ns, self._slot_freed, node_id)
            else:
                self.heralding.slot_freed(node_id)
        return qubit

    def _slot_freed(self, node_id: int) -> None:
        if self.heralding is not None:
            self.heralding.slot_freed(node_id)

    def far_half(self, qubit: Qubit) -> Qubit | None:
        """The qubit holding the other half of ``qubit``'s pair (None: there is none)."""
        far_id = qubit.pair.members[1 - qubit.side]
        return self.qubits.get(far_id) if far_id else None

    def memory_noise(self, qubit: Qubit, at: int | None = None) -> tuple[float, float, float]:
        """Sample the memory channel of ``qubit``'s storage until ``at`` (default now) into its frame or its
        component; returns (pX, pY, pZ)."""
        node = self.nodes[qubit.node_id]
        stored = (self.kernel.now if at is None else at) - qubit.created
        px, py, pz = physics.memory_pauli_probabilities(stored, node.t1_ns, node.t2_ns)
        draw = self.rng.random() if px + py + pz else 1.0
        if draw < px:
            apply_pauli(qubit, "X")
        elif draw < px + py:
            apply_pauli(qubit, "Y")
        elif draw < px + py + pz:
            apply_pauli(qubit, "Z")
        return px, py, pz

    def measure(self, qubit: Qubit, basis: Basis, at: int | None = None) -> int:
        """Measure a qubit already taken out of memory (its memory noise until ``at``, default now); returns
        the (read-out) outcome."""
        pair = qubit.pair
        self.memory_noise(qubit, at)
        qubit.status = QubitStatus.MEASURED
        self.ledger["measured"] += 1
        if qubit.component is not None:
            outcome = self.components.measure(qubit, basis)
        elif pair.first is None or pair.first[0] != basis:
            outcome = int(self.rng.integers(2))
            if pair.first is None:
                pair.first = (basis, outcome)
        else:
            outcome = pair.first[1] ^ IDEAL_PARITY[basis] ^ anticommutes(pair.frame, basis)
        fidelity = self.nodes[qubit.node_id].readout_fidelity
        if fidelity < 1 and self.rng.random() >= fidelity:
            outcome ^= 1
        return outcome

    # -- end of run -------------------------------------------------------------------------
    def finish(self, claimed: dict[int, set[int]]) -> dict[str, int]:
        """Check every qubit in memory is claimed by a layer, then discard them all."""
        leaked = [q for node in self.nodes.values() for slot, q in node.held.items()
                  if slot not in claimed.get(node.node_id, set())]
        if leaked:
            names = ", ".join(f"qubit {q.qubit_id} (node {q.node_id} slot {q.slot})" for q in leaked)
            raise AccountingError(f"{len(leaked)} qubit(s) in memory that no layer holds: {names}")
        for node in self.nodes.values():
            for slot in list(node.held):
                node.held.pop(slot).status = QubitStatus.DISCARDED
                self.ledger["discarded_at_end"] += 1
        ends = self.ledger["measured"] + self.ledger["discarded"] + self.ledger["discarded_at_end"]
        if ends != self.ledger["created"]:
            raise AccountingError(f"created {self.ledger['created']} qubits but {ends} ended")
        return dict(self.ledger)
