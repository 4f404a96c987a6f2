"""Network layer: what every collaborator of one node's engine shares (network-design §6).

:class:`Node` holds the node's identity and static view (topology, configuration), the deadline heap and
the reliable-message outbox, the circuit table, the table of halves, and the counters. Each collaborator
(service, signalling, hops, tracker, swapper, end point) owns its own concern's state and reaches the
shared tables only through this object.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Hashable

import numpy as np

from protocols.common import LINK_SERVICE_PORT, NETWORK_SERVICE_PORT, QNCP_PORT, QNP_PORT, Actions, Address
from protocols.network.circuit import Circuit, Circuits
from protocols.network.swap_records import SwapRecords
from protocols.network.timers import Outbox, Timers
from protocols.network.topology import LinkCaps, Topology
from protocols.network.types import CircuitStats, Half, HalfKey, HalfState, NetworkConfig, NetworkCounters
from protocols.packets.qncp_common import MESSAGE_TYPES

LINK_RESOLUTION_CONFIRMS = 13
"""A link layer settles a pair within ~130 retransmission intervals, 13 of its confirm timeouts: how long
a retraction of a link pair may follow its OK."""
FINAL = (HalfState.DEAD, HalfState.SWAPPED, HalfState.DELIVERED)
"""A half in one of these states is forgotten when its linger time is over (:meth:`Node.forget_due`)."""
NAMES = tuple(MESSAGE_TYPES.get(code, "?") for code in range(256))
"""A QNCP message's name by its type byte ("?" for none), as :meth:`Node.count_sent` counts it."""
RTO_FLOOR_NS = 1_000_000
"""Added to twice the one-way delay and jitter of a path: the retransmission interval's margin (as the
link layer's ``2·longest + 1 ms``)."""


def rto_between(topology: Topology, a: int, b: int) -> int:
    """The retransmission interval from node ``a`` to node ``b``: 2 × (one-way delay + jitter) + :data:`RTO_FLOOR_NS`
    (what :meth:`Node.rto` keeps for its own peers; the bounds of :mod:`protocols.network.relay` add it up over
    a route)."""
    return 2 * (topology.delay(a, b) + topology.jitter(a, b)) + RTO_FLOOR_NS


