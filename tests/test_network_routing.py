"""The head's route choice (protocols/network/routing.py) on small hand-built graphs and on the scenarios,
with the link costs and best-case fidelities recomputed here from their definitions (network-design §9.2)."""

from __future__ import annotations

import itertools
import math
import random

import networkx as nx
import pytest

from protocols.link.admission import LinkOption
from protocols.network.routing import ERR_NOPATH, Route, Router
from protocols.network.topology import LinkCaps, NodeCaps, Topology
from protocols.packets.linkservice import ERR_UNSUPP
from stack.quantum.topology import build_topology
from stack.scenario import load, load_text
from tests.test_network_topology import HUB


def qpu(node_id: int, **hardware: float) -> NodeCaps:
    return NodeCaps(node_id, f"n{node_id}", f"198.18.0.{node_id}", "qpu", 2, **hardware)  # type: ignore[arg-type]


def link(link_id: int, a: int, b: int, fidelity: float = 0.95, success: float = 0.1, cycle: int = 1_000,
         delay: int = 500, options: tuple[LinkOption, ...] | None = None) -> LinkCaps:
    return LinkCaps(link_id, f"{a}-{b}", a, b, options or (LinkOption(None, fidelity, success),), cycle, delay)


def oracle_cost(fidelity: float, success: float, cycle: float, ends: list[tuple[float, float]]) -> float:
    """−ln of the Werner parameter after both ends' memories decay for cycle/p:
    λ = 1 − (4/3)·((1 − e^(−t/T1))/4 + (1 − e^(−t/T2))/2)."""
    t = cycle / success
    w = (4 * fidelity - 1) / 3
    for t1, t2 in ends:
        damp = 0.0 if math.isinf(t1) else 1 - math.exp(-t / t1)
        dephase = 0.0 if math.isinf(t2) else (1 - math.exp(-t / t2)) / 2
        w *= 1 - 4 / 3 * (damp / 4 + dephase)
    return -math.log(w)


def square(f12: float = 0.97, f13: float = 0.9, gate2: float = 1.0) -> Topology:
    """1 — 2 — 4 and 1 — 3 — 4."""
    nodes = [qpu(1), qpu(2, gate_fidelity=gate2), qpu(3), qpu(4)]
    return Topology(nodes, [link(1, 1, 2, f12), link(2, 2, 4, 0.97), link(3, 1, 3, f13), link(4, 3, 4, 0.97)])


def werner_w(fidelity: float) -> float:
    return (4 * fidelity - 1) / 3


def test_the_cheaper_path_wins() -> None:
    router = Router(square())
    route = router.route(1, 4, 0.0)
    assert isinstance(route, Route)
    assert route.nodes == (1, 2, 4) and route.links == (1, 2) and route.hops == 2
    assert route.cost == pytest.approx(-math.log(werner_w(0.97)) * 2, rel=1e-12)
    # perfect memories and operations: the best case is the Werner chain
    assert route.fidelity == pytest.approx(0.25 + 0.75 * werner_w(0.97) ** 2, abs=1e-12)


def test_moves_to_storage_count() -> None:
    """Node 2 moves each link pair's half to storage with gate fidelity 0.9 (w ↦ 0.9·w per move, two moves on the
    path through it, one per link) and swaps with it: the path through 3 becomes the cheaper one."""
    nodes = [qpu(1), qpu(2, gate_fidelity=0.9, storage_qubits=2), qpu(3), qpu(4)]
    top = Topology(nodes, [link(1, 1, 2, 0.97), link(2, 2, 4, 0.97), link(3, 1, 3, 0.95), link(4, 3, 4, 0.97)])
    router = Router(top)
    assert router.link_cost(top.link(1)) == pytest.approx(-math.log(werner_w(0.97) * 0.9), rel=1e-12)
    route = router.route(1, 4, 0.0)
    assert isinstance(route, Route) and route.nodes == (1, 3, 4)
    assert route.cost == pytest.approx(-math.log(werner_w(0.95) * werner_w(0.97)), rel=1e-12)
    assert router.best_case_fidelity((1, 2, 4)) == pytest.approx(0.25 + 0.75 * werner_w(0.97) ** 2 * 0.9**3,
                                                                 abs=1e-12)
    without = Router(square(f13=0.95, gate2=0.9))            # no storage at 2: no moves, only the swap's CNOT
    assert without.route(1, 4, 0.0).nodes == (1, 2, 4)     # type: ignore[union-attr]
    assert without.best_case_fidelity((1, 2, 4)) == pytest.approx(0.25 + 0.75 * werner_w(0.97) ** 2 * 0.9,
                                                                  abs=1e-12)


