"""The network layer's topology (protocols/network/topology.py), built from scenarios by
stack/quantum/topology.py: it must agree with what the runtime actually builds (link budgets, the link
layers' options and timeouts, the emulated network's routes)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.link.admission import LinkOption
from protocols.network.topology import Fibre, LinkCaps, NodeCaps, Topology, option_distribution
from stack.core.capture import node_ip
from stack.quantum.budget import link_options, link_physics
from stack.quantum.topology import build_topology
from stack.runtime import build
from stack.scenario import load, load_text

HUB = """
[run]
duration_ms = 10.0
seed = 1

[nodes.a]
kind = "qpu"
communication_qubits = 2
storage_qubits = 3
t1_ms = 5.0
t2_ms = 2.0
gate_fidelity = 0.99
readout_fidelity = 0.98
readout_ns = 2000

[nodes.b]
kind = "qpu"

[nodes.c]
kind = "qpu"
t2_ms = 0.5

[nodes.d]
kind = "qpu"

[nodes.hub]
kind = "station"

[links.a-b]
a = "a"
b = "b"
station = "hub"
length_km = 2.0
classical_jitter_ns = 300

[links.b-c]
a = "b"
b = "c"
station = "hub"
length_a_km = 1.0
length_b_km = 2.0
scheme = "single-click"
bright_state_population = 0.1

