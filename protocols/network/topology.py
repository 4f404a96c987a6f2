"""The static view of the network the runtime gives every node's network layer (network-design §6, §9.1):
our stand-in for a link-state database after convergence.

Nodes carry their ids, addresses and the hardware the model needs (memories, T1/T2, gate and readout
fidelity and time, Bell-measurement success); links between QPUs carry what the link layer offers (its
options, each with success probability and the Bell-diagonal state at the OK), the attempt cycle, the
one-way classical delay and jitter between the ends, and the link layer's confirm timeout. Classical
messages follow the fibre graph (through stations), as the emulated network routes them.

>>> from protocols.link.admission import LinkOption
>>> qpu = dict(kind="qpu", communication_qubits=2)
>>> top = Topology([NodeCaps(1, "a", "198.18.0.1", **qpu), NodeCaps(2, "b", "198.18.0.2", **qpu)],
...                [LinkCaps(7, "a-b", 1, 2, (LinkOption(None, 0.9, 0.1),), cycle_ns=1000, delay_ns=50)])
>>> top.neighbours(1), top.link_between(2, 1).link_id, top.delay(1, 2), top.address(2)
((2,), 7, 50, '198.18.0.2')
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from protocols.link.admission import LinkOption
from protocols.network.fibre_paths import FibrePaths
from protocols.network.model import Memory, Repeater, move_fidelity, move_wait_ns, werner
from protocols.physical.hardware import BellDistribution

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True, slots=True)
class NodeCaps:
    """A node as the network layer sees it. Hardware fields matter for QPUs only."""

    node_id: int
    name: str
    address: str
    """IPv4 address as text (given by the runtime)."""
    kind: str = "qpu"
    """qpu, station, source or switch: only QPUs route, hold qubits and swap."""
    communication_qubits: int = 0
    storage_qubits: int = 0
    t1_ns: float = math.inf
    t2_ns: float = math.inf
    gate_fidelity: float = 1.0
    gate_ns: int = 0
    readout_fidelity: float = 1.0
    readout_ns: int = 0
    bsm_success: float = 1.0
    """Probability a Bell measurement succeeds (linear optics: 0.5)."""
    move_ns: int = 0
    """How long a move to a storage qubit takes."""

    @property
    def is_qpu(self) -> bool:
        return self.kind == "qpu"

    @property
    def memory(self) -> Memory:
        return Memory(self.t1_ns, self.t2_ns)

    @property
    def qubits(self) -> int:
        return self.communication_qubits + self.storage_qubits

    @property
    def repeater(self) -> Repeater:
        """This node as a repeater in the model: its halves stay in memory for the gate and the readout."""
        return Repeater(self.memory, self.gate_fidelity, self.readout_fidelity, self.gate_ns + self.readout_ns)

    @property
    def move_fidelity(self) -> float:
        """The fidelity of the move to storage each link pair's half here gets (1: no storage, no move)."""
        return move_fidelity(self.storage_qubits, self.gate_fidelity)

    @property
    def move_wait(self) -> tuple[Memory, float]:
        """This node's memory and how long each link pair's half here stays in it moving (0: no move)."""
        return self.memory, move_wait_ns(self.storage_qubits, self.move_ns)


def option_distribution(option: LinkOption) -> BellDistribution:
    """The Bell-diagonal state an option gives at the OK; a Werner state of its fidelity when only that is
    known."""
    return option.distribution if option.distribution is not None else werner(option.fidelity)


@dataclass(frozen=True, slots=True)
class LinkCaps:
    """A link between two QPUs ``a`` and ``b`` (node ids)."""

    link_id: int
    name: str
    a: int
    b: int
    options: tuple[LinkOption, ...]
    """What the link layer offers (one per α on single-click links, else one)."""
    cycle_ns: int
    """Attempt cycle: one attempt per cycle."""
    delay_ns: int
    """One-way classical delay between the ends (the emulated network's route)."""
    jitter_ns: int = 0
    """Largest extra delay the classical route adds to a datagram."""
    confirm_timeout_ns: int = 0
    """The longer of the two ends' link-layer confirm timeouts: how late a link OK can follow its pair."""

    def __post_init__(self) -> None:
        if not self.options:
            raise ValueError(f"link {self.name!r} offers no option")

    def peer(self, node: int) -> int:
        """The other end of the link."""
        if node not in (self.a, self.b):
            raise ValueError(f"node {node} is not an end of link {self.name!r}")
        return self.b if node == self.a else self.a

    @property
    def fastest(self) -> LinkOption:
        """The option with the highest success probability (ties: the higher fidelity)."""
        return max(self.options, key=lambda option: (option.success, option.fidelity))

    @property
    def best(self) -> LinkOption:
        """The option with the highest fidelity (ties: the higher success probability)."""
        return max(self.options, key=lambda option: (option.fidelity, option.success))


@dataclass(frozen=True, slots=True)
class Fibre:
    """A classical fibre segment between two nodes (QPUs, stations, sources)."""

    a: int
    b: int
    delay_ns: int
    jitter_ns: int = 0
    loss: float = 0.0
    """Probability that a datagram crossing it is lost (each way)."""


