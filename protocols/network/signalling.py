"""Network layer: circuit setup, completion and teardown (network-design §4.2, §4.9; docs/wire.md §9.3).

Setup, after draft-van-meter-qirg-quantum-connection-setup: the head sends SETUP along its route; each node
acknowledges it (SETUP_ACK), checks it (INUSE: circuit id or label taken; NORES: no free qubits or a full
circuit table; at the tail REJECTED: nothing listens), reserves qubits tentatively and forwards it with its
QCap appended. The tail decides the rules from everything collected (:func:`protocols.network.rules.decide`:
UNSUPP, NOTIME, NORES) and answers SETUP_REPLY, which every node acknowledges, installs and passes back; the
head installs last. A refusal travels back the same way and releases what it passes. The head retries INUSE
with another circuit id, and gives up with ERR TIMEOUT if no reply comes in time.

End: the tail sends COMPLETE to every node when Number pairs are settled. Any node may send TEARDOWN(code)
to every node (a hop's link requests failed, a TRACK or CREDIT went unanswered, Max Time at the head, the
run's generation window ended). The tail decides what a teardown means for the request: with fewer than
Number pairs numbered it fails (ERR code to its application, TEARDOWN from the tail to every node, on
which the head reports the same ERR); otherwise the pairs already numbered are still confirmed and the
circuit completes. So both ends report the same ERR, or none.
"""

from __future__ import annotations

from protocols.common import QNCP_PORT, Actions
from protocols.network import caps, rules
from protocols.network.circuit import Circuit, CircuitEvent, CircuitState, Hop
from protocols.network.context import Node
from protocols.network.endpoint import EndPoint
from protocols.network.hops import Hops
from protocols.network.model import Chain, signalling_latency_ns
from protocols.network.service import Admitted, Service
from protocols.network.swapper import Swapper
from protocols.network.types import LEFT, RIGHT, CircuitStats, HalfEvent, HalfState, Handle
from protocols.packets import linkservice as ll
from protocols.packets.qncp import CircuitEnd, HopAck, Setup, SetupReply
from protocols.packets.qncp_common import (
    COMPLETE,
    COMPLETE_ACK,
    REASON_TEARDOWN,
    SETUP_ACK,
    SETUP_REPLY_ACK,
    TEARDOWN,
    TEARDOWN_ACK,
)
from protocols.physical.hardware import Discard

LINK_RESOLUTION_CONFIRMS = 13
"""A link layer settles a pair within ~130 retransmission intervals, 13 of its confirm timeouts: how long
a retraction of a link pair may follow its OK."""
KEEP_ON_STOP = ("confirm", "end")
"""Messages that still go out after a circuit stops: confirmations of pairs already numbered, and the
COMPLETE and TEARDOWN messages themselves."""


