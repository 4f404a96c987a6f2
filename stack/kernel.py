"""The virtual-time kernel: one ``(time_ns, seq)`` queue that alone decides the order.

Every protocol layer runs as its own trio task, parked in :meth:`VirtualPort.next`.
The kernel pops the earliest entry, hands it to one task, and waits until every task
is parked again before popping the next. trio's shuffling of ready tasks therefore
never decides an order, and a run is reproducible byte for byte.

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
import trio
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


def _abort(_: Any) -> Abort:
    return Abort.SUCCEEDED


class Kernel:
    """Discrete-event scheduler on integer nanoseconds.

    ``call_at`` queues a plain callback (the medium's physics); ``deliver_at`` queues an
    event for a port's task. Entries at the same time run in the order they were queued.
    """

    def __init__(self) -> None:
        self.now = 0
        self.events_run = 0
        self._heap: list[tuple[int, int, Callable[[Any], None], Any]] = []
        self._seq = 0
        self._busy = 0
        self._waiter: Task | None = None
        self._stopped = False

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
        heap = self._heap
        self._stopped = False
        while True:
            if self._busy:
                await self._wait_quiescent()
            if self._stopped or not heap or heap[0][0] > until:
                break
            at, _, callback, arg = heapq.heappop(heap)
            self.now = at
            self.events_run += 1
            callback(arg)
        if not self._stopped:
            self.now = max(self.now, until)

    async def _wait_quiescent(self) -> None:
        self._waiter = current_task()
        try:
            await wait_task_rescheduled(_abort)
        finally:
            self._waiter = None

    def _became_busy(self) -> None:
        self._busy += 1

    def _became_idle(self) -> None:
        self._busy -= 1
        if self._busy == 0 and self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            reschedule(waiter)


class VirtualPort:
    """One task's inbox and timer in virtual time: the in-process side of the socket seam.

    A port counts as busy from creation until its task first parks in :meth:`next`, so
    the kernel never runs ahead of a task that has not started yet. Its first event is
    :data:`STARTUP`, queued at creation: tasks start in creation order, not trio's.
    """

    def __init__(self, kernel: Kernel, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.closed = False
        self.dropped = 0
        self._inbox: deque[Any] = deque()
        self._task: Task | None = None
        self._timer_token = 0
        self._deadline: int | None = None
        kernel._became_busy()
        kernel.deliver_at(kernel.now, self, STARTUP)

    def now(self) -> int:
        return self.kernel.now

    async def next(self) -> Any:
        """Wait for the next event addressed to this port (a delivery or TIMER)."""
        if self._inbox:
            await trio.lowlevel.checkpoint_if_cancelled()
            return self._inbox.popleft()
        self._task = current_task()
        self.kernel._became_idle()
        try:
            return await wait_task_rescheduled(_abort)
        finally:
            self._task = None

    def deliver(self, event: Any) -> None:
        """Called by the kernel: wake the parked task with ``event`` (or queue it)."""
        if self.closed:
            self.dropped += 1
            return
        task = self._task
        if task is None:
            self._inbox.append(event)
            return
        self._task = None
        self.kernel._became_busy()
        reschedule(task, outcome.Value(event))

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
        """The task is gone: drop later deliveries and stop counting it as busy."""
        if self.closed:
            return
        self.closed = True
        if self._task is None:
            self.kernel._became_idle()
