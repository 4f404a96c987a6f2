"""Fibres and routes of the emulated network: the path of least delay between two nodes and what its
fibres add up to (delay, loss, duplication, jitter), each route with its own seeded randomness.

:class:`stack.core.network.Network` keeps the fibre graph and a route per ordered pair of nodes, made here
at its first use.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from stack.core.path_trees import PathTrees


@dataclass(slots=True)
class Fibre:
    length_km: float
    delay_ns: int
    loss: float = 0.0
    jitter_ns: int = 0
    duplication: float = 0.0


@dataclass(slots=True)
class Route:
    delay_ns: int
    loss: float
    jitter_ns: int
    seed: tuple[Any, tuple[int, ...]]
    """The entropy and spawn key of its ``SeedSequence``."""
    duplication: float = 0.0
    _rng: np.random.Generator | None = None

    @property
    def rng(self) -> np.random.Generator:
        """The route's own randomness (loss, duplication, jitter), made at its first draw: a clean route, which
        never draws, costs no generator (a thousand-node network sets up thousands of routes)."""
        if self._rng is None:
            self._rng = np.random.default_rng(np.random.SeedSequence(self.seed[0], spawn_key=self.seed[1]))
        return self._rng


def make_route(fibres: dict[int, dict[int, Fibre]], seed: np.random.SeedSequence, src: int, dst: int,
               trees: PathTrees | None = None) -> Route:
    """The route from ``src`` to ``dst`` over the fibre graph ``fibres``, its randomness seeded from ``seed``
    and the ordered pair; ``trees``, :class:`PathTrees` of ``fibres``, answer first where they can (the same
    path: they answer only unique ones)."""
    seed_of = (seed.entropy, (*seed.spawn_key, src, dst))
    if src == dst:
        return Route(0, 0.0, 0, seed_of)
    path = trees.path(src, dst) if trees is not None else None
    if path is None:
        path = shortest_path(fibres, src, dst)
    if path is None:
        raise ValueError(f"no fibre path from node {src} to node {dst}")
    hops = [fibres[u][v] for u, v in itertools.pairwise(path)]
    survive = single = 1.0
    for fibre in hops:
        survive *= 1 - fibre.loss
        single *= 1 - fibre.duplication
    return Route(sum(f.delay_ns for f in hops), 1 - survive, sum(f.jitter_ns for f in hops), seed_of, 1 - single)


def shortest_path(fibres: dict[int, dict[int, Fibre]], source: int, target: int) -> list[int] | None:
    """The path of least delay from ``source`` to ``target`` (None: there is none).

    The bidirectional Dijkstra search of networkx 3.6 (``nx.shortest_path(graph, source, target,
    weight=...)``, which this module used before), step for step, so that among paths of equal delay
    (which may differ in loss and jitter) it picks the same one: the two searches take turns, forward
    first; each takes the nearest node of its queue (ties: first queued, one counter for both); a
    node's predecessor changes only for a strictly shorter distance; neighbours are visited in the
    order their fibres were added; the best meeting node is kept as the searches find them, and the
    search ends when one node is settled from both sides. ``tests/test_network.py`` holds it against
    networkx on random graphs with many ties.
    """
    if source not in fibres or target not in fibres:
        return None
    if source == target:
        return [source]
    settled: tuple[dict[int, int], dict[int, int]] = ({}, {})
    best = ({source: 0}, {target: 0})
    previous: tuple[dict[int, int | None], dict[int, int | None]] = ({source: None}, {target: None})
    order = itertools.count()
    queues = ([(0, next(order), source)], [(0, next(order), target)])
    meeting: int | None = None
    total: int | None = None
    side = 1
    while queues[0] and queues[1]:
        side = 1 - side
        distance, _, node = heapq.heappop(queues[side])
        if node in settled[side]:
            continue
        settled[side][node] = distance
        if node in settled[1 - side]:
            assert meeting is not None
            return _walk(previous[0], meeting)[::-1] + _walk(previous[1], previous[1][meeting])
        other = best[1 - side]
        for neighbour, fibre in fibres[node].items():
            through = distance + fibre.delay_ns
            if neighbour in settled[side] or through >= best[side].get(neighbour, through + 1):
                continue
            best[side][neighbour] = through
            heapq.heappush(queues[side], (through, next(order), neighbour))
            previous[side][neighbour] = node
            if neighbour in other and (total is None or through + other[neighbour] < total):
                total, meeting = through + other[neighbour], neighbour
    return None


def _walk(previous: dict[int, int | None], node: int | None) -> list[int]:
    """``node`` and its predecessors, back to where the search started."""
    path = []
    while node is not None:
        path.append(node)
        node = previous[node]
    return path
