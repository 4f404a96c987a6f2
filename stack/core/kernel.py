"""The virtual-time kernel: one ``(time_ns, seq)`` queue that alone decides the order.

Every protocol layer runs as its own trio task, parked in :meth:`VirtualPort.next`.
Only one task runs at a time: the one handling an event, which afterwards pops the next
entry itself and hands it on (see :class:`Kernel`). trio's shuffling of ready tasks
therefore never decides an order, and a run is reproducible byte for byte.

>>> import trio
>>> async def demo():
...     kernel = Kernel()
...     port = VirtualPort(kernel, "echo")
...     seen = []
...     async def layer():
...         while True:
...             event = await port.next()
...             if event is not STARTUP:
...                 seen.append((kernel.now, event))
...     async with trio.open_nursery() as nursery:
...         nursery.start_soon(layer)
...         kernel.deliver_at(20, port, "b")
...         kernel.deliver_at(10, port, "a")
...         await kernel.run(until=100)
...         nursery.cancel_scope.cancel()
...     return seen
>>> trio.run(demo)
[(10, 'a'), (20, 'b')]
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import Any

import outcome
from trio.lowlevel import Abort, Task, current_task, reschedule, wait_task_rescheduled


class TimerFired:
    """The event a port receives when its deadline is reached."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "TimerFired()"


TIMER = TimerFired()


class Startup:
    """The first event every port receives, in the order the ports were created."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Startup()"


STARTUP = Startup()


class Kernel:
    """Discrete-event scheduler on integer nanoseconds.

    ``call_at`` queues a plain callback (the medium's physics); ``deliver_at`` queues an
    event for a port's task. Entries at the same time run in the order they were queued.

    While :meth:`run` runs, exactly one task holds the baton: the task that has just
    handled an event pops the next entries itself (running callbacks inline) and hands the
    next delivery straight to its port's task, so each event costs one task switch, or
    none when it is for the same task.
    """

    def __init__(self) -> None:
        self.now = 0
        self.events_run = 0
        self._heap: list[tuple[int, int, Callable[[Any], None], Any]] = []
        self._ready: deque[tuple[VirtualPort, Any]] = deque()
        self._seq = 0
        self._busy = 0
        self._waiter: Task | None = None
        self._main: Task | None = None
        self._running = False
        self._stopped = False
        self._until = 0

    def call_at(self, at: int, callback: Callable[[Any], None], arg: Any = None) -> None:
        """Run ``callback(arg)`` at virtual time ``at`` (never earlier than now)."""
        heapq.heappush(self._heap, (max(at, self.now), self._seq, callback, arg))
        self._seq += 1

    def deliver_at(self, at: int, port: VirtualPort, event: Any) -> None:
        """Hand ``event`` to ``port``'s task at virtual time ``at``."""
        self.call_at(at, port.deliver, event)

    def stop(self) -> None:
        """Make :meth:`run` return once the current event is handled."""
        self._stopped = True

    async def run(self, until: int) -> None:
        """Run every entry due up to ``until`` (inclusive), then set ``now = until``.

        Returns early, with ``now`` at the last event, when :meth:`stop` is called.
        """
        self._until = until
        self._stopped = False
        if self._busy:
            await self._wait_quiescent()
        self._running = True
        try:
            item = self._next()
            if item is not None:
                self._main = current_task()
                item[0]._wake(item[1])
                await wait_task_rescheduled(self._main_aborted)
        finally:
            self._running = False
            self._main = None
        if not self._stopped:
            self.now = max(self.now, until)

    def _next(self) -> tuple[VirtualPort, Any] | None:
        """Run callbacks until a delivery is due; None when the run is over."""
        ready, heap = self._ready, self._heap
        while True:
            while not ready:
                if self._stopped or not heap or heap[0][0] > self._until:
                    return None
                at, _, callback, arg = heapq.heappop(heap)
                self.now = at
                self.events_run += 1
                callback(arg)
            port, event = ready.popleft()
            if not port.closed:
                return port, event
            port.dropped += 1

    def _main_aborted(self, _: Any) -> Abort:
        self._main = None               # cancelled (e.g. a timeout around the run): nobody may wake it now
        return Abort.SUCCEEDED

    def _end_run(self) -> None:
        main, self._main = self._main, None
        if main is not None:
            reschedule(main)

    async def _wait_quiescent(self) -> None:
        self._waiter = current_task()
        try:
            await wait_task_rescheduled(self._waiter_aborted)
        finally:
            self._waiter = None

    def _waiter_aborted(self, _: Any) -> Abort:
        self._waiter = None
        return Abort.SUCCEEDED

    def _became_idle(self) -> None:
        self._busy -= 1
        if self._busy == 0 and self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            reschedule(waiter)


class VirtualPort:
    """One task's inbox and timer in virtual time: the in-process side of the socket seam.

    A port counts as busy from creation until its task first parks in :meth:`next`, so
    the kernel never starts before every task has. Its first event is :data:`STARTUP`,
    queued at creation: tasks start in creation order, not trio's.
    """

    def __init__(self, kernel: Kernel, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.closed = False
        self.dropped = 0
        self._inbox: deque[Any] = deque()
        self._task: Task | None = None
        self._started = False
        self._timer_token = 0
        self._deadline: int | None = None
        kernel._busy += 1
        kernel.deliver_at(kernel.now, self, STARTUP)

    def now(self) -> int:
        return self.kernel.now

    async def next(self) -> Any:
        """Wait for the next event addressed to this port (a delivery or TIMER)."""
        if self._inbox:
            return self._inbox.popleft()
        kernel = self.kernel
        if not self._started:
            self._started = True
            kernel._became_idle()
            return await self._park()
        if not kernel._running:
            return await self._park()
        item = kernel._next()
        if item is None:
            kernel._end_run()
            return await self._park()
        port, event = item
        if port is self:
            return event
        port._wake(event)
        return await self._park()

    async def _park(self) -> Any:
        self._task = current_task()
        try:
            return await wait_task_rescheduled(self._aborted)
        finally:
            self._task = None

    def _aborted(self, _: Any) -> Abort:
        self._task = None               # cancelled: nobody may hand this task an event any more
        return Abort.SUCCEEDED

    def _wake(self, event: Any) -> None:
        task, self._task = self._task, None
        if task is None:                # its task has not started yet: it takes the event then
            self._inbox.append(event)
        else:
            reschedule(task, outcome.Value(event))

    def deliver(self, event: Any) -> None:
        """Called from the kernel's queue: the event is for this port's task, now."""
        if self.closed:
            self.dropped += 1
            return
        self.kernel._ready.append((self, event))

    def set_timer(self, deadline: int | None) -> None:
        """Arm (or with None, cancel) the single timer of this port."""
        if deadline == self._deadline:
            return
        self._deadline = deadline
        self._timer_token += 1
        if deadline is not None:
            self.kernel.call_at(deadline, self._timer_due, self._timer_token)

    def _timer_due(self, token: int) -> None:
        if token == self._timer_token:
            self._deadline = None
            self.deliver(TIMER)

    def close(self) -> None:
        """The task is gone: drop later deliveries; if it held the baton, pass it on."""
        if self.closed:
            return
        self.closed = True
        kernel = self.kernel
        if not self._started:
            self._started = True
            kernel._became_idle()
        elif kernel._running and self._task is None:
            item = kernel._next()
            if item is None:
                kernel._end_run()
            else:
                item[0]._wake(item[1])
