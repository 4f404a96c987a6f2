"""The head's route choice (network-design §9.2): source routing over the topology's QPU link graph.

A link's cost is −ln w̃, with w̃ its Werner parameter after both ends' memories decay for its expected
generation time, for the option that maximises w̃: w̃ = w·λ_a(t)·λ_b(t), w = (4F − 1)/3, t = cycle/p and
λ(t) = 1 − (4/3)(pX + pY + pZ)(t) (a one-qubit Pauli channel of total weight p scales a Werner parameter by
1 − 4p/3), times the gate fidelity f of each end with storage (the link layer moves its half there, a
depolarising gate that scales w by f: :func:`protocols.network.model.move_channel`). Costs add along a path
as the parameters multiply (Dür, Briegel, Cirac, Zoller, Phys. Rev. A 59, 169 (1999)). A link with w̃ ≤ 0
is useless and left out.

``nx.shortest_simple_paths`` yields the paths by cost; the first eight (and any tied with the eighth) are
ordered by cost, then fewer hops, then their node ids, and the first whose best case meets the Minimum
Fidelity is the route: best options on every link, no waiting beyond the signalling (the tail's
F_worst(0), so head and tail agree when the topology is accurate). Stations never route: links join QPUs.

No path at all is NOPATH; paths none of which can meet the fidelity, or only through useless links, are
UNSUPP, and so are paths only through QPUs too small to repeat (fewer than two qubits: a repeater holds a half
on each side); a head asking for itself or for a node that is not a QPU is UNSUPP too (wire.md's table).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from protocols.network.model import (
    Chain,
    move_waited,
    moved,
    signalling_latency_ns,
    werner_parameter,
    worst_case_fidelity,
)
from protocols.network.topology import LinkCaps, Topology, option_distribution
from protocols.packets.linkservice import ERR_NOPATH, ERR_UNSUPP
from protocols.physical.physics import memory_pauli_probabilities

if TYPE_CHECKING:
    import networkx as nx

CANDIDATES = 8
MAX_TIED = 8
"""At most this many times ``candidates`` paths are looked at when many tie with the last candidate."""
TIE_TOLERANCE = 1e-9
"""Relative difference below which two path costs are equal."""
REPEATER_QUBITS = 2
"""A repeater holds a pair of the circuit on each side to swap them: a QPU with fewer qubits (communication and
storage) is never a repeater of a route."""


@dataclass(frozen=True, slots=True)
class Route:
    """A path from head to tail: its QPUs, the link ids between them, its cost and its best-case fidelity."""

    nodes: tuple[int, ...]
    links: tuple[int, ...]
    cost: float
    fidelity: float

    @property
    def hops(self) -> int:
        return len(self.links)


def decay_factor(stored_ns: float, t1_ns: float, t2_ns: float) -> float:
    """λ(t) = 1 − (4/3)·(pX + pY + pZ): how a memory scales a Werner parameter."""
    return 1 - 4 / 3 * sum(memory_pauli_probabilities(stored_ns, t1_ns, t2_ns))


class Router:
    """Routes over one topology; the link costs are computed once."""

    def __init__(self, topology: Topology, candidates: int = CANDIDATES) -> None:
        self.topology = topology
        self.candidates = candidates
        import networkx as nx  # only runs that route load it (qnet run's start-up stays lean)

        self.full = topology.graph()
        self.usable = nx.Graph()
        self.usable.add_nodes_from(self.full.nodes)
        for a, b, data in self.full.edges(data=True):
            cost = self.link_cost(data["link"])
            if math.isfinite(cost):
                self.usable.add_edge(a, b, cost=cost, link=data["link"])

    def link_cost(self, link: LinkCaps) -> float:
        """−ln w̃ of the link's option with the largest w̃ (math.inf when none is above 0)."""
        a, b = self.topology.node(link.a), self.topology.node(link.b)
        best = -math.inf
        for option in link.options:
            if option.success <= 0:
                continue
            waited = link.cycle_ns / option.success
            best = max(best, werner_parameter(option.fidelity)
                       * decay_factor(waited + a.move_wait[1], a.t1_ns, a.t2_ns)
                       * decay_factor(waited + b.move_wait[1], b.t1_ns, b.t2_ns) * a.move_fidelity * b.move_fidelity)
        return -math.log(best) if best > 0 else math.inf

    def chain(self, nodes: Sequence[int]) -> Chain:
        """The model of a path with every link's best-fidelity option, its halves moved to storage."""
        top = self.topology
        links = [self._link(a, b) for a, b in itertools.pairwise(nodes)]
        repeaters = tuple(top.node(node).repeater for node in nodes[1:-1])
        latency = signalling_latency_ns([link.delay_ns for link in links], [r.bsm_ns for r in repeaters])
        stored = tuple(move_waited(moved(option_distribution(link.best), top.node(link.a).move_fidelity,
                                         top.node(link.b).move_fidelity), top.node(link.a).move_wait,
                                   top.node(link.b).move_wait) for link in links)
        return Chain(stored, repeaters, top.node(nodes[0]).memory, top.node(nodes[-1]).memory, latency)

    def best_case_fidelity(self, nodes: Sequence[int]) -> float:
        """F_worst(τ = 0) with the best options: the most any cutoff policy can promise on this path."""
        return worst_case_fidelity(self.chain(nodes), 0.0)

    def route(self, head: int, tail: int, min_fidelity: float, path: Sequence[int] | None = None) -> Route | int:
        """The route for a circuit from ``head`` to ``tail``, or ERR_NOPATH / ERR_UNSUPP. ``path`` (node ids,
        head first) overrides the search; one that is not a path of the topology is NOPATH."""
        import networkx as nx

        top = self.topology
        if not (top.has_node(head) and top.has_node(tail)):
            return ERR_NOPATH
        if head == tail or not top.node(head).is_qpu or not top.node(tail).is_qpu:
            return ERR_UNSUPP
        if path is not None:
            nodes = tuple(path)
            if not self._is_path(nodes, head, tail):
                return ERR_NOPATH
            return self._feasible(nodes, min_fidelity) or ERR_UNSUPP
        if not nx.has_path(self.full, head, tail):
            return ERR_NOPATH
        if not nx.has_path(self.usable, head, tail):
            return ERR_UNSUPP
        graph = self._swappable(head, tail)
        if not nx.has_path(graph, head, tail):
            return ERR_UNSUPP
        for nodes in self._candidates(graph, head, tail):
            route = self._feasible(nodes, min_fidelity)
            if route is not None:
                return route
        return ERR_UNSUPP

    def _swappable(self, head: int, tail: int) -> nx.Graph:
        """The usable links without the QPUs (other than ``head`` and ``tail``) that cannot hold a pair on each
        side, which a repeater must to swap (fewer than 2 qubits)."""
        top = self.topology
        small = [n for n in self.usable if n not in (head, tail) and top.node(n).qubits < REPEATER_QUBITS]
        return self.usable if not small else self.usable.subgraph(set(self.usable) - set(small))

    def _candidates(self, graph: nx.Graph, head: int, tail: int) -> list[tuple[int, ...]]:
        """The cheapest simple paths of ``graph`` (at least ``candidates``, plus ties with the last), best
        first."""
        import networkx as nx

        found: list[tuple[float, tuple[int, ...]]] = []
        for nodes in nx.shortest_simple_paths(graph, head, tail, weight="cost"):
            cost = self._cost(nodes)
            if len(found) >= self.candidates and (not _same(cost, found[-1][0])
                                                  or len(found) >= MAX_TIED * self.candidates):
                break
            found.append((cost, tuple(nodes)))
        groups: list[int] = []                  # equal costs (within the tolerance) share a group
        for cost, _ in found:
            same = groups and _same(cost, found[groups[-1]][0])
            groups.append(groups[-1] if same else len(groups))
        ranked = sorted(zip(groups, found, strict=True), key=lambda item: (item[0], len(item[1][1]), item[1][1]))
        return [nodes for _, (_, nodes) in ranked]

    def _cost(self, nodes: Sequence[int]) -> float:
        return sum(self.usable.edges[a, b]["cost"] for a, b in itertools.pairwise(nodes))

    def _feasible(self, nodes: tuple[int, ...], min_fidelity: float) -> Route | None:
        if any(self.topology.node(n).qubits < REPEATER_QUBITS for n in nodes[1:-1]):
            return None
        fidelity = self.best_case_fidelity(nodes)
        if min_fidelity > 0 and fidelity < min_fidelity:
            return None
        links = tuple(self._link(a, b).link_id for a, b in itertools.pairwise(nodes))
        cost = sum(self.link_cost(self._link(a, b)) for a, b in itertools.pairwise(nodes))
        return Route(nodes, links, cost, fidelity)

    def _is_path(self, nodes: tuple[int, ...], head: int, tail: int) -> bool:
        top = self.topology
        return (len(nodes) >= 2 and nodes[0] == head and nodes[-1] == tail and len(set(nodes)) == len(nodes)
                and all(top.has_node(n) and top.node(n).is_qpu for n in nodes)
                and all(top.link_between(a, b) is not None for a, b in itertools.pairwise(nodes)))

    def _link(self, a: int, b: int) -> LinkCaps:
        link = self.topology.link_between(a, b)
        if link is None:
            raise ValueError(f"no link between nodes {a} and {b}")
        return link


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TIE_TOLERANCE, abs_tol=TIE_TOLERANCE)
