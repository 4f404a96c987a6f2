"""The network layer's :class:`~protocols.network.topology.Topology`, built from a scenario and its link
budgets (network-design §9.1): every node's hardware, every link's options as the link layer gets them
(:func:`stack.quantum.budget.link_options`), and the classical fibre graph the emulated network routes over.

The link layer's timing lives here too (:func:`longest_exchange_ns`, :func:`link_retransmit_ns`), so the
runtime and the topology's confirm timeouts use one formula.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from stack.core.capture import node_ip
from stack.quantum.budget import LinkPhysics, link_options, link_physics
from stack.scenario import LinkConfig, NodeConfig, Scenario

# The network layer's types are imported by the runs that build a topology (the runtime asks this module for
# the link layer's timing in every run; a link-layer run would pay ~1 % of its start-up for them otherwise).
if TYPE_CHECKING:
    from protocols.network.topology import Fibre, NodeCaps, Topology

LINK_RETRIES = 8
"""How often the link layer retransmits a message before it gives up."""


def longest_exchange_ns(scenario: Scenario, node: NodeConfig, physics: dict[int, LinkPhysics]) -> int:
    """The longest attempt cycle of ``node``'s links plus the worst classical jitter (both ways, any path)."""
    cycles = [physics[link.link_id].cycle_ns for link in scenario.links if node.name in (link.a, link.b)]
    return max(cycles, default=0) + 2 * sum(link.classical_jitter_ns for link in scenario.links)


def link_retransmit_ns(longest_ns: int) -> int:
    """The link layer's retransmission interval for a node whose longest exchange is ``longest_ns``."""
    return 2 * longest_ns + 1_000_000


def link_confirm_timeout_ns(scenario: Scenario, node: NodeConfig, physics: dict[int, LinkPhysics]) -> int:
    """How long ``node``'s link layer waits for a pair's CONFIRM: (retries + 2) retransmission intervals."""
    return (LINK_RETRIES + 2) * link_retransmit_ns(longest_exchange_ns(scenario, node, physics))


def node_caps(node: NodeConfig, address: str) -> NodeCaps:
    from protocols.network.topology import NodeCaps

    return NodeCaps(node.node_id, node.name, address, node.kind, node.communication_qubits, node.storage_qubits,
                    node.t1_ns, node.t2_ns, node.gate_fidelity, node.gate_ns, node.readout_fidelity,
                    node.readout_ns,
                    # the scenario key arrives with the Bell-measurement hardware (network-design §8.2)
                    getattr(node, "bsm_success_probability", 1.0), node.move_ns)


def fibres(link: LinkConfig, lp: LinkPhysics) -> list[Fibre]:
    """The classical fibres of a link, as the runtime adds them to the emulated network."""
    from protocols.network.topology import Fibre

    jitter, loss = link.classical_jitter_ns, link.classical_loss
    if link.scheme == "coupler":
        return [Fibre(lp.node_a, lp.node_b, lp.delay_a_ns, jitter, loss)]
    return [Fibre(lp.node_a, lp.middle, lp.delay_a_ns, jitter, loss),
            Fibre(lp.middle, lp.node_b, lp.delay_b_ns, jitter, loss)]


def build_topology(scenario: Scenario, physics: dict[int, LinkPhysics] | None = None,
                   address: Callable[[int], str] = node_ip) -> Topology:
    """The topology of ``scenario``; ``physics`` are its link budgets (computed when not given), ``address``
    gives a node's IPv4 address from its id."""
    from protocols.network.topology import LinkCaps, Topology

    if physics is None:
        physics = {link.link_id: link_physics(link, scenario) for link in scenario.links}
    nodes = [node_caps(node, address(node.node_id)) for node in scenario.nodes.values()]
    segments = [fibre for link in scenario.links for fibre in fibres(link, physics[link.link_id])]
    by_name = scenario.nodes
    timeouts = {node.name: link_confirm_timeout_ns(scenario, node, physics)
                for node in by_name.values() if node.kind == "qpu"}
    plain = Topology(nodes, [], segments)       # for the classical routes between the ends
    links = []
    for link in scenario.links:
        lp = physics[link.link_id]
        a, b = by_name[link.a], by_name[link.b]
        options = link_options(lp, (a.t1_ns, b.t1_ns), (a.t2_ns, b.t2_ns))
        links.append(LinkCaps(link.link_id, link.name, a.node_id, b.node_id, options, lp.cycle_ns,
                              plain.delay(a.node_id, b.node_id), plain.jitter(a.node_id, b.node_id),
                              max(timeouts[link.a], timeouts[link.b])))
    return Topology(nodes, links, plain.fibre_paths)     # the same fibres: their searches are made once
