"""Distill commands under way at one node: which round the medium's answer to each belongs to.

Both distillers (a hop's, :mod:`protocols.network.distiller`, and the ends', :mod:`protocols.network.end_distiller`)
issue a Distill command naming (kept slot, sacrificed slot) and wait for its DistillResult, or for a
CommandRejected naming the kept slot. Results come back in the order the commands went out.

>>> in_flight = InFlight[str]()
>>> in_flight.issued((3, 4), "round A")
>>> in_flight.expects((3, 4)), in_flight.rejected(3), bool(in_flight)
(True, True, True)
>>> in_flight.answered_by((3, 4))
('round A', (3, 4))
>>> bool(in_flight)
False
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

from protocols.physical.hardware import CommandRejected, DistillResult

K = TypeVar("K")
Slots = tuple[int, int]


class InFlight(Generic[K]):
    """Distill commands under way, by (kept slot, sacrificed slot), oldest first."""

    def __init__(self) -> None:
        self._by_slots: dict[Slots, deque[K]] = {}

    def __bool__(self) -> bool:
        return bool(self._by_slots)

    def issued(self, slots: Slots, key: K) -> None:
        """A Distill command on ``slots`` went out for round ``key``."""
        self._by_slots.setdefault(slots, deque()).append(key)

    def expects(self, slots: Slots) -> bool:
        """Whether a DistillResult on ``slots`` answers one of these commands."""
        return slots in self._by_slots

    def rejected(self, slot: int) -> bool:
        """Whether a refused Distill naming ``slot`` (its kept slot) was one of these commands."""
        return any(slots[0] == slot for slots in self._by_slots)

    def answered(self, result: DistillResult | CommandRejected) -> tuple[K, Slots] | None:
        """The round ``result`` answers and the command's slots (no longer under way); None if none is."""
        if isinstance(result, DistillResult):
            return self.answered_by((result.keep_slot, result.sacrifice_slot))
        slots = next((s for s in self._by_slots if s[0] == result.slot), None)
        return None if slots is None else self.answered_by(slots)

    def answered_by(self, slots: Slots) -> tuple[K, Slots] | None:
        under_way = self._by_slots.get(slots)
        if not under_way:
            return None
        key = under_way.popleft()
        if not under_way:
            del self._by_slots[slots]
        return key, slots
