"""Real UDP on 127.0.0.1 for the multi-process mode: the other side of the socket seam.

Engines keep addressing peers as in-process: node addresses in 198.18.0.0/15 and the
protocols' own ports (7770–7776, PTP 319/320, applications from 49152). On loopback every
node shares 127.0.0.1, so a :class:`PortMap` gives each (node, port) its own real UDP
port::

    real port = base + 32 × node_id + slot

with the slots in :data:`SERVICE_SLOTS` (QTP slot 8, applications slots 9 to 30; slot 31 is the
timestamp sideband). The sender applies the route's fibre delay, loss, duplication and
jitter (seeded as in-process) by holding the datagram in its own queue until shortly
(:data:`LEAD_WALL_NS`) before its emulated arrival; the receiver queues it at that arrival
time (from the sideband below) and maps the source port back to the logical address.

*Timestamp sideband.* Real sockets add wall-clock latency, which dilation turns into
emulated microseconds: far too coarse for PTP's hardware timestamps, and invisible to the
receiver. So for every datagram the sender also sends, at once, a 16-byte :data:`SIDEBAND`
record to the receiving node's slot 31: the emulated time the datagram reaches the
receiver's interface (send time + fibre delay) and a hash of its payload. The receiver
queues the datagram at that time (or now, if it is already past: a *late input* when by
more than the tolerance) and gives it that arrival time
(:attr:`stack.core.network.Datagram.arrival`), which a PTP layer's hardware timestamp uses, as a
NIC would stamp it on the wire.

The sideband is not authenticated, so its table is bounded and its stamps are checked: a record from a
port outside the port map, of the wrong size, or stamped outside the window a real one can have (from
:data:`STALE_WALL_NS` of wall time in the past to the network's longest route, with jitter, plus as much in
the future) is rejected, and at most :data:`MAX_SIDEBAND_RECORDS` wait for their datagrams (records
older than the window are forgotten first; then new ones are dropped). Each is counted.

Under ``qnet up`` every port of a node's block is already bound when the node starts: the launcher bound them
and handed them over (:attr:`UdpNetwork.held`, :mod:`stack.multiprocess.held`), so no other process can take
one in between. The port map lives in :mod:`stack.multiprocess.ports`, the sideband's record and stamp table in
:mod:`stack.multiprocess.sideband`; their names are re-exported here.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field
from typing import Any

import trio

from protocols.common import Address
from stack.core.capture import node_ip
from stack.core.kernel import VirtualPort
from stack.core.network import Datagram, Network
from stack.multiprocess.ports import (
    APP_PORT_FIRST,
    APP_SLOT_FIRST,
    DEFAULT_BASE_PORT,
    LOOPBACK,
    PORTS_PER_NODE,
    SERVICE_SLOTS,
    SIDEBAND_SLOT,
    PortMap,
    PortMapError,
)
from stack.multiprocess.realtime import RealtimeKernel
from stack.multiprocess.sideband import MAX_SIDEBAND_RECORDS, SIDEBAND, Arrivals, payload_digest

__all__ = ["APP_PORT_FIRST", "APP_SLOT_FIRST", "DEFAULT_BASE_PORT", "LEAD_WALL_NS", "LOOPBACK",
           "MAX_SIDEBAND_RECORDS", "PORTS_PER_NODE", "SERVICE_SLOTS", "SIDEBAND", "SIDEBAND_SLOT", "STALE_WALL_NS",
           "STRANGER", "Arrivals", "PortMap", "PortMapError", "UdpCounters", "UdpNetwork", "payload_digest"]

STRANGER: Address = (LOOPBACK, 0)
"""The source address of every datagram from outside the port map (nothing can answer it)."""
LEAD_WALL_NS = 300_000
"""Datagrams leave up to 0.3 ms of wall time before their emulated arrival: loopback latency plus a
receiver's wake-up is usually below that, so they are handled at their exact emulated arrival time."""
STALE_WALL_NS = 2_000_000_000
"""How far (in wall time) a sideband stamp may lie in the past or, beyond the longest route, in the future: a
sender that far behind real time has missed its deadlines anyway, and its datagram is then queued unstamped."""


