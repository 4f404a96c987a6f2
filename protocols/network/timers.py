"""Network layer: deadlines in one heap with lazy deletion, and reliable (retransmitted) messages.

The network layer has thousands of live deadlines on a long chain (retransmissions, cutoffs, early
TRACKs, tombstones to forget), so it keeps them in a heap keyed by what they are for instead of scanning
its tables (network-design §4.10). Scheduling a key again replaces its deadline; cancelling is O(1) and
the stale heap entry is skipped when it comes up.

>>> timers = Timers()
>>> timers.schedule(("cutoff", 1, 7), 50)
>>> timers.schedule(("cutoff", 1, 8), 20)
>>> timers.cancel(("cutoff", 1, 8))
>>> timers.next(), timers.due(60)
(50, [('cutoff', 1, 7)])
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Any

from protocols.common import Actions, Address, sending

STALE = -1
""":attr:`Timers.earliest` when the earliest deadline must be reckoned again (:meth:`Timers.next`); a deadline
is an instant in ns, never negative."""


class Timers:
    """Deadlines by key (a hashable tuple whose first item names the kind).

    The earliest live deadline is kept as it changes (:attr:`earliest`), so asking for it after an input that
    scheduled nothing earlier and cancelled nothing due first costs an attribute read; only when the deadline
    that was the earliest goes (cancelled, moved later or due) is the heap searched again, by :meth:`next`.
    The heap itself and what :meth:`due` returns, in which order, are as without the cache."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Hashable]] = []
        self._at: dict[Hashable, int] = {}
        self._order = itertools.count()
        self.earliest: int | None = None
        """The earliest live deadline (None: none), or :data:`STALE` when :meth:`next` must reckon it."""

    def schedule(self, key: Hashable, at: int) -> None:
        earliest = self.earliest
        if earliest is None or at < earliest:   # (never below STALE)
            self.earliest = at
        elif at > earliest and earliest != STALE and self._at.get(key) == earliest:
            self.earliest = STALE               # the earliest deadline moves later: another may be first now
        self._at[key] = at
        heapq.heappush(self._heap, (at, next(self._order), key))

    def cancel(self, key: Hashable) -> None:
        if self._at.pop(key, None) == self.earliest:
            self.earliest = STALE

    def __contains__(self, key: object) -> bool:
        return key in self._at

    def at(self, key: Hashable) -> int | None:
        """``key``'s deadline (None: not scheduled)."""
        return self._at.get(key)

    def __len__(self) -> int:
        """How many deadlines are scheduled (each key once)."""
        return len(self._at)

    def due(self, now: int) -> list[Hashable]:
        """The keys due at ``now``, earliest first; they are no longer scheduled."""
        keys = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, key = heapq.heappop(heap)
            if self._at.get(key) == at:
                del self._at[key]
                keys.append(key)
        if keys:
            self.earliest = STALE
        return keys

    def next(self) -> int | None:
        """The earliest live deadline."""
        earliest = self.earliest
        if earliest != STALE:
            return earliest
        heap, at = self._heap, self._at
        while heap:
            top = heap[0]
            if at.get(top[2]) == top[0]:
                self.earliest = top[0]
                return top[0]
            heapq.heappop(heap)
        self.earliest = None
        return None


DESTINATION, PAYLOAD, INTERVAL, RETRIES_LEFT = range(4)
"""The fields of a pending message: a list ``[destination, payload, interval, retries left]`` (one a reliable
message, a few a link pair: a list display, not a class's ``__init__``)."""


class Outbox:
    """Messages retransmitted every ``interval`` until acknowledged or out of retries."""

    def __init__(self, timers: Timers) -> None:
        self.timers = timers
        self.schedule = timers.schedule
        self._pending: dict[Hashable, list[Any]] = {}

    def send(self, key: Hashable, destination: Address, payload: bytes, interval: int, retries: int,
             now: int, into: Actions | None = None) -> Actions:
        """Send now and keep retransmitting (a message already pending under ``key`` is replaced). The send
        goes into ``into`` (returned) if given, else into new actions."""
        self._pending[key] = [destination, payload, interval, retries]
        self.schedule(("rtx", key), now + interval)
        if into is None:
            return sending([(destination, payload)])
        into.send.append((destination, payload))
        return into

    def ack(self, key: Hashable) -> bool:
        """Stop retransmitting ``key``; False when nothing was pending under it."""
        self.timers.cancel(("rtx", key))
        return self._pending.pop(key, None) is not None

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def drop_where(self, keep: object) -> None:
        """Stop retransmitting every message whose key fails ``keep(key)`` (a predicate)."""
        assert callable(keep)
        for key in [key for key in self._pending if not keep(key)]:
            self.ack(key)

    def retransmit(self, key: Hashable, now: int) -> tuple[Actions, bool]:
        """The retransmission timer of ``key`` is due: (the resend, whether the sender now gives up)."""
        pending = self._pending.get(key)
        if pending is None:
            return Actions(), False
        if pending[RETRIES_LEFT] <= 0:
            del self._pending[key]
            return Actions(), True
        pending[RETRIES_LEFT] -= 1
        self.timers.schedule(("rtx", key), now + pending[INTERVAL])
        return Actions(send=[(pending[DESTINATION], pending[PAYLOAD])]), False

    def empty(self) -> bool:
        return not self._pending

    def keys(self) -> list[Hashable]:
        return list(self._pending)
