"""Topology's answers from shared FibrePaths, resolved per question, are those of the eager bookkeeping that came
before (each search writing every value it found both ways, a value once written staying), in any order of
questions, ties and islands included; FibrePaths' search is networkx's."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.network.fibre_paths import FibrePaths
from protocols.network.topology import Fibre, NodeCaps, Topology
from stack.core.capture import node_ip


class _Eager:
    """The bookkeeping before: one networkx search per miss, written both ways with setdefault."""

    def __init__(self, count: int, fibres: list[Fibre]) -> None:
        self.graph = nx.Graph()
        self.graph.add_nodes_from(range(count))
        for f in fibres:
            self.graph.add_edge(f.a, f.b, weight=f.delay_ns, jitter=f.jitter_ns, loss=f.loss)
        self.paths: dict[tuple[int, int], tuple[int, int, float]] = {}
        self.searches = 0

    def search(self, source: int) -> None:
        self.searches += 1
        predecessors, distances = nx.dijkstra_predecessor_and_distance(self.graph, source, weight="weight")
        found = {source: (0, 0, 1.0)}
        for node in distances:
            if node != source:
                through = predecessors[node][0]
                parent, edge = found[through], self.graph.adj[through][node]
                found[node] = (parent[0] + edge["weight"], parent[1] + edge["jitter"], parent[2] * (1 - edge["loss"]))
        for node, value in found.items():
            self.paths.setdefault((source, node), value)
            self.paths.setdefault((node, source), value)

    def path(self, a: int, b: int) -> tuple[int, int, float] | str:
        if (a, b) not in self.paths:
            self.search(a)
            if (a, b) not in self.paths:
                return "no fibre path"
        return self.paths[a, b]

    def reached(self, node: int) -> tuple[int, ...]:
        if (node, node) not in self.paths:
            self.search(node)
        return tuple(q for q in sorted(self.graph) if (node, q) in self.paths)


def _asked(topology: Topology, a: int, b: int) -> tuple[int, int, float] | str:
    try:
        return topology.delay(a, b), topology.jitter(a, b), topology.delivery(a, b)
    except ValueError as error:
        assert "no fibre path" in str(error)
        return "no fibre path"


def _ask(topology: Topology, kind: str, a: int, b: int) -> object:
    if kind == "reached":
        return topology.qpus_reached(a)
    try:
        return topology.delay(a, b), topology.jitter(a, b), topology.delivery(a, b)
    except ValueError as error:
        assert "no fibre path" in str(error)
        return "no fibre path"


def _ask_eager(eager: _Eager, kind: str, a: int, b: int) -> object:
    return eager.reached(a) if kind == "reached" else eager.path(a, b)


@settings(max_examples=300, deadline=None)
@given(count=st.integers(2, 8), data=st.data())
def test_answers_in_any_order_are_the_eager_bookkeepings(count: int, data: st.DataObject) -> None:
    """Small delays (zeros too) make many ties whose paths differ in jitter and loss; two topologies over one
    FibrePaths, asked in two orders, each answer (bit for bit) and count searches as the eager bookkeeping."""
    node = st.integers(0, count - 1)
    edges = data.draw(st.lists(st.tuples(node, node, st.integers(0, 3), st.integers(0, 3),
                                         st.sampled_from([0.0, 0.1, 0.5])), max_size=3 * count))
    fibres = [Fibre(a, b, delay, jitter, loss) for a, b, delay, jitter, loss in edges if a != b]
    nodes = [NodeCaps(n, f"n{n}", node_ip(n)) for n in range(count)]
    question = st.tuples(st.sampled_from(["path", "path", "reached"]), node, node)
    first = Topology(nodes, [], fibres)
    second = Topology(nodes, [], first.fibre_paths)
    for topology in (first, second):
        eager = _Eager(count, fibres)
        searched_first = [("path", n, n) for n in data.draw(st.permutations(range(count)))]   # searches, in an order
        pairs = [("path", a, b) for a, b in itertools.product(range(count), repeat=2)]
        for kind, a, b in [*data.draw(st.lists(question, max_size=20)), *searched_first, *pairs]:
            assert _ask(topology, kind, a, b) == _ask_eager(eager, kind, a, b), (kind, a, b)
            assert topology.searches == eager.searches
    assert first.fibre_paths.searches <= count


def test_a_topology_takes_only_fibre_paths_of_its_nodes() -> None:
    nodes = [NodeCaps(n, f"n{n}", node_ip(n)) for n in range(3)]
    with pytest.raises(ValueError, match="other nodes"):
        Topology(nodes[:2], [], FibrePaths([0, 1, 2], []))
