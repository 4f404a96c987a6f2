"""The settling phase at the end of a ``qnet up`` run: after the drain, the medium goes on until every live node's
layers have settled, as ``qnet run`` does (:func:`stack.runtime.run_async`), within a bound.

After ``drain``, each node says ``settled`` (``settled``: true or false) whenever whether its link and network
layers have settled (:meth:`stack.emulation.Emulation.settled`: no CONFIRM, SCHEDULE, RELEASE or abort waits
for its answer, no pair is moving to storage) changes; the first false carries ``bound_ns``, the longest its
layers go on retransmitting (:func:`stack.runtime.settle_bound_ns`, asked only then, as ``qnet run`` does).
The medium sends ``finish`` once, after the drain time, every live node last said true, every command a node
sent has run, and every event the medium scheduled for a node (a ``MoveResult``, a block's events) is due; or
once the largest bound has passed since the drain time ended (the events already scheduled are still waited
for, and the report names the nodes that had not settled). A dead node does not block; nor does a live one that
has said nothing :data:`REPORT_TIMEOUT_S` of wall time after the drain time ended (it is named too).
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


async def settle(kernel: MediumKernel, settling: Settling, live: Callable[[], list[str]],
                 pending: Callable[[], int]) -> None:
    """After the drain time: run ``kernel`` on until every ``live()`` node has settled, no command is
    ``pending()`` and every event scheduled for a node is due, or until the bound (:class:`Settling`). A node's
    ``settled`` or death halts the kernel's run, so that this looks again at once."""
    start, drained_wall, last_events = kernel.now, time.monotonic(), None
    step, short = (max(1, int(wall_ns * kernel.dilation)) for wall_ns in (CHECK_WALL_NS, 1_000_000))
    settling.looking = True
    while True:
        waiting = settling.waiting(live(), drained_wall)
        if not waiting and not pending() and kernel.now >= kernel.latest_remote_ns:
            break
        deadline = start + settling.bound_ns()
        if kernel.now >= deadline and all(node in settling.states for node in waiting):
            last_events = kernel.latest_remote_ns if last_events is None else last_events
            if kernel.now >= last_events:   # the events already scheduled are still delivered, but no more
                break
            target = last_events
        elif waiting:                       # a settled (or a death) halts the run: then this looks again
            target = kernel.now + step if deadline <= kernel.now else min(deadline, kernel.now + step)
        else:                               # the medium's own: commands not yet run, events not yet due
            target = max(kernel.latest_remote_ns, kernel.now + short)
        await kernel.run_realtime(until=target)
    settling.looking = False
    settling.unsettled = settling.not_settled(live())
