"""Real (dilated) time for the multi-process mode: the same kernel, driven by the wall clock.

Every process of a ``qnet up`` run shares an *epoch* (a ``time.time_ns()`` reading) and a
*dilation* (emulated ns per wall ns). Emulated time is ``(wall − epoch) × dilation``, so a
dilation of 0.001 runs one emulated millisecond per wall second. The kernel's queue still
orders everything inside a process; :meth:`RealtimeKernel.run_realtime` sleeps until the
wall clock reaches the next entry (or until something arrives from a socket) and then
runs every entry that is due.

An entry that runs more than ``tolerance_ns`` of *emulated* time after it was due is a
*missed deadline*: the process could not keep up at this dilation, and results may differ
from the in-process mode. Inputs from sockets stamped with an emulated time (the medium's
events) that arrive that late count as *late inputs*. Both are reported. Lateness is read
off the wall clock once per batch (when the kernel takes up every entry then due), not per
entry: an entry held up only by earlier entries of its own batch is not counted, while one
due during a long batch is counted when the next batch takes it up.

>>> import trio
>>> kernel = RealtimeKernel(epoch_ns=time.time_ns(), dilation=1.0)
>>> seen = []
>>> kernel.call_at(2_000_000, seen.append, "2 ms")
>>> trio.run(kernel.run_realtime, 3_000_000)
>>> seen, kernel.now
(['2 ms'], 3000000)
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import trio

from stack.core.kernel import Kernel, VirtualPort

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DEFAULT_TOLERANCE_NS = 20_000
"""20 µs of emulated time: a fifth of the protocols' shortest timers (a herald is given up after about
100 µs on short links), so lateness that can change results is counted. At ``qnet up``'s default
dilation of 0.002 it is 10 ms of wall time: above the scheduling jitter and the per-event Python cost
of a busy 2-core machine."""

FINE_WAIT_S = 0.001
"""The end of a wait slept with ``time.sleep`` rather than trio's epoll (whole milliseconds, rounded up): a
wake-up was up to 1 ms of wall time late, 10 µs of emulated time at dilation 0.01, 30 µs (beyond the
tolerance) at 0.03."""


class RealtimeKernel(Kernel):
    """A :class:`Kernel` whose time follows the wall clock, dilated."""

    yield_every = 32
    """Yield to trio often, so the socket tasks stamp their inputs on arrival, not a long batch later."""

    def __init__(self, epoch_ns: int, dilation: float, tolerance_ns: int = DEFAULT_TOLERANCE_NS) -> None:
        if dilation <= 0:
            raise ValueError("dilation must be positive")
        super().__init__()
        self.epoch_ns = epoch_ns
        self.dilation = dilation
        self.tolerance_ns = max(1, tolerance_ns)
        self.missed_deadlines = 0
        self.late_inputs = 0
        self.worst_lateness_ns = 0
        self._poke = trio.Event()
        self._halted = False
        self._halt_at = 0

    def emulated_now(self) -> int:
        """The emulated time the wall clock shows now (never behind the kernel's ``now``)."""
        return max(self.now, int((time.time_ns() - self.epoch_ns) * self.dilation))

    def inject(self, at: int | None, port: VirtualPort, event: Any) -> None:
        """Queue an event that arrived from outside the process (a socket) for ``port``."""
        self.call_external(port.deliver, event, at)

    def call_external(self, callback: Callable[[Any], None], arg: Any = None, at: int | None = None) -> None:
        """Queue ``callback(arg)`` from outside the kernel's queue (a socket's receive task).

        ``at`` is the emulated time the sender stamped on it (None: unstamped, now). An
        input stamped in the future waits for its time; one stamped more than the
        tolerance in the past counts as a late input and runs now.
        """
        now = self.emulated_now()
        if at is not None and now - at > 0:
            self.worst_lateness_ns = max(self.worst_lateness_ns, now - at)
            if now - at > self.tolerance_ns:
                self.late_inputs += 1
        self.call_at(now if at is None else max(at, now), callback, arg)
        self._poke.set()

    def halt(self) -> None:
        """Make :meth:`run_realtime` return after the entries now due (inputs that arrived during the batch
        running now included: a node halted by ``finish`` handles every event the medium sent before it)."""
        self._halted = True
        self._halt_at = self.emulated_now()
        self._poke.set()

    async def run_realtime(self, until: int) -> None:
        """Follow the wall clock until emulated time ``until``, :meth:`halt`, or a layer's stop."""
        self._halted = False
        while True:
            target = min(self.emulated_now(), until)
            self._count_missed(target)
            await self.run(until=target)
            if self._halted and not self._stopped and target < min(self._halt_at, until):
                await self.run(until=min(self._halt_at, until))       # halted during that batch
            if self._stopped or self._halted or target >= until:
                return
            first = self.next_due()
            due = until if first is None else min(first, until)
            wait_s = (due - self.emulated_now()) / self.dilation / 1e9
            if wait_s > 0:
                with trio.move_on_after(max(0.0, wait_s - FINE_WAIT_S)):
                    await self._poke.wait()
                if not self._poke.is_set():
                    self._sleep_until(due)
            self._poke = trio.Event()

    def _sleep_until(self, due: int) -> None:
        """Block (not spin) for the last fraction of a wait: trio's epoll wait rounds its timeout up to the
        next whole millisecond, ``time.sleep`` is precise to tens of µs. An input arriving meanwhile waits
        at most :data:`FINE_WAIT_S`, as it would for that rounding."""
        rest_s = (due - self.emulated_now()) / self.dilation / 1e9
        if rest_s > 0:
            time.sleep(min(rest_s, FINE_WAIT_S))

    def _count_missed(self, target: int) -> None:
        first = self.next_due()
        if first is not None and first < target:
            self.worst_lateness_ns = max(self.worst_lateness_ns, target - first)
        if first is None or target - first <= self.tolerance_ns:
            return
        late = [(target - at, len(self._due[at])) for at in self._times if target - at > self.tolerance_ns]
        self.missed_deadlines += sum(count for _, count in late)
        self.worst_lateness_ns = max(self.worst_lateness_ns, *(lateness for lateness, _ in late))

    def stats(self) -> dict[str, int]:
        """Counters for the report: deadlines missed, late inputs, and the worst lateness of any entry or
        input (emulated ns), whether or not beyond the tolerance."""
        return {"missed_deadlines": self.missed_deadlines, "late_inputs": self.late_inputs,
                "worst_lateness_ns": self.worst_lateness_ns, "events": self.events_run}


class Signalled(Exception):
    """SIGINT or SIGTERM asked the process to stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


async def stop_on_signal(scope: trio.CancelScope, caught: list[int]) -> None:
    """Cancel ``scope`` on SIGINT or SIGTERM, recording the signal, so ``finally`` blocks run."""
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async for signum in signals:
            caught.append(signum)
            scope.cancel()
            return
