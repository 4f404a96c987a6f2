"""A task's port in virtual time (:class:`VirtualPort`): its inbox, its single timer, and its hand-offs of the
kernel's baton (:class:`stack.core.kernel.Kernel`).

The port and the kernel are one concern, the baton scheduler, split across two files for size: not two objects
behind a narrow interface. A delivery made now (a timer's, the medium's emissions) appends to the kernel's ready
queue, and a timer is queued in the kernel's calendar as :meth:`stack.core.calendar.Calendar.call_at` would,
written out (a create-and-keep pair makes ~8 timer calls: ``bench/bench_kernel.py``'s pattern); a task that
awaits its events takes the baton with one and then pops the queue itself (:meth:`VirtualPort.next` does what
``Kernel._pass_baton`` does, keeping an event for its own task); a closing port hands the baton on. A public
interface for these would cost a call on each delivery and timer call, or be the same internals under public
names, so the port uses them as the kernel's own code does. This module names the kernel as
:class:`KernelInternals` (the kernel imports this module): the internals the two files share, to change together.

A port's timer is one queue entry. When the deadline moves or is cancelled (most are: a layer arms one for
each message that waits for an answer and cancels it when the answer comes), the entry is taken off the queue:
popped if it is the last one due at its instant (nearly always), found and removed otherwise. Taking it off
changes no order: the entries left keep theirs. An instant left with no entry is dropped when it comes up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import Any, Protocol

import outcome
from trio.lowlevel import Abort, Task, current_task, reschedule, wait_task_rescheduled

from stack.core.events import STARTUP, TIMER, Failed, Step, Yield, unwrap


class KernelInternals(Protocol):
    """What a port uses of :class:`stack.core.kernel.Kernel`: besides its public ``now``, ``switches``,
    ``deliver_at``, ``call_at`` and ``stop``, the internals of the baton scheduler the two share (the module's
    docstring), which the kernel's docstring lists too."""

    now: int
    switches: int
    _busy: int
    _running: bool
    _holder: Task | None
    _ready: deque[tuple[VirtualPort, Any]]
    _times: list[int]
    _due: dict[int, deque[tuple[Callable[[Any], None], Any]]]

    def deliver_at(self, at: int, port: VirtualPort, event: Any) -> None: ...

    def call_at(self, at: int, callback: Callable[[Any], None], arg: Any = None) -> None: ...

    def stop(self, finish_instant: bool = False) -> None: ...

    def _next(self) -> tuple[VirtualPort, Any] | Yield | None: ...

    def _end_run(self) -> None: ...

    def _to_main(self, carry_on: bool) -> None: ...

    def _pass_baton(self) -> None: ...

    def _became_idle(self) -> None: ...


class VirtualPort:
    """One task's inbox and timer in virtual time: the in-process side of the socket seam.

    A port counts as busy from creation until its task first parks in :meth:`next`, so
    the kernel never starts before every task has. Its first event is :data:`STARTUP`,
    queued at creation: tasks start in creation order, not trio's.
    """

    def __init__(self, kernel: KernelInternals, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.closed = False
        self.dropped = 0
        self._inbox: deque[Any] = deque()
        self._task: Task | None = None
        self._step: Step | None = None
        """What the kernel does with an event for this port: the step it serves (:meth:`serve`), called inline;
        None while its task awaits its events itself (:meth:`next`); once closed, :meth:`_drop`."""
        self._started = False
        self._timer_token = 0
        self._deadline: int | None = None
        self._timer_entry: tuple[Callable[[Any], None], Any] | None = None
        """The queue entry of the armed timer, ``(self._timer_due, token)``."""
        self._timer_list: deque[tuple[Callable[[Any], None], Any]] = deque()
        """The entries of the instant that entry is queued at (the deadline, or the time it was armed if that was
        later): a cancelled entry is taken from there (not found there once it has run)."""
        self._timer_due_method = self._timer_due
        self._due = kernel._due
        """The kernel's queue (:class:`stack.core.calendar.Calendar`: its dict and heap are never replaced)."""
        self._times = kernel._times
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
        """Arm (or with None, cancel) the single timer of this port.

        The entry of the timer it replaces leaves the queue (an instant left with no entry is dropped when it
        comes up; an entry no longer queued is found stale by its token). The new entry is queued as
        :meth:`stack.core.calendar.Calendar.call_at` would, written out.
        """
        if deadline == self._deadline:
            return
        self._deadline = deadline
        armed = self._timer_entry
        if armed is not None:
            entries = self._timer_list
            if entries:
                if entries[-1] is armed:
                    entries.pop()
                elif armed in entries:          # another entry due at the same instant was queued later
                    entries.remove(armed)
        if deadline is None:
            self._timer_entry = None
            return
        now = self.kernel.now
        at = deadline if deadline > now else now
        token = self._timer_token = self._timer_token + 1
        entry = self._timer_entry = (self._timer_due_method, token)
        queued = self._due.get(at)
        if queued is None:
            queued = self._due[at] = deque()
            heappush(self._times, at)
        queued.append(entry)
        self._timer_list = queued

    def _timer_due(self, token: int) -> None:
        if token == self._timer_token and self._deadline is not None:       # not re-armed or cancelled since
            self._deadline = None
            self._timer_entry = None
            self.deliver(TIMER)

    def _drop(self, event: Any) -> None:
        """A closed port's step: the kernel drops the event, counted."""
        self.dropped += 1

    def close(self) -> None:
        """The task is gone: drop later deliveries; if it held the baton, pass it on."""
        if self.closed:
            return
        self.closed = True
        self._step = self._drop
        kernel = self.kernel
        if not self._started:
            self._started = True
            kernel._became_idle()
        elif kernel._running and kernel._holder is current_task():
            kernel._pass_baton()
