"""The virtual-time kernel: one ``(time_ns, seq)`` queue that alone decides the order.

The queue is a :class:`stack.core.calendar.Calendar`, which the kernel extends.

Every protocol layer runs as its own trio task that owns its :class:`VirtualPort`. Only one
task runs the queue at a time: the one holding the *baton* pops the next entry, runs
callbacks (the medium's physics) inline and hands each event to its port. A port that
*serves* a step function (every :class:`stack.core.layer.Layer`: a plain ``handle(event)``
with no awaits) has it called inline by the baton holder, with no task switch; a port
whose task awaits its events itself (an application coroutine, a test's recorder) gets the
baton with the event, one task switch (see :class:`Kernel`). Either way events are handled
one at a time in queue order: trio's shuffling of ready tasks never decides an order, and
a run is reproducible byte for byte.

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

from collections import deque
from heapq import heappop, heappush
from typing import Any

import outcome
from trio.lowlevel import Abort, Task, checkpoint, current_task, reschedule, wait_task_rescheduled

from stack.core.calendar import Calendar
from stack.core.events import STARTUP, TIMER, YIELD, Failed, Startup, Step, TimerFired, Yield, unwrap

__all__ = ["STARTUP", "TIMER", "Kernel", "Startup", "Step", "TimerFired", "VirtualPort"]


class Kernel(Calendar):
    """Discrete-event scheduler on integer nanoseconds.

    ``call_at`` queues a plain callback (the medium's physics); ``deliver_at`` queues an
    event for a port. Entries at the same time run in the order they were queued.

    While :meth:`run` runs, exactly one task holds the baton, at first the one that called
    :meth:`run`. It pops entries in order, running callbacks and the steps of serving ports
    inline; when the next event is for a port whose task awaits it, it hands the baton
    over with the event (a task switch) and parks; that task, once it has handled the
    event, goes on popping entries itself. So a run of layers alone costs no task switch
    per event, and each event for an awaiting task costs one. Every ``yield_every`` queue
    entries the caller of :meth:`run` yields to trio (one checkpoint, where a cancellation or a
    timeout around the run takes effect, and where the multi-process mode's socket tasks
    run). ``switches`` counts the tasks the kernel woke, ``yields`` those checkpoints: both
    depend only on the queue, never on timing.
    """

    yield_every = 1024
    """Queue entries run between two checkpoints of the run."""
    ahead_ns = 0
    """How long before its due time work whose outcome is already fixed may be concluded, its events sent
    stamped with their due times (the multi-process medium's, so that they cross the socket in time;
    in-process nothing runs early)."""

    def __init__(self) -> None:
        super().__init__()
        self.events_run = 0
        self.switches = 0
        self.yields = 0
        self._ready: deque[tuple[VirtualPort, Any]] = deque()
        self._busy = 0
        self._waiter: Task | None = None
        self._main: Task | None = None
        self._holder: Task | None = None
        self._running = False
        self._stopped = False
        self._finish_at: int | None = None
        self._failed = False
        self._until = 0

    def deliver_at(self, at: int, port: VirtualPort, event: Any) -> None:
        """Hand ``event`` to ``port``'s task at virtual time ``at``.

        The entry's callback is the port itself (calling a port delivers to it), which :meth:`_next`
        recognises and hands the event to at once: the same order as queuing it behind the entries
        already ready, as none is when an entry is popped. Any other object with a ``deliver`` method
        (a test's recorder) gets that method called.
        """
        if at < self.now:
            at = self.now
        entries = self._due.get(at)
        if entries is None:
            entries = self._due[at] = deque()
            heappush(self._times, at)
        entries.append((port if type(port) is VirtualPort else port.deliver, event))

    def stop(self, finish_instant: bool = False) -> None:
        """Make :meth:`run` return once the current event is handled (``finish_instant``: once every entry
        due at this same instant has run too, e.g. a datagram a layer just sent to a higher layer of its own
        node, which arrives with no delay)."""
        self._stopped = True
        self._finish_at = self.now if finish_instant else None

    async def run(self, until: int) -> None:
        """Run every entry due up to ``until`` (inclusive), then set ``now = until``.

        Returns early, with ``now`` at the last event, when :meth:`stop` is called.
        """
        if self._failed:                # a layer failed: the nursery it shares with us is cancelled here
            await checkpoint()
            return                      # and nothing runs after a failure in any case
        self._until = until
        self._stopped = False
        if self._busy:
            await self._wait_quiescent()
        self._running = True
        self._main = self._holder = current_task()
        try:
            while True:
                item = self._next()
                if item is None:
                    break
                if isinstance(item, Yield):
                    self.yields += 1
                    await checkpoint()
                    continue
                item[0]._wake(item[1])
                if not await wait_task_rescheduled(self._main_aborted):
                    break               # the run is over; True: the baton came back to us
        finally:
            self._running = False
            self._main = self._holder = None
        if not self._stopped:
            self.now = max(self.now, until)

    def _next(self) -> tuple[VirtualPort, Any] | Yield | None:
        """Run callbacks and serving ports' steps until an event is for an awaiting task (returned
        with its port), ``yield_every`` queue entries have run (``YIELD``), or the run is over (None)."""
        ready, times, due = self._ready, self._times, self._due
        budget = self.yield_every
        until = self._until
        while True:
            if ready:
                port, event = ready.popleft()
            else:
                if not times or times[0] > until:
                    return None
                if self._stopped and (self._finish_at is None or times[0] > self._finish_at):
                    return None
                if not budget:
                    return YIELD
                budget -= 1
                at = times[0]
                entries = due[at]
                callback, event = entries.popleft()
                if not entries:
                    heappop(times)
                    del due[at]
                self.now = at
                self.events_run += 1
                if type(callback) is not VirtualPort:
                    callback(event)
                    continue
                port = callback             # a delivery (deliver_at): nothing else is ready, so it is next
            if port.closed:
                port.dropped += 1
                continue
            step = port._step
            if step is None:
                return port, event
            try:
                step(event)
            except BaseException as error:
                self.stop()             # a failing layer ends the run: nothing runs on after it
                self._failed = True
                port._step = None
                return port, Failed(error)

    def _main_aborted(self, _: Any) -> Abort:
        self._main = None               # cancelled (e.g. a timeout around the run): nobody may wake it now
        return Abort.SUCCEEDED

    def _end_run(self) -> None:
        self._to_main(False)

    def _to_main(self, carry_on: bool) -> None:
        """Wake the task in :meth:`run`: to return (``carry_on`` False) or to hold the baton again."""
        main, self._main = self._main, None
        if main is not None:
            self.switches += 1
            if carry_on:
                self._main = self._holder = main
            reschedule(main, outcome.Value(carry_on))

    def _pass_baton(self) -> None:
        """The holder stops holding the baton (it parks, or its task ends): hand it on."""
        item = self._next()
        if item is None:
            self._end_run()
        elif isinstance(item, Yield):
            self._to_main(True)
        else:
            item[0]._wake(item[1])

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
            self.switches += 1
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
        self._step: Step | None = None
        self._started = False
        self._timer_token = 0
        self._deadline: int | None = None
        kernel._busy += 1
        kernel.deliver_at(kernel.now, self, STARTUP)

    def now(self) -> int:
        return self.kernel.now

    async def serve(self, step: Step) -> None:
        """Handle every event of this port with ``step(event)``, until cancelled or ``step`` raises.

        The baton holder calls ``step`` inline, so this task stays parked: it wakes only for an
        event queued before it started, and to raise the error of a step that failed (the error
        is this task's, wherever the step ran). ``step`` must not await.
        """
        self._step = step
        while True:
            step(await self.next())

    async def next(self) -> Any:
        """Wait for the next event addressed to this port (a delivery or TIMER)."""
        if self._inbox:
            return unwrap(self._inbox.popleft())
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
        elif isinstance(item, Yield):
            kernel._to_main(True)          # the run's own task yields to trio and carries on
        else:
            port, event = item
            if port is self:
                return unwrap(event)
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
            self.kernel.switches += 1
            self.kernel._holder = task
            reschedule(task, outcome.Error(event.error) if type(event) is Failed else outcome.Value(event))

    def deliver(self, event: Any) -> None:
        """Called from the kernel's queue: the event is for this port's task, now."""
        if self.closed:
            self.dropped += 1
            return
        self.kernel._ready.append((self, event))

    __call__ = deliver

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
        self._step = None
        kernel = self.kernel
        if not self._started:
            self._started = True
            kernel._became_idle()
        elif kernel._running and kernel._holder is current_task():
            kernel._pass_baton()
