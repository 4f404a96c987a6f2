"""How the medium process (:mod:`stack.multiprocess.medium`) reaches the node processes.

A :class:`Connection` is one accepted node's socket with its queue of messages out; a :class:`RemotePort` is a
node layer's port as the medium's kernel sees it (events go over that node's socket, stamped with when they
are due); the :class:`MediumKernel` sends them ahead of their time, like datagrams.
"""

from __future__ import annotations

from typing import Any, Protocol

import trio

from stack.multiprocess.medium_protocol import MessageStream, encode_hardware
from stack.multiprocess.realtime import RealtimeKernel
from stack.multiprocess.udp import LEAD_WALL_NS

AHEAD_WALL_NS = 20_000_000
"""How long (wall time) before they are due the medium sends a block's events, concluding the block then: a
block's messages (tens of kB) take a few ms to encode, cross the socket and decode on a busy machine, and the
ends give a block up 100 µs of emulated time after its last attempt (1 ms of wall time at dilation 0.1). A
Disarm or clock step that reaches the medium within that time before a block's last attempt affects only the
next block (as one delayed by the socket does anyway)."""


class MediumServer(Protocol):
    """What a :class:`RemotePort` needs of :class:`stack.multiprocess.medium_server.MediumServer` (a protocol,
    not an import: the server imports this module)."""

    @property
    def kernel(self) -> MediumKernel: ...

    def post(self, node: str, message: dict[str, Any]) -> None: ...


class RemotePort:
    """A node layer's port as the medium sees it: events go over that node's socket."""

    def __init__(self, server: MediumServer, node: str, layer: str) -> None:
        self.server, self.node, self.name = server, node, layer
        self.closed = False

    def deliver(self, event: Any) -> None:
        """Send ``event``, due now."""
        self.send_stamped((self.server.kernel.now, event))

    def send_stamped(self, args: tuple[int, Any]) -> None:
        at, event = args
        self.server.kernel.events_sent += 1
        self.server.post(self.node, {"op": "event", "at": at, "reply_to": self.name, "event": encode_hardware(event)})


class MediumKernel(RealtimeKernel):
    """Sends an event for a node ahead of its time (the node holds it until then), like datagrams, and
    concludes a block of measure-directly pairs :data:`AHEAD_WALL_NS` of wall time before its last attempt
    (:attr:`ahead_ns`), so that its events reach the station and the ends before they are due."""

    def __init__(self, epoch_ns: int, dilation: float, tolerance_ns: int) -> None:
        super().__init__(epoch_ns, dilation, tolerance_ns)
        self.ahead_ns = int(AHEAD_WALL_NS * dilation)
        self.latest_remote_ns = 0
        """When the last event scheduled for a node is due (the settling phase waits for it before ``finish``)."""
        self.events_sent = 0
        """Events sent to nodes so far: one sent after a round was asked makes the round stale."""

    def deliver_at(self, at: int, port: Any, event: Any) -> None:
        if isinstance(port, RemotePort):
            self.latest_remote_ns = max(self.latest_remote_ns, at)
            lead = max(self.ahead_ns, int(LEAD_WALL_NS * self.dilation))
            self.call_at(max(self.now, at - lead), port.send_stamped, (max(at, self.now), event))
        else:
            super().deliver_at(at, port, event)


class Connection:
    """One accepted node's socket: its messages out (queued, one writer), and its result once it sent it."""

    def __init__(self, stream: MessageStream, node: str) -> None:
        self.stream, self.node = stream, node
        self.outbox, self.inbox = trio.open_memory_channel[dict[str, Any]](float("inf"))
        self.result: dict[str, Any] | None = None
        self.dead = False

