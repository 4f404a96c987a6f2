"""Network layer: each hop's link request and its credit (network-design §4.3).

Per circuit per hop the two ends have a :class:`HopFlow`. The *origin* (the lower node id: the link's master,
which numbers the link's pairs) keeps ONE windowed link request open for the hop while the circuit
generates: ``CREATE(Window = OPEN, Purpose ID = the circuit's label, Number = free credits)`` from port 7773,
then ``CREATE(Window = CREDIT, Number = n)`` for each credit that comes back, and ``CREATE(Window = CLOSE)``
when the circuit stops (docs/wire.md §4.1.1): one REQ/SCHEDULE handshake per circuit hop, not per pair. The
*granter* announces the circuit with CREDIT READY(W) and returns one credit per link pair it is done with
(swapped, discarded, delivered, expired) with CREDIT RELEASED(seq). The origin has at most W link pairs in
flight: credited to its link layer and not yet settled here, or settled and not yet released at both ends.
So a hop never holds more than W halves of a circuit at either end, and a repeater with 2W qubits reserved
never deadlocks its two hops. Nor does it credit more than its pipeline cap allows: at most the circuit's
Number of its pairs in the pipeline, losses given back (:mod:`protocols.network.hop_cap`).

The link layer's replies come to port 7773: ACK and ERR name the Create ID (the origin's own, or, at the
granter, the origin's, learned with the origin node from the OKs), OKs name the label as Purpose ID. A link
ERR EXPIRE retracts pairs (at both ends: the origin takes it as the granter's release too, since the granter
may have had no OK of the request to name it by); any other ERR ends the hop's request: NORES is retried with
exponential backoff, TIMEOUT, UNSUPP, REJECTED and OTHER (the link is down: DOWN) end the circuit. The
granter's copy of the request ends with ERR TIMEOUT when the origin closes it (its link layer's abort), which
it ignores. Once the generation window is over (``node.over``) no hop asks for pairs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from protocols.common import QNCP_PORT, Actions, sending
from protocols.network.circuit import GENERATING, Circuit
from protocols.network.context import LINK_RESOLUTION_CONFIRMS, Node
from protocols.network.hop_cap import pipeline_cap
from protocols.network.hop_caps import HopCaps
from protocols.network.hop_flow import FlowKey, HopFlow, LinkRequest
from protocols.network.link_errors import LINK_FAILURES, count_end
from protocols.network.types import Half, Handle
from protocols.packets import linkservice as ll
from protocols.packets.qncp import PairMessage, credit_ack, encode_pair
from protocols.packets.qncp_common import CREDIT, CREDIT_READY
from protocols.physical.hardware import Discard

PairCallback = Callable[[Circuit, int, "ll.OkKeep | ll.OkMeasure", int], Actions]
ExpiredCallback = Callable[[Circuit, int, int, int], Actions]
FailedCallback = Callable[[Circuit, int, int], Actions]


class Hops:
    """The hop flows of one node and its side of the link-layer service."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.flows: dict[FlowKey, HopFlow] = {}
        self.by_create: dict[int, FlowKey] = {}
        self.granted: dict[tuple[int, int], FlowKey] = {}
        self.awaiting_ack: deque[FlowKey] = deque()
        self.early_ready: set[tuple[Handle, int]] = set()
        """READYs that overtook the SETUP_REPLY installing their circuit here: (circuit, link)."""
        self.on_pair: PairCallback = lambda circuit, side, ok, now: Actions()
        self.on_expired: ExpiredCallback = lambda circuit, side, seq, now: Actions()
        self.on_failed: FailedCallback = lambda circuit, code, now: Actions()
        self.caps = HopCaps(node, self.flows, self.request)
        """The origins' pipeline caps: the news that moves them and their stall deadlines."""

    # -- circuit lifecycle ----------------------------------------------------------------------
    def start(self, circuit: Circuit, now: int) -> Actions:
        """``circuit`` is installed here: its flows start (the granter announces READY)."""
        actions = Actions()
        for side, hop in enumerate(circuit.hops):
            if hop is None:
                continue
            flow = HopFlow(circuit.handle, side, hop.link_id, hop.label, hop.peer, hop.origin, circuit.window)
            flow.cap = pipeline_cap(circuit, hop)
            flow.ready = (circuit.handle, hop.link_id) in self.early_ready
            self.early_ready.discard((circuit.handle, hop.link_id))
            self.flows[flow.key] = flow
            if flow.ready:
                actions.extend(self.request(flow, now))
            if not hop.origin:
                message = self._credit(CREDIT, circuit, flow, 0, CREDIT_READY, circuit.window)
                actions.extend(self.node.reliable(("ready", circuit.handle, hop.link_id), hop.peer, QNCP_PORT,
                                                  message, now))
        return actions

    def stop(self, circuit: Circuit) -> Actions:
        """No more link pairs for ``circuit``: its open link requests are closed (pairs already numbered
        still come, and are discarded)."""
        actions = Actions()
        for side in (0, 1):
            flow = self.flows.get((circuit.handle, side))
            if flow is not None:
                flow.stopped = True
                self.node.timers.cancel(("hop-retry", circuit.handle, side))
                self.node.timers.cancel(("hop-cap", circuit.handle, side))
                actions.extend(self._close(flow))
        return actions

    def forget(self, circuit: Circuit) -> Actions:
        """``circuit`` is forgotten here: its flows go (a request still open is closed first)."""
        self.early_ready = {key for key in self.early_ready if key[0] != circuit.handle}
        actions = Actions()
        for side in (0, 1):
            flow = self.flows.pop((circuit.handle, side), None)
            self.node.timers.cancel(("hop-cap", circuit.handle, side))
            if flow is not None:
                actions.extend(self._close(flow))
        return actions

    def _close(self, flow: HopFlow) -> Actions:
        """Close ``flow``'s open link request (its link layer answers nothing, and aborts it at the granter)."""
        if flow.request is None:
            return Actions()
        flow.request = None
        create = ll.Create(remote_node_id=flow.peer, purpose_id=flow.label, number=0, window=ll.WINDOW_CLOSE)
        return Actions(send=[(self.node.link_service, create.encode())])

    def settled(self) -> bool:
        """No link request of this node is open."""
        return not self.awaiting_ack and all(flow.request is None for flow in self.flows.values())

    # -- credit ---------------------------------------------------------------------------------
    def released(self, half: Half, now: int, into: Actions | None = None) -> Actions:
        """This node is done with ``half`` (swapped, discarded, delivered, retracted): its credit returns. What it
        sends goes into ``into`` (returned) if given, else into new actions."""
        if half.released:
            return Actions() if into is None else into
        half.released = True
        flow = self.flows.get((half.circuit, half.side))
        if flow is None or flow.link_id != half.link_id:
            return Actions() if into is None else into
        if flow.origin:
            flow.own_released.add(half.seq)
            if flow.free(half.seq, now):
                return self.request(flow, now, into)
            return Actions() if into is None else into
        seq = half.seq
        circuit = self.node.circuits.by_handle.get(half.circuit)
        if circuit is None or circuit.state not in GENERATING:
            return Actions() if into is None else into
        return self.node.reliable(("credit", circuit.handle, flow.link_id, seq), flow.peer, QNCP_PORT,
                                  flow.credit_released(seq), now, into=into)

    def on_credit(self, message: PairMessage, peer: int, now: int, circuit: Circuit | None, payload: bytes) -> Actions:
        """A CREDIT from ``peer``: its CREDIT_ACK, and at the hop's origin the credit (READY: the flow may ask for
        pairs; RELEASED: the pair's credit may be free). ``circuit`` is this node's circuit of the message's handle
        (None: none), which the caller has looked up; ``payload`` the CREDIT's bytes (its ACK is made from them)."""
        actions = sending([(self.node.qncp(peer), credit_ack(payload))])
        if circuit is None:
            return actions
        side = circuit.sides.get(message.link_id)
        flow = None if side is None else self.flows.get((circuit.handle, side))
        if flow is None:
            if message.credit == CREDIT_READY and circuit.live:
                self.early_ready.add((circuit.handle, message.link_id))     # installed here a moment from now
            return actions
        if not flow.origin or flow.peer != peer:
            return actions
        if message.credit == CREDIT_READY:
            flow.ready = True
            return self.request(flow, now, actions, circuit)
        seq = message.pair_seq
        if seq in flow.freed_count:     # (flow.was_freed) an expired pair: its credit came back with its ERR EXPIRE
            flow.freed_releases[seq] = now          # (or the next pair's on its number, before its OK: renew)
            return actions
        flow.peer_released.add(seq)
        return self.request(flow, now, actions, circuit) if flow.free(seq, now) else actions

    def on_credit_ack(self, message: PairMessage) -> None:
        handle = (message.head_node, message.circuit_id)
        if message.credit == CREDIT_READY:
            self.node.outbox.ack(("ready", handle, message.link_id))
        else:
            self.node.outbox.ack(("credit", handle, message.link_id, message.pair_seq))

    # -- link requests --------------------------------------------------------------------------
    def request(self, flow: HopFlow, now: int, into: Actions | None = None, circuit: Circuit | None = None) -> Actions:
        """The origin gives its link layer every free credit: it opens the hop's windowed request with them,
        or adds them to the open one. What it sends goes into ``into`` (returned) if given, else into new
        actions. ``circuit``: the flow's circuit if the caller has it from the node's table (else looked up)."""
        actions = Actions() if into is None else into
        if circuit is None:
            circuit = self.node.circuits.by_handle.get(flow.handle)
        if (not flow.origin or not flow.ready or flow.stopped or flow.retrying
                or circuit is None or circuit.state not in GENERATING or self.node.over):
            return actions                  # node.over: the generation window has ended, no pair can come
        request = flow.request
        pending = 0 if request is None else request.pending
        free = flow.window - len(flow.outstanding) - pending
        if free <= 0:
            return actions
        cap = flow.cap
        if cap is not None:                 # (hop_cap): at most Number pairs of the hop in the pipeline
            room = cap.room(pending)
            if room <= 0:
                if cap.hold(now):
                    self.node.timers.schedule(("hop-cap", flow.handle, flow.side), now + cap.stall_ns)
                return actions
            cap.capped_at = None
            if room < free:
                free = room
        if request is not None:
            request.pending += free
            actions.send.append((self.node.link_service, flow.credits.get(free) or flow.credit_create(free)))
            return actions
        hop = circuit.hop(flow.side)
        flow.request = LinkRequest(free)
        self.awaiting_ack.append(flow.key)
        create = ll.Create(remote_node_id=flow.peer, minimum_fidelity=hop.link_min_fidelity,
                           purpose_id=flow.label, number=free, priority=self.node.config.link_priority,
                           tpe=ll.TPE_KEEP, con=1, window=ll.WINDOW_OPEN)
        actions.send.append((self.node.link_service, create.encode()))
        return actions

    def retry(self, handle: Handle, side: int, now: int) -> Actions:
        flow = self.flows.get((handle, side))
        if flow is None:
            return Actions()
        flow.retrying = False
        return self.request(flow, now)

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
            retraction = LINK_RESOLUTION_CONFIRMS * self.node.topology.link(flow.link_id).confirm_timeout_ns
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
            self._ended(flow)
        if circuit is None or not circuit.generating:
            return Actions()
        if err.err == ll.ERR_NORES and flow.backoff < self.node.config.retries:
            flow.retrying = True
            flow.backoff += 1
            at = now + self.node.rto(flow.peer) * 2 ** flow.backoff
            self.node.timers.schedule(("hop-retry", flow.handle, flow.side), at)
            return Actions()
        return self.on_failed(circuit, LINK_FAILURES.get(err.err, ll.ERR_OTHER), now)

    def _ended(self, flow: HopFlow) -> None:
        """``flow``'s link request has ended (it failed)."""
        flow.request = None

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

    def _credit(self, kind: int, circuit: Circuit, flow: HopFlow, seq: int, credit: int, window: int) -> bytes:
        return encode_pair(kind, circuit.handle[1], circuit.head, flow.label, seq, flow.link_id, window=window,
                           credit=credit)
