"""The kernel's queue: entries ``(callback, argument)`` due at integer nanoseconds, popped in ``(time, seq)`` order.

The queue is a calendar: a heap of the distinct due times, and for each a FIFO of its entries, which
pops in exactly ``(time, seq)`` order (entries due at the same time run in the order they were queued)
while the heap stays as small as the number of distinct instants. A network of a thousand nodes keeps
tens of thousands of entries queued (most of them timers re-armed since) at a few dozen instants: a heap
of every entry was ~15 levels deep and out of the caches, where the calendar's is ~6.

:class:`stack.core.kernel.Kernel` is a calendar that runs its entries; its hot loop pops them inline.

>>> calendar = Calendar()
>>> calendar.call_at(20, print, "b")
>>> calendar.call_at(10, print, "a")
>>> calendar.call_at(10, print, "a2")
>>> [(at, arg) for at, _, arg in calendar.pending()]
[(10, 'a'), (10, 'a2'), (20, 'b')]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

Entry = tuple[Callable[[Any], None], Any]
"""A queued callback and its argument (a port is a callback: calling it delivers to it)."""


class Calendar:
    """Entries due at virtual times, in ``(time, seq)`` order; ``now`` is the earliest time one may be due."""

    def __init__(self) -> None:
        self.now = 0
        self._times: list[int] = []
        """Heap of the distinct times at which entries are due."""
        self._due: dict[int, deque[Entry]] = {}
        """The entries due at each of those times, in the order they were queued. An entry may be taken off
        (a port's cancelled timer, :mod:`stack.core.port`): an instant left with none stays, empty, until it
        comes up."""

    def call_at(self, at: int, callback: Callable[[Any], None], arg: Any = None) -> None:
        """Queue ``callback(arg)`` to run at virtual time ``at`` (never earlier than now)."""
        if at < self.now:
            at = self.now
        entries = self._due.get(at)
        if entries is None:
            entries = self._due[at] = deque()
            heappush(self._times, at)
        entries.append((callback, arg))

    def next_due(self) -> int | None:
        """When the earliest queued entry is due (None: the queue is empty)."""
        times, due = self._times, self._due
        while times and not due[times[0]]:      # an instant whose entries were all taken off
            del due[heappop(times)]
        return times[0] if times else None

    def pending(self) -> list[tuple[int, Callable[[Any], None], Any]]:
        """Every queued entry as ``(time, callback, argument)``, in the order they will run."""
        return [(at, *entry) for at in sorted(self._times) for entry in self._due[at]]

    def pop_entry(self) -> tuple[int, Callable[[Any], None], Any] | None:
        """Take the next entry off the queue without running it or moving ``now`` (tests driving a medium
        by hand; None: the queue is empty)."""
        at = self.next_due()
        if at is None:
            return None
        entries = self._due[at]
        callback, arg = entries.popleft()
        if not entries:
            heappop(self._times)
            del self._due[at]
        return at, callback, arg

    def clear(self) -> None:
        """Drop every queued entry."""
        self._times.clear()
        self._due.clear()
