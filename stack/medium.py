"""The quantum medium: qubits, entangled pairs, heralded links and the physics.

A pair is an ideal Bell state plus a Pauli frame held as a two-qubit
``stim.PauliString`` (qubit 0 at end *a*, qubit 1 at end *b*); measuring both ends in
the same basis gives outcomes whose parity is fixed by whether the frame commutes with
that basis' correlator. Alongside the sampled frame each pair carries its Bell-diagonal
distribution (the fidelity estimate). Memory dephasing is sampled when a qubit is
measured, from its storage time and its node's T2.

Attempts are time-slotted and *sampled*: once both ends are armed, the number of failed
attempts is drawn from the geometric distribution and only the successful attempt's
photons are emitted (as quantum frames in the capture).

Every qubit is accounted for: it ends measured or discarded, and :meth:`Medium.finish`
fails loudly when a qubit is still in memory that no protocol layer claims.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import stim

from protocols import physics
from protocols.common import Basis, BellState
from protocols.hardware import Arm, Detection, Disarm, Discard, Emitted, Measure, MeasureResult
from protocols.packets.qframe import FRAME_PHOTON, QuantumFrame
from stack.kernel import Kernel, VirtualPort

FRAME_OF_BELL = {BellState.PHI_PLUS: "__", BellState.PSI_PLUS: "_X",
                 BellState.PHI_MINUS: "_Z", BellState.PSI_MINUS: "_Y"}
CORRELATOR = {Basis.Z: stim.PauliString("ZZ"), Basis.X: stim.PauliString("XX"),
              Basis.Y: stim.PauliString("YY")}
IDEAL_PARITY = {Basis.Z: 0, Basis.X: 0, Basis.Y: 1}
"""Parity of the two outcomes on |Φ+⟩: ⟨ZZ⟩ = ⟨XX⟩ = +1, ⟨YY⟩ = -1."""
PAULIS_ON_B = (stim.PauliString("__"), stim.PauliString("_X"), stim.PauliString("_Z"),
               stim.PauliString("_Y"))
Z_ON = (stim.PauliString("Z_"), stim.PauliString("_Z"))


class AccountingError(RuntimeError):
    """The medium holds qubits that no protocol layer claims: something leaked."""


class QubitStatus(enum.Enum):
    IN_MEMORY = "in-memory"
    MEASURED = "measured"
    DISCARDED = "discarded"


@dataclass(slots=True)
class Pair:
    frame: stim.PauliString
    distribution: tuple[float, float, float, float]
    first: tuple[Basis, int] | None = None


@dataclass(slots=True)
class Qubit:
    qubit_id: int
    node_id: int
    slot: int
    side: int
    created: int
    pair: Pair
    status: QubitStatus = QubitStatus.IN_MEMORY


@dataclass(slots=True)
class NodeHardware:
    """A node's memory: ``communication_qubits`` slots, each free, reserved or holding a qubit."""

    node_id: int
    slots: int
    t2_ns: float
    readout_ns: int
    physical_port: VirtualPort | None = None
    held: dict[int, Qubit] = field(default_factory=dict)
    reserved: set[int] = field(default_factory=set)

    def free_slot(self) -> int | None:
        for slot in range(self.slots):
            if slot not in self.held and slot not in self.reserved:
                return slot
        return None


@dataclass(frozen=True, slots=True)
class LinkPhysics:
    """Everything the medium needs to emulate one heralded link."""

    link_id: int
    node_a: int
    node_b: int
    station: int
    delay_a_ns: int
    delay_b_ns: int
    success_probability: float
    cycle_ns: int
    depolarizing: float


@dataclass(slots=True)
class _ArmState:
    remaining: int = 0
    basis: Basis | None = None


@dataclass(slots=True)
class _LinkState:
    physics: LinkPhysics
    rng: np.random.Generator
    armed: dict[int, _ArmState]
    next_slot: int = 0
    token: int = 0
    scheduled: bool = False
    reserved: tuple[int, int] | None = None
    attempts: int = 0
    successes: int = 0


