"""Network layer: the tail's decision on a SETUP (network-design §9.4–9.5; docs/wire.md §9.3.3).

From the QCaps the SETUP collected and the tail's own, :func:`protocols.network.plans.decide` chooses the
circuit's rules (or refuses: UNSUPP, NOTIME, NORES); this turns them into the SETUP_REPLY. Besides the
capabilities it takes the path's classical jitter (a margin on L, which the QCaps do not carry), the expected
time a distillation round loses to retransmissions (from the fibres' classical loss, as the tail's topology
knows it) and the scenario's cutoff for the request's Purpose ID (``cutoff_us``), which replaces the derived τ:
the decision (options, D_mid and F_worst, hold limit) is for it, and a Minimum Fidelity it cannot keep is
refused (UNSUPP).
"""

from __future__ import annotations

import itertools

import protocols.network.caps as caps
import protocols.network.plans as plans
import protocols.network.rules as rules
from protocols.network.circuit import Circuit
from protocols.network.context import RTO_FLOOR_NS, Node
from protocols.network.policy import DistilRequest
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
        Records D_mid[0] and F_worst (for the cutoff in force) in ``circuit.stats``, exact, for the report."""
        node = self.node
        own = rules.node_cap(node.caps, free)
        nodes = [caps.node_cap(q.node, node.topology.node(q.node.node_id).move_ns) for q in setup.qcaps] + [own]
        links = [caps.link_cap(q.link) for q in setup.qcaps]
        create = setup.create
        demand = rules.Demand(ll.decode_fidelity(create.minimum_fidelity), create.number,
                              create.max_time_ns() or 0, setup.window, self.cutoffs.get(create.purpose_id))
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
        circuit.stats.model_fidelity = decided.model[0]
        circuit.stats.worst_fidelity = decided.worst_fidelity
        return caps.reply(circuit.handle[1], circuit.head, decided)

    def _retries(self, route: tuple[int, ...]) -> rules.Retries:
        """The expected time a distillation round loses to retransmissions: per hop, and between the ends
        (from the fibres' classical loss, as the tail's topology knows it)."""
        topology = self.node.topology

        def lost(a: int, b: int) -> float:
            rto = 2 * (topology.delay(a, b) + topology.jitter(a, b)) + RTO_FLOOR_NS
            return rules.retry_ns(min(topology.delivery(a, b), topology.delivery(b, a)), rto)

        return rules.Retries(tuple(lost(a, b) for a, b in itertools.pairwise(route)),
                             lost(route[0], route[-1]))

