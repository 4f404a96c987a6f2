"""The settling phase at the end of a ``qnet up`` run: after the drain, the medium goes on until every live node's
layers have settled, as ``qnet run`` does (:func:`stack.runtime.run_async`), within a bound.

After ``drain``, each node says ``settled`` (``settled``: true or false) whenever whether its link and network
layers have settled (:meth:`stack.emulation.Emulation.settled`: no CONFIRM, SCHEDULE, RELEASE or abort waits
for its answer, no pair is moving to storage) changes; the first false carries ``bound_ns``, the longest its
layers go on retransmitting (:func:`stack.runtime.settle_bound_ns`, asked only then, as ``qnet run`` does).
The medium sends ``finish`` once, after the drain time, every live node last said true, every event the medium
scheduled for a node (a ``MoveResult``, a block's events) is due, every command a node sent has run, and all of
this has held for :func:`quiet_s` (a ``settled`` false sent just after a true may still be crossing the socket); or
once the largest bound has passed since the drain time ended (the events already scheduled and the commands
received are still waited for, and the report names the nodes that had not settled). Commands are always waited
for, whether or not a node sent a bound, but for at most :data:`COMMANDS_TIMEOUT_S` of wall time once nothing
else holds ``finish`` back: a command stamped far in the future cannot hang the medium (the report counts it).
A dead node does not block; nor does a live one that has said nothing :data:`REPORT_TIMEOUT_S` of wall time after
the drain time ended (it is named too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stack.multiprocess.medium_ports import MediumKernel

MAX_BOUND_NS = 10**12
"""The longest settling bound a node may send: 1,000 s of emulated time (ours are about 130 retransmission
intervals: 130 ms on a 2 km link)."""
REPORT_TIMEOUT_S = 20.0
"""How long (wall time) after the drain ended the medium waits for a live node's first ``settled``."""
CHECK_WALL_NS = 500_000_000
"""While it waits for a node, the medium looks again at least this often (wall time): a silent node's timeout."""
COMMANDS_TIMEOUT_S = REPORT_TIMEOUT_S
"""How long (wall time) the medium waits for the commands it received and has not yet run, once nothing else holds
``finish`` back. A command waits in the medium's queue for the emulated time the node stamped on it, which on
one host is at most the socket's delay (ms of wall time) later than the medium's now: one still queued after
this was stamped in the future by a node that is not ours, and would otherwise hold the medium for ever (the
stamp may be up to 2^62). Wall time rather than an emulated span because what the wait covers is wall time
(the socket, the processes' scheduling), whatever the dilation: an emulated span that covers it at 0.1 would
last minutes of wall time at 0.001, and one short enough there would not cover it at 0.1. The same 20 s as a
silent node's timeout: a run that ends there is one whose processes could not answer for that long."""
QUIET_S = 0.02
"""The least time (wall) every live node must have stayed settled, with no event due later and no command
pending, before ``finish`` (:func:`quiet_s`: longer at low dilations). A settled node becomes unsettled again
through an input: a peer's message that waits for an answer (its sender is then unsettled, and waited for, until
the answer arrives), or an event the medium scheduled for it (a herald's, a ``MoveResult``), which the node
handles when it is due. Its ``settled`` false then crosses the socket after the medium has seen that event due
and the node's last true; it is waited for if it arrives within this time, the delay the medium allows a block's
events to reach a node (:data:`stack.multiprocess.medium_ports.AHEAD_WALL_NS`). docs/wire.md §8.3 says what
this does not cover."""


class Settling:
    """What the live nodes said with ``settled`` since the drain, and whether the medium may finish."""

    def __init__(self) -> None:
        self.active = False
        """The drain has begun: ``settled`` messages are expected (before it, one is refused)."""
        self.looking = False
        """The settling phase runs (after the drain time): a ``settled`` or a death halts the kernel's run."""
        self.states: dict[str, bool] = {}
        """Each node's last ``settled`` (a node that has said nothing is absent)."""
        self.bounds: dict[str, int] = {}
        self.unsettled: list[str] = []
        """The live nodes that had not settled when ``finish`` was sent (the report's ``unsettled_nodes``)."""

    def receive(self, node: str, message: dict[str, Any]) -> None:
        """Record one node's ``settled``; ValueError or TypeError (the message is refused) if it is not one."""
        if not self.active:
            raise ValueError("'settled' before the drain")
        settled, bound = message["settled"], message.get("bound_ns")
        if type(settled) is not bool:
            raise TypeError(f"'settled' must be true or false, got {str(settled)[:20]}")
        if bound is not None:
            if type(bound) is not int or not 0 <= bound <= MAX_BOUND_NS:
                raise TypeError(f"'bound_ns' must be an integer in [0, {MAX_BOUND_NS}], got {str(bound)[:40]}")
            self.bounds[node] = bound
        elif not settled and node not in self.bounds:
            raise ValueError("a node's first 'settled' false carries 'bound_ns'")
        self.states[node] = settled

    def bound_ns(self) -> int:
        """The longest bound any node sent (0 if none did)."""
        return max(self.bounds.values(), default=0)

    def waiting(self, live: list[str], drained_wall: float) -> list[str]:
        """The live nodes the medium still waits for: those whose last word was false, and those that have said
        nothing yet, until :data:`REPORT_TIMEOUT_S` after ``drained_wall`` (a ``time.monotonic()`` reading)."""
        silent_too = time.monotonic() - drained_wall < REPORT_TIMEOUT_S
        return [node for node in live if not self.states.get(node, not silent_too)]

    def not_settled(self, live: list[str]) -> list[str]:
        """The live nodes that have not said their layers settled (for the report)."""
        return sorted(node for node in live if not self.states.get(node, False))


