"""What a concluded attempt run puts into the world: qubits, photons, detections and emission events.

:class:`Emission` concludes a run (:mod:`stack.quantum.heralding` decides when runs start and end): it frees
the run's reserved slots, counts its attempts and successes, and turns its last attempt into the heralded
pair's two qubits (:meth:`stack.quantum.medium.Medium.create`), the photons' frames (when capture is on), the
station's :class:`~protocols.physical.hardware.Detection` and each end's
:class:`~protocols.physical.hardware.Emitted` (measured at once when the end asked for a basis); a block of
the batched measure-directly path (:mod:`stack.quantum.blocks`) likewise. It also gives the true emission and
arrival times of a slot's photons on the ends' clocks.
"""

from __future__ import annotations

import math
from typing import Any

from protocols.common import BellState
from protocols.fastinit import fast_new
from protocols.packets.qframe import FRAME_PHOTON, frame_bytes
from protocols.physical.hardware import Detection, Emitted
from stack.core.kernel import VirtualPort
from stack.quantum import attempts as attempt_models
from stack.quantum import blocks
from stack.quantum.budget import LinkPhysics
from stack.quantum.linkstate import STATION_SCHEMES, LinkState, sampler_of
from stack.quantum.medium import Medium
from stack.quantum.state import Pair
from stack.timing.clocks import Clock

_new_detection = fast_new(Detection)
_new_emitted = fast_new(Emitted)