def test_memory_decay_during_generation_counts() -> None:
    # The better link 1-2 is slow; with T2 = 100 µs its pairs decay while they wait for the other hop.
    nodes = [qpu(n, t2_ns=1e5) for n in (1, 2, 3, 4)]
    top = Topology(nodes, [link(1, 1, 2, 0.99, success=0.001), link(2, 2, 4, 0.97), link(3, 1, 3, 0.93),
                           link(4, 3, 4, 0.97)])
    router = Router(top)
    ends = [(math.inf, 1e5)] * 2
    costs = {(1, 2, 4): oracle_cost(0.99, 0.001, 1_000, ends) + oracle_cost(0.97, 0.1, 1_000, ends),
             (1, 3, 4): oracle_cost(0.93, 0.1, 1_000, ends) + oracle_cost(0.97, 0.1, 1_000, ends)}
    route = router.route(1, 4, 0.0)
    assert isinstance(route, Route)
    assert route.nodes == min(costs, key=costs.__getitem__) == (1, 3, 4)
    assert route.cost == pytest.approx(costs[(1, 3, 4)], rel=1e-12)
    assert router.link_cost(top.link(1)) == pytest.approx(oracle_cost(0.99, 0.001, 1_000, ends), rel=1e-12)


def test_the_option_with_the_best_decayed_parameter_sets_the_cost() -> None:
    options = (LinkOption(0.3, 0.80, 0.05), LinkOption(0.1, 0.95, 0.01), LinkOption(0.01, 0.99, 0.0001))
    top = Topology([qpu(1, t2_ns=1e6), qpu(2, t2_ns=1e6)], [link(1, 1, 2, options=options)])
    ends = [(math.inf, 1e6)] * 2
    expected = min(oracle_cost(o.fidelity, o.success, 1_000, ends) for o in options)
    assert Router(top).link_cost(top.link(1)) == pytest.approx(expected, rel=1e-12)


def test_an_infeasible_cheaper_path_is_skipped() -> None:
    # Link costs ignore the repeaters' gates; the best-case check does not: 2's gate has fidelity 0.5.
    router = Router(square(gate2=0.5))
    assert isinstance(cheap := router.route(1, 4, 0.0), Route) and cheap.nodes == (1, 2, 4)
    assert cheap.fidelity == pytest.approx(0.25 + 0.75 * 0.5 * werner_w(0.97) ** 2, abs=1e-12)
    route = router.route(1, 4, 0.8)
    assert isinstance(route, Route) and route.nodes == (1, 3, 4)
    assert route.fidelity == pytest.approx(0.25 + 0.75 * werner_w(0.9) * werner_w(0.97), abs=1e-12)
    assert router.route(1, 4, 0.95) == ERR_UNSUPP


def test_nopath_and_unsupp() -> None:
    top = Topology([qpu(1), qpu(2), qpu(3), qpu(4), NodeCaps(9, "st", "198.18.0.9", "station")],
                   [link(1, 1, 2), link(2, 3, 4)])
    router = Router(top)
    assert router.route(1, 3, 0.0) == ERR_NOPATH              # another component
    assert router.route(1, 42, 0.0) == ERR_NOPATH             # no such node
    assert router.route(1, 1, 0.0) == ERR_UNSUPP              # itself
    assert router.route(1, 9, 0.0) == ERR_UNSUPP              # not a QPU
    useless = Topology([qpu(1), qpu(2)], [link(1, 1, 2, fidelity=0.25)])
    assert Router(useless).route(1, 2, 0.0) == ERR_UNSUPP      # a path, but w = 0 on it


def test_stations_do_not_route() -> None:
    # a and c both have a fibre to the hub station, but entanglement goes a-b-c, swapped at b
    top = build_topology(load_text(HUB, "<hub>"))
    route = Router(top).route(1, 3, 0.0)
    assert isinstance(route, Route) and route.nodes == (1, 2, 3)
    assert top.delay(1, 3) < top.delay(1, 2) + top.delay(2, 3)     # the classical path is shorter, via the hub
    assert Router(top).route(1, 5, 0.0) == ERR_UNSUPP              # the hub itself


def test_equal_costs_prefer_fewer_hops_then_lower_ids() -> None:
    w = werner_w(0.97)
    direct = (3 * w * w + 1) / 4                                    # a one-hop link as good as the two hops
    links = [link(1, 1, 2, 0.97), link(2, 2, 4, 0.97), link(3, 1, 3, 0.97), link(4, 3, 4, 0.97)]
    for seed in range(5):                                           # the order of construction does not matter
        shuffled = random.Random(seed).sample(links, len(links))
        nodes = random.Random(seed).sample([qpu(n) for n in (1, 2, 3, 4)], 4)
        route = Router(Topology(nodes, shuffled)).route(1, 4, 0.0)
        assert isinstance(route, Route) and route.nodes == (1, 2, 4)
        with_direct = Router(Topology(nodes, [*shuffled, link(5, 1, 4, direct)])).route(1, 4, 0.0)
        assert isinstance(with_direct, Route) and with_direct.nodes == (1, 4)


