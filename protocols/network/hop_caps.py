"""Network layer: the pipeline caps of one node's hops (:mod:`protocols.network.hop_cap`): the news that gives
a capped hop credit back, and the caps' stall deadlines."""

from __future__ import annotations

from collections.abc import Callable

from protocols.common import Actions
from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.hop_flow import FlowKey, HopFlow
from protocols.network.types import Half, Handle

Grant = Callable[["HopFlow", int, Actions | None], Actions]
"""The hops' grant of free credit to a flow's link layer (:meth:`protocols.network.hops.Hops.request`)."""


class HopCaps:
    """The pipeline caps of one node's hops: the news that gives credit back (:meth:`lost`), or that a numbered
    pair failed (:meth:`numbered_failed`), and the caps' stall deadlines (:meth:`stalled`). ``flows`` is the
    hops' table, ``grant`` their grant of free credit."""

    def __init__(self, node: Node, flows: dict[FlowKey, HopFlow], grant: Grant) -> None:
        self.node = node
        self.flows = flows
        self.grant = grant

    def lost(self, half: Half, now: int, into: Actions | None = None) -> Actions:
        """``half`` died here (or came dead: a tombstone): at its capped hop's origin, a pair less in the pipeline
        (what a credit given back sends goes into ``into``, returned, if given)."""
        flow = self.flows.get((half.circuit, half.side))
        if flow is None or flow.cap is None or flow.link_id != half.link_id:
            return Actions() if into is None else into
        flow.cap.lost += 1
        return self.grant(flow, now, into)

    def numbered_failed(self, circuit: Circuit) -> None:
        """A numbered pair of ``circuit`` is known here to have failed (CONFIRM_ACK EXPIRE): one of the Number, so
        the deaths of its link pairs need no replacement."""
        for side in (0, 1):
            flow = self.flows.get((circuit.handle, side))
            if flow is not None and flow.cap is not None:
                flow.cap.ended_failed += 1

    def stalled(self, handle: Handle, side: int, now: int) -> Actions:
        """A capped hop's stall deadline: with no progress since its cap held for the stall time, the cap is
        lifted for the rest of the circuit; with progress, it waits on from the last."""
        flow = self.flows.get((handle, side))
        due = None if flow is None or flow.cap is None else flow.cap.due()
        if flow is None or due is None:
            return Actions()
        if due > now:
            self.node.timers.schedule(("hop-cap", handle, side), due)
            return Actions()
        flow.cap = None
        self.node.counters.cap_resumes += 1
        return self.grant(flow, now, None)
