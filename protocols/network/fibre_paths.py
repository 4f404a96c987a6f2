"""The classical fibre graph of a :class:`~protocols.network.topology.Topology` and its single-source
shortest-path searches, each made once: read-only once built, so several topologies of one network (the
runtime builds one without links to find the links' delays, then the network layers' one) share it and
its searches.

>>> from protocols.network.topology import Fibre
>>> paths = FibrePaths([1, 2, 3], [Fibre(1, 2, 10, 1, 0.5), Fibre(2, 3, 5)])
>>> paths.search(1)
{1: (0, 0, 1.0), 2: (10, 1, 0.5), 3: (15, 1, 0.5)}
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from typing import Protocol


class Fibre(Protocol):
    """What a search needs of a fibre (:class:`protocols.network.topology.Fibre` has it)."""

    @property
    def a(self) -> int: ...
    @property
    def b(self) -> int: ...
    @property
    def delay_ns(self) -> int: ...
    @property
    def jitter_ns(self) -> int: ...
    @property
    def loss(self) -> float: ...

PathValue = tuple[int, int, float]
"""A path's one-way delay (ns), jitter (ns, the sum over its fibres) and delivery probability."""


class FibrePaths:
    """Nodes and classical fibres (symmetric), and the shortest paths from each source, searched at the first
    question about that source and kept."""

    def __init__(self, nodes: Iterable[int], fibres: Iterable[Fibre]) -> None:
        # A fibre's (delay, jitter, loss) for each neighbour, neighbours in the order their first fibre was
        # added (a later fibre between the same two nodes replaces the values, in place), as networkx's
        # Graph.add_edge keeps them.
        self._adjacency: dict[int, dict[int, tuple[int, int, float]]] = {node: {} for node in nodes}
        for fibre in fibres:
            for end in (fibre.a, fibre.b):
                if end not in self._adjacency:
                    raise ValueError(f"fibre {fibre.a}-{fibre.b}: unknown node {end}")
            values = (fibre.delay_ns, fibre.jitter_ns, fibre.loss)
            self._adjacency[fibre.a][fibre.b] = values
            self._adjacency[fibre.b][fibre.a] = values
        self._found: dict[int, dict[int, PathValue]] = {}
        self.searches = 0
        """Single-source searches made so far (one per source at most)."""

    @property
    def nodes(self) -> frozenset[int]:
        """The nodes of the graph (a topology over these paths must have exactly these)."""
        return frozenset(self._adjacency)

    def search(self, source: int) -> dict[int, PathValue]:
        """The delay, jitter and delivery probability of the shortest path from ``source`` to every node it
        reaches, in the order the search settles them (empty: ``source`` is no node). Do not modify it.

        Dijkstra's search as networkx 3.6's ``dijkstra_predecessor_and_distance`` makes it, step for step, so
        that among paths of equal delay it takes the same one: the nearest node of the queue first (ties: the
        first queued); neighbours in the order their fibres were added; a node's path goes through the node
        that first gave it its final distance (networkx's first predecessor, which its ``single_source_dijkstra``
        paths follow). Each value is its predecessor's combined with the last fibre's: linear in the nodes.
        ``tests/test_network_topology.py`` holds it against networkx on random graphs with many ties.
        """
        found = self._found.get(source)
        if found is None:
            found = self._found[source] = self._search(source)
        return found

    def _search(self, source: int) -> dict[int, PathValue]:
        self.searches += 1
        adjacency = self._adjacency
        found: dict[int, PathValue] = {}
        if source not in adjacency:
            return found
        through: dict[int, int] = {}
        queued = {source: 0}
        order = itertools.count()
        queue = [(0, next(order), source)]
        while queue:
            distance, _, node = heapq.heappop(queue)
            if node in found:
                continue
            if node == source:
                found[node] = (0, 0, 1.0)
            else:
                parent = through[node]
                delay, jitter, loss = adjacency[parent][node]
                base = found[parent]
                found[node] = (base[0] + delay, base[1] + jitter, base[2] * (1 - loss))
            for neighbour, (delay, _, _) in adjacency[node].items():
                reach = distance + delay
                if neighbour in found:
                    if reach < found[neighbour][0]:
                        raise ValueError("contradictory paths found: a fibre of negative delay?")
                elif neighbour not in queued or reach < queued[neighbour]:
                    queued[neighbour] = reach
                    heapq.heappush(queue, (reach, next(order), neighbour))
                    through[neighbour] = node
        return found
