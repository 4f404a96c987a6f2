"""Network layer: circuit setup (network-design §4.2; docs/wire.md §9.3.2–9.3.4).

Setup, after draft-van-meter-qirg-quantum-connection-setup: the head sends SETUP along its route; each node
acknowledges it (SETUP_ACK), checks it (INUSE: circuit id or label taken; NORES: no free qubits or a full
circuit table; at the tail REJECTED: nothing listens), reserves qubits tentatively and forwards it with its
QCap appended. The tail decides the rules from everything collected (:mod:`protocols.network.setup_decision`,
:func:`protocols.network.rules.decide`: UNSUPP, NOTIME, NORES) and answers SETUP_REPLY, which every node
acknowledges, installs and passes back; the head installs last. A refusal travels back the same way and
releases what it passes; each node sends its SETUP_REPLY, the tail's or one it relays, refusals included,
until SETUP_REPLY_ACK comes, and a node that refused a SETUP, or relayed its refusal, remembers it while copies
of the SETUP may still come. The head retries INUSE with another circuit id, NORES after a randomised backoff
(:mod:`protocols.network.setup_backoff`), and gives up with ERR TIMEOUT if no reply comes in time.
"""

from __future__ import annotations

import protocols.network.caps as caps
import protocols.network.refusal_records as refusal_records
import protocols.network.rules as rules
from protocols.common import QNCP_PORT, Actions
from protocols.network.circuit import Circuit, CircuitEvent, CircuitState, Hop
from protocols.network.context import Node
from protocols.network.ending import Ending
from protocols.network.hops import Hops
from protocols.network.policy import DistilRule
from protocols.network.routing import REPEATER_QUBITS
from protocols.network.service import Admitted, Service
from protocols.network.setup_backoff import SetupBackoff
from protocols.network.setup_decision import SetupDecision
from protocols.network.types import LEFT, RIGHT, CircuitStats, Handle
from protocols.packets import linkservice as ll
from protocols.packets.qcap_list import appended
from protocols.packets.qncp import HopAck, Setup, SetupReply
from protocols.packets.qncp_common import SETUP_ACK, SETUP_REPLY_ACK


