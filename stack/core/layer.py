"""Node runtime: each protocol layer of each node is a trio task driving its engine.

A :class:`Layer` serves its port: for each event, a datagram goes to ``engine.receive``, the
timer to ``engine.on_timer``, anything else (an event from the layer above or below, or from
the hardware) to ``engine.handle``; it then carries out the returned
:class:`protocols.common.Actions`. The kernel calls the layer's step (:meth:`Layer.step`) inline from the task
holding its baton (:class:`stack.core.kernel.VirtualPort`), so an event costs no task switch;
the layer's own task owns the port and raises the layer's errors.

With a node :class:`stack.timing.clocks.Clock`, engines see the node's *local* time: ``now``
is the clock's reading (whole ns; a precise layer such as PTP gets float ns and hardware
timestamps on received datagrams and on the event messages it sends), and deadlines are
local times converted back to the kernel's true time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from protocols.common import Actions, Address
from protocols.packets.ptp import EVENT_PORT, event_key
from protocols.sync.ptp import ClockAdjust, TxTimestamp
from stack.core.kernel import STARTUP, TIMER, VirtualPort
from stack.core.network import Datagram, Network


class Engine(Protocol):
    def start(self, now: int) -> Actions: ...
    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions: ...
    def on_timer(self, now: int) -> Actions: ...
    def handle(self, event: Any, now: int) -> Actions: ...
    def held_slots(self) -> set[int]: ...


class LocalClock(Protocol):
    """A node's oscillator as a layer sees it (:class:`stack.timing.clocks.Clock`)."""

    def local_ns(self, true_ns: float) -> float: ...
    def true_ns(self, local_ns: float) -> float: ...
    def timestamp(self, true_ns: float) -> float: ...
    def adjust(self, phase_ns: float, frequency_ppb: float | None, at_true_ns: float) -> None: ...


class Hardware(Protocol):
    """Where hardware commands go (:class:`stack.quantum.medium.Medium`, or the multi-process client)."""

    def command(self, node_id: int, command: Any, reply_to: VirtualPort) -> None: ...
    def clock_adjusted(self, node_id: int, adjust: ClockAdjust, at_ns: int) -> None: ...


