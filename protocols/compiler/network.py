"""What the compiler needs to know of the network: each QPU's data-qubit capacity and link memory, and for
every pair of QPUs whether the network can entangle them, over how many hops, at what rate and fidelity.

Built from the network layer's :class:`~protocols.network.topology.Topology` and its
:class:`~protocols.network.routing.Router` (:meth:`NetworkModel.from_topology`): an ebit between two QPUs is
an end-to-end pair along the router's route, which consumes one link-level pair per hop, so the hop count is
what an ebit costs. Rate and fidelity are the route's best case: its slowest link's pairs per second (fastest
option) and the route's best-case fidelity F_worst(0).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from protocols.compiler.gates import CompileError
from protocols.network.routing import Route, Router
from protocols.network.topology import Topology


@dataclass(frozen=True, slots=True)
class QpuSpec:
    """A QPU as the compiler sees it."""

    name: str
    data_qubits: int
    """How many circuit qubits it can hold at once."""
    link_qubits: int
    """Communication + storage qubits: how many ebit halves (cat copies) it can hold at once."""


@dataclass(frozen=True, slots=True)
class PairSpec:
    """What an ebit between two QPUs costs and gives."""

    hops: int
    rate_per_s: float = math.inf
    fidelity: float = 1.0


@dataclass(frozen=True)
class NetworkModel:
    """QPUs (by name, in order) and the pairs of them the network can entangle."""

    qpus: tuple[QpuSpec, ...]
    pairs: Mapping[frozenset[str], PairSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [qpu.name for qpu in self.qpus]
        if len(set(names)) != len(names):
            raise CompileError("network: QPU names must be unique")

    @classmethod
    def uniform(cls, data_qubits: Sequence[int], link_qubits: int = 2, hops: Mapping[tuple[int, int], int]
                | None = None, names: Sequence[str] | None = None) -> NetworkModel:
        """QPUs qpu0, qpu1 ... with the given capacities; every pair one hop apart unless ``hops`` (by QPU
        index) says otherwise (a missing pair in ``hops`` when it is given: not connected)."""
        labels = list(names) if names is not None else [f"qpu{i}" for i in range(len(data_qubits))]
        qpus = tuple(QpuSpec(label, capacity, link_qubits) for label, capacity in zip(labels, data_qubits,
                                                                                      strict=True))
        pairs = {}
        for (i, a), (j, b) in itertools.combinations(enumerate(labels), 2):
            distance = 1 if hops is None else hops.get((i, j), hops.get((j, i)))
            if distance is not None:
                pairs[frozenset((a, b))] = PairSpec(distance)
        return cls(qpus, pairs)

    @classmethod
    def from_topology(cls, topology: Topology, data_qubits: Mapping[int, int]) -> NetworkModel:
        """The QPUs of ``topology`` with ``data_qubits`` (by node id; missing: 0), and every pair the router
        finds a route for."""
        router = Router(topology)
        ids = topology.qpus()
        qpus = tuple(QpuSpec(topology.node(node).name, data_qubits.get(node, 0), topology.node(node).qubits)
                     for node in ids)
        pairs = {}
        for a, b in itertools.combinations(ids, 2):
            route = router.route(a, b, 0.0)
            if isinstance(route, Route):
                pairs[frozenset((topology.node(a).name, topology.node(b).name))] = PairSpec(
                    route.hops, _route_rate(topology, route), route.fidelity)
        return cls(qpus, pairs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(qpu.name for qpu in self.qpus)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def pair(self, a: str, b: str) -> PairSpec | None:
        return self.pairs.get(frozenset((a, b)))

    def hop_matrix(self) -> list[list[float]]:
        """Hops between QPUs by index (0 on the diagonal, math.inf when not connected)."""
        names = self.names
        return [[0.0 if a == b else float(getattr(self.pair(a, b), "hops", math.inf)) for b in names]
                for a in names]


def _route_rate(topology: Topology, route: Route) -> float:
    """The route's slowest link, in pairs per second of its fastest option (an upper bound on the rate)."""
    rates = []
    for link_id in route.links:
        link = topology.link(link_id)
        rates.append(link.fastest.success / link.cycle_ns * 1e9 if link.cycle_ns > 0 else math.inf)
    return min(rates, default=math.inf)
