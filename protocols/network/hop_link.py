"""Network layer: this node's side of the link-layer service for its hops (network-design §4.3).

The link layer's replies come to port 7773: ACK and ERR name the Create ID (the origin's own, or, at the
granter, the origin's, learned with the origin node from the OKs), OKs name the label as Purpose ID. A link
ERR EXPIRE retracts pairs (at both ends: the origin takes it as the granter's release too, since the granter
may have had no OK of the request to name it by); any other ERR ends the hop's request: NORES is retried with
exponential backoff, TIMEOUT, UNSUPP, REJECTED and OTHER (the link is down: DOWN) end the circuit. The
granter's copy of the request ends with ERR TIMEOUT when the origin closes it (its link layer's abort), which
it ignores. The requests themselves, and the credit, are :class:`~protocols.network.hops.Hops`'.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from protocols.common import Actions
from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.hop_flow import FlowKey, HopFlow
from protocols.network.link_errors import LINK_FAILURES, count_end
from protocols.packets import linkservice as ll
from protocols.physical.hardware import Discard

PairCallback = Callable[[Circuit, int, "ll.OkKeep | ll.OkMeasure", int], Actions]
ExpiredCallback = Callable[[Circuit, int, int, int], Actions]
FailedCallback = Callable[[Circuit, int, int], Actions]


class HopLink:
    """The replies of this node's link layer to its hops' requests (ACK, OK, ERR), mapped to the hop flows.
    ``flows`` is the hops' table (:class:`~protocols.network.hops.Hops` adds and removes its flows); a pair
    goes to :attr:`on_pair`, a retracted one to :attr:`on_expired`, a failed request's circuit to
    :attr:`on_failed`."""

    def __init__(self, node: Node, flows: dict[FlowKey, HopFlow]) -> None:
        self.node = node
        self.flows = flows
        self.by_create: dict[int, FlowKey] = {}
        """The origin's open requests by their Create ID (from the link layer's ACK)."""
        self.granted: dict[tuple[int, int], FlowKey] = {}
        """The granter's flows by the (origin node, Create ID) of the request that feeds them."""
        self.awaiting_ack: deque[FlowKey] = deque()
        """The flows whose opening CREATE the link layer has not acknowledged yet, in the order they were sent."""
        self.on_pair: PairCallback = lambda circuit, side, ok, now: Actions()
        self.on_expired: ExpiredCallback = lambda circuit, side, seq, now: Actions()
        self.on_failed: FailedCallback = lambda circuit, code, now: Actions()

    def opened(self, key: FlowKey) -> None:
        """The flow ``key`` has sent the CREATE opening its request: the link layer's next ACK names it."""
        self.awaiting_ack.append(key)

    def settled(self) -> bool:
        """No CREATE of this node awaits its ACK."""
        return not self.awaiting_ack

    def on_link(self, message: ll.Upward, now: int) -> Actions:
        """A reply of this node's link layer to the network layer (port 7773 from 7771)."""
        if type(message) is ll.OkKeep:              # the commonest first (one a link pair at each end)
            return self.on_ok(message, now)
        if isinstance(message, ll.Ack):
            if self.awaiting_ack:
                key = self.awaiting_ack.popleft()
                flow = self.flows.get(key)
                if flow is not None and flow.request is not None:
                    flow.request.create_id = message.create_id
                    self.by_create[message.create_id] = key
            return Actions()
        if isinstance(message, ll.Err):
            return self._on_err(message, now)
        if isinstance(message, ll.OkMeasureBlock):     # circuits never ask for blocks (generation.block_size)
            return Actions()
        return self.on_ok(message, now)

    def on_ok(self, ok: ll.OkKeep | ll.OkMeasure, now: int) -> Actions:
        """A link OK from this node's link layer (:meth:`on_link`'s commonest case, which the inbox calls
        directly): its pair settles the hop's credit at the origin and goes to :attr:`on_pair`."""
        node = self.node
        link = node.link_to(ok.remote_node_id)
        circuits = node.circuits
        # (Circuits.at_label written out) the label's binding is (circuit handle, side): the flow's own key
        bound = None if link is None else circuits.by_label.get((link.link_id, ok.purpose_id))
        circuit = None if bound is None else circuits.by_handle.get(bound[0])
        flow = None if circuit is None or bound is None else self.flows.get(bound)
        if flow is not None and flow.origin:
            seq = ok.sequence_number
            if seq in flow.freed_count:     # a new pair on a recently freed number: the link sequence came round
                link_caps = node.topology.link(flow.link_id)
                flow.renew(seq, now - link_caps.confirm_timeout_ns - node.rto(flow.peer))
            flow.settle(seq, now)
        elif flow is not None:
            self.granted[(ok.remote_node_id, ok.create_id)] = flow.key
        if flow is None or circuit is None or (type(ok) is not ll.OkKeep and not isinstance(ok, ll.OkKeep)):
            node.counters.unrequested += 1
            return Actions(hardware=[Discard(ok.lqid)]) if isinstance(ok, ll.OkKeep) else Actions()
        return self.on_pair(circuit, flow.side, ok, now)

    def _on_err(self, err: ll.Err, now: int) -> Actions:
        key = self.by_create.get(err.create_id) if err.origin_node == self.node.node_id else None
        if key is None:
            key = self.granted.get((err.origin_node, err.create_id))
        if key is None and err.err != ll.ERR_EXPIRE and err.origin_node == self.node.node_id and self.awaiting_ack:
            key = self.awaiting_ack.popleft()       # the link layer refused a CREATE of ours outright
        if key is None and err.err == ll.ERR_EXPIRE and err.origin_node != self.node.node_id:
            key = self._unmapped(err)               # the granter's first word of this request is an EXPIRE
        flow = None if key is None else self.flows.get(key)
        circuit = None if flow is None else self.node.circuits.get(flow.handle)
        if flow is None:
            return Actions()
        if err.err == ll.ERR_EXPIRE and err.s:
            actions = Actions()
            retraction = self.node.retraction_ns(flow.link_id)
            for seq in err.sequences():
                if flow.origin:
                    flow.expired(seq, now, retraction)
                if circuit is not None:
                    actions.extend(self.on_expired(circuit, flow.side, seq, now))
            return actions
        if circuit is not None:
            count_end(circuit, flow, err.err)
        if not flow.origin:
            # the granter's copy of the request failed: only a link that went down concerns the circuit
            return self.on_failed(circuit, ll.ERR_DOWN, now) if circuit and err.err == ll.ERR_OTHER else Actions()
        if flow.request is not None and flow.request.create_id in (None, err.create_id):
            self.by_create.pop(err.create_id, None)
            flow.request = None                     # the request has ended (it failed)
        if circuit is None or not circuit.generating:
            return Actions()
        if err.err == ll.ERR_NORES and flow.backoff < self.node.config.retries:
            flow.retrying = True
            flow.backoff += 1
            at = now + self.node.rto(flow.peer) * 2 ** flow.backoff
            self.node.timers.schedule(("hop-retry", flow.handle, flow.side), at)
            return Actions()
        return self.on_failed(circuit, LINK_FAILURES.get(err.err, ll.ERR_OTHER), now)

    def _unmapped(self, err: ll.Err) -> FlowKey | None:
        """The granter's flow an ERR EXPIRE from a request it has had no OK of is about: the one granter flow with
        that peer whose request it does not know yet (None: none, or several, and then the half's early timer
        and the origin's own ERR EXPIRE settle it)."""
        known = set(self.granted.values())
        keys = [key for key, flow in self.flows.items()
                if not flow.origin and flow.peer == err.origin_node and key not in known]
        if len(keys) != 1:
            return None
        self.granted[(err.origin_node, err.create_id)] = keys[0]
        return keys[0]