class Signalling:
    """SETUP, SETUP_REPLY, COMPLETE, TEARDOWN and their ACKs at one node."""

    def __init__(self, node: Node, service: Service, hops: Hops, ends: EndPoint, swapper: Swapper,
                 cutoffs: dict[int, int] | None = None) -> None:
        self.node = node
        self.service = service
        self.hops = hops
        self.ends = ends
        self.swapper = swapper
        self.cutoffs = dict(cutoffs or {})
        """Purpose ID → cutoff τ (ns) the tail uses instead of deriving it (the scenario's ``cutoff_us``)."""
        self.failures: dict[Handle, int] = {}

    # -- setup at the head ----------------------------------------------------------------------
    def open(self, admitted: Admitted, now: int, stats: CircuitStats | None = None) -> Actions:
        """The head sets up a circuit for an admitted request (again, with ``stats``, after INUSE)."""
        node = self.node
        route = admitted.route
        handle = (node.node_id, node.circuits.new_circuit_id())
        circuit = Circuit(handle, route, 0, CircuitState.SETTING_UP, admitted.create, admitted.create_id,
                          node.config.window, admitted.app)
        circuit.stats = stats or CircuitStats("head", route, created_at=now)
        circuit.stats.setup_attempts += 1
        free = node.circuits.free_qubits()
        circuit.reserved = min(free, circuit.window)
        link = node.topology.link_between(node.node_id, route[1])
        assert link is not None
        node.circuits.add(circuit)
        node.circuits.bind(circuit, RIGHT, self._hop(1, link.link_id, node.circuits.new_label(link.link_id, route[1]),
                                                      route[1]))
        setup = Setup(handle[1], node.node_id, route[-1], admitted.create_id, circuit.window, admitted.create, route,
                      (caps.qcap(node.caps, free, link, circuit.hop(RIGHT).label),))
        node.timers.schedule(("setup-timeout", handle), now + self._setup_timeout(route))
        limit = admitted.create.max_time_ns()
        if limit is not None and circuit.stats.created_at is not None:
            node.timers.schedule(("max-time", handle), circuit.stats.created_at + limit)
        return node.reliable(("setup", handle, route[1]), route[1], QNCP_PORT, setup.encode(), now,
                             node.config.retries)

    def _hop(self, index: int, link_id: int, label: int, peer: int) -> Hop:
        node = self.node
        return Hop(index, link_id, label, peer, node.topology.address(peer), node.node_id > peer, node.rto(peer))

    def _setup_timeout(self, route: tuple[int, ...]) -> int:
        node = self.node
        longest = max(node.rto(peer) for peer in route if peer != node.node_id)
        return len(route) * longest * (node.config.retries + 1)

    # -- SETUP at the other nodes ---------------------------------------------------------------
    def on_setup(self, setup: Setup, sender: int, now: int) -> Actions:
        node = self.node
        handle = (setup.head_node, setup.circuit_id)
        index = setup.hop_index
        actions = Actions(send=[(node.qncp(sender), HopAck(SETUP_ACK, handle[1], handle[0], index).encode())])
        if setup.route[index] != node.node_id or setup.route[index - 1] != sender or node.circuits.get(handle):
            return actions                              # not for us, or a duplicate (answered above)
        tail = index == setup.hop_count
        left = setup.qcaps[-1].link
        free = node.circuits.free_qubits()
        code = 0
        if node.circuits.id_in_use(handle[1], handle) or node.circuits.label_in_use(left.link_id, left.link_label,
                                                                                     handle):
            code = ll.ERR_INUSE
        elif node.circuits.full() or free < (1 if tail else 2):
            code = ll.ERR_NORES
        elif tail and setup.create.purpose_id not in self.service.purposes:
            code = ll.ERR_REJECTED
        if code:
            return actions.extend(self._refuse(handle, setup.tail_node, sender, code, now))
        circuit = Circuit(handle, setup.route, index, CircuitState.RESERVED, setup.create, setup.create_id,
                          setup.window, self.service.purposes.get(setup.create.purpose_id) if tail else None)
        circuit.stats = CircuitStats("tail" if tail else "repeater", setup.route, created_at=now)
        circuit.reserved = min(free, setup.window if tail else 2 * setup.window)
        node.circuits.add(circuit)
        node.circuits.bind(circuit, LEFT, self._hop(index, left.link_id, left.link_label, sender))
        if tail:
            return actions.extend(self._decide(circuit, setup, free, now))
        peer = setup.route[index + 1]
        link = node.topology.link_between(node.node_id, peer)
        assert link is not None
        node.circuits.bind(circuit, RIGHT, self._hop(index + 1, link.link_id, node.circuits.new_label(link.link_id,
                                                                                                       peer), peer))
        forward = Setup(handle[1], handle[0], setup.tail_node, setup.create_id, setup.window, setup.create,
                        setup.route, (*setup.qcaps, caps.qcap(node.caps, free, link, circuit.hop(RIGHT).label)))
        node.timers.schedule(("setup-timeout", handle), now + self._setup_timeout(setup.route))
        return actions.extend(node.reliable(("setup", handle, peer), peer, QNCP_PORT, forward.encode(), now,
                                            node.config.retries))

    def _decide(self, circuit: Circuit, setup: Setup, free: int, now: int) -> Actions:
        node = self.node
        own = rules.node_cap(node.caps, free)
        nodes = [caps.node_cap(q.node) for q in setup.qcaps] + [own]
        links = [caps.link_cap(q.link) for q in setup.qcaps]
        create = setup.create
        demand = rules.Demand(ll.decode_fidelity(create.minimum_fidelity), create.number,
                              create.max_time_ns() or 0, setup.window)
        margin = 2 * node.topology.jitter(circuit.head, node.node_id)
        decided = rules.decide(demand, setup.route, nodes, links, margin)
        if isinstance(decided, int):
            node.circuits.forget(circuit.handle)
            return self._refuse(circuit.handle, node.node_id, circuit.hop(LEFT).peer, decided, now)
        cutoff, end_cutoff = decided.cutoff_ns, decided.end_cutoff_ns
        override = self.cutoffs.get(create.purpose_id)
        if override:
            latency = signalling_latency_ns([link.delay_ns for link in links],
                                            [n.gate_ns + n.readout_ns for n in nodes[1:-1]]) + margin
            cutoff, end_cutoff = override, override + latency
        message = caps.reply(circuit.handle[1], circuit.head, decided, cutoff, end_cutoff)
        circuit.stats.worst_fidelity = rules.worst_fidelity(_chain(decided, nodes, links, margin), cutoff)
        actions = self._install(circuit, message, now)
        circuit.fire(CircuitEvent.REPLY_OK)
        actions.extend(node.reliable(("reply", circuit.handle, circuit.hop(LEFT).peer), circuit.hop(LEFT).peer,
                                     QNCP_PORT, message.encode(), now, node.config.retries))
        return actions.extend(self.hops.start(circuit, now))

    def _refuse(self, handle: Handle, tail: int, to: int, code: int, now: int) -> Actions:
        self.node.counters.refused += 1
        refusal = SetupReply(handle[1], handle[0], tail, self.node.node_id, status=code)
        return self.node.reliable(("reply", handle, to), to, QNCP_PORT, refusal.encode(), now,
                                  self.node.config.retries)

    def _install(self, circuit: Circuit, message: SetupReply, now: int) -> Actions:
        node = self.node
        circuit.window = message.window
        circuit.reserved = (1 if circuit.is_end else 2) * message.window
        circuit.cutoff_ns = message.cutoff_ns or None
        circuit.model = caps.model(message)
        circuit.expected_pair_ns = message.expected_pair_time_ns
        peers = [peer for peer in circuit.route if peer != node.node_id]
        confirm = max(node.topology.link(rule.link_id).confirm_timeout_ns for rule in message.rules)
        circuit.e2e_rto_ns = node.rto(circuit.tail if circuit.is_head else circuit.head)
        circuit.linger_ns = ((node.config.reliable_retries + 2) * max(node.rto(peer) for peer in peers)
                             + LINK_RESOLUTION_CONFIRMS * confirm)
        circuit.hold_ns = message.end_cutoff_ns or rules.HOLD_PAIRS * message.expected_pair_time_ns + circuit.linger_ns
        for side in (LEFT, RIGHT):
            hop = circuit.hops[side]
            if hop is not None:
                rule = message.rules[hop.index - 1]
                hop.origin = rule.origin_node == node.node_id
                hop.link_min_fidelity = rule.link_min_fidelity
        stats = circuit.stats
        stats.window, stats.cutoff_ns, stats.end_cutoff_ns = message.window, message.cutoff_ns, message.end_cutoff_ns
        stats.expected_pair_ns, stats.model = message.expected_pair_time_ns, circuit.model
        stats.link_min_fidelity = [ll.decode_fidelity(rule.link_min_fidelity) for rule in message.rules]
        stats.setup_done_at = now
        node.timers.cancel(("setup-timeout", circuit.handle))
        return Actions()

    # -- SETUP_REPLY ----------------------------------------------------------------------------
    def on_reply(self, message: SetupReply, sender: int, now: int) -> Actions:
        node = self.node
        handle = (message.head_node, message.circuit_id)
        circuit = node.circuits.get(handle)
        index = 0 if circuit is None else circuit.index
        actions = Actions(send=[(node.qncp(sender), HopAck(SETUP_REPLY_ACK, handle[1], handle[0], index).encode())])
        node.outbox.ack(("setup", handle, sender))
        if circuit is None or circuit.state not in (CircuitState.SETTING_UP, CircuitState.RESERVED):
            return actions
        if circuit.hops[RIGHT] is None or circuit.hop(RIGHT).peer != sender:
            return actions
        if not circuit.is_head:
            previous = circuit.hop(LEFT).peer
            actions.extend(node.reliable(("reply", handle, previous), previous, QNCP_PORT, message.encode(), now,
                                         node.config.retries))
        if message.status != 0:
            actions.extend(self._refused(circuit, message.status, now))
            return actions.extend(self.close(circuit, now))
        actions.extend(self._install(circuit, message, now))
        circuit.fire(CircuitEvent.REPLY_OK)
        return actions.extend(self.hops.start(circuit, now))

    def _refused(self, circuit: Circuit, code: int, now: int) -> Actions:
        """The head's circuit was refused: another circuit id on INUSE, else ERR to the application."""
        if not circuit.is_head:
            return Actions()
        if code == ll.ERR_INUSE:
            if circuit.stats.setup_attempts < self.node.config.setup_attempts:
                retry = Admitted(circuit.create, circuit.create_id, circuit.app or self.node.service, circuit.route)
                self.close(circuit, now)
                return self.open(retry, now, circuit.stats)
            code = ll.ERR_NORES
        return self.service.err(circuit, code)

    def on_ack(self, message: HopAck, sender: int) -> None:
        kind = "setup" if message.msg_type == SETUP_ACK else "reply"
        self.node.outbox.ack((kind, (message.head_node, message.circuit_id), sender))

    def setup_lost(self, kind: str, handle: Handle, now: int) -> Actions:
        """Every copy of a SETUP went unanswered: the head gives up (as on its setup timeout)."""
        circuit = self.node.circuits.get(handle)
        if kind == "setup" and circuit is not None and circuit.state == CircuitState.SETTING_UP:
            return self.fail(circuit, ll.ERR_TIMEOUT, now)
        return Actions()

    def setup_timeout(self, handle: Handle, now: int) -> Actions:
        circuit = self.node.circuits.get(handle)
        if circuit is None:
            return Actions()
        if circuit.state == CircuitState.SETTING_UP:
            return self.fail(circuit, ll.ERR_TIMEOUT, now)
        return self.close(circuit, now) if circuit.state == CircuitState.RESERVED else Actions()

    def max_time(self, handle: Handle, now: int) -> Actions:
        circuit = self.node.circuits.get(handle)
        return Actions() if circuit is None else self.fail(circuit, ll.ERR_TIMEOUT, now)

    # -- completion and teardown ----------------------------------------------------------------
    def complete(self, circuit: Circuit, now: int) -> Actions:
        """The tail has settled every pair: COMPLETE to every node, and the circuit ends here."""
        return self._broadcast(circuit, COMPLETE, 0, now).extend(self.close(circuit, now))

    def fail(self, circuit: Circuit, code: int, now: int) -> Actions:
        """This node ends ``circuit`` with ``code``."""
        if not circuit.live or circuit.state == CircuitState.WAITING:
            return Actions()
        if circuit.is_tail:
            if self.ends.numbered_all(circuit):
                return self.stop(circuit, now)    # the request is decided: its pairs are still confirmed
            actions = self.service.err(circuit, code)
        elif circuit.is_head and circuit.state == CircuitState.ACTIVE:
            self.failures[circuit.handle] = code
            self.node.timers.schedule(("verdict", circuit.handle), now + 2 * circuit.linger_ns)
            actions = self._broadcast(circuit, TEARDOWN, code, now).extend(self.stop(circuit, now))
            circuit.fire(CircuitEvent.STOP)
            return actions
        else:
            actions = self.service.err(circuit, code) if circuit.is_head else Actions()
        return actions.extend(self._broadcast(circuit, TEARDOWN, code, now)).extend(self.close(circuit, now))

    def verdict_timeout(self, handle: Handle, now: int) -> Actions:
        """The tail never answered the head's TEARDOWN: the head reports the failure alone (a known limit)."""
        circuit = self.node.circuits.get(handle)
        if circuit is None or circuit.state != CircuitState.WAITING:
            return Actions()
        return self.service.err(circuit, self.failures.pop(handle, ll.ERR_OTHER)).extend(self.close(circuit, now))

    def on_end(self, message: CircuitEnd, sender: int, now: int) -> Actions:
        node = self.node
        kind = COMPLETE_ACK if message.msg_type == COMPLETE else TEARDOWN_ACK
        ack = CircuitEnd(kind, message.circuit_id, message.head_node, node.node_id, status=message.status)
        actions = Actions(send=[(node.qncp(sender), ack.encode())])
        circuit = node.circuits.get((message.head_node, message.circuit_id))
        if circuit is None or not circuit.live:
            return actions
        if message.msg_type == COMPLETE:
            if circuit.is_head:
                actions.extend(self.ends.completed(circuit))
            return actions.extend(self.close(circuit, now))
        code = message.status
        if circuit.is_head and circuit.state != CircuitState.SETTING_UP and sender != circuit.tail:
            return actions.extend(self.fail(circuit, code, now))
        if circuit.is_end and not (circuit.is_tail and self.ends.numbered_all(circuit)):
            actions.extend(self.service.err(circuit, code))
        if circuit.is_tail:
            if self.ends.numbered_all(circuit):
                return actions.extend(self.stop(circuit, now))
            actions.extend(self._broadcast(circuit, TEARDOWN, code, now))
        return actions.extend(self.close(circuit, now))

    def on_end_ack(self, message: CircuitEnd) -> None:
        self.node.outbox.ack(("end", (message.head_node, message.circuit_id), message.sender_node))

    def _broadcast(self, circuit: Circuit, kind: int, code: int, now: int) -> Actions:
        node = self.node
        actions = Actions()
        message = CircuitEnd(kind, circuit.handle[1], circuit.head, node.node_id, status=code).encode()
        for peer in circuit.route:
            if peer != node.node_id:
                actions.extend(node.reliable(("end", circuit.handle, peer), peer, QNCP_PORT, message, now))
        return actions

    def stop(self, circuit: Circuit, now: int) -> Actions:
        """No more pairs for ``circuit``: its hops stop requesting, its undelivered halves are discarded."""
        node = self.node
        self.hops.stop(circuit)
        node.outbox.drop_where(lambda key: not (isinstance(key, tuple) and len(key) > 1 and key[1] == circuit.handle
                                                and key[0] not in KEEP_ON_STOP))
        actions = Actions()
        for half in node.halves_of(circuit):
            if half.state == HalfState.SWAPPING:
                half.doomed = half.doomed or (REASON_TEARDOWN, None)
            elif half.state in (HalfState.EARLY, HalfState.HELD, HalfState.MEASURING, HalfState.MEASURED):
                if half.state == HalfState.HELD and half.slot is not None:
                    actions.hardware.append(Discard(half.slot))
                half.fire(HalfEvent.DIE)
                half.reason = REASON_TEARDOWN
                node.linger(half, circuit, now)
        return actions

    def close(self, circuit: Circuit, now: int) -> Actions:
        if not circuit.live:
            return Actions()
        actions = self.stop(circuit, now)
        circuit.fire(CircuitEvent.CLOSE)
        circuit.stats.ended = circuit.stats.ended or "closed"
        for kind in ("setup-timeout", "max-time", "verdict"):
            self.node.timers.cancel((kind, circuit.handle))
        self.swapper.forget(circuit)
        self.node.timers.schedule(("forget-circuit", circuit.handle), now + max(circuit.linger_ns, 1))
        return actions

    def forget(self, handle: Handle) -> None:
        node = self.node
        circuit = node.circuits.get(handle)
        if circuit is None:
            return
        for half in node.halves_of(circuit):
            del node.halves[half.key]
        node.circuits.forget(handle)
        self.hops.forget(circuit)
        self.ends.forget(circuit)
        self.failures.pop(handle, None)


def _chain(decided: rules.CircuitRules, nodes: list[rules.NodeCap], links: list[rules.LinkCap],
           margin: int) -> Chain:
    """The model chain of the decided options (for F_worst with the cutoff in force)."""
    latency = signalling_latency_ns([link.delay_ns for link in links],
                                    [n.gate_ns + n.readout_ns for n in nodes[1:-1]]) + margin
    return Chain(tuple(hop.option.distribution for hop in decided.hops), tuple(n.repeater for n in nodes[1:-1]),
                 nodes[0].memory, nodes[-1].memory, latency)