class Layer:
    """One layer of one node: an engine, its port, and where its outputs go."""

    def __init__(self, name: str, node_id: int, engine: Engine, port: VirtualPort,
                 network: Network, medium: Hardware, bound: list[int], clock: LocalClock | None = None,
                 precise: bool = False) -> None:
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
        self.clock = clock
        self.precise = precise
        self._step: Callable[[Any], None] | None = None
        for number in bound:
            network.bind(node_id, number, port)

    async def run(self) -> None:
        """The layer's task: it owns the port and serves it with :meth:`step` until the run ends.

        The kernel calls the step inline from the task that holds its baton (no task switch per event); an
        error in it is raised here, in this layer's own task.
        """
        port = self.port
        self._step = None               # made again: the layer is wired (above, below, clock) by now
        try:
            await port.serve(self.step())
        except BaseException:
            port.kernel.stop()          # a failing layer ends the run: nothing runs on after it
            raise
        finally:
            port.close()

    def step(self) -> Callable[[Any], None]:
        """The function that handles one event of the port, made once per layer (the engine's methods, the
        port, the kernel and the network looked up once, not per event): a datagram goes to
        ``engine.receive``, the timer to ``engine.on_timer``, the start to ``engine.start``, anything else to
        ``engine.handle``; then the returned :class:`Actions` are carried out (:meth:`_apply`, written out on
        purpose: no call per event; a change to :meth:`_apply` changes this copy too).
        ``after`` is read at each event (the run-end check is turned off and on during a run)."""
        if self._step is not None:
            return self._step
        if self.clock is not None:
            self._step = self._handle_clocked
            return self._step
        layer, engine, port = self, self.engine, self.port
        kernel, network_send, node_id, bound = port.kernel, self.network.send, self.node_id, self.bound
        receive, on_timer, start, handle = engine.receive, engine.on_timer, engine.start, engine.handle
        set_timer, hand_on = port.set_timer, self._hand_on

        def step(event: Any) -> None:
            now = kernel.now
            if type(event) is Datagram:
                source, number, payload, _ = event
                actions = receive(payload, source, number, now)
            elif event is TIMER:
                actions = on_timer(now)
            elif event is STARTUP:
                actions = start(now)
            else:
                actions = handle(event, now)
            send = actions.send
            if send:                    # most events send a datagram or hand one event on, or neither
                for destination, payload in send:
                    dport = destination[1]
                    network_send(node_id, dport if dport in bound else bound[0], destination, payload)
            if actions.up or actions.down or actions.hardware:
                hand_on(actions)
            deadline = actions.deadline
            if deadline != port._deadline:
                set_timer(deadline)
            after = layer.after
            if after is not None:
                after()

        self._step = step
        return step

    def _handle_clocked(self, event: Any) -> None:
        """:meth:`step` on a node with a clock: the engine sees the clock's local time."""
        engine, clock = self.engine, self.clock
        assert clock is not None
        now: Any = self._local(self.port.kernel.now)
        kind = type(event)
        if kind is Datagram:
            if self.precise:
                now = clock.timestamp(self.port.now() if event.arrival is None else event.arrival)
            actions = engine.receive(event.payload, event.source, event.port, now)
        elif event is TIMER:
            actions = engine.on_timer(now)
        elif event is STARTUP:
            actions = engine.start(now)
        else:
            actions = engine.handle(event, now)
        self._apply(actions)

    def _local(self, true_ns: int) -> Any:
        if self.clock is None:
            return true_ns
        local = self.clock.local_ns(true_ns)
        return local if self.precise else math.floor(local)

    def _true_deadline(self, local_deadline: int | None) -> int | None:
        """The first kernel time at which the local clock has reached ``local_deadline``."""
        if local_deadline is None or self.clock is None:
            return local_deadline
        now = self.port.now()
        true = max(now, math.ceil(self.clock.true_ns(local_deadline)))
        while self.clock.local_ns(true) < local_deadline:
            true += 1
        return true

    def _apply(self, actions: Actions) -> None:
        port = self.port
        if actions.send:
            self._send(actions.send)
        self._hand_on(actions)
        deadline = actions.deadline
        if self.clock is not None:
            deadline = self._true_deadline(deadline)
        if deadline != port._deadline:
            port.set_timer(deadline)
        if self.after is not None:
            self.after()

    def _hand_on(self, actions: Actions) -> None:
        """Hand the engine's events to the layers above and below, now, and its commands to the hardware."""
        kernel = self.port.kernel
        if actions.up:
            assert self.above is not None, f"{self.name} has no layer above"
            above = self.above.port
            for event in actions.up:
                kernel.deliver_at(kernel.now, above, event)
        if actions.down:
            assert self.below is not None, f"{self.name} has no layer below"
            below = self.below.port
            for event in actions.down:
                kernel.deliver_at(kernel.now, below, event)
        if actions.hardware:
            self._hardware(actions.hardware)

    def _send(self, sends: list[tuple[Address, bytes]]) -> None:
        kernel, bound, send = self.port.kernel, self.bound, self.network.send
        for destination, payload in sends:
            sport = destination[1] if destination[1] in bound else bound[0]
            send(self.node_id, sport, destination, payload)
            if self.precise and self.clock is not None and destination[1] == EVENT_PORT:
                key = event_key(payload)
                if key is not None:
                    stamp = TxTimestamp(destination, key[0], key[1], self.clock.timestamp(kernel.now))
                    kernel.deliver_at(kernel.now, self.port, stamp)

    def _hardware(self, commands: list[Any]) -> None:
        kernel = self.port.kernel
        for command in commands:
            if isinstance(command, ClockAdjust):
                assert self.clock is not None, f"{self.name} adjusts a clock it does not have"
                self.clock.adjust(command.phase_ns, command.frequency_ppb, kernel.now)
                self.medium.clock_adjusted(self.node_id, command, kernel.now)
                self.port.set_timer(None)          # the same local deadline is now another true time
            else:
                self.medium.command(self.node_id, command, self.port)
