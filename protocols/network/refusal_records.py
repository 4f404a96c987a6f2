"""Network layer: the records a node keeps of the circuits it refused, or saw refused, at setup (docs/wire.md
§9.3.3), for as long as it can still send something about them.

A node that refuses a SETUP, relays a refusal or receives one (the head) has no circuit left for it, so what
it sends about it afterwards (the refusal's retransmissions, SETUP_ACKs to late copies of the SETUP,
SETUP_REPLY_ACKs to copies of the refusal) is counted in the circuit's record, found by Circuit ID in
``Node.refusals``. Copies come from a neighbour until its last retransmission has crossed the hop, at most
(retries + 1) RTOs after the refusal (the SETUP's copies from upstream, the refusal's from downstream, each
sent every RTO from before this node saw it): then nothing more can be sent about it, and the entry goes, so
a long run with many refused setups keeps only the refusals of the last few RTOs. The record itself stays in
``Node.records`` for the report.

>>> from protocols.network.types import CircuitStats
>>> class Node:                                         # what keep() uses of protocols.network.context.Node
...     class config: retries = 3
...     def __init__(self): self.refusals, self.deadlines = {}, {}
...     def rto(self, peer): return 1_000 * peer
...     @property
...     def timers(self): return self
...     def schedule(self, key, at): self.deadlines[key] = at
>>> node = Node()
>>> keep(node, 7, CircuitStats("refused"), (2, 5), now=100)
>>> node.deadlines, list(node.refusals)
({('forget-refusal-record', 7): 20100}, [7])
>>> forget(node, 7); node.refusals
{}
"""

from __future__ import annotations

from collections.abc import Iterable

from protocols.network.context import Node
from protocols.network.types import CircuitStats

FORGET = "forget-refusal-record"
"""The timer kind that drops a refusal record (its key: (FORGET, Circuit ID))."""


def keep(node: Node, circuit_id: int, stats: CircuitStats, peers: Iterable[int], now: int) -> None:
    """Count what ``node`` sends about refused ``circuit_id`` in ``stats`` until no copy of the SETUP or of the
    refusal can still come from ``peers`` ((retries + 1) RTOs of the slowest). A later refusal of the same
    Circuit ID (another head's) takes the entry and its deadline: the earlier one is then no longer counted."""
    node.refusals[circuit_id] = stats
    longest = max(node.rto(peer) for peer in peers)
    node.timers.schedule((FORGET, circuit_id), now + (node.config.retries + 1) * longest)


def forget(node: Node, circuit_id: int) -> None:
    """The deadline of :func:`keep` has passed: nothing more can be sent about the refusal."""
    node.refusals.pop(circuit_id, None)
