"""Shortest fibre paths from single-source searches, each search made once and resumed for later questions:
the emulated network's routes (:func:`stack.core.routes.make_route`) without one bidirectional search per
ordered pair of nodes.

A path found here is the *unique* path of least delay or none: where paths of equal delay tie, the answer
is None and the caller asks :func:`stack.core.routes.shortest_path`, whose tie-breaking (networkx's
bidirectional search) is the routes' definition. A unique shortest path is the one any correct search
returns, so the routes are the same either way.

>>> from stack.core.routes import Fibre
>>> fibres = {1: {2: Fibre(1.0, 10)}, 2: {1: Fibre(1.0, 10), 3: Fibre(1.0, 5)}, 3: {2: Fibre(1.0, 5)}}
>>> trees = PathTrees(fibres)
>>> trees.path(1, 3), trees.path(3, 1), trees.searches
([1, 2, 3], [3, 2, 1], 1)
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Protocol


class _Fibre(Protocol):
    @property
    def delay_ns(self) -> int: ...


class _Search:
    """Dijkstra's search from one source, stopped when a question is answered and resumed for the next.

    For each settled node: its predecessor and whether its shortest path is ambiguous (another path of the
    same delay exists). With positive delays, every predecessor on a path of least delay to a node is settled
    before it, so when a node is settled it has heard from all of them: ambiguous when there were two or more,
    or its one predecessor's path is ambiguous.
    """

    def __init__(self, fibres: dict[int, dict[int, Any]], source: int) -> None:
        self._fibres = fibres
        self.settled: dict[int, bool] = {}
        """Each settled node: whether its shortest path from the source is ambiguous."""
        self.previous: dict[int, int] = {}
        self._best = {source: 0}
        self._tight = {source: 1}
        """How many settled nodes reach each queued node with its best distance so far."""
        self._order = itertools.count()
        self._queue = [(0, next(self._order), source)]

    def settle(self, target: int) -> bool:
        """Go on until ``target`` is settled (False: it cannot be reached)."""
        settled, best, tight, previous, queue = self.settled, self._best, self._tight, self.previous, self._queue
        while target not in settled:
            if not queue:
                return False
            distance, _, node = heapq.heappop(queue)
            if node in settled:
                continue
            settled[node] = tight[node] > 1 or (node in previous and settled[previous[node]])
            for neighbour, fibre in self._fibres[node].items():
                if neighbour in settled:
                    continue
                through = distance + fibre.delay_ns
                known = best.get(neighbour)
                if known is None or through < known:
                    best[neighbour], tight[neighbour], previous[neighbour] = through, 1, node
                    heapq.heappush(queue, (through, next(self._order), neighbour))
                elif through == known:
                    tight[neighbour] += 1
        return True


class PathTrees:
    """The unique shortest paths of a fibre graph (``fibres``: for each node, its neighbours and the fibre to
    each; symmetric), from one resumable search per source. Build a new one when the graph changes."""

    def __init__(self, fibres: dict[int, dict[int, Any]]) -> None:
        self._fibres = fibres
        self._positive = all(type(fibre.delay_ns) is int and fibre.delay_ns > 0
                             for ends in fibres.values() for fibre in ends.values())
        """Ambiguity is told from the searches only when every delay is a positive integer (else: every answer
        None): with floats, tied sums taken in another order may differ in their last bit."""
        self._searches: dict[int, _Search] = {}

    @property
    def searches(self) -> int:
        """Single-source searches begun so far."""
        return len(self._searches)

    def path(self, source: int, target: int) -> list[int] | None:
        """The nodes of the one path of least delay from ``source`` to ``target``, both included (None: there
        is none, or several of equal delay, or the graph has a fibre without delay)."""
        if not self._positive or source not in self._fibres or target not in self._fibres:
            return None
        forward, backward = self._searches.get(source), self._searches.get(target)
        if forward is not None and target in forward.settled:
            return _reversed(self._walk(forward, target))
        if backward is not None and source in backward.settled:
            return self._walk(backward, source)
        if forward is None and backward is not None:        # the other end's search goes on: fewer searches
            return self._walk(backward, source) if backward.settle(source) else None
        if forward is None:
            forward = self._searches[source] = _Search(self._fibres, source)
        return _reversed(self._walk(forward, target)) if forward.settle(target) else None

    @staticmethod
    def _walk(search: _Search, node: int) -> list[int] | None:
        """``node`` and its predecessors back to the search's source (None: ``node``'s path is ambiguous)."""
        if search.settled[node]:
            return None
        path = [node]
        previous = search.previous
        while node in previous:
            node = previous[node]
            path.append(node)
        return path


def _reversed(path: list[int] | None) -> list[int] | None:
    return None if path is None else path[::-1]
