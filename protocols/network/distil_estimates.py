"""Network layer: what the distillers expect of their pairs and rounds, and the statistics they keep.

A hop's pooled pair (:mod:`protocols.network.distiller`) is estimated as its link OK's Goodness as a Werner
state (Goodness counts the moves to storage), ⊛ M(f) if the pool moves this end's half later; an end-to-end
pair at the tail (:mod:`protocols.network.end_distiller`) as the circuit's model state D_mid decayed in both
ends' memories for the half's storage time. A round's closed form
(:func:`protocols.network.distillation.distill`) takes both ends' gate and readout noise. The statistics are
the report's (docs/report.md, ``circuits[].distillation`` per hop, ``end_distillation``).
"""

from __future__ import annotations

from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.distil_state import DistilStats
from protocols.network.distillation import RoundNoise
from protocols.network.model import chain_distribution, moved, werner
from protocols.network.types import Half
from protocols.physical.hardware import BellDistribution


def hop_pair(half: Half) -> BellDistribution:
    """A new pooled pair's estimate: its link OK's Goodness as a Werner state. Goodness counts the moves to
    storage (:func:`protocols.link.replies.stored_distribution`: this end's if its link layer made it, the
    peer's whenever the peer has storage); a move the pool makes later is added then (:func:`pool_move`)."""
    return werner(half.link_goodness)


def pool_move(node: Node, estimate: BellDistribution) -> BellDistribution:
    """A pooled pair's estimate after the pool moved this end's half to storage (the link layer could not:
    storage was full at the OK): ⊛ M(f), f this node's gate fidelity."""
    return moved(estimate, node.caps.gate_fidelity)


def hop_noise(node: Node, circuit: Circuit, half: Half) -> RoundNoise:
    """A hop round's noise: this node's and the hop's peer's gates and readouts."""
    own, peer = node.caps, node.topology.node(circuit.hop(half.side).peer)
    return RoundNoise((own.gate_fidelity, peer.gate_fidelity), (own.readout_fidelity, peer.readout_fidelity))


def hop_stats(circuit: Circuit, link_id: int) -> DistilStats:
    """The circuit's statistics of its hop over ``link_id`` at this node."""
    return circuit.stats.distillation.setdefault(link_id, DistilStats())


def end_pair(node: Node, circuit: Circuit, half: Half, now: int) -> BellDistribution:
    """The tail's estimate of an end-to-end pair: D_mid decayed in both ends' memories since the half's OK."""
    stored = 0 if half.ok_at is None else max(0, now - half.ok_at)
    peer = node.topology.node(circuit.head).memory
    return chain_distribution([circuit.model], [node.caps.memory.channel(stored), peer.channel(stored)])


def end_noise(node: Node, circuit: Circuit) -> RoundNoise:
    """An end-to-end round's noise: the tail's and the head's gates and readouts."""
    head, tail = (node.topology.node(n) for n in (circuit.head, circuit.tail))
    return RoundNoise((tail.gate_fidelity, head.gate_fidelity), (tail.readout_fidelity, head.readout_fidelity))


def end_stats(circuit: Circuit) -> DistilStats:
    """The circuit's end-to-end distillation statistics (kept by the tail)."""
    if circuit.stats.end_distillation is None:
        circuit.stats.end_distillation = DistilStats()
    return circuit.stats.end_distillation
