"""Network layer: what each of a node's deadlines does when it comes due (:class:`Deadlines`).

Deadlines are keys in the node's :class:`~protocols.network.timers.Timers` heap, a tuple whose first item names
the kind; :class:`~protocols.network.layer.NetworkLayer` hands each due key to :meth:`Deadlines.fire`, which
routes it to the collaborator that scheduled it. A reliable message's retransmission (``"rtx"``) whose copies
all went unanswered is given up (:meth:`Deadlines.gave_up`): what that means depends on the message.
"""

from __future__ import annotations

from typing import Any

import protocols.network.refusal_records as refusal_records
from protocols.common import Actions
from protocols.network.context import Node
from protocols.network.distiller import Distiller
from protocols.network.end_distiller import EndDistiller
from protocols.network.ending import Ending
from protocols.network.endpoint import EndPoint
from protocols.network.hops import Hops
from protocols.network.signalling import Signalling
from protocols.network.swapper import Swapper
from protocols.network.tracker import Tracker
from protocols.packets import linkservice as ll


class Deadlines:
    """Routes a node's due deadlines to the collaborators that own them."""

    def __init__(self, node: Node, hops: Hops, tracker: Tracker, swapper: Swapper, ends: EndPoint,
                 distiller: Distiller, end_distiller: EndDistiller, ending: Ending, signalling: Signalling) -> None:
        self.node = node
        self.hops = hops
        self.tracker = tracker
        self.swapper = swapper
        self.ends = ends
        self.distiller = distiller
        self.end_distiller = end_distiller
        self.ending = ending
        self.signalling = signalling

    def fire(self, key: tuple[Any, ...], now: int) -> Actions:
        kind = key[0]
        if kind == "rtx":
            actions, gave_up = self.node.outbox.retransmit(key[1], now)
            return self.gave_up(key[1], now) if gave_up else actions
        handlers = {
            "setup-timeout": self.signalling.setup_timeout, "max-time": self.ending.max_time,
            "verdict": self.ending.verdict_timeout, "early": self.tracker.early_expired,
            "cutoff": self.swapper.on_cutoff, "hold": self.ends.on_hold, "distil-hold": self.distiller.on_hold,
            "forget-refusal": self.signalling.forget_refusal,
        }
        if kind in handlers:
            return handlers[kind](key[1], now)
        if kind == "setup-retry":
            return self.signalling.retry(key[1], now)
        if kind == "hop-retry":
            return self.hops.retry(key[1], key[2], now)
        if kind == "hop-cap":
            return self.hops.caps.stalled(key[1], key[2], now)
        if kind == refusal_records.FORGET:
            refusal_records.forget(self.node, key[1])
        elif kind == "forget-halves":
            self.node.forget_due(key[1], now)
        elif kind == "forget-circuit":
            return self.ending.forget(key[1], now)
        return Actions()

    def gave_up(self, key: tuple[Any, ...], now: int) -> Actions:
        """Every retransmission of a reliable message went unanswered."""
        node = self.node
        node.counters.gave_up += 1
        kind, handle = key[0], key[1]
        if kind in ("setup", "reply"):
            return self.signalling.setup_lost(kind, handle, now)
        if kind == "confirm":
            return self.ends.confirm_gave_up(handle, key[2], now)
        if kind == "distil":
            return self.distiller.gave_up(key[1:], now)
        if kind == "distil-e2e":
            return self.end_distiller.gave_up(key[1:], now)
        circuit = node.circuits.get(handle)
        if kind in ("ready", "credit", "track") and circuit is not None:
            return self.ending.fail(circuit, ll.ERR_DOWN, now)
        return Actions()
