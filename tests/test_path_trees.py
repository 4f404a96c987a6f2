"""PathTrees (resumable single-source searches) answer exactly the unique shortest paths, so the emulated
network's routes are the bidirectional search's (networkx's) whatever order the routes are asked in."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.core.path_trees import PathTrees
from stack.core.routes import Fibre, make_route


def _graphs(nodes: int, edges: list[tuple[int, int, int, int, float]]) -> tuple[nx.Graph, dict]:
    graph, fibres = nx.Graph(), {}
    for node in range(1, nodes + 1):
        graph.add_node(node)
        fibres[node] = {}
    for a, b, delay, jitter, loss in edges:
        if a == b:
            continue
        fibre = Fibre(1.0, delay, loss, jitter)
        graph.add_edge(a, b, weight=delay)
        fibres[a][b] = fibres[b][a] = fibre
    return graph, fibres


def _edges(nodes: int, least: int) -> st.SearchStrategy[list[tuple[int, int, int, int, float]]]:
    node = st.integers(1, nodes)
    return st.lists(st.tuples(node, node, st.integers(least, 3), st.integers(0, 3), st.sampled_from([0.0, 0.25])),
                    max_size=3 * nodes)


@settings(max_examples=300, deadline=None)
@given(nodes=st.integers(2, 9), data=st.data())
def test_an_answer_is_the_unique_shortest_path_and_only_unique_ones_are_answered(nodes: int,
                                                                                 data: st.DataObject) -> None:
    """Small positive delays make many ties: a pair is answered exactly when networkx finds one shortest path,
    with that path, in any order of questions (searches resume and serve both directions)."""
    graph, fibres = _graphs(nodes, data.draw(_edges(nodes, 1)))
    trees = PathTrees(fibres)
    pairs = data.draw(st.permutations(list(itertools.permutations(range(1, nodes + 1), 2))))
    for source, target in pairs:
        try:
            paths = list(nx.all_shortest_paths(graph, source, target, weight="weight"))
        except nx.NetworkXNoPath:
            paths = []
        assert trees.path(source, target) == (paths[0] if len(paths) == 1 else None), (source, target)
    assert trees.searches <= nodes


@settings(max_examples=200, deadline=None)
@given(nodes=st.integers(2, 9), data=st.data())
def test_routes_are_the_same_with_and_without_trees(nodes: int, data: st.DataObject) -> None:
    """make_route with PathTrees gives the route of the bidirectional search alone (zero delays too: then the
    trees answer nothing), in any order of questions, values bit for bit."""
    _, fibres = _graphs(nodes, data.draw(_edges(nodes, 0)))
    trees, seed = PathTrees(fibres), np.random.SeedSequence(7)
    pairs = data.draw(st.permutations(list(itertools.product(range(1, nodes + 1), repeat=2))))
    for source, target in pairs:
        try:
            expected = make_route(fibres, seed, source, target)
        except ValueError as error:
            assert "no fibre path" in str(error)
            continue
        assert make_route(fibres, seed, source, target, trees) == expected


def test_a_zero_delay_fibre_turns_the_trees_off() -> None:
    _, fibres = _graphs(3, [(1, 2, 0, 0, 0.0), (2, 3, 1, 0, 0.0)])
    assert PathTrees(fibres).path(1, 3) is None
    _, fibres = _graphs(3, [(1, 2, 1, 0, 0.0), (2, 3, 1, 0, 0.0)])
    assert PathTrees(fibres).path(3, 1) == [3, 2, 1]


def test_a_fractional_delay_turns_the_trees_off() -> None:
    """Tied sums of floats taken in another order may differ in their last bit (0.45 against
    0.45000000000000007), so only integer delays tell a unique path from a tie (review, 2026-12-04)."""
    _, fibres = _graphs(3, [(1, 2, 1, 0, 0.0), (2, 3, 1, 0, 0.0)])
    fibres[1][2] = fibres[2][1] = Fibre(1.0, 0.15, 0.0, 0)    # type: ignore[arg-type]
    assert PathTrees(fibres).path(1, 3) is None