[links.c-d]
a = "c"
b = "d"
scheme = "coupler"
length_km = 0.01
classical_jitter_ns = 50
"""


@pytest.fixture(scope="module")
def default() -> tuple[object, Topology]:
    scenario = load("examples/default.toml")
    return scenario, build_topology(scenario)


def test_nodes_carry_ids_addresses_and_hardware(default: tuple) -> None:
    scenario, top = default
    assert [n.node_id for n in top.nodes] == sorted(n.node_id for n in scenario.nodes.values())
    for config in scenario.nodes.values():
        caps = top.node(config.node_id)
        assert (caps.name, caps.kind, caps.address) == (config.name, config.kind, node_ip(config.node_id))
        assert top.node_at(caps.address) == config.node_id
        if config.kind == "qpu":
            assert (caps.t1_ns, caps.t2_ns, caps.communication_qubits, caps.storage_qubits) == (
                config.t1_ns, config.t2_ns, config.communication_qubits, config.storage_qubits)
            assert (caps.gate_fidelity, caps.readout_fidelity, caps.gate_ns, caps.readout_ns, caps.move_ns) == (
                config.gate_fidelity, config.readout_fidelity, config.gate_ns, config.readout_ns, config.move_ns)
    assert top.qpus() == tuple(sorted(n.node_id for n in scenario.nodes.values() if n.kind == "qpu"))
    assert top.node_at("10.0.0.1") is None


def test_neighbours_and_links_match_the_scenario(default: tuple) -> None:
    scenario, top = default
    ids = {name: node.node_id for name, node in scenario.nodes.items()}
    for name, node in scenario.nodes.items():
        expected = sorted(ids[link.b if link.a == name else link.a] for link in scenario.links
                          if name in (link.a, link.b))
        assert list(top.neighbours(node.node_id)) == expected
    for link in scenario.links:
        caps = top.link_between(ids[link.b], ids[link.a])
        assert caps is not None and caps.link_id == link.link_id and caps.name == link.name
        assert caps is top.link(link.link_id)
    assert top.link_between(ids["qpu1"], ids["remote"]) is None


def test_link_options_are_the_budgets_with_their_distributions(default: tuple) -> None:
    scenario, top = default
    for link in scenario.links:
        a, b = scenario.nodes[link.a], scenario.nodes[link.b]
        lp = link_physics(link, scenario)
        caps = top.link(link.link_id)
        assert caps.options == link_options(lp, (a.t1_ns, b.t1_ns), (a.t2_ns, b.t2_ns))
        assert caps.cycle_ns == lp.cycle_ns
        for option in caps.options:
            assert option.distribution is not None
            assert option.distribution[0] == option.fidelity
            assert math.fsum(option.distribution) == pytest.approx(1.0, abs=1e-12)
    single = top.link_between(3, 4)
    assert single is not None and len(single.options) == 5
    assert single.fastest == max(single.options, key=lambda option: option.success)
    assert single.best == max(single.options, key=lambda option: option.fidelity)


def test_the_link_layers_get_the_same_options_and_timeouts() -> None:
    scenario = load_text(HUB, "<hub>")
    top = build_topology(scenario)
    emu = build(scenario)
    for engine in emu.link_layers:
        for peer, config in engine.links.by_peer.items():
            caps = top.link_between(engine.node_id, peer)
            assert caps is not None
            # the same options; the two ends apply the memories in their own order (last-bit differences)
            assert len(caps.options) == len(config.options)
            for mine, theirs in zip(caps.options, config.options, strict=True):
                assert (mine.alpha, mine.success) == (theirs.alpha, theirs.success)
                assert mine.fidelity == pytest.approx(theirs.fidelity, rel=1e-14)
                assert mine.distribution == pytest.approx(theirs.distribution, rel=1e-14)
            assert caps.cycle_ns == config.cycle_ns
    timeouts = {engine.node_id: engine.timing.confirm_timeout_ns for engine in emu.link_layers}
    for link in top.links:
        assert link.confirm_timeout_ns == max(timeouts[link.a], timeouts[link.b])


def test_delays_and_jitter_are_the_emulated_networks_routes() -> None:
    scenario = load_text(HUB, "<hub>")
    top = build_topology(scenario)
    network = build(scenario).network
    for a, b in itertools.permutations([n.node_id for n in top.nodes], 2):
        route = network.route(a, b)
        assert (top.delay(a, b), top.jitter(a, b)) == (route.delay_ns, route.jitter_ns), (a, b)
    for link in top.links:
        assert (link.delay_ns, link.jitter_ns) == (top.delay(link.a, link.b), top.jitter(link.a, link.b))
    assert top.delay(1, 1) == 0
    assert top.searches < len(top.nodes)           # one single-source search per node (the last needs none)


def test_graph_holds_qpus_and_links_only() -> None:
    scenario = load_text(HUB, "<hub>")
    top = build_topology(scenario)
    graph = top.graph()
    assert sorted(graph.nodes) == [1, 2, 3, 4]                   # not the hub station (5)
    assert {frozenset(e) for e in graph.edges} == {frozenset((1, 2)), frozenset((2, 3)), frozenset((3, 4))}
    assert graph.edges[2, 3]["link"] is top.link_between(2, 3)
    assert graph.nodes[1]["caps"] is top.node(1)
    assert top.node(1).memory.t2_ns == 2e6 and top.node(1).repeater.bsm_ns == top.node(1).gate_ns + 2000


QPU = {"kind": "qpu"}


def test_topology_refuses_inconsistent_input() -> None:
    a, b = NodeCaps(1, "a", "198.18.0.1", **QPU), NodeCaps(2, "b", "198.18.0.2", **QPU)
    station = NodeCaps(3, "s", "198.18.0.3", kind="station")
    option = (LinkOption(None, 0.9, 0.1),)
    with pytest.raises(ValueError, match="not a QPU"):
        Topology([a, station], [LinkCaps(1, "a-s", 1, 3, option, 100, 10)])
    with pytest.raises(ValueError, match="without another link"):
        Topology([a, b], [LinkCaps(1, "x", 1, 2, option, 100, 10), LinkCaps(2, "y", 2, 1, option, 100, 10)])
    with pytest.raises(ValueError, match="offers no option"):
        LinkCaps(1, "x", 1, 2, (), 100, 10)
    with pytest.raises(ValueError, match="unknown node 9"):
        Topology([a, b], [], [Fibre(1, 9, 10)])
    with pytest.raises(ValueError, match="no fibre path"):
        Topology([a, b], []).delay(1, 2)
    with pytest.raises(ValueError, match="not an end"):
        LinkCaps(1, "x", 1, 2, option, 100, 10).peer(3)


def test_an_option_without_a_distribution_is_taken_as_werner() -> None:
    assert option_distribution(LinkOption(None, 0.85, 0.1)) == pytest.approx((0.85, 0.05, 0.05, 0.05))
    exact = (0.9, 0.05, 0.03, 0.02)
    assert option_distribution(LinkOption(None, 0.9, 0.1, exact)) == exact


@given(st.integers(2, 9), st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8), st.integers(0, 3),
                                            st.integers(0, 3), st.sampled_from([0.0, 0.1, 0.5])), max_size=30))
@settings(max_examples=200)
def test_a_nodes_paths_are_networkx_shortest_paths_ties_and_all(count: int, edges: list) -> None:
    """Delay, jitter and delivery from each node are sums and products along the path networkx's
    ``single_source_dijkstra`` returns, the first of equal-delay ones included (small integer delays, zero
    delays too, make many ties whose paths differ in jitter and loss)."""
    import networkx as nx

    nodes = [NodeCaps(node, f"n{node}", node_ip(node)) for node in range(count)]
    fibres = [Fibre(a, b, delay, jitter, loss) for a, b, delay, jitter, loss in edges if a != b and max(a, b) < count]
    topology = Topology(nodes, [], fibres)
    graph = nx.Graph()
    graph.add_nodes_from(range(count))
    for fibre in fibres:
        graph.add_edge(fibre.a, fibre.b, weight=fibre.delay_ns, jitter=fibre.jitter_ns, loss=fibre.loss)
    expected: dict[tuple[int, int], tuple[int, int, float]] = {}
    for source in range(count):                         # the searches in the order the topology makes them
        _, paths = nx.single_source_dijkstra(graph, source, weight="weight")
        for node, path in paths.items():
            steps = [graph.edges[u, v] for u, v in itertools.pairwise(path)]
            value = (sum(e["weight"] for e in steps), sum(e["jitter"] for e in steps),
                     math.prod(1 - e["loss"] for e in steps))
            expected.setdefault((source, node), value)
            expected.setdefault((node, source), value)
    for source in range(count):
        for node in range(count):
            if (source, node) in expected:
                found = (topology.delay(source, node), topology.jitter(source, node), topology.delivery(source, node))
                assert found[:2] == expected[source, node][:2]
                assert found[2] == pytest.approx(expected[source, node][2], rel=1e-12)
            else:
                with pytest.raises(ValueError, match="no fibre path"):
                    topology.delay(source, node)
