"""The virtual-time kernel: one ``(time_ns, seq)`` queue that alone decides the order.

The queue is a :class:`stack.core.calendar.Calendar`, which the kernel extends.

The kernel and :class:`VirtualPort` (:mod:`stack.core.port`) are one concern, the baton scheduler, split across
two files for size: a port appends to the kernel's ready queue (``_ready``) and queues its timer in the calendar
(``_due``, ``_times``) inline, counts itself busy until its task starts (``_busy``, ``_became_idle``), and, when
its task holds the baton (``_running``, ``_holder``), pops the queue and hands the baton on itself (``_next``,
``_end_run``, ``_to_main``, ``_pass_baton``). Those internals are listed by
:class:`stack.core.port.KernelInternals`; a change to one is a change to both files.

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
from stack.core.events import STARTUP, TIMER, YIELD, Failed, Startup, Step, TimerFired, Yield
from stack.core.port import VirtualPort

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
        self._failed = False
        self._until = 0
        self._limit = 0
        """The latest time of an entry the run may still pop: ``until``, or after :meth:`stop` the instant it
        was called at (``finish_instant``) or -1."""

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
        self._limit = min(self._until, self.now) if finish_instant else -1

    async def run(self, until: int) -> None:
        """Run every entry due up to ``until`` (inclusive), then set ``now = until``.

        Returns early, with ``now`` at the last event, when :meth:`stop` is called.
        """
        if self._failed:                # a layer failed: the nursery it shares with us is cancelled here
            await checkpoint()
            return                      # and nothing runs after a failure in any case
        self._until = self._limit = until
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
        with its port), ``yield_every`` queue entries have run (``YIELD``), or the run is over (None).

        The entries of one instant run in an inner loop, which goes back to the outer one only when an entry
        made a delivery ready (``_ready``, run first), stopped the run or was the instant's last. The running
        instant's list stays queued while its entry runs (``next_due`` sees what is left of it, and an entry
        queued for ``now`` joins it) and is dropped once it is found empty after an entry; an instant with no
        entry left when it comes up (only timers taken off were due then, :mod:`stack.core.port`) is dropped
        without counting as an entry. ``events_run`` is brought up to date when it returns."""
        ready, times, due = self._ready, self._times, self._due
        budget = self.yield_every
        port_type = VirtualPort
        try:
            while True:
                while ready:
                    port, event = ready.popleft()
                    step = port._step           # a closed port's counts the event dropped
                    if step is None:
                        return port, event
                    try:
                        step(event)
                    except BaseException as error:
                        return self._step_failed(port, error)
                if not times:
                    return None
                at = times[0]
                if at > self._limit:
                    return None
                entries = due[at]
                if not entries:
                    heappop(times)
                    del due[at]
                    continue
                self.now = at
                while True:
                    if not budget:
                        return YIELD
                    budget -= 1
                    callback, event = entries.popleft()
                    if type(callback) is port_type:     # a delivery (deliver_at): nothing else is ready, so it is next
                        # (the ready loop's delivery, written out on purpose: no call per event; change both alike)
                        step = callback._step
                        if step is None:
                            return callback, event
                        try:
                            step(event)
                        except BaseException as error:
                            return self._step_failed(callback, error)
                    else:
                        callback(event)
                    if not entries:             # the instant has run: dropped, unless next_due did
                        if due.get(at) is entries:
                            heappop(times)
                            del due[at]
                        break
                    if ready or self._limit < at:
                        break
        finally:
            self.events_run += self.yield_every - budget

    def _step_failed(self, port: VirtualPort, error: BaseException) -> tuple[VirtualPort, Failed]:
        """A serving port's step raised: the run ends (nothing runs on after it), the port's task raises it."""
        self.stop()
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
