"""Emulated datagram sockets over the fibre graph (in-process, virtual time).

A datagram's one-way delay is the shortest fibre path between the two nodes (length ×
refractive delay, about 4.9 µs/km); the fibres on that path add their seeded loss,
duplication (a second copy, with its own jitter) and uniform jitter (which reorders): the
:class:`~stack.core.routes.Route` of :mod:`stack.core.routes`, one per ordered pair of nodes.
Datagrams are captured when they leave, so a lost datagram still appears in the capture,
as it would at the sender.

With :attr:`Network.auth` set (the default in a run: docs/wire.md §10), this is also the one place
where classical control is authenticated: every datagram leaves sealed (its payload followed by the
trailer: sequence number and ICV) and is opened when it arrives, before its port sees it; a
datagram that fails is dropped and counted per reason in the receiver's :class:`NodeCounters`.
Engines never see a trailer.

This is the in-process side of the socket seam: a layer only calls
:meth:`Network.send` and receives :class:`Datagram` events on its port; the
multi-process mode replaces both with real UDP on 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from protocols.common import Address
from protocols.security import Authenticator, Drop
from stack.core.capture import PcapWriter, frame_template, node_ip
from stack.core.channels import AUTH_DROPS, Channel, Datagram, NodeCounters, authenticator
from stack.core.channels import new_tuple as _new_tuple
from stack.core.kernel import Kernel, VirtualPort
from stack.core.path_trees import PathTrees
from stack.core.routes import Fibre, Route, make_route, shortest_path

__all__ = ["AUTH_DROPS", "Datagram", "Fibre", "Network", "NodeCounters", "Route", "authenticator", "shortest_path"]


@dataclass(slots=True)
class Network:
    """Addresses, routes and delivery of datagrams between nodes."""

    kernel: Kernel
    seed: np.random.SeedSequence
    pcap: PcapWriter | None = None
    fibres: dict[int, dict[int, Fibre]] = field(default_factory=dict)
    """The fibre graph: for each node, its neighbours and the fibre to each, in the order they were added."""
    bindings: dict[Address, VirtualPort] = field(default_factory=dict)
    counters: dict[int, NodeCounters] = field(default_factory=dict)
    _routes: dict[tuple[int, int], Route] = field(default_factory=dict)
    _ip_ids: dict[int, list[int]] = field(default_factory=dict)
    """Each node's next IPv4 ID in the capture, in a one-item list its channels share (a subscript, not a look-up
    and a store in this table per datagram), which :meth:`PcapWriter.write_udp` moves on."""
    _ips: dict[int, str] = field(default_factory=dict)
    """Each node's IPv4 address (:func:`node_ip`), made once."""
    _node_of_ip: dict[str, int] = field(default_factory=dict)
    _channels: dict[tuple[int, int, Address], Channel] = field(default_factory=dict)
    """Each socket pair's :class:`Channel`, made at its first datagram."""
    auth: Authenticator | None = None
    """Authenticated classical control (None: off, datagrams travel bare)."""
    _trees: PathTrees | None = None
    """The fibre graph's shortest paths from resumable single-source searches, for new routes (made at the first
    route, dropped when a node or fibre is added)."""

    def add_node(self, node_id: int) -> None:
        self._channels.clear()
        self._trees = None
        self.fibres.setdefault(node_id, {})
        self.counters[node_id] = NodeCounters()
        self._node_of_ip[node_ip(node_id)] = node_id
        self._ips[node_id] = node_ip(node_id)

    def add_fibre(self, a: int, b: int, fibre: Fibre) -> None:
        self._channels.clear()
        self._trees = None
        self.fibres.setdefault(a, {})[b] = fibre
        self.fibres.setdefault(b, {})[a] = fibre

    def bind(self, node_id: int, port_number: int, port: VirtualPort) -> Address:
        address = (node_ip(node_id), port_number)
        if address in self.bindings:
            raise ValueError(f"{address} is already bound")
        self.bindings[address] = port
        return address

    def send(self, src: int, sport: int, dst: Address, payload: bytes) -> None:
        """Send ``payload`` from node ``src``'s port ``sport`` to ``dst``."""
        channel = self._channels.get((src, sport, dst))
        if channel is None or channel.auth is not self.auth:
            channel = self._channel(src, sport, dst)
            if channel is None:
                self._send_nowhere(src, sport, dst, payload)
                return
        delay = channel.delay
        if delay is None:
            self._send_first(channel, src, payload)
            return
        # _send_first's steps, written out on purpose for the commonest datagram (no call per datagram): a change
        # to what a datagram does changes both.
        # A clean route (no loss, duplication or jitter: delays() is this one delay, with no draw). Between two
        # nodes every datagram then arrives once, in the order they were sent: the receiver's anti-replay window,
        # which only a duplicate or a copy later than the window could fail, is taken as the datagram leaves, with
        # the verdict it would have on arrival.
        kernel = self.kernel
        now = kernel.now
        local = channel.local
        pcap = self.pcap
        if local is None:
            wire, fresh = payload, True
        elif pcap is not None:
            wire, fresh = local.seal_in_order(payload)
        else:
            wire, fresh = payload, local.pass_in_order()    # its sealed bytes would go nowhere: not computed
        channel.sent.sent += 1
        if pcap is not None:
            pcap.write_udp(now, channel.frame, channel.ip_ids, wire)
        received = channel.received
        received.received += 1
        if not fresh:
            received.replayed += 1          # never: sequence numbers rise as the datagrams leave
            return
        kernel.deliver_at(now + delay, channel.port, _new_tuple(Datagram, (channel.source, channel.dport, payload,
                                                                           None)))

    def _send_first(self, channel: Channel, src: int, payload: bytes) -> None:
        """:meth:`send` on a channel whose route is not known to be clean: its first datagram, or any on a route
        with faults (:meth:`_route_delay`)."""
        now = self.kernel.now
        local = channel.local
        if local is not None:
            wire, seq = local.seal(payload)
        else:
            wire, seq = payload, 0
        channel.sent.sent += 1
        pcap = self.pcap
        if pcap is not None:
            pcap.write_udp(now, channel.frame, channel.ip_ids, wire)
        delay = self._route_delay(channel, src, now, wire, seq, payload)
        if delay is None:
            return
        channel.received.received += 1
        if local is not None and not local.accept(seq):
            channel.received.replayed += 1          # never: sequence numbers rise as the datagrams leave
            return
        self.kernel.deliver_at(now + delay, channel.port, _new_tuple(Datagram, (channel.source, channel.dport,
                                                                                payload, None)))

    def _route_delay(self, channel: Channel, src: int, now: int, wire: bytes, seq: int, payload: bytes) -> int | None:
        """The delay of a datagram on a clean route, which the channel keeps from now on; on a route with faults,
        None, the copies that survive it queued for their arrival (:meth:`_arrive`)."""
        delays = self.delays(src, channel.dst_node)
        route = self._routes[src, channel.dst_node]
        if not (route.loss or route.duplication or route.jitter_ns):
            channel.delay = route.delay_ns
            return channel.delay
        kernel = self.kernel
        for delay in delays:
            channel.received.received += 1
            if channel.local is None:
                kernel.deliver_at(now + delay, channel.port,
                                  _new_tuple(Datagram, (channel.source, channel.dport, wire, None)))
            else:
                kernel.call_at(now + delay, self._arrive, (channel, seq, payload))
        return None

    def _channel(self, src: int, sport: int, dst: Address) -> Channel | None:
        """The channel from node ``src``'s port ``sport`` to ``dst``, made at its first datagram (None: ``dst`` is
        no node's bound port, so nothing arrives)."""
        dst_node = self._node_of_ip.get(dst[0])
        port = self.bindings.get(dst)
        if dst_node is None or port is None:
            return None
        auth = self.auth
        ip = self._ips.get(src)
        route = self._routes.get((src, dst_node))
        channel = Channel(port, dst_node, dst[1], (node_ip(src) if ip is None else ip, sport), self.counters[src],
                           self.counters[dst_node], auth,
                           None if auth is None else auth.local(src, dst_node, sport, dst[1]),
                           frame_template(src, sport, dst_node, dst[1]), self._ip_ids.setdefault(src, [0]),
                           route.delay_ns if route is not None and not (route.loss or route.duplication
                                                                         or route.jitter_ns) else None)
        self._channels[src, sport, dst] = channel
        return channel

    def _send_nowhere(self, src: int, sport: int, dst: Address, payload: bytes) -> None:
        """A datagram to no node's bound port: sealed for its node and captured (if it is one of the run's),
        counted as undeliverable."""
        dst_node = self._node_of_ip.get(dst[0])
        payload = self.seal(src, sport, dst_node, dst[1], payload)
        self._record(self.kernel.now, src, sport, dst_node, dst, payload)
        self.counters[src].undeliverable += 1

    def seal(self, src: int, sport: int, dst_node: int | None, dport: int, payload: bytes) -> bytes:
        """The bytes that leave: ``payload`` and its trailer (unchanged when authentication is off, or when
        the destination is no node: nobody could open it)."""
        if self.auth is None or dst_node is None:
            return payload
        return self.auth.seal(src, dst_node, sport, dport, payload)

    def open(self, src: int | None, sport: int, dst_node: int, dport: int, wire: bytes) -> bytes | None:
        """The payload of a datagram that reached node ``dst_node`` from node ``src`` (None: from outside the
        run), or None when authentication refuses it (counted by reason)."""
        if self.auth is None:
            return wire
        opened = self.auth.open(src, dst_node, sport, dport, wire)
        if isinstance(opened, Drop):
            self._refused(dst_node, opened)
            return None
        return opened

    def _refused(self, dst_node: int, drop: Drop) -> None:
        """Count a datagram authentication refused at node ``dst_node``."""
        counters = self.counters[dst_node]
        setattr(counters, drop.value, getattr(counters, drop.value) + 1)

    def _arrive(self, arg: tuple[Channel, int, bytes]) -> None:
        """A sealed datagram reaches its node: unless the anti-replay window refuses it (a duplicate), it goes to
        its port as a :class:`Datagram` (:class:`protocols.security.auth.LocalChannel`: what else opening it checks
        holds by construction, in one process)."""
        channel, seq, payload = arg
        assert channel.local is not None
        if channel.local.accept(seq):
            channel.port.deliver(_new_tuple(Datagram, (channel.source, channel.dport, payload, None)))
        else:
            channel.received.replayed += 1

    def _record(self, now: int, src: int, sport: int, dst_node: int | None, dst: Address, payload: bytes) -> None:
        """Count a datagram as sent and capture it as it leaves."""
        self.counters[src].sent += 1
        if self.pcap is not None and dst_node is not None:
            self._record_frame(now, src, sport, dst_node, dst[1], payload)

    def _record_frame(self, now: int, src: int, sport: int, dst_node: int, dport: int, payload: bytes) -> None:
        """Capture a datagram as it leaves (the capture is on)."""
        assert self.pcap is not None
        self.pcap.write_udp(now, frame_template(src, sport, dst_node, dport), self._ip_ids.setdefault(src, [0]),
                            payload)

    def delays(self, src: int, dst_node: int) -> list[int]:
        """The delay of each copy that arrives: none when the route loses the datagram, two when it duplicates."""
        route = self.route(src, dst_node)
        if route.loss and route.rng.random() < route.loss:
            self.counters[src].lost += 1
            return []
        copies = 2 if route.duplication and route.rng.random() < route.duplication else 1
        delays = []
        for _ in range(copies):
            delay = route.delay_ns
            if route.jitter_ns:
                delay += int(route.rng.integers(route.jitter_ns + 1))
            delays.append(delay)
        return delays

    def capture_quantum(self, src: int, dst: int, payload: bytes) -> None:
        """Record a quantum frame leaving ``src`` towards ``dst`` now."""
        pcap = self.pcap
        if pcap is not None:
            pcap.write_quantum(self.kernel.now, src, dst, payload)

    def route(self, src: int, dst: int) -> Route:
        """The (cached) route between two nodes; its randomness is seeded per ordered pair."""
        key = (src, dst)
        route = self._routes.get(key)
        if route is None:
            if self._trees is None:
                self._trees = PathTrees(self.fibres)
            route = make_route(self.fibres, self.seed, src, dst, self._trees)
            self._routes[key] = route
        return route

