"""The quantum medium: qubits, entangled pairs, memories, measurement and Bell measurement.

A pair (:mod:`stack.quantum.state`) is an ideal Bell state plus a two-qubit Pauli frame (a small int:
qubit 0 at end *a*, qubit 1 at end *b*); measuring both ends in
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

The commands' timed operations live in :mod:`stack.quantum.operations`, their checks in
:mod:`stack.quantum.commands` (asked, and a refusal counted and answered, by :mod:`stack.quantum.refusals`),
entanglement generation in :mod:`stack.quantum.heralding`. Every qubit is accounted for
(:mod:`stack.quantum.accounting`): it ends measured or discarded, and :meth:`Medium.finish` fails loudly when a
qubit is still in memory that no protocol layer claims.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol

import numpy as np

from protocols.common import Basis
from protocols.physical.hardware import Arm, BellMeasure, Disarm, Discard, Distill, Gate, Init, Measure, Move
from stack.core.kernel import Kernel, VirtualPort
from stack.quantum import accounting
from stack.quantum.accounting import PRUNE_FLOOR, AccountingError, prune
from stack.quantum.components import Components
from stack.quantum.distill import Distillation
from stack.quantum.memory import sample, uniforms
from stack.quantum.operations import (
    bell_held,
    measure_held,
    measure_taken,
    move_held,
    run_bell_measure,
    run_gate,
    run_init,
    run_measure,
    run_move,
)
from stack.quantum.refusals import Refusals
from stack.quantum.sampling import bits
from stack.quantum.state import (
    DISCARDED,
    FRAME_OF_BELL,
    IN_MEMORY,
    NodeHardware,
    Pair,
    Qubit,
    QubitStatus,
)

__all__ = ["FRAME_OF_BELL", "PRUNE_FLOOR", "AccountingError", "Generation", "Medium", "NodeHardware", "Pair",
           "Qubit", "QubitStatus"]


class Generation(Protocol):
    """Entanglement generation as the medium drives it (:class:`stack.quantum.heralding.Heralding`)."""

    def command(self, node_id: int, command: Arm | Disarm) -> None:
        """A node armed or disarmed its end of a link."""

    def slot_freed(self, node_id: int) -> None:
        """A communication qubit of ``node_id`` became free for the next attempt."""

    def slot_free_at(self, node_id: int, at: int) -> None:
        """A communication qubit of ``node_id`` is busy until ``at``, and free for the next attempt from then on."""

    def link_ends(self, link_id: Any) -> Collection[int] | None:
        """The nodes that may arm link ``link_id`` (None: there is no such link)."""


_ARMS = (Arm, Disarm)
_HELD = frozenset((Measure, Move, BellMeasure))
_new = object.__new__


class Medium:
    """Owns all quantum state; of the runtime only the medium touches stim (its tableau components,
    :mod:`stack.quantum.components`, import it when a run first needs one)."""

    def __init__(self, kernel: Kernel, rng: np.random.Generator,
                 capture: Callable[[int, int, bytes], None] | None = None) -> None:
        self.kernel = kernel
        self.rng = rng
        self.bit = bits(rng)
        """``int(rng.integers(2))``, cheaply (:func:`stack.quantum.sampling.bits`)."""
        self.uniform = uniforms(rng)
        """``rng.random()``, cheaply (:func:`stack.quantum.memory.uniforms`)."""
        self.capture = capture
        self.nodes: dict[int, NodeHardware] = {}
        self.qubits: dict[int, Qubit] = {}
        """Qubits a far-half lookup can still reach: pruned (:func:`stack.quantum.accounting.prune`) once it has
        doubled in size."""
        self._prune_at = PRUNE_FLOOR
        self.ledger = {"created": 0, "measured": 0, "discarded": 0, "discarded_at_end": 0}
        self.heralding: Generation | None = None
        self.components = Components(rng, self.qubits)
        self.distillation = Distillation(self)
        self.refusals = Refusals(kernel, self.nodes, self.distillation.check_free, self._link_ends)
        """Why a command cannot run, and its refusal (counted, answered); the Arms found valid."""
        self._next_qubit = 1

    @property
    def rejected_commands(self) -> int:
        """Commands refused before they ran (:mod:`stack.quantum.commands`)."""
        return self.refusals.count

    @property
    def last_rejection(self) -> str | None:
        """Why the last refused command was refused (for tests and debugging)."""
        return self.refusals.last

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
        kind = type(command)            # the per-pair commands, checked inline (what Refusals.reason asks), the
        node = self.nodes.get(node_id)  # node and the qubits found once; one failing a check takes the general path
        if node is not None and kind in _HELD:
            held, pending = node.held, self.distillation.pending
            if kind is BellMeasure:
                slot, other = command.slot_a, command.slot_b
                qb = held.get(other) if type(other) is int and other >= 0 and other != slot else None
                if qb is not None and qb.qubit_id not in pending:
                    qa = held.get(slot) if type(slot) is int and slot >= 0 else None
                    if qa is not None and qa.qubit_id not in pending:
                        bell_held(self, node, qa, qb, command, reply_to)
                        return
            else:
                slot = command.slot
                qubit = held.get(slot) if type(slot) is int and slot >= 0 else None
                if qubit is not None and qubit.qubit_id not in pending:
                    if kind is Move:
                        move_held(self, node, qubit, command, reply_to)
                        return
                    if isinstance(command.basis, Basis):
                        measure_held(self, node, qubit, command, reply_to)
                        return
        elif kind is Arm and self.refusals.arms.get(id(command)) == (command, node_id):    # checked before: its
            self.heralding.command(node_id, command)   # type: ignore[union-attr]  # values and the link's ends
            return
        refusals = self.refusals
        reason = refusals.reason(node_id, command)
        if reason is not None:
            refusals.reject(node_id, command, reason, reply_to)
            return
        if isinstance(command, _ARMS):
            assert self.heralding is not None, "no heralded links"
            if isinstance(command, Arm):
                refusals.remember_arm(node_id, command)
            self.heralding.command(node_id, command)
        elif isinstance(command, Measure):
            run_measure(self, node_id, command, reply_to)
        elif isinstance(command, Discard):
            self._discard(node_id, command.slot)
        elif isinstance(command, Move):
            run_move(self, node_id, command, reply_to)
        elif isinstance(command, BellMeasure):
            run_bell_measure(self, node_id, command, reply_to)
        elif isinstance(command, Init):
            run_init(self, node_id, command.slot)
        elif isinstance(command, Gate):
            run_gate(self, node_id, command)
        elif isinstance(command, Distill):
            self._distill(node_id, command, reply_to)
        else:
            raise TypeError(f"unknown hardware command {command!r}")

    def _distill(self, node_id: int, command: Distill, reply_to: VirtualPort) -> None:
        try:
            self.distillation.command(node_id, command, reply_to)
        except ValueError as error:       # the round's own rules (pairs, partners, pending rounds): nothing taken
            self.refusals.reject(node_id, command, str(error), reply_to)

    def _discard(self, node_id: int, slot: int) -> None:
        qubit = self.nodes[node_id].held.get(slot)
        if qubit is not None:
            self.distillation.discarding(qubit)
        qubit = self.take(node_id, slot)
        qubit.status = DISCARDED
        self.ledger["discarded"] += 1
        if qubit.component is not None:
            self.components.discard(qubit)

    def refusal(self, node_id: int, command: Any, app_held: Collection[int] = ()) -> str | None:
        """Why the medium would refuse ``command`` of ``node_id`` now (None: it would run it). Nothing is
        counted: the application API asks before it issues a command that has no result to refuse it with.
        ``app_held`` (the slots the asking application holds) is for a medium that cannot see the node's memory
        (the multi-process node's client); this one knows it and ignores them."""
        return self.refusals.reason(node_id, command)

    def free_data_slot(self, node_id: int, app_held: Collection[int] = ()) -> int | None:
        """The first data slot of ``node_id`` that holds no qubit (None: every one does); ``app_held`` as for
        :meth:`refusal`."""
        node = self.nodes[node_id]
        first = node.slots + node.storage
        return next((slot for slot in range(first, first + node.data) if slot not in node.held), None)

    def _link_ends(self, link_id: Any) -> Collection[int] | None:
        """The nodes that may arm ``link_id`` (None: no such link, or no heralded links)."""
        return None if self.heralding is None else self.heralding.link_ends(link_id)

    # -- qubits -----------------------------------------------------------------------------
    def create(self, node_id: int, slot: int, side: int, created: float, pair: Pair) -> Qubit:
        """A new qubit in ``slot`` of ``node_id``, holding side ``side`` of ``pair``."""
        qubit_id = self._next_qubit
        qubit = _new(Qubit)             # Qubit(qubit_id, node_id, slot, side, created, pair) without the class call
        qubit.qubit_id = qubit_id
        qubit.node_id = node_id
        qubit.slot = slot
        qubit.side = side
        qubit.created = created
        qubit.pair = pair
        qubit.status = IN_MEMORY        # the defaults (tests/test_medium.py holds them to the class's)
        qubit.component = None
        qubit.ready_at = 0
        pair.members[side] = qubit_id
        self._next_qubit = qubit_id + 1
        self.qubits[qubit_id] = qubit
        self.nodes[node_id].held[slot] = qubit
        self.ledger["created"] += 1
        if len(self.qubits) >= self._prune_at:
            self._prune_at = prune(self.qubits)
        return qubit

    def take(self, node_id: int, slot: int, busy_ns: int = 0) -> Qubit:
        """Remove the qubit in ``slot`` from memory; the slot is free once ``busy_ns`` (a readout, a move) is over."""
        node = self.nodes[node_id]
        qubit = node.held.get(slot)
        if qubit is None:
            raise ValueError(f"node {node_id} has no qubit in slot {slot}")
        if qubit.qubit_id in self.distillation.pending:
            self.distillation.check_free(qubit)         # raises
        self.release(node, slot, busy_ns)
        return qubit

    def release(self, node: NodeHardware, slot: int, busy_ns: int = 0) -> None:
        """:meth:`take` of a qubit known to be in ``slot`` of ``node`` and held by no pending distillation round:
        the slot is emptied, and free once ``busy_ns`` is over."""
        del node.held[slot]
        heralding = self.heralding
        if busy_ns > 0:
            free_at = self.kernel.now + busy_ns
            node.busy_until[slot] = free_at
            if heralding is not None and slot < node.slots:
                heralding.slot_free_at(node.node_id, free_at)
        elif heralding is not None and slot < node.slots:
            heralding.slot_freed(node.node_id)

    def far_half(self, qubit: Qubit) -> Qubit | None:
        """The qubit holding the other half of ``qubit``'s pair (None: there is none)."""
        far_id = qubit.pair.members[1 - qubit.side]
        return self.qubits.get(far_id) if far_id else None

    def memory_noise(self, qubit: Qubit, at: int | None = None) -> tuple[float, float, float]:
        """Sample the memory channel of ``qubit``'s storage until ``at`` (default now) into its frame or its
        component (:func:`stack.quantum.memory.sample`); returns (pX, pY, pZ)."""
        return sample(self.nodes[qubit.node_id], qubit, (self.kernel.now if at is None else at) - qubit.created,
                      self.uniform)

    def measure(self, qubit: Qubit, basis: Basis, at: int | None = None) -> int:
        """Measure a qubit already taken out of memory (its memory noise until ``at``, default now); returns
        the (read-out) outcome (:func:`stack.quantum.operations.measure_taken`)."""
        return measure_taken(self, self.nodes[qubit.node_id], qubit, basis, self.kernel.now if at is None else at)

    # -- end of run -------------------------------------------------------------------------
    def finish(self, claimed: dict[int, set[int]]) -> dict[str, int]:
        """Check every qubit in memory is claimed by a layer, then discard them all (:func:`accounting.finish`)."""
        return accounting.finish(self.nodes, self.ledger, claimed)
