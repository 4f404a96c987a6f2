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

The link layer's replies to these requests are :class:`~protocols.network.hop_link.HopLink`'s. Once the
generation window is over (``node.over``) no hop asks for pairs.
"""

from __future__ import annotations

from protocols.common import QNCP_PORT, Actions, sending
from protocols.network.circuit import GENERATING, Circuit
from protocols.network.context import Node
from protocols.network.hop_cap import pipeline_cap
from protocols.network.hop_caps import HopCaps
from protocols.network.hop_flow import FlowKey, HopFlow, LinkRequest
from protocols.network.hop_link import HopLink
from protocols.network.types import Half, Handle
from protocols.packets import linkservice as ll
from protocols.packets.qncp import PairMessage, credit_ack, encode_pair
from protocols.packets.qncp_common import CREDIT, CREDIT_READY


class Hops:
    """The hop flows of one node: their lifecycle, their link requests and their credit. The link layer's
    replies go to :attr:`link`, the pipeline caps' news to :attr:`caps`."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.flows: dict[FlowKey, HopFlow] = {}
        self.early_ready: set[tuple[Handle, int]] = set()
        """READYs that overtook the SETUP_REPLY installing their circuit here: (circuit, link)."""
        self.link = HopLink(node, self.flows)
        """This node's side of the link-layer service: its link layer's replies (ACK, OK, ERR)."""
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
        return self.link.settled() and all(flow.request is None for flow in self.flows.values())

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
        self.link.opened(flow.key)
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

    def _credit(self, kind: int, circuit: Circuit, flow: HopFlow, seq: int, credit: int, window: int) -> bytes:
        return encode_pair(kind, circuit.handle[1], circuit.head, flow.label, seq, flow.link_id, window=window,
                           credit=credit)