class Medium:
    """Owns all quantum state; only this class touches stim."""

    def __init__(self, kernel: Kernel, rng: np.random.Generator,
                 capture: Callable[[int, int, bytes], None] | None = None) -> None:
        self.kernel = kernel
        self.rng = rng
        self.capture = capture
        self.nodes: dict[int, NodeHardware] = {}
        self.links: dict[int, _LinkState] = {}
        self.stations: dict[int, VirtualPort] = {}
        self.qubits: dict[int, Qubit] = {}
        self.generating = True
        self.ledger = {"created": 0, "measured": 0, "discarded": 0, "discarded_at_end": 0}
        self._next_qubit = 1

    # -- set-up -----------------------------------------------------------------------------
    def add_node(self, hardware: NodeHardware) -> None:
        self.nodes[hardware.node_id] = hardware

    def add_station(self, node_id: int, port: VirtualPort) -> None:
        self.stations[node_id] = port

    def add_link(self, link: LinkPhysics, rng: np.random.Generator) -> None:
        armed = {link.node_a: _ArmState(), link.node_b: _ArmState()}
        self.links[link.link_id] = _LinkState(link, rng, armed)

    # -- commands from nodes ----------------------------------------------------------------
    def command(self, node_id: int, command: Any, reply_to: VirtualPort) -> None:
        """Execute one hardware command issued by a layer of ``node_id``."""
        if isinstance(command, Arm):
            state = self.links[command.link_id]
            arm = state.armed[node_id]
            arm.remaining += command.pairs
            arm.basis = command.measure_basis
            self._try_start(state)
        elif isinstance(command, Disarm):
            self._disarm(self.links[command.link_id], node_id)
        elif isinstance(command, Measure):
            qubit = self._take(node_id, command.slot)
            outcome = self._measure(qubit, command.basis)
            result = MeasureResult(command.slot, qubit.qubit_id, command.basis, outcome)
            self.kernel.deliver_at(self.kernel.now + self.nodes[node_id].readout_ns, reply_to, result)
        elif isinstance(command, Discard):
            self._take(node_id, command.slot).status = QubitStatus.DISCARDED
            self.ledger["discarded"] += 1
        else:
            raise TypeError(f"unknown hardware command {command!r}")

    def stop_generation(self) -> None:
        """No new attempts from now on (the end of a run's generation window)."""
        self.generating = False
        for state in self.links.values():
            state.token += 1
            self._release(state)

    # -- attempts ---------------------------------------------------------------------------
    def _try_start(self, state: _LinkState) -> None:
        link = state.physics
        if state.scheduled or not self.generating:
            return
        if any(arm.remaining <= 0 for arm in state.armed.values()):
            return
        node_a, node_b = self.nodes[link.node_a], self.nodes[link.node_b]
        slot_a, slot_b = node_a.free_slot(), node_b.free_slot()
        if slot_a is None or slot_b is None:
            return
        node_a.reserved.add(slot_a)
        node_b.reserved.add(slot_b)
        state.reserved = (slot_a, slot_b)
        first = max(state.next_slot, -(-self.kernel.now // link.cycle_ns))
        failures = int(state.rng.geometric(link.success_probability)) - 1
        slot_index = first + failures
        state.scheduled = True
        state.attempts += failures + 1
        self.kernel.call_at(slot_index * link.cycle_ns, self._success,
                            (state, state.token, slot_index, failures + 1))

    def _success(self, args: tuple[_LinkState, int, int, int]) -> None:
        state, token, slot_index, attempts = args
        if token != state.token:
            return
        link = state.physics
        state.scheduled = False
        state.successes += 1
        state.next_slot = slot_index + 1
        assert state.reserved is not None
        slots, state.reserved = state.reserved, None
        self.nodes[link.node_a].reserved.discard(slots[0])
        self.nodes[link.node_b].reserved.discard(slots[1])
        rng = state.rng
        clicks = int(rng.integers(2)), int(rng.integers(2))
        bell = BellState.PSI_PLUS if clicks[0] == clicks[1] else BellState.PSI_MINUS
        frame = stim.PauliString(FRAME_OF_BELL[bell])
        if rng.random() < link.depolarizing:
            frame *= PAULIS_ON_B[int(rng.integers(4))]
        pair = Pair(frame, physics.werner_distribution(link.depolarizing, bell))
        t_slot = slot_index * link.cycle_ns
        arrival = t_slot + max(link.delay_a_ns, link.delay_b_ns)
        ends = ((link.node_a, link.delay_a_ns), (link.node_b, link.delay_b_ns))
        for side, ((node_id, delay), slot) in enumerate(zip(ends, slots, strict=True)):
            qubit = self._create(node_id, slot, side, arrival - delay, pair)
            self.kernel.call_at(arrival - delay, self._emit, (state, qubit, slot_index))
        pattern = ((1, clicks[0], arrival), (2, clicks[1], arrival))
        detection = Detection(link.link_id, slot_index, attempts, pattern, (arrival, arrival))
        self.kernel.deliver_at(arrival, self.stations[link.station], detection)
        for arm in state.armed.values():
            arm.remaining -= 1
        self._try_start(state)

    def _emit(self, args: tuple[_LinkState, Qubit, int]) -> None:
        state, qubit, slot_index = args
        link = state.physics
        now = self.kernel.now
        if self.capture is not None:
            frame = QuantumFrame(FRAME_PHOTON, link.link_id, qubit.node_id, slot_index, now,
                                 qubit.qubit_id)
            self.capture(qubit.node_id, link.station, frame.encode())
        basis = state.armed[qubit.node_id].basis
        outcome = None
        if basis is not None:
            outcome = self._measure(self._take(qubit.node_id, qubit.slot), basis)
        node = self.nodes[qubit.node_id]
        emitted = Emitted(link.link_id, qubit.slot, qubit.qubit_id, slot_index, now,
                          qubit.pair.distribution, outcome, basis)
        assert node.physical_port is not None
        node.physical_port.deliver(emitted)

    def _disarm(self, state: _LinkState, node_id: int) -> None:
        state.armed[node_id].remaining = 0
        state.token += 1
        self._release(state)

    def _release(self, state: _LinkState) -> None:
        if state.reserved is not None:
            self.nodes[state.physics.node_a].reserved.discard(state.reserved[0])
            self.nodes[state.physics.node_b].reserved.discard(state.reserved[1])
            state.reserved = None
        state.scheduled = False

    # -- qubits -----------------------------------------------------------------------------
    def _create(self, node_id: int, slot: int, side: int, created: int, pair: Pair) -> Qubit:
        qubit = Qubit(self._next_qubit, node_id, slot, side, created, pair)
        self._next_qubit += 1
        self.qubits[qubit.qubit_id] = qubit
        self.nodes[node_id].held[slot] = qubit
        self.ledger["created"] += 1
        return qubit

    def _take(self, node_id: int, slot: int) -> Qubit:
        """Remove the qubit in ``slot`` from memory (the slot becomes free)."""
        node = self.nodes[node_id]
        try:
            qubit = node.held.pop(slot)
        except KeyError:
            raise ValueError(f"node {node_id} has no qubit in slot {slot}") from None
        for state in self.links.values():
            if node_id in state.armed:
                self.kernel.call_at(self.kernel.now, self._retry, state)
        return qubit

    def _retry(self, state: _LinkState) -> None:
        self._try_start(state)

    def _measure(self, qubit: Qubit, basis: Basis) -> int:
        pair = qubit.pair
        node = self.nodes[qubit.node_id]
        flip = physics.dephasing_probability(self.kernel.now - qubit.created, node.t2_ns)
        if flip and self.rng.random() < flip:
            pair.frame *= Z_ON[qubit.side]
        qubit.status = QubitStatus.MEASURED
        self.ledger["measured"] += 1
        if pair.first is None or pair.first[0] != basis:
            outcome = int(self.rng.integers(2))
            if pair.first is None:
                pair.first = (basis, outcome)
            return outcome
        anticommutes = not pair.frame.commutes(CORRELATOR[basis])
        return pair.first[1] ^ IDEAL_PARITY[basis] ^ int(anticommutes)

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


def cycle_ns(attempt_duration_ns: int, delay_a_ns: int, delay_b_ns: int) -> int:
    """Attempt period: emit, then wait for the herald from the farther arm."""
    return attempt_duration_ns + 2 * max(delay_a_ns, delay_b_ns)


