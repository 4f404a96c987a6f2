"""When the links waiting to start an attempt run are retried, and which of them (:mod:`stack.quantum.heralding`).

Links that could not start wait in one queue (:class:`stack.quantum.waiting.WaitingLinks`), in the order they
first waited. A retry tries, in that order, only the waiting links that may start now: those needing a qubit or
a station freed since the last retry (or needed by a link before them that stopped waiting), and those whose
own request changed. Any other waiting link is as unable to start as at its last try, so the outcome (and the
order of everything queued) is that of trying every waiting link, at a cost that does not grow with the network.

A retry is queued at the instant something is freed, behind what is already queued then; one freed by a queue
entry's callback at its end, with no other entry due at that instant, runs at once instead (the queued retry
would have run next).

:class:`Retries` is its own object, which :class:`stack.quantum.heralding.Heralding` owns: the heralding tells it
what was freed and which link changed, and it calls back the one thing it needs of the heralding, trying a link
(``try_start``, given at construction). It reads the waiting links but never changes them (the heralding adds
and removes them).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable

from stack.core.kernel import Kernel
from stack.quantum.waiting import WaitingLinks

_NONE: frozenset[int] = frozenset()


class Retries:
    """The marks of what may start since the last retry, and the retries themselves (the module's docstring).

    ``try_start(link_id)`` starts an attempt run of the link if it wants one and may, else makes it wait (or, if
    it no longer wants one, stop waiting, telling :meth:`mark_freed` what it needed); ``waiting`` is the queue
    ``try_start`` keeps, which the retries read and never change. A resource is a node (one of its communication
    qubits) or a shared station, by id.
    """

    def __init__(self, kernel: Kernel, waiting: WaitingLinks, try_start: Callable[[int], None]) -> None:
        self.kernel = kernel
        self.waiting = waiting
        self.try_start = try_start
        self._queued = False
        """A retry is queued (at this instant)."""
        self._freed: set[int] = set()
        """Nodes and stations that may have more free since the last retry (their waiting links are tried)."""
        self._changed: set[int] = set()
        """Links whose request or run changed since the last retry (tried if waiting)."""

    def pending(self) -> bool:
        """Whether a retry is queued or something is marked for the next one."""
        return self._queued or bool(self._freed) or bool(self._changed)

    def mark_freed(self, resources: Iterable[int]) -> None:
        """``resources`` may be free for more waiting links (one needing them stopped waiting): the next retry
        tries the links needing them (none is queued for it; a retry running now goes on to them)."""
        self._freed.update(resources)

    def freed(self, resource: int) -> None:
        """``resource`` is free now: a retry is queued."""
        self._freed.add(resource)
        self._retry_soon()

    def freed_at(self, resource: int, at: int) -> None:
        """``resource`` is busy (a readout, a move) until ``at``, and free from then on."""
        # The entry queued now runs at t = at before any retry at t (queued at t, so later), which therefore never
        # counts the resource unmarked.
        self.kernel.call_at(at, self.freed_at_end, resource)

    def freed_at_end(self, resource: int, link_id: int | None = None) -> None:
        """``resource`` is free now, at the end of a queue entry's callback (``link_id``: the link whose use of it
        ended, which may be waiting for it): retried at once when no other entry is due at this instant (the
        retry, queued, would run next), else queued. When that link is the only one waiting, retrying at once is
        trying it alone, which is done without the marks."""
        waiting = self.waiting
        if not waiting:                 # what was freed concerns no waiting link (_retry_soon)
            self._freed.clear()
            self._changed.clear()
        elif link_id is not None and len(waiting) == 1 and link_id in waiting and not self._queued and \
                self.kernel.next_due() != self.kernel.now:      # the retry, next, would try this link alone
            self._freed.clear()
            self._changed.clear()
            self.try_start(link_id)
            self._freed.clear()
        else:
            self._freed.add(resource)
            kernel = self.kernel
            if self._queued or kernel.next_due() == kernel.now:
                self._retry_soon()
            else:
                self._retry_waiting()

    def released(self, link_id: int, resources: Iterable[int]) -> None:
        """``link_id``'s run ended or was cancelled, freeing ``resources``: a retry is queued."""
        if not self.waiting:            # _retry_soon, written out (once a run end)
            self._freed.clear()
            self._changed.clear()
            return
        self._freed.update(resources)
        self._changed.add(link_id)
        if not self._queued:
            self._queued = True
            self.kernel.call_at(self.kernel.now, self._retry_waiting)

    def request_changed(self, link_id: int) -> None:
        """``link_id``, waiting, wants a run again (its run ended, and it waits untried): a retry is queued, which
        tries it."""
        self._changed.add(link_id)
        if not self._queued:            # _retry_soon, written out: the link waits
            self._queued = True
            self.kernel.call_at(self.kernel.now, self._retry_waiting)

    def _retry_soon(self) -> None:
        if not self.waiting:            # what was freed concerns no waiting link (a link waits after a try)
            self._freed.clear()
            self._changed.clear()
        elif not self._queued:
            self._queued = True
            self.kernel.call_at(self.kernel.now, self._retry_waiting)

    def _retry_waiting(self, _: object = None) -> None:
        """Try, in the order they first waited, the waiting links that may start now (the module's docstring)."""
        self._queued = False
        waiting = self.waiting
        candidates = waiting.needing(self._freed, self._changed)
        self._freed.clear()
        self._changed.clear()
        heapq.heapify(candidates)
        last = -1
        try_start = self.try_start
        while candidates:
            place, link_id = heapq.heappop(candidates)
            if place <= last or waiting.place(link_id) != place:
                continue
            last = place
            try_start(link_id)
            if self._freed:             # it stopped waiting: the links after it that needed the same may start
                for candidate in waiting.needing(self._freed, _NONE):
                    if candidate[0] > last:
                        heapq.heappush(candidates, candidate)
                self._freed.clear()
        self._changed.clear()
