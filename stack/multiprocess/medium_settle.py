"""The settling phase at the end of a ``qnet up`` run: after the drain, the medium goes on until every live node's
layers have settled, as ``qnet run`` does (:func:`stack.runtime.run_async`), within a bound.

After ``drain``, each node says ``settled`` (``settled``: true or false) whenever whether its link and network
layers have settled (:meth:`stack.emulation.Emulation.settled`: no CONFIRM, SCHEDULE, RELEASE or abort waits
for its answer, no pair is moving to storage) changes; the first false carries ``bound_ns``, the longest its
layers go on retransmitting (:func:`stack.runtime.settle_bound_ns`, asked only then, as ``qnet run`` does).
Once, after the drain time, every live node last said true, every event the medium scheduled for a node (a
``MoveResult``, a block's events) is due and every command a node sent has run, the medium asks the nodes
(``ask_settled``, a *round* numbered from 1, stamped with its instant): each answers ``settled`` with the round
once it has handled every input due by that instant. The medium sends ``finish`` when every node it waits for
answered the round true and nothing since has made an answer stale (a node's false, a death, an event sent to a
node after the ask); otherwise it asks again. Or once the largest bound has passed since the drain
time ended (the events already scheduled and the commands received are still waited for, and the report names
the nodes that had not settled). Commands are always waited for, whether or not a node sent a bound, but for at
most :data:`COMMANDS_TIMEOUT_S` of wall time once nothing else holds ``finish`` back: a command stamped far in
the future cannot hang the medium (the report counts it). A dead node does not block; nor does a live one that
has said nothing :data:`REPORT_TIMEOUT_S` of wall time after the drain time ended, or that has not answered
:data:`ANSWER_TIMEOUT_S` after the first round was asked (a stale round does not restart it; both are named).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stack.multiprocess.medium_ports import MediumKernel

MAX_BOUND_NS = 10**12
"""The longest settling bound a node may send: 1,000 s of emulated time (ours are about 130 retransmission
intervals: 130 ms on a 2 km link)."""
REPORT_TIMEOUT_S = 20.0
"""How long (wall time) after the drain ended the medium waits for a live node's first ``settled``."""
ANSWER_TIMEOUT_S = REPORT_TIMEOUT_S
"""How long (wall time) the medium waits for every node's answer to a round, once asked: the same as for a
silent node (a process that cannot answer for that long is named, and the run ends)."""
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


class Settling:
    """What the live nodes said with ``settled`` since the drain, the rounds the medium asked, and whether the
    medium may finish."""

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
        self.round = 0
        """The last round asked (0: none yet)."""
        self.confirmed: set[str] = set()
        """The nodes that answered this round true."""
        self.changes = 0
        """Falses and deaths seen: a round asked before the last of them is stale (:class:`Round`)."""

    def receive(self, node: str, message: dict[str, Any]) -> None:
        """Record one node's ``settled``; ValueError or TypeError (the message is refused) if it is not one."""
        if not self.active:
            raise ValueError("'settled' before the drain")
        settled, bound, answer = message["settled"], message.get("bound_ns"), message.get("round")
        if type(settled) is not bool:
            raise TypeError(f"'settled' must be true or false, got {str(settled)[:20]}")
        if answer is not None and (type(answer) is not int or not 1 <= answer <= self.round):
            raise ValueError(f"'round' must be a round asked (1 to {self.round}), got {str(answer)[:40]}")
        if bound is not None:
            if type(bound) is not int or not 0 <= bound <= MAX_BOUND_NS:
                raise TypeError(f"'bound_ns' must be an integer in [0, {MAX_BOUND_NS}], got {str(bound)[:40]}")
            self.bounds[node] = bound
        elif not settled and node not in self.bounds:
            raise ValueError("a node's first 'settled' false carries 'bound_ns'")
        self.states[node] = settled
        if not settled:
            self.changes += 1
        elif answer == self.round:
            self.confirmed.add(node)

    def disturb(self) -> None:
        """Something other than a false may have unsettled a node since the round was asked (a peer died)."""
        self.changes += 1

    def ask(self) -> int:
        """A new round: its number (the nodes' answers to earlier ones no longer confirm)."""
        self.round += 1
        self.confirmed = set()
        return self.round

    def bound_ns(self) -> int:
        """The longest bound any node sent (0 if none did)."""
        return max(self.bounds.values(), default=0)

    def waiting(self, live: list[str], drained_wall: float) -> list[str]:
        """The live nodes the medium still waits for: those whose last word was false, and those that have said
        nothing yet, until :data:`REPORT_TIMEOUT_S` after ``drained_wall`` (a ``time.monotonic()`` reading)."""
        silent_too = time.monotonic() - drained_wall < REPORT_TIMEOUT_S
        return [node for node in live if not self.states.get(node, not silent_too)]

    def unconfirmed(self, live: list[str]) -> list[str]:
        """The live nodes that have spoken and not answered this round true (a silent one past its timeout is
        not asked to: it is named as silent)."""
        return [node for node in live if node in self.states and node not in self.confirmed]

    def not_settled(self, live: list[str]) -> list[str]:
        """The live nodes that have not said their layers settled (for the report)."""
        return sorted(node for node in live if not self.states.get(node, False))


