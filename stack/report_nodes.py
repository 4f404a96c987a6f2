"""The report's ``nodes`` member (:func:`nodes`): each node's addresses, datagram counts and the inputs its engines
refused (:data:`REFUSALS`), and, in a run with the network layer, its ``network`` counters.

The counts of one engine are read the same way for a ``qnet up`` node process's result
(:mod:`stack.multiprocess.results`): :func:`malformed_count`, :func:`refusal_counts`.
"""

from __future__ import annotations

from typing import Any

from stack.core.capture import node_ip, node_mac
from stack.core.network import AUTH_DROPS
from stack.report_pairs import unknown
from stack.runtime import Emulation


def malformed_count(engine: Any) -> int:
    """Datagrams an engine dropped because they did not parse (engines keep the count in different places)."""
    counters = getattr(engine, "counters", None)
    nested = counters.get("malformed", 0) if isinstance(counters, dict) else getattr(counters, "malformed", 0)
    return int(getattr(engine, "malformed", 0)) + int(nested)


REFUSALS = ("unknown_clients", "over_quota", "phantom_oks", "wrong_sender")
"""Per-node counts of well-formed inputs the engines refused: CREATEs from none of the node's higher layers
and requests beyond a per-source quota (link layer), OKs whose qubit did not exist (applications), and
messages from another node than the one that may send them (a HERALD not from the link's station, an EGP
message not from the link's peer, an OK not from the application's service, a TRACK or QNCP message not from
the node the circuit's route says sends it)."""


def refusal_counts(engine: Any) -> dict[str, int]:
    """An engine's :data:`REFUSALS` (0 for those it does not keep)."""
    counters = getattr(engine, "counters", None)
    return {"unknown_clients": int(getattr(counters, "unknown_clients", 0)),
            "over_quota": int(getattr(counters, "over_quota", 0)), "phantom_oks": int(getattr(engine, "phantoms", 0)),
            "wrong_sender": int(getattr(engine, "wrong_sender", 0)) + int(getattr(counters, "wrong_sender", 0))}


COUNTS = ("sent", "received", "lost", "undeliverable", "malformed", "auth_dropped", *REFUSALS)
"""A node's counts in ``nodes{}``: null for a node process that died (its result, which holds them, never came)."""


def nodes(emu: Any, dead: frozenset[str]) -> dict[str, dict[str, Any]]:
    """Per node: addresses, datagram counters and, in a run with the network layer, its ``network`` counters
    (one pass over the layers: linear in nodes and layers); a ``dead`` node's counts are null."""
    malformed: dict[int, int] = {}
    refused: dict[int, dict[str, int]] = {}
    for layer in emu.layers:
        malformed[layer.node_id] = malformed.get(layer.node_id, 0) + malformed_count(layer.engine)
        mine = refused.setdefault(layer.node_id, dict.fromkeys(REFUSALS, 0))
        for key, count in refusal_counts(layer.engine).items():
            mine[key] += count
    network = _network_counts(emu)
    nodes = {name: _node(emu, node.node_id, malformed.get(node.node_id, 0))
             | refused.get(node.node_id, dict.fromkeys(REFUSALS, 0))
             | ({} if network is None else {"network": network.get(node.node_id)})
             for name, node in emu.scenario.nodes.items()}
    for name in dead:
        nodes[name] = unknown(nodes[name], COUNTS) | {"dead": True}
    return nodes


def _network_counts(emu: Emulation) -> dict[int, dict[str, int]] | None:
    """Per node running the network layer: its :data:`stack.report_circuits.NODE_COUNTERS` (None: no network
    layer)."""
    if emu.topology is None:
        return None
    from stack.report_circuits import NODE_COUNTERS, views

    return {node_id: {key: counts[key] for key in NODE_COUNTERS}
            for node_id, (_, counts) in views(emu).items()}


def _node(emu: Any, node_id: int, malformed: int) -> dict[str, Any]:
    c = emu.network.counters[node_id]
    return {"node_id": node_id, "ip": node_ip(node_id), "mac": node_mac(node_id), "sent": c.sent,
            "received": c.received, "lost": c.lost, "undeliverable": c.undeliverable, "malformed": malformed,
            "auth_dropped": {key: getattr(c, key) for key in AUTH_DROPS}}