class Node:
    """One node's shared network-layer state."""

    def __init__(self, node_id: int, topology: Topology, config: NetworkConfig, rng: np.random.Generator) -> None:
        self.node_id = node_id
        self.topology = topology
        self.config = config
        self.rng = rng
        self.caps = topology.node(node_id)
        self.ip = topology.address(node_id)
        self.link_service: Address = (self.ip, LINK_SERVICE_PORT)
        """This node's link layer's service address (UDP 7771)."""
        self.service: Address = (self.ip, NETWORK_SERVICE_PORT)
        """This network layer's service address (UDP 7773)."""
        self.timers = Timers()
        self.outbox = Outbox(self.timers)
        self.circuits = Circuits(node_id, self.caps.qubits, config.max_circuits)
        self.halves: dict[HalfKey, Half] = {}
        self._forget: dict[int, tuple[deque[int], deque[HalfKey]]] = {}
        """Per linger time: the halves to forget (:meth:`linger`), their deadlines and keys, oldest first."""
        self.swaps = SwapRecords()
        """At a repeater: the swap records whose pair's CONFIRM is still to pass, by the pair it names."""
        self.counters = NetworkCounters()
        self.records: dict[tuple[int, int], CircuitStats] = {}
        """What this node saw of each circuit it took part in, by (head, Create ID): kept for the report."""
        self.refusals: dict[int, CircuitStats] = {}
        """Records of circuits this node refused at setup, by Circuit ID: what it sends about them (the
        refusal and its retransmissions) is counted there, as it has no circuit for them."""
        self.over = False
        """Generation is over (the run's end): new requests are refused with TIMEOUT."""
        self._rto: dict[int, int] = {}
        """RTO by peer node, computed once (the topology is static)."""
        self._addresses: dict[tuple[int, int], Address] = {}
        """Each (node, port) this node has sent to, as its address."""
        self.senders: dict[Address, int | None] = {}
        """The node behind each source address seen (None: none): :meth:`sender`'s answers, which the engine's
        input path reads directly (one look-up an input)."""
        self._qncp: dict[int, Address] = {}
        """Each node's QNCP address, as :meth:`qncp` returns it (the acks' destinations: one call, not two)."""
        self._links: dict[int, LinkCaps | None] = {}
        """The link to each neighbour (None: not one), looked up once."""

    # -- addresses and timing -------------------------------------------------------------------

    def qncp(self, node: int) -> Address:
        try:
            return self._qncp[node]
        except KeyError:
            address = self._qncp[node] = self.address(node, QNCP_PORT)
            return address

    def address(self, node: int, port: int) -> Address:
        """``node``'s address for ``port``, built once (every ack and reliable message names one)."""
        try:
            return self._addresses[node, port]
        except KeyError:
            address = self._addresses[node, port] = (self.topology.address(node), port)
            return address

    def rto(self, node: int) -> int:
        """Retransmission interval towards ``node``: 2 × (one-way delay + jitter) + 1 ms."""
        rto = self._rto.get(node)
        if rto is None:
            rto = RTO_FLOOR_NS if node == self.node_id else rto_between(self.topology, self.node_id, node)
            self._rto[node] = rto
        return rto

    def link_to(self, peer: int) -> LinkCaps | None:
        """The link between this node and ``peer`` (None: they are not neighbours)."""
        try:
            return self._links[peer]
        except KeyError:
            link = self._links[peer] = self.topology.link_between(self.node_id, peer)
            return link

    def retraction_ns(self, link_id: int) -> int:
        """How long after a pair's link OK its link layer may still retract it on link ``link_id``
        (:data:`LINK_RESOLUTION_CONFIRMS` of the link's confirm timeouts)."""
        return LINK_RESOLUTION_CONFIRMS * self.topology.link(link_id).confirm_timeout_ns

    def linger_ns(self, route: tuple[int, ...], links: list[int]) -> int:
        """How long a circuit's records (tombstones, swap records, answers) outlive it, and a half its end:
        longer than any node of the route retransmits a message about it (a CONFIRM's tries, twice the
        reliable retries per hop, wait for the whole route) and than a link layer may take to retract a pair."""
        hops = len(route) - 1
        longest = max(self.rto(peer) for peer in route if peer != self.node_id)
        confirm = max((self.topology.link(link).confirm_timeout_ns for link in links), default=0)
        return (2 * self.config.reliable_retries * hops + 2) * longest + LINK_RESOLUTION_CONFIRMS * confirm

    def sender(self, source: Address) -> int | None:
        """The node a datagram from ``source`` came from (None: not a node of the network), looked up once per
        source address (the topology is static)."""
        try:
            return self.senders[source]
        except KeyError:
            node = self.senders[source] = self.topology.node_at(source[0])
            return node

    # -- messages -------------------------------------------------------------------------------
    def reliable(self, key: Hashable, node: int, port: int, payload: bytes, now: int,
                 retries: int | None = None, hops: int = 1, interval: int | None = None,
                 into: Actions | None = None) -> Actions:
        """Send to ``node`` and retransmit every ``interval`` (by default the RTO towards ``node``) until ``key``
        is acknowledged: ``retries`` times, by default the configuration's reliable retries for each of the
        ``hops`` circuit hops the message crosses (loss compounds along a path, so a message to the far end gets
        more tries). The send goes into ``into`` (returned) if given, else into new actions."""
        if retries is None:
            retries = self.config.reliable_retries * (hops if hops > 1 else 1)
        destination = self.address(node, port)
        if not interval:
            interval = self._rto.get(node) or self.rto(node)      # (an RTO is never 0)
        return self.outbox.send(key, destination, payload, interval, retries, now, into)

    def count_sent(self, actions: Actions, now: int) -> None:
        """Count what goes out, per message type and per circuit (a refused circuit's SETUP_ACK and
        SETUP_REPLY in its refusal record); a message to an application keeps the layer unsettled until
        after this instant (a run that ends on this input still delivers it)."""
        sent = self.counters.sent
        circuits = self.circuits
        for destination, payload in actions.send:
            port = destination[1]
            if port == QNCP_PORT and len(payload) >= 6:        # the commonest first
                name = NAMES[payload[1]]
                circuit_id = payload[4] << 8 | payload[5]
            elif port == QNP_PORT and len(payload) >= 10:
                name = "TRACK"
                circuit_id = payload[8] << 8 | payload[9]
            elif port == LINK_SERVICE_PORT:
                try:
                    sent["link CREATE"] += 1
                except KeyError:
                    sent["link CREATE"] = 1
                continue
            else:
                self.timers.schedule(("flush",), now + 1)
                continue
            try:                            # (an item is made once per name: `+=` is a look-up and a store)
                sent[name] += 1
            except KeyError:
                sent[name] = 1
            try:
                messages = circuits.by_handle[circuits.by_id[circuit_id]].stats.messages
            except KeyError:                # a refused circuit's, or none's
                stats = self.refusals.get(circuit_id)
                if stats is None:
                    continue
                messages = stats.messages
            try:
                messages[name] += 1
            except KeyError:
                messages[name] = 1

    # -- halves ---------------------------------------------------------------------------------
    def half(self, key: HalfKey) -> Half | None:
        return self.halves.get(key)

    def add_half(self, half: Half) -> Half:
        self.halves[half.key] = half
        return half

    def linger(self, half: Half, circuit: Circuit | None, now: int, linger_ns: int | None = None) -> None:
        """``half`` has reached a final state: forget it after the circuit's linger time, or ``linger_ns`` if given
        (a later call for it replaces the deadline). Deadlines ``now + linger`` of one linger time come in the order
        they are made, so each linger time has a first-in first-out queue and one deadline, its oldest entry's, in
        the heap (``("forget-halves", linger)``): the same instants as a deadline per half, without a heap entry, a key
        and a table entry for each (most of a long chain's halves are such tombstones)."""
        linger = linger_ns if linger_ns is not None else circuit.linger_ns if circuit is not None else 0
        if linger < RTO_FLOOR_NS:
            linger = RTO_FLOOR_NS
        at = half.forget_at = now + linger
        queue = self._forget.get(linger)
        if queue is None:
            queue = self._forget[linger] = (deque(), deque())
        ats, keys = queue
        if not ats:
            self.timers.schedule(("forget-halves", linger), at)
        elif at < ats[-1]:                  # a clock that went back (an engine's never does): keep the order
            index = bisect.bisect_right(ats, at)
            ats.insert(index, at)
            keys.insert(index, half.key)
            if index == 0:
                self.timers.schedule(("forget-halves", linger), at)
            return
        ats.append(at)
        keys.append(half.key)

    def forget_due(self, linger: int, now: int) -> None:
        """The oldest deadline of ``linger``'s queue is due: forget the halves whose deadlines have come and are
        still theirs (not replaced by a later :meth:`linger`, nor the half replaced), if final (a swap record's
        left half with its :attr:`swaps` entry)."""
        queue = self._forget.get(linger)
        if queue is None:                   # emptied and dropped since this deadline was set
            return
        ats, keys = queue
        halves = self.halves
        while ats and ats[0] <= now:
            at, key = ats.popleft(), keys.popleft()
            half = halves.get(key)
            if half is not None and half.forget_at == at and half.state in FINAL:
                del halves[key]
                if half.pair_id is not None:
                    self.swaps.drop(half.circuit, half.pair_id, key)
        if ats:
            self.timers.schedule(("forget-halves", linger), ats[0])
        else:
            del self._forget[linger]        # a linger is a route's: one no circuit uses any more is not kept

    def halves_of(self, circuit: Circuit) -> list[Half]:
        return [half for half in self.halves.values() if half.circuit == circuit.handle]

    def held_slots(self) -> set[int]:
        """Slots of the qubits this layer holds (in memory, not taken by a measurement)."""
        return {half.slot for half in self.halves.values()
                if half.state == HalfState.HELD and half.slot is not None and half.outcome is None}