@dataclass(frozen=True, slots=True)
class Round:
    """One round the medium asked: its number, and the :attr:`Settling.changes` and the events sent to nodes
    (:attr:`MediumKernel.events_sent`) then."""

    number: int
    changes: int
    events_sent: int

    def stale(self, settling: Settling, kernel: MediumKernel) -> bool:
        """Whether an answer to this round may no longer hold: a false or a death since, or an event sent to a node
        since (it follows the ask on the node's socket: the node may have answered before handling it)."""
        return settling.changes != self.changes or kernel.events_sent != self.events_sent


async def settle(kernel: MediumKernel, settling: Settling, live: Callable[[], list[str]],
                 pending: Callable[[], int], ask: Callable[[dict[str, Any]], None]) -> None:
    """After the drain time: run ``kernel`` on until every ``live()`` node has settled, every event scheduled for a
    node is due, no command is ``pending()`` and every node has answered a round (sent with ``ask``) true that
    nothing has made stale since; or until the bound (:class:`Settling`), the events scheduled by then and the
    pending commands. Commands are waited for at most :data:`COMMANDS_TIMEOUT_S` (those never run are the
    report's ``commands_not_run``). A node's ``settled`` or death halts the kernel's run, so that this looks
    again at once."""
    phase = _Phase(kernel, settling, live, pending, ask)
    settling.looking = True
    while (target := phase.target()) is not None:
        await kernel.run_realtime(until=target)
    settling.looking = False
    settling.unsettled = sorted(set(settling.not_settled(live())) | set(phase.unanswered))


class _Phase:
    """One settling phase: what :func:`settle` waits for, looked at again after each run of the kernel."""

    def __init__(self, kernel: MediumKernel, settling: Settling, live: Callable[[], list[str]],
                 pending: Callable[[], int], ask: Callable[[dict[str, Any]], None]) -> None:
        self.kernel, self.settling, self.live, self.pending, self.ask = kernel, settling, live, pending, ask
        self.start, self.drained_wall = kernel.now, time.monotonic()
        self.step, self.short = (max(1, int(wall_ns * kernel.dilation)) for wall_ns in (CHECK_WALL_NS, 1_000_000))
        self.last_events: int | None = None
        """When the events scheduled by the time the bound passed are due: no later ones are waited for."""
        self.idle_since: float | None = None
        """Since when (``time.monotonic()``) only commands, or the answers to a round, have held ``finish`` back."""
        self.asked: Round | None = None
        self.asking_since: float | None = None
        """Since when (``time.monotonic()``) rounds have been asked, with every node settled and every event due
        all along (a round made stale by an event sent at once does not restart the answers' timeout)."""
        self.unanswered: list[str] = []
        """The nodes that had not answered the round true when :data:`ANSWER_TIMEOUT_S` passed."""

    def target(self) -> int | None:
        """The emulated time to run the kernel to before looking again; None: ``finish`` may go."""
        kernel, settling = self.kernel, self.settling
        waiting = settling.waiting(self.live(), self.drained_wall)
        deadline = self.start + settling.bound_ns()
        bound_passed = bool(waiting) and kernel.now >= deadline and all(node in settling.states for node in waiting)
        if waiting and not bound_passed:        # a settled (or a death) halts the run: then this looks again
            self.idle_since = self.asking_since = None
            return kernel.now + self.step if deadline <= kernel.now else min(deadline, kernel.now + self.step)
        if bound_passed and self.last_events is None:
            self.last_events = kernel.latest_remote_ns
        return self._medium_own(bound_passed)

    def _medium_own(self, bound_passed: bool) -> int | None:
        """What the medium itself still waits for: events not yet due, commands not yet run (for at most
        :data:`COMMANDS_TIMEOUT_S`), and, unless the bound has passed, every node's answer to a round."""
        kernel = self.kernel
        events_at = kernel.latest_remote_ns if self.last_events is None else self.last_events
        if kernel.now < events_at:
            self.idle_since = self.asking_since = None
            return events_at if bound_passed else max(events_at, kernel.now + self.short)
        wall = time.monotonic()
        self.idle_since = wall if self.idle_since is None else self.idle_since
        if self.pending():                      # stamped later than now: they run when due, unless that is too late
            return None if wall - self.idle_since >= COMMANDS_TIMEOUT_S else kernel.now + self.short
        return None if bound_passed else self._answers(wall)

    def _answers(self, wall: float) -> int | None:
        """Ask a round if none is asked or the last is stale; None once every node answered it true (or, since
        rounds have been asked, :data:`ANSWER_TIMEOUT_S` has passed: those that had not answered are named)."""
        kernel, settling = self.kernel, self.settling
        if self.asked is None or self.asked.stale(settling, kernel):
            self.asked = Round(settling.ask(), settling.changes, kernel.events_sent)
            self.ask({"op": "ask_settled", "at": kernel.now, "round": self.asked.number})
        self.asking_since = wall if self.asking_since is None else self.asking_since
        unconfirmed = settling.unconfirmed(self.live())
        if not unconfirmed:
            return None
        if wall - self.asking_since >= ANSWER_TIMEOUT_S:
            self.unanswered = unconfirmed
            return None
        return kernel.now + self.step           # an answer halts the run: then this looks again