class Signalling:
    """SETUP, SETUP_REPLY and their ACKs at one node."""

    def __init__(self, node: Node, service: Service, hops: Hops, ending: Ending,
                 cutoffs: dict[int, int] | None = None) -> None:
        self.node = node
        self.service = service
        self.hops = hops
        self.ending = ending
        self.decision = SetupDecision(node, cutoffs)
        """The tail's choice of the rules (``cutoffs``: Purpose ID → τ in ns, the scenario's ``cutoff_us``)."""
        self.backoff = SetupBackoff(node, service)
        self.waiting = self.backoff.waiting
        """Head: requests refused NORES waiting to set up again, by Create ID."""
        self.refused: dict[Handle, int] = {}
        """Circuits this node refused, or relayed the refusal of, while copies of their SETUP may still come
        (:meth:`_remember`), and the Create ID their SETUP named (a head may give a circuit id again to another
        request once it is free there)."""

    # -- setup at the head ----------------------------------------------------------------------
    def open(self, admitted: Admitted, now: int, stats: CircuitStats | None = None) -> Actions:
        """The head sets up a circuit for an admitted request (again, with ``stats``, after INUSE or NORES);
        without room for it here (a full circuit table, no free qubit, no free circuit id) it waits as after
        NORES."""
        node = self.node
        route = admitted.route
        stats = stats or CircuitStats("head", route, created_at=now)
        node.records[(node.node_id, admitted.create_id)] = stats
        circuit_id = node.circuits.new_circuit_id()
        if circuit_id is None or node.circuits.full() or node.circuits.free_qubits() < 1:
            return self.backoff.later(admitted, stats, now)         # no room here (yet)
        handle = (node.node_id, circuit_id)
        circuit = Circuit(handle, route, 0, CircuitState.SETTING_UP, admitted.create, admitted.create_id,
                          node.config.window, admitted.app)
        circuit.stats = stats
        circuit.stats.setup_attempts += 1
        circuit.stats.ended = ""                # again after INUSE or NORES: the refused attempt's end is not this
        circuit.stats.circuit_id = handle[1]
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
        if (setup.route[index] != node.node_id or setup.route[index - 1] != sender or node.circuits.get(handle)
                or self.refused.get(handle) == setup.create_id):
            return actions                              # not for us, or a duplicate (answered above)
        tail = index == setup.hop_count
        left = setup.qcaps[-1].link
        free = node.circuits.free_qubits()
        code = 0
        if node.circuits.id_in_use(handle[1], handle) or node.circuits.label_in_use(left.link_id, left.link_label,
                                                                                     handle):
            code = ll.ERR_INUSE
        elif node.circuits.qubits < (1 if tail else REPEATER_QUBITS):
            code = ll.ERR_UNSUPP                        # never: a repeater holds a half on each side
        elif node.circuits.full() or free < (1 if tail else REPEATER_QUBITS):
            code = ll.ERR_NORES
        elif tail and setup.create.purpose_id not in self.service.purposes:
            code = ll.ERR_REJECTED
        if code:
            stats = CircuitStats("refused", setup.route, handle[1], created_at=now)
            refusal_records.keep(node, handle[1], node.records.setdefault((handle[0], setup.create_id), stats),
                                 (sender,), now)
            return actions.extend(self._refuse(handle, setup.create_id, setup.tail_node, sender, code, now))
        circuit = Circuit(handle, setup.route, index, CircuitState.RESERVED, setup.create, setup.create_id,
                          setup.window, self.service.purposes.get(setup.create.purpose_id) if tail else None)
        circuit.stats = CircuitStats("tail" if tail else "repeater", setup.route, handle[1], created_at=now)
        earlier = node.records.get((handle[0], setup.create_id))
        if earlier is not None:     # an earlier setup of the request, refused here or further on: one count, shared
            circuit.stats.messages = earlier.messages       # (its relayed refusal may still be retransmitted)
        node.records[(handle[0], setup.create_id)] = circuit.stats
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
                        setup.route, appended(setup.qcaps, caps.qcap(node.caps, free, link, circuit.hop(RIGHT).label)))
        node.timers.schedule(("setup-timeout", handle), now + self._setup_timeout(setup.route))
        return actions.extend(node.reliable(("setup", handle, peer), peer, QNCP_PORT, forward.encode(), now,
                                            node.config.retries))

    def _decide(self, circuit: Circuit, setup: Setup, free: int, now: int) -> Actions:
        """The tail: the circuit's rules (:class:`SetupDecision`) installed and SETUP_REPLY sent back, or the
        refusal."""
        node = self.node
        message = self.decision.decide(circuit, setup, free)
        if isinstance(message, int):
            node.circuits.forget(circuit.handle)
            refusal_records.keep(node, circuit.handle[1], circuit.stats, (circuit.hop(LEFT).peer,), now)
            return self._refuse(circuit.handle, setup.create_id, node.node_id, circuit.hop(LEFT).peer, message, now)
        actions = self._install(circuit, message, now)
        circuit.fire(CircuitEvent.REPLY_OK)
        actions.extend(node.reliable(("reply", circuit.handle, circuit.hop(LEFT).peer), circuit.hop(LEFT).peer,
                                     QNCP_PORT, message.encode(), now, node.config.retries))
        return actions.extend(self.hops.start(circuit, now))

    def _refuse(self, handle: Handle, create_id: int, tail: int, to: int, code: int, now: int) -> Actions:
        """SETUP_REPLY ``code`` to ``to``, retransmitted until acknowledged, and remembered (:meth:`_remember`)."""
        self.node.counters.refused += 1
        refusal = SetupReply(handle[1], handle[0], tail, self.node.node_id, status=code)
        return self._remember(handle, create_id, to, refusal.encode(), now)

    def _remember(self, handle: Handle, create_id: int, to: int, refusal: bytes, now: int) -> Actions:
        """Send the refusal of ``handle``'s SETUP to ``to`` until SETUP_REPLY_ACK, and let a later copy of the
        SETUP change nothing (docs/wire.md §9.3.3): were it set up anew (the node having room by then), the head,
        which gave the circuit up on this refusal, would never know of it, and its tail would end the request a
        second time. Copies come until the sender's last retransmission has crossed the hop. Call it after
        closing a circuit of ``handle`` here: closing drops what the circuit had to retransmit."""
        node = self.node
        self.refused[handle] = create_id
        node.timers.schedule(("forget-refusal", handle), now + (node.config.retries + 1) * node.rto(to))
        return node.reliable(("reply", handle, to), to, QNCP_PORT, refusal, now, node.config.retries)

    def _install(self, circuit: Circuit, message: SetupReply, now: int) -> Actions:
        node = self.node
        circuit.window = message.window
        circuit.reserved = (1 if circuit.is_end else 2) * message.window
        circuit.cutoff_ns = message.cutoff_ns or None
        circuit.model = caps.model(message)
        circuit.expected_pair_ns = message.expected_pair_time_ns
        circuit.e2e_rto_ns = node.rto(circuit.tail if circuit.is_head else circuit.head)
        circuit.linger_ns = node.linger_ns(circuit.route, [rule.link_id for rule in message.rules])
        circuit.hold_ns = message.end_cutoff_ns or rules.HOLD_PAIRS * message.expected_pair_time_ns + circuit.linger_ns
        for side in (LEFT, RIGHT):
            hop = circuit.hops[side]
            if hop is not None:
                rule = message.rules[hop.index - 1]
                hop.origin = rule.origin_node == node.node_id
                hop.link_min_fidelity = rule.link_min_fidelity
                hop.distil = DistilRule.from_byte(rule.distil)
        stats = circuit.stats
        stats.window, stats.cutoff_ns, stats.end_cutoff_ns = message.window, message.cutoff_ns, message.end_cutoff_ns
        stats.expected_pair_ns, stats.model = message.expected_pair_time_ns, circuit.model
        stats.link_min_fidelity = [ll.decode_fidelity(rule.link_min_fidelity) for rule in message.rules]
        stats.labels = [rule.link_label for rule in message.rules]
        stats.origins = [rule.origin_node for rule in message.rules]
        stats.distil = [str(DistilRule.from_byte(rule.distil) or "") for rule in message.rules]
        circuit.end_distil = DistilRule.from_byte(message.end_distil)
        circuit.first_link = (message.rules[0].link_id, message.rules[0].link_label)
        stats.end_distil = str(circuit.end_distil or "")
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
        if message.status != 0:
            # what it sends about the circuit once forgotten here (the relay, ACKs to copies of the refusal)
            peers = (sender,) if circuit.is_head else (sender, circuit.hop(LEFT).peer)
            refusal_records.keep(node, handle[1], circuit.stats, peers, now)
            if not circuit.is_head:
                return actions.extend(self._relay_refusal(circuit, message, now))
            actions.extend(self._refused(circuit, message.status, now))
            return actions.extend(self.ending.close(circuit, now))
        if not circuit.is_head:
            previous = circuit.hop(LEFT).peer
            actions.extend(node.reliable(("reply", handle, previous), previous, QNCP_PORT, message.encode(), now,
                                         node.config.retries))
        actions.extend(self._install(circuit, message, now))
        circuit.fire(CircuitEvent.REPLY_OK)
        return actions.extend(self.hops.start(circuit, now))

    def _relay_refusal(self, circuit: Circuit, message: SetupReply, now: int) -> Actions:
        """A repeater passes a refusal back (reliably, and remembered: :meth:`_remember`) and releases what it
        reserved."""
        closing = self.ending.close(circuit, now)
        relay = self._remember(circuit.handle, circuit.create_id, circuit.hop(LEFT).peer, message.encode(), now)
        return relay.extend(closing)

    def _refused(self, circuit: Circuit, code: int, now: int) -> Actions:
        """The head's circuit was refused: another circuit id on INUSE, a new setup after a backoff on NORES, else
        ERR to the application."""
        if code == ll.ERR_INUSE:
            if circuit.stats.setup_attempts < self.node.config.setup_attempts:
                retry = Admitted(circuit.create, circuit.create_id, circuit.app or self.node.service, circuit.route)
                self.ending.close(circuit, now)
                return self.open(retry, now, circuit.stats)
            code = ll.ERR_NORES
        elif code == ll.ERR_NORES:
            admitted = Admitted(circuit.create, circuit.create_id, circuit.app or self.node.service, circuit.route)
            return self.backoff.later(admitted, circuit.stats, now)
        return self.service.err(circuit, code)

    def retry(self, create_id: int, now: int) -> Actions:
        """A request's backoff after NORES is over: a new circuit (unless the run's generation is over: ERR
        TIMEOUT)."""
        waiting = self.backoff.take(create_id)
        if waiting is None:
            return Actions()
        admitted, stats = waiting
        if self.node.over:
            stats.ended = ""            # the refused attempt's "closed": the request ends here
            return self.service.err_admitted(admitted, ll.ERR_TIMEOUT, stats)
        return self.open(admitted, now, stats)

    def forget_refusal(self, handle: Handle, now: int) -> Actions:
        """No copy of the SETUP of ``handle``, refused here, can still come."""
        self.refused.pop(handle, None)
        return Actions()

    def settled(self) -> bool:
        """No request waits to set up again."""
        return self.backoff.settled()

    def on_ack(self, message: HopAck, sender: int) -> None:
        kind = "setup" if message.msg_type == SETUP_ACK else "reply"
        self.node.outbox.ack((kind, (message.head_node, message.circuit_id), sender))

    def setup_lost(self, kind: str, handle: Handle, now: int) -> Actions:
        """Every copy of a SETUP went unanswered: the head gives up (as on its setup timeout)."""
        circuit = self.node.circuits.get(handle)
        if kind == "setup" and circuit is not None and circuit.state == CircuitState.SETTING_UP:
            return self.ending.fail(circuit, ll.ERR_TIMEOUT, now)
        return Actions()

    def setup_timeout(self, handle: Handle, now: int) -> Actions:
        circuit = self.node.circuits.get(handle)
        if circuit is None:
            return Actions()
        if circuit.state == CircuitState.SETTING_UP:
            return self.ending.fail(circuit, ll.ERR_TIMEOUT, now)
        return self.ending.close(circuit, now) if circuit.state == CircuitState.RESERVED else Actions()
