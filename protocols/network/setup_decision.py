"""Network layer: the tail's decision on a SETUP (network-design §9.4–9.5; docs/wire.md §9.3.3).

From the QCaps the SETUP collected and the tail's own, :func:`protocols.network.plans.decide` chooses the
circuit's rules (or refuses: UNSUPP, NOTIME, NORES); this turns them into the SETUP_REPLY. Besides the
capabilities it takes the path's classical jitter (a margin on L, which the QCaps do not carry), the expected
time a distillation round loses to retransmissions (from the fibres' classical loss, as the tail's topology
knows it) and the scenario's cutoff for the request's Purpose ID (``cutoff_us``), which replaces the derived τ.
"""

from __future__ import annotations

import itertools

import protocols.network.caps as caps
import protocols.network.plans as plans
import protocols.network.rules as rules
from protocols.network.circuit import Circuit
from protocols.network.context import RTO_FLOOR_NS, Node
from protocols.network.model import Chain, signalling_latency_ns
from protocols.network.policy import DistilRequest
from protocols.network.waiting import Generation, mid_distribution
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Setup, SetupReply


class SetupDecision:
    """The tail's choice of a circuit's rules at one node."""

    def __init__(self, node: Node, cutoffs: dict[int, int] | None = None) -> None:
        self.node = node
        self.cutoffs = dict(cutoffs or {})
        """Purpose ID → cutoff τ (ns) the tail uses instead of deriving it (the scenario's ``cutoff_us``)."""

    def decide(self, circuit: Circuit, setup: Setup, free: int) -> SetupReply | int:
        """The SETUP_REPLY for ``setup`` (``free``: the tail's free qubits), or the error code that refuses it.
        Records D_mid[0] and F_worst under the cutoff in force in ``circuit.stats`` (for the report)."""
        node = self.node
        own = rules.node_cap(node.caps, free)
        nodes = [caps.node_cap(q.node, node.topology.node(q.node.node_id).move_ns) for q in setup.qcaps] + [own]
        links = [caps.link_cap(q.link) for q in setup.qcaps]
        create = setup.create
        demand = rules.Demand(ll.decode_fidelity(create.minimum_fidelity), create.number,
                              create.max_time_ns() or 0, setup.window)
        margin = 2 * node.topology.jitter(circuit.head, node.node_id)
        try:
            request = DistilRequest.from_create(create)
        except ValueError:
            request = None
        decided = ll.ERR_UNSUPP if request is None else plans.decide(
            demand, setup.route, nodes, links, margin, request, create.tpe != ll.TPE_MEASURE,
            self._retries(setup.route))
        if isinstance(decided, int):
            return decided
        cutoff, end_cutoff = decided.cutoff_ns, decided.end_cutoff_ns
        override = self.cutoffs.get(create.purpose_id)
        if override:
            latency = signalling_latency_ns([link.delay_ns for link in links],
                                            [n.gate_ns + n.readout_ns for n in nodes[1:-1]]) + margin
            cutoff, end_cutoff = override, override + latency
        message = caps.reply(circuit.handle[1], circuit.head, decided, cutoff, end_cutoff)
        chain = _chain(decided, nodes, links, margin)
        circuit.stats.model_fidelity = _mid_fidelity(decided, chain, links, override) if override else decided.model[0]
        circuit.stats.worst_fidelity = rules.worst_fidelity(chain, cutoff)
        return message

    def _retries(self, route: tuple[int, ...]) -> rules.Retries:
        """The expected time a distillation round loses to retransmissions: per hop, and between the ends
        (from the fibres' classical loss, as the tail's topology knows it)."""
        topology = self.node.topology

        def lost(a: int, b: int) -> float:
            rto = 2 * (topology.delay(a, b) + topology.jitter(a, b)) + RTO_FLOOR_NS
            return rules.retry_ns(min(topology.delivery(a, b), topology.delivery(b, a)), rto)

        return rules.Retries(tuple(lost(a, b) for a, b in itertools.pairwise(route)),
                             lost(route[0], route[-1]))


def _mid_fidelity(decided: rules.CircuitRules, chain: Chain, links: list[rules.LinkCap], cutoff: int) -> float:
    """D_mid[0] under a cutoff set by hand (the scenario's ``cutoff_us``), for the report only (the SETUP_REPLY
    carries D_mid for the derived cutoff): the waits truncated at it, as :func:`rules.decide` computes D_mid. A
    distilling circuit's D_mid is not recomputed (its rounds change the waits): the decided one."""
    if decided.end_distil is not None or any(hop.distil is not None for hop in decided.hops):
        return decided.model[0]
    hops = [Generation(hop.option.success, link.cycle_ns) for hop, link in zip(decided.hops, links, strict=True)]
    return mid_distribution(chain, hops, cutoff)[0]


def _chain(decided: rules.CircuitRules, nodes: list[rules.NodeCap], links: list[rules.LinkCap],
           margin: int) -> Chain:
    """The model chain of the decided options (for F_worst with the cutoff in force)."""
    latency = signalling_latency_ns([link.delay_ns for link in links],
                                    [n.gate_ns + n.readout_ns for n in nodes[1:-1]]) + margin
    return Chain(tuple(hop.option.distribution for hop in decided.hops), tuple(n.repeater for n in nodes[1:-1]),
                 nodes[0].memory, nodes[-1].memory, latency)