def quiet_s(kernel: MediumKernel) -> float:
    """The quiet time before ``finish`` (wall seconds): :data:`QUIET_S`, or the wall time the lateness tolerance
    stands for at this dilation if that is longer. A false that comes later than this because its node handled the
    medium's event late (not because the socket or the medium was slow) comes from a node later than the
    tolerance, which the report counts (``missed_deadlines``, exit status 5)."""
    return max(QUIET_S, kernel.tolerance_ns / kernel.dilation / 1e9)


async def settle(kernel: MediumKernel, settling: Settling, live: Callable[[], list[str]],
                 pending: Callable[[], int]) -> None:
    """After the drain time: run ``kernel`` on until every ``live()`` node has settled, every event scheduled for a
    node is due, no command is ``pending()`` and all has stayed so for :func:`quiet_s`; or until the bound
    (:class:`Settling`), the events scheduled by then and the pending commands. Commands are waited for at most
    :data:`COMMANDS_TIMEOUT_S` (those never run are the report's ``commands_not_run``). A node's ``settled``
    or death halts the kernel's run, so that this looks again at once."""
    phase = _Phase(kernel, settling, live, pending)
    settling.looking = True
    while (target := phase.target()) is not None:
        await kernel.run_realtime(until=target)
    settling.looking = False
    settling.unsettled = settling.not_settled(live())


class _Phase:
    """One settling phase: what :func:`settle` waits for, looked at again after each run of the kernel."""

    def __init__(self, kernel: MediumKernel, settling: Settling, live: Callable[[], list[str]],
                 pending: Callable[[], int]) -> None:
        self.kernel, self.settling, self.live, self.pending = kernel, settling, live, pending
        self.start, self.drained_wall, self.quiet_s = kernel.now, time.monotonic(), quiet_s(kernel)
        self.step, self.short = (max(1, int(wall_ns * kernel.dilation)) for wall_ns in (CHECK_WALL_NS, 1_000_000))
        self.last_events: int | None = None
        """When the events scheduled by the time the bound passed are due: no later ones are waited for."""
        self.idle_since: float | None = None
        """Since when (``time.monotonic()``) only commands, or the quiet time, have held ``finish`` back."""
        self.calm_since: float | None = None
        """Since when the quiet time has run: nothing else held ``finish`` back."""

    def target(self) -> int | None:
        """The emulated time to run the kernel to before looking again; None: ``finish`` may go."""
        kernel, settling = self.kernel, self.settling
        waiting = settling.waiting(self.live(), self.drained_wall)
        deadline = self.start + settling.bound_ns()
        bound_passed = bool(waiting) and kernel.now >= deadline and all(node in settling.states for node in waiting)
        if waiting and not bound_passed:        # a settled (or a death) halts the run: then this looks again
            self.idle_since = self.calm_since = None
            return kernel.now + self.step if deadline <= kernel.now else min(deadline, kernel.now + self.step)
        if bound_passed and self.last_events is None:
            self.last_events = kernel.latest_remote_ns
        return self._medium_own(bound_passed)

    def _medium_own(self, bound_passed: bool) -> int | None:
        """What the medium itself still waits for: events not yet due, commands not yet run (for at most
        :data:`COMMANDS_TIMEOUT_S`), and, unless the bound has passed, the quiet time."""
        kernel = self.kernel
        events_at = kernel.latest_remote_ns if self.last_events is None else self.last_events
        if kernel.now < events_at:
            self.idle_since = self.calm_since = None
            return events_at if bound_passed else max(events_at, kernel.now + self.short)
        wall = time.monotonic()
        self.idle_since = wall if self.idle_since is None else self.idle_since
        if self.pending():                      # stamped later than now: they run when due, unless that is too late
            self.calm_since = None
            return None if wall - self.idle_since >= COMMANDS_TIMEOUT_S else kernel.now + self.short
        self.calm_since = wall if self.calm_since is None else self.calm_since
        quiet_left = self.quiet_s - (wall - self.calm_since)
        if bound_passed or quiet_left <= 0:
            return None
        return kernel.now + max(1, int(quiet_left * 1e9 * kernel.dilation))