class Emission:
    """Emits what heralded attempts make, at the ends' and the station's times (clocks applied)."""

    def __init__(self, medium: Medium, middles: dict[int, VirtualPort], clocks: dict[int, Clock]) -> None:
        self.medium = medium
        self.kernel = medium.kernel
        self.middles = middles
        """The stations' ports, shared with :attr:`stack.quantum.heralding.Heralding.middles`."""
        self.clocks = clocks

    def local(self, node_id: int, true_ns: float) -> float:
        """``true_ns`` on ``node_id``'s clock."""
        clock = self.clocks.get(node_id)
        return clock.local_ns(true_ns) if clock is not None else true_ns

    def true(self, node_id: int, local_ns: float) -> float:
        """``local_ns`` on ``node_id``'s clock, in true time."""
        clock = self.clocks.get(node_id)
        return clock.true_ns(local_ns) if clock is not None else local_ns

    def timing(self, link: LinkPhysics, slot_index: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """True emission and arrival times of both ends' photons in a slot.

        Each end emits at the slot's start on its own clock, delayed by the difference of the arms
        so the photons meet at the station; clock errors make them miss each other.
        """
        local_slot = slot_index * link.cycle_ns
        if link.scheme in STATION_SCHEMES:
            delay_a, delay_b = link.arm_a.delay_ns, link.arm_b.delay_ns
            latest = delay_b if delay_b > delay_a else delay_a      # max(), which keeps the first of equals
            emit_a: float = local_slot + latest - delay_a
            emit_b: float = local_slot + latest - delay_b
            clocks = self.clocks                # true(), inline (most runs have no clocks)
            if clocks:
                clock = clocks.get(link.node_a)
                if clock is not None:
                    emit_a = clock.true_ns(emit_a)
                clock = clocks.get(link.node_b)
                if clock is not None:
                    emit_b = clock.true_ns(emit_b)
            return (emit_a, emit_b), (emit_a + delay_a, emit_b + delay_b)
        if link.scheme == "source":
            return (local_slot, local_slot), (local_slot + link.delay_a_ns, local_slot + link.delay_b_ns)
        emit = self.true(link.node_a, local_slot)
        return (emit, emit + link.delay_a_ns), (emit + link.delay_a_ns, emit + link.delay_a_ns)

    def unreserve(self, state: LinkState, slot_index: int) -> tuple[int, int]:
        """Free the slots the run reserved (its last attempt was in ``slot_index``); the slots."""
        slots = state.reserved
        assert slots is not None
        state.reserved = None
        nodes, link = self.medium.nodes, state.physics
        nodes[link.node_a].reserved.discard(slots[0])
        nodes[link.node_b].reserved.discard(slots[1])
        state.next_slot = slot_index + 1
        return slots

    def conclude(self, state: LinkState, slot_index: int, tries: int, attempt: attempt_models.Attempt,
                 bell: BellState | None) -> None:
        """An attempt run's last attempt (``attempt``, heralding ``bell``) is over: its counters, qubits and
        events."""
        # unreserve(state, slot_index), written out: this runs once a pair (tests/test_herald_path.py holds the two
        # equal)
        slots = state.reserved
        assert slots is not None
        state.reserved = None
        nodes, link = self.medium.nodes, state.physics
        nodes[link.node_a].reserved.discard(slots[0])
        nodes[link.node_b].reserved.discard(slots[1])
        state.next_slot = slot_index + 1
        state.attempts += tries
        emissions, arrivals = self.timing(link, slot_index)
        arrival_a, arrival_b = arrivals
        state.photons_until = math.ceil(arrival_b if arrival_b > arrival_a else arrival_a) + link.attempt_ns  # max()
        if bell is not None and abs(arrival_a - arrival_b) > link.detection_window_ns:
            bell = None                     # the photons did not overlap at the station
            state.window_failures += 1
        if bell is not None:
            state.successes += 1
            state.true_heralds += attempt.component == "true"
            for arm in state.armed.values():
                arm.remaining -= 1
        wire_tries = tries if tries <= 0xFFFF_FFFF else 0xFFFF_FFFF       # the Attempts field is 32 bits: it saturates
        self.materialize(state, slot_index, wire_tries, attempt, bell, slots, emissions, arrivals)

    def conclude_block(self, state: LinkState, block: blocks.Block) -> None:
        """A block's last attempt is over (the batched measure-directly path, :mod:`stack.quantum.blocks`)."""
        link = state.physics
        last = blocks.last_slot(block)
        self.unreserve(state, last)
        state.attempts += block.attempts
        if blocks.in_window(link, block, self.timing):
            state.successes += block.count
            state.true_heralds += block.true_heralds
            for arm in state.armed.values():
                arm.remaining -= block.count
            blocks.deliver(block, link, self.kernel, self.medium, self.middles[link.middle], self.timing,
                           self.local)
        else:
            state.window_failures += block.count         # heralds the clocks spoilt: their photons missed each other
        _, arrivals = self.timing(link, last)
        state.photons_until = math.ceil(max(arrivals)) + link.attempt_ns

    def materialize(self, state: LinkState, slot_index: int, tries: int, attempt: attempt_models.Attempt,
                     bell: BellState | None, slots: tuple[int, int], emissions: tuple[float, float],
                     arrivals: tuple[float, float]) -> None:
        """The run's qubits (if heralded), photons and events for its last attempt in ``slot_index``."""
        link = state.physics
        sampler = state.sampler                 # sampler_of(state), written out (once a pair; a miss calls it):
        if sampler is None or sampler.physics is not link:     # tests/test_herald_path.py holds the two equal
            sampler = sampler_of(state)
        pair = sampler.pair(state.rng, attempt.component, 0 if bell is None else bell)
        if link.scheme in STATION_SCHEMES:
            create, middle, call_at, emit = self.medium.create, link.middle, self.kernel.call_at, self._emit
            node_id, at = link.node_a, emissions[0]       # _emit_at of each end, inline
            call_at(math.ceil(at), emit, (state, node_id, middle, create(node_id, slots[0], 0, at, pair), slot_index,
                                          tries, True, at))
            node_id, at = link.node_b, emissions[1]
            call_at(math.ceil(at), emit, (state, node_id, middle, create(node_id, slots[1], 1, at, pair), slot_index,
                                          tries, True, at))
            latest = arrivals[1] if arrivals[1] > arrivals[0] else arrivals[0]     # max(), which keeps the first
            # the second round of a double-click comes half an attempt later
            detected = math.ceil(latest + link.attempt_ns / 2) if link.scheme == "double-click" else math.ceil(latest)
            stamped = []                    # a loop, not a comprehension: no function frame per pair on 3.11
            for r, d in attempt.clicks:
                stamped.append((r, d, detected))
            detection = _new_detection(link.link_id, slot_index, tries, tuple(stamped), arrivals)
            self.kernel.deliver_at(detected, self.middles[middle], detection)
        elif link.scheme == "source":
            for side, node_id in enumerate((link.node_a, link.node_b)):
                self.kernel.call_at(math.ceil(emissions[side]), self._capture,
                                    (link.middle, node_id, link.link_id, slot_index, 0))
                self._emit_at(state, node_id, None, arrivals[side], slot_index, tries, pair, side, slots,
                              attempt.heralds[side])
        else:
            self._emit_at(state, link.node_a, link.node_b, emissions[0], slot_index, tries, pair, 0, slots, True)
            self._emit_at(state, link.node_b, None, arrivals[1], slot_index, tries, pair, 1, slots,
                          attempt.heralds[1])

    def _emit_at(self, state: LinkState, node_id: int, towards: int | None, at: float, slot_index: int,
                 tries: int, pair: Pair, side: int, slots: tuple[int, int], herald: bool) -> None:
        qubit = self.medium.create(node_id, slots[side], side, at, pair) if herald else None
        self.kernel.call_at(math.ceil(at), self._emit, (state, node_id, towards, qubit, slot_index, tries, herald,
                                                        at))

    def _capture(self, args: tuple[int, int, int, int, int]) -> None:
        self._photon(*args)

    def _photon(self, src: int, dst: int, link_id: int, slot_index: int, qubit_id: int) -> None:
        """Capture a photon from ``src`` towards ``dst`` (when capture is on)."""
        capture = self.medium.capture
        if capture is not None:
            capture(src, dst, frame_bytes(FRAME_PHOTON, link_id, src, slot_index, self.kernel.now, qubit_id))

    def _emit(self, args: tuple[Any, ...]) -> None:
        state, node_id, towards, qubit, slot_index, tries, herald, at = args
        clock = self.clocks.get(node_id) if self.clocks else None
        local_emission = math.floor(clock.local_ns(at) if clock is not None else at)
        medium = self.medium
        if towards is not None:
            capture = medium.capture           # _photon, inline
            if capture is not None:
                capture(node_id, towards, frame_bytes(FRAME_PHOTON, state.physics.link_id, node_id, slot_index,
                                                      self.kernel.now, qubit.qubit_id if qubit else 0))
        arm = state.armed[node_id]
        basis = arm.basis
        if arm.choice:
            draw, basis = state.rng.random(), arm.choice[-1][0]
            for candidate, probability in arm.choice:
                if draw < probability:
                    basis = candidate
                    break
                draw -= probability
        node = medium.nodes[node_id]
        if qubit is not None:
            outcome = None
            if basis is not None:
                outcome = medium.measure(medium.take(node_id, qubit.slot, busy_ns=node.readout_ns), basis)
            emitted = _new_emitted(state.physics.link_id, qubit.slot, qubit.qubit_id, slot_index, local_emission,
                                   qubit.pair.distribution, outcome, basis, herald, tries)
        else:
            emitted = _new_emitted(state.physics.link_id, -1, 0, slot_index, local_emission, (0.25, 0.25, 0.25, 0.25),
                                   None, basis, herald, tries)
        port = node.physical_port
        assert port is not None
        port.deliver(emitted)
