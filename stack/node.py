"""Node runtime: each protocol layer of each node is a trio task driving its engine.

A :class:`Layer` loops on its port: a datagram goes to ``engine.receive``, the timer to
``engine.on_timer``, anything else (an event from the layer above or below, or from the
hardware) to ``engine.handle``. It then carries out the returned
:class:`protocols.common.Actions`. This loop is the same whatever the port is; the
in-process port is :class:`stack.kernel.VirtualPort`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from protocols.common import Actions, Address
from stack.kernel import STARTUP, TIMER, VirtualPort
from stack.medium import Medium
from stack.network import Datagram, Network


class Engine(Protocol):
    def start(self, now: int) -> Actions: ...
    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions: ...
    def on_timer(self, now: int) -> Actions: ...
    def handle(self, event: Any, now: int) -> Actions: ...
    def held_slots(self) -> set[int]: ...


class Layer:
    """One layer of one node: an engine, its port, and where its outputs go."""

    def __init__(self, name: str, node_id: int, engine: Engine, port: VirtualPort,
                 network: Network, medium: Medium, bound: list[int]) -> None:
        self.name = name
        self.node_id = node_id
        self.engine = engine
        self.port = port
        self.network = network
        self.medium = medium
        self.bound = bound
        self.above: Layer | None = None
        self.below: Layer | None = None
        self.after: Callable[[], None] | None = None
        for number in bound:
            network.bind(node_id, number, port)

    async def run(self) -> None:
        port, engine = self.port, self.engine
        try:
            while True:
                event = await port.next()
                now = port.now()
                if type(event) is Datagram:
                    actions = engine.receive(event.payload, event.source, event.port, now)
                elif event is TIMER:
                    actions = engine.on_timer(now)
                elif event is STARTUP:
                    actions = engine.start(now)
                else:
                    actions = engine.handle(event, now)
                self._apply(actions)
        finally:
            port.close()

    def _apply(self, actions: Actions) -> None:
        kernel = self.port.kernel
        for destination, payload in actions.send:
            sport = destination[1] if destination[1] in self.bound else self.bound[0]
            self.network.send(self.node_id, sport, destination, payload)
        for event in actions.up:
            assert self.above is not None, f"{self.name} has no layer above"
            kernel.deliver_at(kernel.now, self.above.port, event)
        for event in actions.down:
            assert self.below is not None, f"{self.name} has no layer below"
            kernel.deliver_at(kernel.now, self.below.port, event)
        for command in actions.hardware:
            self.medium.command(self.node_id, command, self.port)
        self.port.set_timer(actions.deadline)
        if self.after is not None:
            self.after()
