"""Entanglement generation on every link: time-slotted attempts, sampled or exact.

When both ends of a link are armed and each has a free communication qubit, attempts
start on the link's slot grid (period: attempt time plus the wait for the herald).
*Sampled* mode draws the number of failed attempts from the geometric distribution with
the closed-form success probability and emits only the success; *exact* mode emits every
attempt, photon by photon (:mod:`stack.quantum.attempts`), and lets the station herald failures
too. A station shared by several links (through an optical switch) serves one link at a
time and pays the switch's reconfiguration time when it changes link.

An attempt run takes all it needs at once (a communication qubit at each end, and the
station): nothing is held while waiting, so there is no deadlock. Links that could not
start wait in one queue, in the order they first waited; a link may not take a resource
that an earlier waiting link also needs, so none starves. A retry tries, in that order, only the
waiting links that may start now: those needing a qubit or a station freed since the last retry (or
needed by a link before them that stopped waiting), and those whose own request changed. Any other
waiting link is as unable to start as at its last try, so the outcome (and the order of everything
queued) is that of trying every waiting link, at a cost that does not grow with the network.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from protocols.common import Basis, BellState
from protocols.packets.qframe import FRAME_PHOTON, QuantumFrame
from protocols.physical.hardware import Arm, Detection, Disarm, Emitted
from stack.core.kernel import VirtualPort
from stack.quantum import attempts as attempt_models
from stack.quantum import blocks
from stack.quantum.budget import LinkPhysics, with_alpha
from stack.quantum.medium import Medium
from stack.quantum.state import NodeHardware, Pair, Qubit
from stack.timing.clocks import Clock

STATION_SCHEMES = ("double-click", "single-click")
_NONE: frozenset[int] = frozenset()


@dataclass(slots=True)
class _Arm:
    remaining: int = 0
    basis: Basis | None = None
    choice: tuple[tuple[Basis, float], ...] = ()
    block: int = 0


@dataclass(slots=True)
class LinkState:
    physics: LinkPhysics
    rng: np.random.Generator
    armed: dict[int, _Arm]
    next_slot: int = 0
    token: int = 0
    scheduled: bool = False
    reserved: tuple[int, int] | None = None
    attempts: int = 0
    successes: int = 0
    true_heralds: int = 0
    window_failures: int = 0
    photons_until: int = 0
    base: LinkPhysics | None = None
    sampler: attempt_models.LinkSampler | None = None
    """The per-pair draws of ``physics`` (:meth:`Heralding._sampler`: made again when ``physics`` changes)."""


class WaitingLinks:
    """Links that could not start, in the order they first waited, and which of them need each node or station.

    ``ahead(link_id, resource)`` counts the waiting links before ``link_id`` (all of them when it is not
    waiting) that need ``resource`` (one of their ends, or their shared station): a short list per
    resource instead of a walk along every waiting link, which a network of a thousand nodes made long.
    ``needing(resources)`` gives the waiting links that need any of ``resources`` with their places in the
    order (a retry tries only those: the others' resources are as they were at their last try).
    """

    def __init__(self) -> None:
        self._place: dict[int, int] = {}
        self._count = 0
        self._needing: dict[int, list[int]] = {}
        self._needs: dict[int, tuple[int, ...]] = {}

    def __contains__(self, link_id: object) -> bool:
        return link_id in self._place

    def __bool__(self) -> bool:
        return bool(self._place)

    def __len__(self) -> int:
        return len(self._place)

    @property
    def order(self) -> list[int]:
        """The waiting links, first waited first."""
        return list(self._place)

    def append(self, link_id: int, needs: tuple[int, ...]) -> None:
        self._place[link_id] = self._count
        self._count += 1
        self._needs[link_id] = needs
        for resource in needs:
            self._needing.setdefault(resource, []).append(link_id)

    def remove(self, link_id: int) -> tuple[int, ...]:
        """Stop ``link_id`` waiting; what it needed."""
        del self._place[link_id]
        needs = self._needs.pop(link_id)
        for resource in needs:
            self._needing[resource].remove(link_id)
        return needs

    def place(self, link_id: int) -> int | None:
        """Where ``link_id`` is in the order (None: it is not waiting)."""
        return self._place.get(link_id)

    def needing(self, resources: Collection[int], links: Collection[int]) -> list[tuple[int, int]]:
        """``(place, link_id)`` of the waiting links in ``links`` or needing any of ``resources``."""
        place, needing = self._place, self._needing
        found = {(place[link_id], link_id) for link_id in links if link_id in place}
        for resource in resources:
            found.update((place[link_id], link_id) for link_id in needing.get(resource, ()))
        return list(found)

    def ahead(self, link_id: int, resource: int) -> int:
        needing = self._needing.get(resource, [])
        return needing.index(link_id) if link_id in self._place and link_id in needing else len(needing)


@dataclass(slots=True)
class _Station:
    """A station that may serve several links (through a switch), one at a time."""

    busy: int | None = None
    last: int | None = None


def _more_free(node: NodeHardware, now: int, ahead: int) -> bool:
    """Whether ``node`` has more free communication slots than ``ahead`` (none ahead: the first free one will do)."""
    return node.free_slot(now) is not None if ahead == 0 else node.free_count(now) > ahead


class Heralding:
    """Drives the attempts of every link and turns successes into qubits, frames and events."""

    def __init__(self, medium: Medium, middles: dict[int, VirtualPort], clocks: dict[int, Clock] | None = None) -> None:
        self.medium = medium
        self.clocks = clocks if clocks is not None else {}
        self.kernel = medium.kernel
        self.middles = middles
        self.links: dict[int, LinkState] = {}
        self.stations: dict[int, _Station] = {}
        self.waiting = WaitingLinks()
        self.generating = True
        self.generation_ends_ns: int | None = None
        """When generation is to end, if known: a block whose last attempt falls later is not concluded ahead
        (``Kernel.ahead_ns``), so that the end cancels it as it would in-process."""
        self._retry_queued = False
        self._freed: set[int] = set()
        """Nodes and stations that may have more free since the last retry (their waiting links are tried)."""
        self._changed: set[int] = set()
        """Links whose request or run changed since the last retry (tried if waiting)."""
        self._variants: dict[tuple[int, float | None], LinkPhysics] = {}
        self._ends: dict[int, tuple[int, ...]] = {}
        medium.heralding = self

    def add_link(self, physics: LinkPhysics, rng: np.random.Generator) -> None:
        armed = {physics.node_a: _Arm(), physics.node_b: _Arm()}
        self.links[physics.link_id] = LinkState(physics, rng, armed, base=physics)
        self._ends[physics.link_id] = tuple(armed)
        if physics.scheme in STATION_SCHEMES:
            self.stations.setdefault(physics.middle, _Station())

    # -- control ----------------------------------------------------------------------------
    def command(self, node_id: int, command: Arm | Disarm) -> None:
        state = self.links[command.link_id]
        if isinstance(command, Arm):
            arm = state.armed[node_id]
            arm.remaining += command.pairs
            arm.basis = command.measure_basis
            arm.choice = command.basis_choice
            arm.block = command.block
            if not state.scheduled:
                state.physics = self._variant(state, command.alpha)
            self._try_start(state)
        else:
            state.armed[node_id].remaining = 0
            self._cancel(state)

    def link_ends(self, link_id: Any) -> tuple[int, ...] | None:
        """The nodes that may arm link ``link_id`` (None: there is no such link)."""
        return self._ends.get(link_id) if isinstance(link_id, int) else None

    def _variant(self, state: LinkState, alpha: float | None) -> LinkPhysics:
        key = (state.physics.link_id, alpha)
        if key not in self._variants:
            self._variants[key] = with_alpha(state.base, alpha)
        return self._variants[key]

    def slot_freed(self, node_id: int) -> None:
        # A qubit busy until t (a readout) is free from t on, and this is called at t by an entry queued when it
        # became busy: before any retry at t (queued at t, so later), which therefore never counts it unmarked.
        self._freed.add(node_id)
        self._retry_soon()

    def stop_generation(self) -> None:
        """No new attempts from now on (the end of a run's generation window)."""
        self.generating = False
        for state in self.links.values():
            self._cancel(state)

    def _retry_soon(self) -> None:
        if not self.waiting:            # what was freed concerns no waiting link (a link waits after a try)
            self._freed.clear()
            self._changed.clear()
        elif not self._retry_queued:
            self._retry_queued = True
            self.kernel.call_at(self.kernel.now, self._retry_waiting)

    def _retry_waiting(self, _: object = None) -> None:
        """Try, in the order they first waited, the waiting links that may start now (the module's docstring)."""
        self._retry_queued = False
        waiting = self.waiting
        candidates = waiting.needing(self._freed, self._changed)
        self._freed.clear()
        self._changed.clear()
        heapq.heapify(candidates)
        last = -1
        while candidates:
            place, link_id = heapq.heappop(candidates)
            if place <= last or waiting.place(link_id) != place:
                continue
            last = place
            self._try_start(self.links[link_id])
            if self._freed:             # it stopped waiting: the links after it that needed the same may start
                for candidate in waiting.needing(self._freed, _NONE):
                    if candidate[0] > last:
                        heapq.heappush(candidates, candidate)
                self._freed.clear()
        self._changed.clear()

    def _cancel(self, state: LinkState) -> None:
        state.token += 1
        self._release(state)

    def _release(self, state: LinkState) -> None:
        link = state.physics
        self._freed.update((link.node_a, link.node_b, link.middle))
        self._changed.add(link.link_id)
        if state.reserved is not None:
            self.medium.nodes[link.node_a].reserved.discard(state.reserved[0])
            self.medium.nodes[link.node_b].reserved.discard(state.reserved[1])
            state.reserved = None
        state.scheduled = False
        station = self.stations.get(link.middle)
        if station is not None and station.busy == link.link_id:
            station.last = link.link_id
            if state.photons_until > self.kernel.now:     # the last photons are still on their way
                self.kernel.call_at(state.photons_until, self._free_station, (station, link.link_id))
            else:
                station.busy = None
        self._retry_soon()

    def _free_station(self, args: tuple[_Station, int]) -> None:
        station, link_id = args
        if station.busy == link_id:
            station.busy = None
            self._freed.add(self.links[link_id].physics.middle)
            self._retry_soon()

    # -- scheduling -------------------------------------------------------------------------
    def _wants(self, state: LinkState) -> bool:
        if not self.generating or state.scheduled or not state.physics.model.success > 0:
            return False
        for arm in state.armed.values():      # noqa: SIM110 (a loop: no generator made per try)
            if arm.remaining <= 0:
                return False
        return True

    def _needs(self, link: LinkPhysics) -> tuple[int, ...]:
        """What an attempt run of ``link`` takes: a qubit at each end, and its station if shared."""
        return (link.node_a, link.node_b, link.middle) if link.middle in self.stations else (link.node_a, link.node_b)

    def _wait(self, link: LinkPhysics) -> None:
        self.waiting.append(link.link_id, self._needs(link))

    def _try_start(self, state: LinkState) -> None:
        link = state.physics
        link_id, waiting = link.link_id, self.waiting
        if not self._wants(state):
            if not state.scheduled and link_id in waiting:
                self._freed.update(waiting.remove(link_id))      # the links after it need them less
            return
        station = self.stations.get(link.middle)
        nodes, now = self.medium.nodes, self.kernel.now
        node_a, node_b = nodes[link.node_a], nodes[link.node_b]
        if waiting:                     # links waiting longer than this one go first: none starves
            ready = (_more_free(node_a, now, waiting.ahead(link_id, link.node_a))
                     and _more_free(node_b, now, waiting.ahead(link_id, link.node_b))
                     and (station is None or (station.busy is None and not waiting.ahead(link_id, link.middle))))
        else:                           # none waits, so none is ahead: a free slot at each end and the station
            ready = (node_a.free_slot(now) is not None and node_b.free_slot(now) is not None
                     and (station is None or station.busy is None))
        if not ready:
            if link_id not in waiting:
                self._wait(link)
            return
        if link_id in waiting:
            waiting.remove(link_id)
        slot_a, slot_b = node_a.free_slot(now), node_b.free_slot(now)
        assert slot_a is not None and slot_b is not None
        node_a.reserved.add(slot_a)
        node_b.reserved.add(slot_b)
        state.reserved = (slot_a, slot_b)
        start = now
        if station is not None:
            if station.last not in (None, link.link_id):
                start += link.reconfiguration_ns
            station.busy = link.link_id
        first = max(state.next_slot, -(-start // link.cycle_ns))
        state.scheduled = True
        if self._blocked(state) and blocks.wanted(link, state.armed.values()):
            block = blocks.plan(link, state.rng, tuple(state.armed.values()), self.medium, first)
            due = blocks.last_slot(block) * link.cycle_ns       # concluded ahead only in the multi-process medium
            ends = self.generation_ends_ns
            ahead = 0 if ends is not None and due > ends else self.kernel.ahead_ns
            self.kernel.call_at(max(self.kernel.now, due - ahead), self._block, (state, state.token, block))
            return
        if link.mode == "exact":
            self.kernel.call_at(first * link.cycle_ns, self._exact, (state, state.token, first))
            return
        failures = int(state.rng.geometric(link.model.success)) - 1
        slot_index = first + failures
        self.kernel.call_at(slot_index * link.cycle_ns, self._sampled, (state, state.token, slot_index, failures + 1))

    @staticmethod
    def _blocked(state: LinkState) -> bool:
        """Whether both ends ask for blocks (a block needs that, :func:`blocks.wanted`; most runs fail here)."""
        for arm in state.armed.values():      # noqa: SIM110 (a loop: no generator made per try)
            if arm.block <= 0:
                return False
        return True

    @staticmethod
    def _sampler(state: LinkState) -> attempt_models.LinkSampler:
        sampler = state.sampler
        if sampler is None or sampler.physics is not state.physics:
            sampler = state.sampler = attempt_models.LinkSampler(state.physics)
        return sampler

    def _sampled(self, args: tuple[LinkState, int, int, int]) -> None:
        state, token, slot_index, tries = args
        if token == state.token:
            attempt, bell = self._sampler(state).success(state.rng)
            self._conclude(state, slot_index, tries, attempt, bell)

    def _exact(self, args: tuple[LinkState, int, int]) -> None:
        state, token, slot_index = args
        if token == state.token:
            attempt = attempt_models.EXACT[state.physics.scheme](state.physics, state.rng)
            self._conclude(state, slot_index, 1, attempt, attempt_models.heralded_state(state.physics, attempt))

    def _block(self, args: tuple[LinkState, int, blocks.Block]) -> None:
        """A block's last attempt is over (the batched measure-directly path, :mod:`stack.quantum.blocks`)."""
        state, token, block = args
        if token != state.token:
            return
        link = state.physics
        self._unreserve(state, blocks.last_slot(block))
        state.attempts += block.attempts
        if blocks.in_window(link, block, self._timing):
            state.successes += block.count
            state.true_heralds += block.true_heralds
            for arm in state.armed.values():
                arm.remaining -= block.count
            blocks.deliver(block, link, self.kernel, self.medium, self.middles[link.middle], self._timing,
                           self._local)
        else:
            state.window_failures += block.count         # heralds the clocks spoilt: their photons missed each other
        _, arrivals = self._timing(link, blocks.last_slot(block))
        state.photons_until = math.ceil(max(arrivals)) + link.attempt_ns
        self._end_run(state)

    def _local(self, node_id: int, true_ns: float) -> float:
        clock = self.clocks.get(node_id)
        return clock.local_ns(true_ns) if clock is not None else true_ns

    def _unreserve(self, state: LinkState, slot_index: int) -> None:
        slots = state.reserved
        assert slots is not None
        state.reserved = None
        nodes, link = self.medium.nodes, state.physics
        nodes[link.node_a].reserved.discard(slots[0])
        nodes[link.node_b].reserved.discard(slots[1])
        state.next_slot = slot_index + 1

    def _end_run(self, state: LinkState) -> None:
        self._release(state)
        if self._wants(state) and state.physics.link_id not in self.waiting:
            self._wait(state.physics)                       # behind the links already waiting
            self._changed.add(state.physics.link_id)        # untried: the retry tries it
        self._retry_soon()

    def _conclude(self, state: LinkState, slot_index: int, tries: int, attempt: attempt_models.Attempt,
                  bell: BellState | None) -> None:
        """An attempt run's last attempt (``attempt``, heralding ``bell``) is over."""
        slots = state.reserved
        assert slots is not None
        self._unreserve(state, slot_index)
        state.attempts += tries
        link = state.physics
        emissions, arrivals = self._timing(link, slot_index)
        state.photons_until = math.ceil(max(arrivals)) + link.attempt_ns
        if bell is not None and abs(arrivals[0] - arrivals[1]) > link.detection_window_ns:
            bell = None                     # the photons did not overlap at the station
            state.window_failures += 1
        if bell is not None:
            state.successes += 1
            state.true_heralds += attempt.component == "true"
            for arm in state.armed.values():
                arm.remaining -= 1
        wire_tries = min(tries, 0xFFFF_FFFF)              # the Attempts field is 32 bits: it saturates
        self._materialize(state, slot_index, wire_tries, attempt, bell, slots, emissions, arrivals)
        self._end_run(state)

    # -- emitting ---------------------------------------------------------------------------
    def _true(self, node_id: int, local_ns: float) -> float:
        clock = self.clocks.get(node_id)
        return clock.true_ns(local_ns) if clock is not None else local_ns

    def _timing(self, link: LinkPhysics, slot_index: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """True emission and arrival times of both ends' photons in a slot.

        Each end emits at the slot's start on its own clock, delayed by the difference of the arms
        so the photons meet at the station; clock errors make them miss each other.
        """
        local_slot = slot_index * link.cycle_ns
        if link.scheme in STATION_SCHEMES:
            delay_a, delay_b = link.arm_a.delay_ns, link.arm_b.delay_ns
            latest = max(delay_a, delay_b)
            emit_a = self._true(link.node_a, local_slot + latest - delay_a)
            emit_b = self._true(link.node_b, local_slot + latest - delay_b)
            return (emit_a, emit_b), (emit_a + delay_a, emit_b + delay_b)
        if link.scheme == "source":
            return (local_slot, local_slot), (local_slot + link.delay_a_ns, local_slot + link.delay_b_ns)
        emit = self._true(link.node_a, local_slot)
        return (emit, emit + link.delay_a_ns), (emit + link.delay_a_ns, emit + link.delay_a_ns)

    def _materialize(self, state: LinkState, slot_index: int, tries: int, attempt: attempt_models.Attempt,
                     bell: BellState | None, slots: tuple[int, int], emissions: tuple[float, float],
                     arrivals: tuple[float, float]) -> None:
        link = state.physics
        pair = self._sampler(state).pair(state.rng, attempt.component, 0 if bell is None else bell)
        ends = (link.node_a, link.node_b)
        if link.scheme in STATION_SCHEMES:
            create, middle = self.medium.create, link.middle
            for side, node_id in enumerate(ends):      # _emit_at, inline
                at = emissions[side]
                qubit = create(node_id, slots[side], side, at, pair)
                self.kernel.call_at(math.ceil(at), self._emit, (state, node_id, middle, qubit, slot_index, tries,
                                                                True, at))
            rounds = 2 if link.scheme == "double-click" else 1    # the second round comes half an attempt later
            detected = math.ceil(max(arrivals) + (rounds - 1) * link.attempt_ns / 2)
            clicks = tuple([(r, d, detected) for r, d in attempt.clicks])
            detection = Detection(link.link_id, slot_index, tries, clicks, arrivals)
            self.kernel.deliver_at(detected, self.middles[link.middle], detection)
        elif link.scheme == "source":
            for side, node_id in enumerate(ends):
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
            capture(src, dst, QuantumFrame(FRAME_PHOTON, link_id, src, slot_index, self.kernel.now, qubit_id).encode())

    def _emit(self, args: tuple[Any, ...]) -> None:
        state, node_id, towards, qubit, slot_index, tries, herald, at = args
        link: LinkPhysics = state.physics
        clock = self.clocks.get(node_id)
        local_emission = math.floor(clock.local_ns(at) if clock is not None else at)
        if towards is not None:
            self._photon(node_id, towards, link.link_id, slot_index, qubit.qubit_id if qubit else 0)
        arm = state.armed[node_id]
        basis = arm.basis
        if arm.choice:
            draw, basis = state.rng.random(), arm.choice[-1][0]
            for candidate, probability in arm.choice:
                if draw < probability:
                    basis = candidate
                    break
                draw -= probability
        outcome = None
        if qubit is not None and basis is not None:
            readout = self.medium.nodes[node_id].readout_ns
            outcome = self.medium.measure(self.medium.take(node_id, qubit.slot, busy_ns=readout), basis)
        distribution = qubit.pair.distribution if qubit else (0.25, 0.25, 0.25, 0.25)
        emitted = Emitted(link.link_id, qubit.slot if qubit else -1, qubit.qubit_id if qubit else 0, slot_index,
                          local_emission, distribution, outcome, basis, herald, tries)
        port = self.medium.nodes[node_id].physical_port
        assert port is not None
        port.deliver(emitted)


__all__ = ["Heralding", "LinkState", "Qubit"]
