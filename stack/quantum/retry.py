"""When the links waiting to start an attempt run are retried, and which of them (:mod:`stack.quantum.heralding`).

Links that could not start wait in one queue (:class:`stack.quantum.waiting.WaitingLinks`), in the order they
first waited. A retry tries, in that order, only the waiting links that may start now: those needing a qubit or
a station freed since the last retry (or needed by a link before them that stopped waiting), and those whose
own request changed. Any other waiting link is as unable to start as at its last try, so the outcome (and the
order of everything queued) is that of trying every waiting link, at a cost that does not grow with the network.

A retry is queued at the instant something is freed, behind what is already queued then; one freed by a queue
entry's callback at its end, with no other entry due at that instant, runs at once instead (the queued retry
would have run next).
"""

from __future__ import annotations

import heapq

from stack.core.kernel import Kernel
from stack.quantum.linkstate import LinkState
from stack.quantum.waiting import WaitingLinks

_NONE: frozenset[int] = frozenset()


class Retries:
    """The waiting links and their retries; :class:`stack.quantum.heralding.Heralding` tries a link
    (:meth:`_try_start`)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.links: dict[int, LinkState] = {}
        self.waiting = WaitingLinks()
        self._retry_queued = False
        self._freed: set[int] = set()
        """Nodes and stations that may have more free since the last retry (their waiting links are tried)."""
        self._changed: set[int] = set()
        """Links whose request or run changed since the last retry (tried if waiting)."""

    def _try_start(self, state: LinkState) -> None:
        """Start an attempt run of ``state``'s link if it wants one and may, else make it wait."""
        raise NotImplementedError

    def slot_freed(self, node_id: int) -> None:
        """A communication qubit of ``node_id`` is free now."""
        self._freed.add(node_id)
        self._retry_soon()

    def slot_free_at(self, node_id: int, at: int) -> None:
        """A communication qubit of ``node_id`` is busy (a readout, a move) until ``at``, and free from then on."""
        # The entry queued now runs at t = at before any retry at t (queued at t, so later), which therefore never
        # counts the qubit unmarked.
        self.kernel.call_at(at, self._slot_free, node_id)

    def _slot_free(self, node_id: int) -> None:
        if self.waiting:
            self._freed.add(node_id)
            self._retry_at_end()
        else:                           # what was freed concerns no waiting link (_retry_soon)
            self._freed.clear()
            self._changed.clear()

    def _retry_at_end(self) -> None:
        """Retry, at the end of a queue entry's callback, with links waiting: at once when no other entry is due at
        this instant (the retry, queued, would run next), else queued."""
        kernel = self.kernel
        if self._retry_queued or kernel.next_due() == kernel.now:
            self._retry_soon()
        else:
            self._retry_waiting()

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
