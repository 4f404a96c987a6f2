"""Physical layer engines: a node's heralded-generation driver and a midpoint station.

Double-click (Barrett-Kok) heralding: each attempt has two rounds; the station reports
success when each round has exactly one click and the photons arrived within the
detection window of each other. Same detector in both rounds heralds |Ψ+⟩, different
detectors |Ψ-⟩.

>>> station = Station({1: (("198.18.0.1", 7770), ("198.18.0.2", 7770))}, detection_window_ns=2)
>>> out = station.handle(Detection(1, 41, 3, ((1, 0, 100), (2, 1, 150)), (100, 101)), now=150)
>>> [dest for dest, _ in out.send]
[('198.18.0.1', 7770), ('198.18.0.2', 7770)]
>>> Herald.decode(out.send[0][1]).bell_state == BellState.PSI_MINUS
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocols.common import Actions, Address, Basis, BellState, ParseError
from protocols.hardware import Arm, BellDistribution, Detection, Disarm, Discard, Emitted
from protocols.packets.heralding import (
    OUTCOME_FAILURE,
    OUTCOME_SUCCESS,
    SCHEME_DOUBLE_CLICK,
    Herald,
)


@dataclass(frozen=True, slots=True)
class StartGeneration:
    """Link layer → physical layer: produce ``pairs`` pairs on ``link_id``."""

    link_id: int
    pairs: int
    measure_basis: Basis | None = None


@dataclass(frozen=True, slots=True)
class StopGeneration:
    """Link layer → physical layer: stop attempting on ``link_id``."""

    link_id: int


@dataclass(frozen=True, slots=True)
class PairReady:
    """Physical layer → link layer: a heralded pair (or measure-directly outcome)."""

    link_id: int
    slot: int
    qubit_id: int
    bell_state: BellState
    attempt_seq: int
    attempts: int
    emission_time: int
    distribution: BellDistribution
    outcome: int | None
    basis: Basis | None


@dataclass(frozen=True, slots=True)
class AttemptLost:
    """Physical layer → link layer: no herald came in time; the qubit was discarded."""

    link_id: int
    attempt_seq: int


def double_click_outcome(clicks: tuple[tuple[int, int, int], ...]) -> BellState | None:
    """The Bell state heralded by a two-round click pattern, or None for a failure."""
    per_round: dict[int, list[int]] = {1: [], 2: []}
    for round_no, detector, _ in clicks:
        per_round.setdefault(round_no, []).append(detector)
    first, second = per_round[1], per_round[2]
    if len(first) != 1 or len(second) != 1:
        return None
    return BellState.PSI_PLUS if first[0] == second[0] else BellState.PSI_MINUS


class Station:
    """A heralding station: turns detector clicks into HERALD messages to both ends."""

    def __init__(self, links: dict[int, tuple[Address, Address]], detection_window_ns: int) -> None:
        self.links = links
        self.detection_window_ns = detection_window_ns
        self.successes = 0
        self.failures = 0
        self.malformed = 0

    def handle(self, event: Any, now: int) -> Actions:
        if not isinstance(event, Detection) or event.link_id not in self.links:
            return Actions()
        bell = double_click_outcome(event.clicks)
        if abs(event.arrivals[0] - event.arrivals[1]) > self.detection_window_ns:
            bell = None
        if bell is None:
            self.failures += 1
        else:
            self.successes += 1
        herald = Herald(
            outcome=OUTCOME_FAILURE if bell is None else OUTCOME_SUCCESS,
            bell_state=0 if bell is None else int(bell),
            link_id=event.link_id, scheme=SCHEME_DOUBLE_CLICK, attempt_seq=event.attempt_seq,
            attempts=event.attempts, detection_time=now,
        ).encode()
        return Actions(send=[(end, herald) for end in self.links[event.link_id]])

    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        self.malformed += 1
        return Actions()

    def start(self, now: int) -> Actions:
        return Actions()

    def on_timer(self, now: int) -> Actions:
        return Actions()

    def held_slots(self) -> set[int]:
        return set()


class NodePhysical:
    """A node's physical layer: arms the hardware and matches emissions to heralds.

    A pair is passed up only when its HERALD arrives; an emission whose herald has not
    come ``herald_timeout_ns`` after it is discarded and reported as lost.
    """

    def __init__(self, herald_timeout_ns: int) -> None:
        self.herald_timeout_ns = herald_timeout_ns
        self.pending: dict[tuple[int, int], tuple[Emitted, int]] = {}
        self.malformed = 0
        self.unexpected = 0
        self.lost = 0

    def handle(self, event: Any, now: int) -> Actions:
        if isinstance(event, StartGeneration):
            return Actions(hardware=[Arm(event.link_id, event.pairs, event.measure_basis)])
        if isinstance(event, StopGeneration):
            return Actions(hardware=[Disarm(event.link_id)])
        if isinstance(event, Emitted):
            key = (event.link_id, event.attempt_seq)
            self.pending[key] = (event, event.emission_time + self.herald_timeout_ns)
            return Actions(deadline=self._deadline())
        raise TypeError(f"physical layer cannot handle {event!r}")

    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        try:
            herald = Herald.decode(payload)
        except ParseError:
            self.malformed += 1
            return Actions(deadline=self._deadline())
        entry = self.pending.pop((herald.link_id, herald.attempt_seq), None)
        if entry is None:
            self.unexpected += 1
            return Actions(deadline=self._deadline())
        emitted = entry[0]
        if herald.outcome != OUTCOME_SUCCESS:
            return self._lose(emitted).extend(Actions(deadline=self._deadline()))
        ready = PairReady(
            emitted.link_id, emitted.slot, emitted.qubit_id, BellState(herald.bell_state),
            emitted.attempt_seq, herald.attempts, emitted.emission_time, emitted.distribution,
            emitted.outcome, emitted.basis,
        )
        return Actions(up=[ready], deadline=self._deadline())

    def start(self, now: int) -> Actions:
        return Actions()

    def on_timer(self, now: int) -> Actions:
        actions = Actions()
        for key, (emitted, deadline) in list(self.pending.items()):
            if deadline <= now:
                del self.pending[key]
                actions.extend(self._lose(emitted))
        actions.deadline = self._deadline()
        return actions

    def held_slots(self) -> set[int]:
        """Memory slots holding qubits that wait for their herald."""
        return {e.slot for e, _ in self.pending.values() if e.outcome is None}

    def _lose(self, emitted: Emitted) -> Actions:
        self.lost += 1
        hardware: list[Any] = [] if emitted.outcome is not None else [Discard(emitted.slot)]
        return Actions(up=[AttemptLost(emitted.link_id, emitted.attempt_seq)], hardware=hardware)

    def _deadline(self) -> int | None:
        return min((d for _, d in self.pending.values()), default=None)