class Topology:
    """Nodes, QPU-to-QPU links and the classical fibre graph. Read-only once built.

    Without ``fibres``, each link is taken to be one fibre of its ``delay_ns`` between its ends. ``fibres`` may
    be another topology's :attr:`fibre_paths` (of the same nodes): its searches are then made once for both.
    """

    def __init__(self, nodes: Iterable[NodeCaps], links: Iterable[LinkCaps],
                 fibres: Iterable[Fibre] | FibrePaths = ()) -> None:
        self._nodes = {node.node_id: node for node in sorted(nodes, key=lambda n: n.node_id)}
        self._links = {link.link_id: link for link in sorted(links, key=lambda link: link.link_id)}
        self._by_ends: dict[frozenset[int], LinkCaps] = {}
        self._by_address = {node.address: node.node_id for node in self._nodes.values()}
        for link in self._links.values():
            for end in (link.a, link.b):
                if end not in self._nodes or not self._nodes[end].is_qpu:
                    raise ValueError(f"link {link.name!r}: node {end} is not a QPU of the topology")
            ends = frozenset((link.a, link.b))
            if len(ends) != 2 or ends in self._by_ends:
                raise ValueError(f"link {link.name!r}: its ends must be two QPUs without another link")
            self._by_ends[ends] = link
        if isinstance(fibres, FibrePaths):
            if fibres.nodes != self._nodes.keys():
                raise ValueError("the fibre paths are of other nodes than the topology's")
            self._fibres = fibres
        else:
            segments = list(fibres) or [Fibre(link.a, link.b, link.delay_ns, link.jitter_ns)
                                        for link in self._links.values()]
            self._fibres = FibrePaths(self._nodes, segments)
        self._paths: dict[tuple[int, int], tuple[int, int, float]] = {}
        """The value of each ordered pair asked for so far."""
        self._searched: dict[int, int] = {}
        """Each node searched from, with its place in the order of the searches."""
        self.searches = 0
        """Shortest-path searches over the fibre graph so far (one per source node at most); a search another
        topology sharing the fibre paths made first is counted but not repeated."""

    @property
    def fibre_paths(self) -> FibrePaths:
        """The fibre graph and its searches, to share with another topology of the same nodes and fibres."""
        return self._fibres

    @property
    def nodes(self) -> tuple[NodeCaps, ...]:
        """Every node, by id."""
        return tuple(self._nodes.values())

    @property
    def links(self) -> tuple[LinkCaps, ...]:
        """Every link, by id."""
        return tuple(self._links.values())

    def node(self, node_id: int) -> NodeCaps:
        return self._nodes[node_id]

    def has_node(self, node_id: int) -> bool:
        return node_id in self._nodes

    def link(self, link_id: int) -> LinkCaps:
        return self._links[link_id]

    def qpus(self) -> tuple[int, ...]:
        """Ids of the QPUs, ascending."""
        return tuple(node_id for node_id, node in self._nodes.items() if node.is_qpu)

    def neighbours(self, node: int) -> tuple[int, ...]:
        """The QPUs that share a link with ``node``, ascending."""
        return tuple(sorted(link.peer(node) for link in self._links.values() if node in (link.a, link.b)))

    def link_between(self, a: int, b: int) -> LinkCaps | None:
        return self._by_ends.get(frozenset((a, b)))

    def address(self, node: int) -> str:
        return self._nodes[node].address

    def node_at(self, address: str) -> int | None:
        """The node whose address this is, if any."""
        return self._by_address.get(address)

    def delay(self, a: int, b: int) -> int:
        """One-way classical delay from ``a`` to ``b``: the shortest fibre path, as the network routes."""
        return self._path(a, b)[0]

    def jitter(self, a: int, b: int) -> int:
        """The largest jitter a datagram from ``a`` to ``b`` gets: the sum over that path's fibres."""
        return self._path(a, b)[1]

    def delivery(self, a: int, b: int) -> float:
        """The probability that a datagram from ``a`` reaches ``b``: the product over that path's fibres."""
        return self._path(a, b)[2]

    def qpus_reached(self, node: int) -> tuple[int, ...]:
        """The QPUs a fibre path joins to ``node`` (``node`` among them if it is one), ascending: a network
        may hold islands, and delays are defined only within one.

        >>> t = Topology([NodeCaps(1, "a", "10.0.0.1"), NodeCaps(2, "b", "10.0.0.2")], [])
        >>> t.qpus_reached(1)
        (1,)
        """
        found = self._fibres.search(node)
        if node not in self._searched or node not in found:
            self._search(node)
        return tuple(qpu for qpu in self.qpus() if qpu in found)

    def _path(self, a: int, b: int) -> tuple[int, int, float]:
        value = self._paths.get((a, b))
        if value is None:
            value = self._paths[a, b] = self._find(a, b)
        return value

    def _find(self, a: int, b: int) -> tuple[int, int, float]:
        """The value of (a, b) as if each search, in turn, wrote every value it found both ways, a value once
        written staying (ties keep one path): the first search of ``a`` or ``b``'s if it reached the other,
        else a search of ``a``'s."""
        searched = self._searched
        rank_a, rank_b = searched.get(a), searched.get(b)
        if rank_a is not None and (rank_b is None or rank_a < rank_b):
            value = self._fibres.search(a).get(b)
        elif rank_b is not None:
            value = self._fibres.search(b).get(a)
        else:
            value = None
        if value is None:
            self._search(a)
            value = self._fibres.search(a).get(b)
            if value is None:
                raise ValueError(f"no fibre path from node {a} to node {b}")
        return value

    def _search(self, source: int) -> None:
        """Search from ``source`` (:meth:`FibrePaths.search`, made once for the fibre paths): its values
        answer the pairs of ``source`` that no earlier search answered."""
        self.searches += 1
        self._searched.setdefault(source, len(self._searched))

    def graph(self) -> nx.Graph:
        """The QPUs (attribute ``caps``) and their links (attribute ``link``), added in id order. A new graph
        each call: callers may annotate it."""
        import networkx as nx

        graph = nx.Graph()
        for node_id in self.qpus():
            graph.add_node(node_id, caps=self._nodes[node_id])
        for link in self._links.values():
            graph.add_edge(link.a, link.b, link=link)
        return graph