def fan(bad_gates: int) -> Topology:
    """1 to 2 over nine two-hop paths via repeaters 10…18, each slightly worse than the one before; the first
    ``bad_gates`` repeaters have a useless Bell measurement."""
    nodes = [qpu(1), qpu(2)] + [qpu(10 + i, gate_fidelity=0.3 if i < bad_gates else 1.0) for i in range(9)]
    links = []
    for i in range(9):
        f = 0.99 - 0.001 * i
        links += [link(2 * i + 1, 1, 10 + i, f), link(2 * i + 2, 10 + i, 2, f)]
    return Topology(nodes, links)


def test_only_the_first_eight_candidates_are_tried() -> None:
    assert Router(fan(bad_gates=8)).route(1, 2, 0.9) == ERR_UNSUPP         # the ninth path is never tried
    route = Router(fan(bad_gates=8), candidates=9).route(1, 2, 0.9)
    assert isinstance(route, Route) and route.nodes == (1, 18, 2)
    route = Router(fan(bad_gates=7)).route(1, 2, 0.9)
    assert isinstance(route, Route) and route.nodes == (1, 17, 2)


def test_an_explicit_path_overrides_the_search() -> None:
    router = Router(square(gate2=0.5))
    route = router.route(1, 4, 0.0, path=[1, 3, 4])
    assert isinstance(route, Route) and route.nodes == (1, 3, 4) and route.links == (3, 4)
    assert router.route(1, 4, 0.8, path=[1, 2, 4]) == ERR_UNSUPP             # forced, but infeasible
    for bad in ([1, 4], [1, 2, 3, 4], [2, 4], [1, 2], [1, 2, 1, 2, 4], [4]):
        assert router.route(1, 4, 0.0, path=bad) == ERR_NOPATH, bad


def test_default_scenario_routes_are_the_cheapest_simple_paths() -> None:
    scenario = load("examples/default.toml")
    top = build_topology(scenario)
    router = Router(top)
    qpus = top.qpus()
    graph = nx.Graph([(lk.a, lk.b) for lk in top.links])

    def cost(path: tuple[int, ...]) -> float:
        total = 0.0
        for a, b in itertools.pairwise(path):
            caps = top.link_between(a, b)
            assert caps is not None
            ends = [(top.node(n).t1_ns, top.node(n).t2_ns) for n in (a, b)]
            total += min(oracle_cost(o.fidelity, o.success, caps.cycle_ns, ends) for o in caps.options)
        return total

    for head, tail in itertools.permutations(qpus, 2):
        route = router.route(head, tail, 0.0)
        assert isinstance(route, Route)
        assert all(top.node(n).is_qpu for n in route.nodes)
        best = min(cost(tuple(p)) for p in nx.all_simple_paths(graph, head, tail))
        assert route.cost == pytest.approx(best, rel=1e-9)
        assert route.cost == pytest.approx(cost(route.nodes), rel=1e-12)


def test_no_route_through_a_qpu_too_small_to_repeat() -> None:
    """A repeater holds a half on each side: a QPU with one qubit is left out of the search (the dearer path
    through 3 wins), a path only through such QPUs is UNSUPP, and so is one given explicitly."""
    def top(small: tuple[int, ...]) -> Topology:
        nodes = [qpu(1), *(NodeCaps(n, f"n{n}", f"198.18.0.{n}", "qpu", 1 if n in small else 2) for n in (2, 3)),
                 qpu(4)]
        return Topology(nodes, [link(1, 1, 2, 0.97), link(2, 2, 4, 0.97), link(3, 1, 3, 0.9), link(4, 3, 4, 0.97)])

    assert Router(top(())).route(1, 4, 0.0).nodes == (1, 2, 4)            # type: ignore[union-attr]
    assert Router(top((2,))).route(1, 4, 0.0).nodes == (1, 3, 4)          # type: ignore[union-attr]
    assert Router(top((2, 3))).route(1, 4, 0.0) == ERR_UNSUPP
    assert Router(top((2,))).route(1, 4, 0.0, path=(1, 2, 4)) == ERR_UNSUPP
    assert isinstance(Router(top((2, 3))).route(1, 2, 0.0), Route)        # a small QPU is still an end