@dataclass(slots=True)
class UdpCounters:
    send_errors: int = 0
    foreign: int = 0
    unstamped: int = 0
    """Datagrams that arrived without a sideband record (from outside the port map, or overtaken)."""
    sideband_rejected: int = 0
    """Sideband records refused: from outside the port map, of the wrong size, or stamped outside the window."""


@dataclass(slots=True)
class UdpNetwork(Network):
    """A :class:`Network` whose datagrams travel as real UDP between processes.

    Construct it like ``Network`` with ``ports=``; run :meth:`serve` in the process's
    nursery to receive.
    """

    ports: PortMap = field(default_factory=PortMap)
    sockets: dict[Address, socket.socket] = field(default_factory=dict)
    udp: UdpCounters = field(default_factory=UdpCounters)
    sidebands: dict[int, socket.socket] = field(default_factory=dict)
    arrivals: Arrivals = field(default_factory=Arrivals)
    horizon: int | None = None
    serving: trio.Nursery | None = None
    """The nursery of :meth:`serve` while it runs: a port bound meanwhile (an application's transport) is served
    there at once."""
    held: dict[int, socket.socket] = field(default_factory=dict)
    """Sockets already bound to real ports (by ``qnet up``'s launcher, :mod:`stack.multiprocess.held`), by port:
    binding one of those ports takes its socket instead of binding a new one; the rest are closed with the
    network."""

    def bind(self, node_id: int, port_number: int, port: VirtualPort) -> Address:
        address = Network.bind(self, node_id, port_number, port)   # slots dataclass: no zero-arg super()
        sock = self._open(self.ports.real(node_id, port_number), f"{address[0]}:{port_number}")
        self.sockets[address] = sock
        if self.serving is not None:
            self.serving.start_soon(self._receive, sock, port_number, port, node_id)
        if node_id not in self.sidebands:
            self.sidebands[node_id] = self._open(self.ports.sideband(node_id), f"{address[0]} timestamp sideband")
        return address

    def _open(self, real: int, what: str) -> socket.socket:
        """The held socket of port ``real``, else a new one bound to it."""
        sock = self.held.pop(real, None)
        if sock is not None:
            sock.setblocking(False)
            return sock
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            sock.bind((LOOPBACK, real))
        except OSError as error:
            sock.close()
            raise OSError(error.errno, f"cannot bind 127.0.0.1:{real} for {what}: {error.strerror}") from None
        return sock

    def send(self, src: int, sport: int, dst: Address, payload: bytes) -> None:
        now = self.kernel.now
        dst_node = self._node_of_ip.get(dst[0])
        payload = self.seal(src, sport, dst_node, dst[1], payload)
        self._record(now, src, sport, dst_node, dst, payload)
        sock = self.sockets.get((node_ip(src), sport))
        if dst_node is None or sock is None:
            self.counters[src].undeliverable += 1
            return
        try:
            real = self.ports.real(dst_node, dst[1])
        except PortMapError:
            self.counters[src].undeliverable += 1
            return
        lead = self._lead_ns()
        for delay in self.delays(src, dst_node):
            self._sideband(sock, dst_node, now + delay, payload)
            self.kernel.call_at(now + max(0, delay - lead), self._transmit, (sock, real, payload))

    def _lead_ns(self) -> int:
        """How much earlier than its arrival a datagram leaves, to cover the loopback's own latency
        (the receiver holds an early datagram until its arrival time); never before it was sent."""
        dilation = getattr(self.kernel, "dilation", 0.0)
        return int(LEAD_WALL_NS * dilation)

    def _sideband(self, sock: socket.socket, dst_node: int, arrival: int, payload: bytes) -> None:
        record = SIDEBAND.pack(arrival, payload_digest(payload))
        self._transmit((sock, self.ports.sideband(dst_node), record))

    def _transmit(self, args: tuple[socket.socket, int, bytes]) -> None:
        sock, real, payload = args
        try:
            sock.sendto(payload, (LOOPBACK, real))
        except OSError as error:        # a full buffer, or ECONNREFUSED reported for an earlier datagram
            self.udp.send_errors += 1
            if error.errno not in (errno.EAGAIN, errno.ECONNREFUSED, errno.ENOBUFS):
                raise

    async def serve(self) -> None:
        """Receive on every bound socket until cancelled."""
        async with trio.open_nursery() as nursery:
            self.serving = nursery
            for (ip, number), sock in self.sockets.items():
                nursery.start_soon(self._receive, sock, number, self.bindings[(ip, number)], self._node_of_ip[ip])
            for sock in self.sidebands.values():
                nursery.start_soon(self._receive_sideband, sock)

    async def _receive_sideband(self, sock: socket.socket) -> None:
        while True:
            await trio.lowlevel.wait_readable(sock)
            self._drain_sideband(sock)

    def _drain_sideband(self, sock: socket.socket) -> None:
        while True:
            try:
                record, (_, real) = sock.recvfrom(64)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:
                continue
            if len(record) != SIDEBAND.size or self._source(real) is None:
                self.udp.sideband_rejected += 1
                continue
            arrival, digest = SIDEBAND.unpack(record)
            earliest, latest = self.stamp_window()
            if earliest <= arrival <= latest:
                self.arrivals.add(digest, arrival, stale_before=earliest)
            else:
                self.udp.sideband_rejected += 1

    def stamp_window(self) -> tuple[int, int]:
        """The emulated times a genuine sideband stamp received now can carry (see the module's docstring)."""
        kernel = self.kernel
        now = kernel.emulated_now() if isinstance(kernel, RealtimeKernel) else kernel.now
        slack = int(STALE_WALL_NS * getattr(kernel, "dilation", 1.0))
        return now - slack, now + self.horizon_ns() + slack

    def horizon_ns(self) -> int:
        """No route is longer, jitter included, than every fibre end to end."""
        if self.horizon is None:
            edges = {id(fibre): fibre for ends in self.fibres.values() for fibre in ends.values()}
            self.horizon = sum(fibre.delay_ns + fibre.jitter_ns for fibre in edges.values())
        return self.horizon

    async def _receive(self, sock: socket.socket, number: int, port: VirtualPort, node_id: int) -> None:
        kernel = self.kernel
        assert isinstance(kernel, RealtimeKernel)
        while True:
            await trio.lowlevel.wait_readable(sock)
            while True:
                try:
                    payload, (_, real) = sock.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionRefusedError:      # ICMP for an earlier send to a dead peer
                    continue
                source = self._source(real)
                if source is None:
                    self.udp.foreign += 1           # every stranger is one source (the link layer's quotas)
                    source = (STRANGER, 0)
                self.counters[node_id].received += 1
                self._drain_sideband(self.sidebands[node_id])    # its record left first: read it now
                arrival = self._arrival(payload) if source[1] else None
                opened = self.open(source[1] or None, source[0][1], node_id, number, payload)
                if opened is not None:
                    kernel.inject(arrival, port, Datagram(source[0], number, opened, arrival))

    def _source(self, real: int) -> tuple[Address, int] | None:
        """The logical sender behind a real source port: a node of this run in the port map (None: a stranger)."""
        logical = self.ports.logical(real)
        return logical if logical is not None and logical[1] in self.counters else None

    def _arrival(self, payload: bytes) -> int | None:
        arrival = self.arrivals.take(payload_digest(payload))
        if arrival is None:
            self.udp.unstamped += 1
        return arrival

    def close(self) -> None:
        for sock in [*self.sockets.values(), *self.sidebands.values(), *self.held.values()]:
            sock.close()

    def stats(self) -> dict[str, Any]:
        return {"send_errors": self.udp.send_errors, "foreign_datagrams": self.udp.foreign,
                "unstamped_datagrams": self.udp.unstamped, "sideband_rejected": self.udp.sideband_rejected,
                "sideband_dropped": self.arrivals.dropped}
