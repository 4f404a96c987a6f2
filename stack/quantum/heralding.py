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
that an earlier waiting link also needs, so none starves. When they are retried, and which, is decided by
the :class:`stack.quantum.retry.Retries` a :class:`Heralding` owns (``retries``): the heralding tells it what a
run's end or cancel freed and which link changed, and it tries links back through the heralding's
``_try_start``.

Per-link state is in :mod:`stack.quantum.linkstate`, the waiting queue in :mod:`stack.quantum.waiting`, and what
a concluded run emits (qubits, photons, events) in :mod:`stack.quantum.emission`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from protocols.physical.hardware import Arm, Disarm
from stack.core.kernel import VirtualPort
from stack.quantum import attempts as attempt_models
from stack.quantum import blocks
from stack.quantum.budget import LinkPhysics, with_alpha
from stack.quantum.emission import Emission
from stack.quantum.linkstate import STATION_SCHEMES, ArmRequest, LinkState, Station, sampler_of
from stack.quantum.medium import Medium
from stack.quantum.retry import Retries
from stack.quantum.state import Qubit
from stack.quantum.waiting import WaitingLinks, enough_free
from stack.timing.clocks import Clock


class Heralding:
    """Drives the attempts of every link and turns successes into qubits, frames and events."""

    def __init__(self, medium: Medium, middles: dict[int, VirtualPort], clocks: dict[int, Clock] | None = None) -> None:
        self.kernel = medium.kernel
        self.links: dict[int, LinkState] = {}
        self.waiting = WaitingLinks()
        """The links that could not start, in the order they first waited (only the heralding changes it)."""
        self.retries = Retries(self.kernel, self.waiting, self._try_start)
        """When the waiting links are retried, and which (it calls :meth:`_try_start` back)."""
        self.slot_freed: Callable[[int], None] = self.retries.freed
        """``slot_freed(node_id)``: a communication qubit of ``node_id`` is free now (the retries' method itself,
        so the medium's call is the only one)."""
        self.slot_free_at: Callable[[int, int], None] = self.retries.freed_at
        """``slot_free_at(node_id, at)``: a communication qubit of ``node_id`` is busy (a readout, a move) until
        ``at``, and free from then on (the retries' method itself: twice a pair, after each end's readout)."""
        self.medium = medium
        self.clocks = clocks if clocks is not None else {}
        self.middles = middles
        self.stations: dict[int, Station] = {}
        self.generating = True
        self.generation_ends_ns: int | None = None
        """When generation is to end, if known: a block whose last attempt falls later is not concluded ahead
        (``Kernel.ahead_ns``), so that the end cancels it as it would in-process."""
        self._variants: dict[tuple[int, float | None], LinkPhysics] = {}
        self._ends: dict[int, tuple[int, ...]] = {}
        self.emission = Emission(medium, middles, self.clocks)
        """Qubits, photons and events of the runs' last attempts (shares ``middles`` and ``clocks``)."""
        medium.heralding = self

    def add_link(self, physics: LinkPhysics, rng: np.random.Generator) -> None:
        armed = {physics.node_a: ArmRequest(), physics.node_b: ArmRequest()}
        self.links[physics.link_id] = LinkState(physics, rng, armed, base=physics)
        self._ends[physics.link_id] = tuple(armed)
        if physics.scheme in STATION_SCHEMES:
            self.stations.setdefault(physics.middle, Station())

    # -- control ----------------------------------------------------------------------------
    def command(self, node_id: int, command: Arm | Disarm) -> None:
        link_id = command.link_id
        state = self.links[link_id]
        if type(command) is Arm or isinstance(command, Arm):      # one Arm a link pair: the commonest, tested first
            arm = state.armed[node_id]
            arm.remaining += command.pairs
            arm.basis = command.measure_basis
            arm.choice = command.basis_choice
            arm.block = command.block
            if not state.scheduled:                 # the variant of this alpha: looked up here, made by _variant once
                variant = self._variants.get((link_id, command.alpha))
                state.physics = self._variant(state, command.alpha) if variant is None else variant
            self._try_start(link_id)
        else:
            state.armed[node_id].remaining = 0
            self._cancel(state)

    def link_ends(self, link_id: Any) -> tuple[int, ...] | None:
        """The nodes that may arm link ``link_id`` (None: there is no such link)."""
        return self._ends.get(link_id) if isinstance(link_id, int) else None

    def alphas(self, link_id: int) -> list[float]:
        """The bright-state populations single-click link ``link_id`` was armed with, in order ([] for another scheme
        or a link never armed): the link layer picks one per request (its Minimum Fidelity), docs/report.md."""
        base = self.links[link_id].base
        if base is None or base.scheme != "single-click":
            return []
        return sorted({base.alpha if alpha is None else alpha for link, alpha in self._variants if link == link_id})

    def _variant(self, state: LinkState, alpha: float | None) -> LinkPhysics:
        """Make and keep the variant of ``state``'s link for ``alpha`` (:meth:`command` looks in ``_variants``
        first and comes here on a miss: once per link and alpha)."""
        variant = self._variants[(state.physics.link_id, alpha)] = with_alpha(state.base, alpha)
        return variant

    def stop_generation(self) -> None:
        """No new attempts from now on (the end of a run's generation window)."""
        self.generating = False
        for state in self.links.values():
            self._cancel(state)

    def _cancel(self, state: LinkState) -> None:
        state.token += 1
        self._release(state)

    def _release(self, state: LinkState) -> None:
        link = state.physics
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
        self.retries.released(link.link_id, (link.node_a, link.node_b, link.middle))

    def _free_station(self, args: tuple[Station, int]) -> None:
        """The last photons of ``link_id``'s run have reached ``station`` (a queue entry): free it, and retry."""
        station, link_id = args
        if station.busy != link_id:
            return
        station.busy = None
        self.retries.freed_at_end(self.links[link_id].physics.middle, link_id)

    # -- scheduling -------------------------------------------------------------------------
    def _wants(self, state: LinkState) -> bool:
        if not self.generating or state.scheduled or not state.physics.model.success > 0:
            return False
        for arm in state.armed.values():      # noqa: SIM110 (a loop: no generator made per try)
            if arm.remaining <= 0:
                return False
        return True

    def _wait(self, link: LinkPhysics) -> None:
        """``link`` waits, behind the links waiting already, for what an attempt run of it takes: a qubit at each
        end, and its station if shared."""
        middle = link.middle
        self.waiting.append(link.link_id, (link.node_a, link.node_b, middle) if middle in self.stations
                            else (link.node_a, link.node_b))

    def _try_start(self, link_id: int) -> None:
        """Start an attempt run of link ``link_id`` if it wants one and may, else make it wait (the retries' and a
        command's)."""
        state = self.links[link_id]
        link, waiting = state.physics, self.waiting
        # _wants(state), written out: this runs once a pair (tests/test_herald_path.py holds the two equal)
        wants = self.generating and not state.scheduled and link.model.success > 0
        if wants:
            for arm in state.armed.values():
                if arm.remaining <= 0:
                    wants = False
                    break
        if not wants:
            if not state.scheduled and link_id in waiting:
                self.retries.mark_freed(waiting.remove(link_id))     # the links after it need them less
            return
        station = self.stations.get(link.middle)
        nodes, now = self.medium.nodes, self.kernel.now
        node_a, node_b = nodes[link.node_a], nodes[link.node_b]
        slot_a, slot_b = node_a.free_slot(now), node_b.free_slot(now)
        ready = slot_a is not None and slot_b is not None and (station is None or station.busy is None)
        # links waiting longer than this one go first, so none starves (when it alone waits, none is ahead of it)
        if ready and waiting and (len(waiting) > 1 or link_id not in waiting):
            ready = (enough_free(node_a, now, waiting.ahead(link_id, link.node_a))
                     and enough_free(node_b, now, waiting.ahead(link_id, link.node_b))
                     and (station is None or not waiting.ahead(link_id, link.middle)))
        if not ready:
            if link_id not in waiting:
                self._wait(link)
            return
        if link_id in waiting:
            waiting.remove(link_id)
        assert slot_a is not None and slot_b is not None
        node_a.reserved.add(slot_a)
        node_b.reserved.add(slot_b)
        state.reserved = (slot_a, slot_b)
        start = now
        if station is not None:
            if station.last not in (None, link.link_id):
                start += link.reconfiguration_ns
            station.busy = link.link_id
        first = -(-start // link.cycle_ns)
        if first < state.next_slot:             # max(), written out
            first = state.next_slot
        state.scheduled = True
        for arm in state.armed.values():        # both ends ask for blocks? (a block needs that; most runs fail here)
            if arm.block <= 0:
                break
        else:
            if blocks.wanted(link, state.armed.values()):
                self._start_block(state, link, first)
                return
        if link.mode == "exact":
            self.kernel.call_at(first * link.cycle_ns, self._exact, (state, state.token, first))
            return
        failures = int(state.rng.geometric(link.model.success)) - 1
        slot_index = first + failures
        self.kernel.call_at(slot_index * link.cycle_ns, self._sampled, (state, state.token, slot_index, failures + 1))

    def _start_block(self, state: LinkState, link: LinkPhysics, first: int) -> None:
        """Start a block run (the batched measure-directly path) from slot ``first``."""
        block = blocks.plan(link, state.rng, tuple(state.armed.values()), self.medium, first)
        due = blocks.last_slot(block) * link.cycle_ns       # concluded ahead only in the multi-process medium
        ends = self.generation_ends_ns
        ahead = 0 if ends is not None and due > ends else self.kernel.ahead_ns
        self.kernel.call_at(max(self.kernel.now, due - ahead), self._block, (state, state.token, block))

    def _sampled(self, args: tuple[LinkState, int, int, int]) -> None:
        state, token, slot_index, tries = args
        if token == state.token:
            sampler = state.sampler             # sampler_of(state), written out (once a pair; a miss calls it):
            if sampler is None or sampler.physics is not state.physics:     # tests/test_herald_path.py holds
                sampler = sampler_of(state)                                 # the two equal
            attempt, bell = sampler.success(state.rng)
            self.emission.conclude(state, slot_index, tries, attempt, bell)
            self._end_heralded(state)

    def _exact(self, args: tuple[LinkState, int, int]) -> None:
        state, token, slot_index = args
        if token == state.token:
            physics, rng = state.physics, state.rng
            attempt = attempt_models.EXACT[physics.scheme](physics, rng, sampler_of(state).bits(rng))
            self.emission.conclude(state, slot_index, 1, attempt, attempt_models.heralded_state(physics, attempt))
            self._end_heralded(state)

    def _block(self, args: tuple[LinkState, int, blocks.Block]) -> None:
        """A block's last attempt is over (the batched measure-directly path, :mod:`stack.quantum.blocks`)."""
        state, token, block = args
        if token == state.token:
            self.emission.conclude_block(state, block)
            self._end_run(state)

    def _end_run(self, state: LinkState) -> None:
        self._release(state)
        if self._wants(state) and state.physics.link_id not in self.waiting:
            self._wait(state.physics)                       # behind the links already waiting
            self.retries.request_changed(state.physics.link_id)     # untried: the retry tries it

    def _end_heralded(self, state: LinkState) -> None:
        """The end of a run whose last attempt :meth:`Emission.conclude` just made into qubits and photons.

        A station link's run frees nothing: its two reserved slots now hold the attempt's qubits, and its
        station stays busy until the photons have arrived (:meth:`_free_station` frees it then, and retries).
        So when nothing else is marked for a retry, none is queued: with no mark pending every waiting link
        failed its last try and nothing it needs has been freed since, and this link cannot start before its
        station is free, so a retry now would start nothing. It only queues the station's release and waits
        behind the links already waiting, as :meth:`_end_run` would (``tests/test_heralding_held.py``).
        """
        link = state.physics
        station = self.stations.get(link.middle)
        if (station is None or station.busy != link.link_id or state.photons_until <= self.kernel.now
                or self.retries.pending() or link.scheme not in STATION_SCHEMES):
            self._end_run(state)
            return
        state.scheduled = False
        station.last = link.link_id
        self.kernel.call_at(state.photons_until, self._free_station, (station, link.link_id))
        if self._wants(state):          # it was running, so it is not waiting
            self._wait(link)


__all__ = ["STATION_SCHEMES", "Heralding", "LinkState", "Qubit", "WaitingLinks"]
