"""Network layer: the setup messages' capabilities and rules, between the wire and the model.

A node forwarding a SETUP appends its QCap (:func:`qcap`: its NodeCap with its free qubits now, and the
LinkCap of its outgoing hop with the label it proposes); the tail reads them all back as the plain
dataclasses :func:`protocols.network.rules.decide` takes (:func:`node_cap`, :func:`link_cap`). The tail's
:class:`~protocols.network.rules.CircuitRules` become a SETUP_REPLY (:func:`reply`), from which every node
reads the model state (:func:`model`).
"""

from __future__ import annotations

import math

import protocols.network.rules as rules
from protocols.network.policy import rule_byte
from protocols.network.topology import LinkCaps, NodeCaps, option_distribution
from protocols.packets.linkservice import FIDELITY_SCALE, decode_fidelity, encode_fidelity
from protocols.packets.qncp import HopRule, LinkCap, LinkOption, NodeCap, QCap, SetupReply
from protocols.packets.qncp_common import BSM_SCALE, INFINITE_NS, decode_probability, encode_probability
from protocols.physical.hardware import BellDistribution


def _time(ns: float) -> int:
    return INFINITE_NS if math.isinf(ns) else min(INFINITE_NS - 1, round(ns))


def _untime(ns: int) -> float:
    return math.inf if ns == INFINITE_NS else float(ns)


def _distribution(values: tuple[int, int, int, int]) -> BellDistribution:
    """Four 16-bit numbers (fidelity, X, Z, Y) as a distribution, renormalised to sum 1."""
    total = sum(values) or 1
    a, b, c, d = (v / total for v in values)
    return (a, b, c, d)


def _encoded(dist: BellDistribution) -> tuple[int, int, int, int]:
    a, b, c, d = (encode_fidelity(p) for p in dist)
    return (a, b, c, d)


def qcap(caps: NodeCaps, free_qubits: int, link: LinkCaps, label: int) -> QCap:
    """This node's entry in a SETUP it forwards over ``link``."""
    node = NodeCap(caps.node_id, caps.communication_qubits, caps.storage_qubits, min(255, free_qubits),
                   round(caps.bsm_success * BSM_SCALE), _time(caps.t1_ns), _time(caps.t2_ns),
                   encode_fidelity(caps.gate_fidelity), encode_fidelity(caps.readout_fidelity), caps.gate_ns,
                   caps.readout_ns)
    options = tuple(LinkOption(encode_probability(option.success), *_encoded(option_distribution(option)))
                    for option in link.options[:16])
    return QCap(node, LinkCap(link.link_id, label, link.peer(caps.node_id), link.cycle_ns,
                              min(link.delay_ns, 0xFFFF_FFFF), options))


def node_cap(node: NodeCap, move_ns: int = 0) -> rules.NodeCap:
    """The model's NodeCap of a SETUP's; ``move_ns`` (a move's duration, not on the wire) the tail's topology
    gives."""
    return rules.NodeCap(node.node_id, node.comm_qubits, node.storage_qubits, node.free_qubits,
                         node.bsm_success / BSM_SCALE, _untime(node.t1_ns), _untime(node.t2_ns),
                         decode_fidelity(node.gate_fidelity), decode_fidelity(node.readout_fidelity),
                         node.gate_time_ns, node.readout_time_ns, move_ns)


def link_cap(link: LinkCap) -> rules.LinkCap:
    options = tuple(rules.OptionCap(decode_probability(o.success_probability),
                                    _distribution((o.fidelity, o.error_x, o.error_z, o.error_y)))
                    for o in link.options)
    return rules.LinkCap(link.link_id, link.link_label, link.peer_node, link.attempt_cycle_ns, link.one_way_delay_ns,
                         options)


def reply(circuit_id: int, head: int, decided: rules.CircuitRules) -> SetupReply:
    """The accepting SETUP_REPLY for ``decided``."""
    fidelity, error_x, error_z, error_y = _encoded(decided.model)
    hop_rules = tuple(HopRule(hop.link_id, hop.link_label, hop.origin_node,
                              min(FIDELITY_SCALE, math.floor(hop.link_min_fidelity * FIDELITY_SCALE)),
                              rule_byte(hop.distil))
                      for hop in decided.hops)
    return SetupReply(circuit_id, head, decided.route[-1], decided.route[-1], decided.window, decided.cutoff_ns or 0,
                      decided.end_cutoff_ns or 0, decided.expected_pair_ns, fidelity, error_x, error_z, error_y,
                      decided.route, hop_rules, end_distil=rule_byte(decided.end_distil))


def model(message: SetupReply) -> BellDistribution:
    return _distribution((message.model_fidelity, message.model_error_x, message.model_error_z,
                          message.model_error_y))
