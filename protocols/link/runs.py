"""Link layer: :class:`MasterRuns`, what the master of each link generates, run by run.

When a link is idle the master picks the next run (:class:`~protocols.link.scheduler.Scheduler`).
If the other end is not already generating for that request, the master first sends SCHEDULE
(the request, a new run number) and arms only on SCHEDULE_ACK; a refusal (the other end failed or
never knew the request) fails the request here too. Consecutive runs of the same request need no
message. A SCHEDULE is retransmitted until answered, ``reliable_retries`` times at most; if the
other end stays silent the request fails with ERR TIMEOUT and is *aborted* (SCHEDULE with a
Status, retransmitted the same way), as is a request whose REQ never got an answer.

Each pair the master numbers counts towards its run (:meth:`MasterRuns.numbered`); the run ends
with its last pair, or when its request needs no more, and the next one is scheduled. A pair
emitted before the run started belongs to no run (:meth:`MasterRuns.request_for`).
"""

from __future__ import annotations

from dataclasses import dataclass

import protocols.link.generation as generation
from protocols.common import Actions, Address, going_down
from protocols.link.links import Links
from protocols.link.requests import RequestTable
from protocols.link.scheduler import Scheduler
from protocols.link.types import (
    GENERATING,
    LINK_FREE,
    QUEUED,
    RUN_END,
    SERVED,
    FailRequest,
    LinkCounters,
    Request,
    RequestEvent,
    Retransmission,
    Run,
)
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_SCHEDULE, EgpMessage
from protocols.physical.node import BlockReady, PairReady, StopGeneration


@dataclass(slots=True)
class PendingSchedule:
    """A SCHEDULE (or, with a Status, an abort) the master retransmits until SCHEDULE_ACK."""

    request: Request
    run: int
    pairs: int
    status: int
    retries_left: int
    next_at: int


class MasterRuns:
    """The master's runs on its links: the current run, the SCHEDULE awaiting its answer, aborts in flight,
    and which request the other end is known to generate for. ``fail`` fails a request that cannot be served."""

    def __init__(self, links: Links, requests: RequestTable, scheduler: Scheduler, counters: LinkCounters,
                 timing: Retransmission, fail: FailRequest) -> None:
        self._links = links
        self._requests = requests
        self._scheduler = scheduler
        self._counters = counters
        self._timing = timing
        self._fail = fail
        self._runs: dict[int, Run] = {}
        self._scheduling: dict[int, PendingSchedule] = {}               # link -> SCHEDULE awaiting its ACK
        self.aborting: dict[tuple[int, int], PendingSchedule] = {}       # (link, run) -> abort awaiting its ACK
        self._peer_on: dict[int, Request] = {}                           # link -> what the other end generates for
        self.timed = (self._scheduling, self.aborting)
        """The tables whose entries have deadlines (:meth:`deadline`: None while both are empty)."""
        self._run_number = {link_id: 0 for link_id in links.ids()}
        self._masters = links.masters

    # -- queries -------------------------------------------------------------------------
    def current(self, link_id: int) -> Run | None:
        """The run being generated on ``link_id`` (None: the link is idle, or waits for a SCHEDULE_ACK)."""
        return self._runs.get(link_id)

    def request_for(self, pair: PairReady | BlockReady) -> Request | None:
        """The request a heralded pair belongs to: the current run's, if it was emitted during that run."""
        run = self._runs.get(pair.link_id)
        if run is None or pair.emission_time < run.started_at:
            return None
        return run.request

    def settled(self) -> bool:
        """No SCHEDULE and no abort waits for its answer."""
        return not (self._scheduling or self.aborting)

    def deadline(self) -> int | None:
        if not (self._scheduling or self.aborting):
            return None
        return min(p.next_at for p in (*self._scheduling.values(), *self.aborting.values()))

    # -- runs ----------------------------------------------------------------------------
    def schedule(self, link_id: int, now: int) -> Actions:
        """If the link is idle, start the next run (after the peer's SCHEDULE_ACK if it must switch)."""
        actions = self._next(link_id, now)
        return Actions() if actions is None else actions

    def _next(self, link_id: int, now: int) -> Actions | None:
        """:meth:`schedule`, None when there is nothing to do (at the end of each run of a circuit hop's credit)."""
        links = self._links
        link = links.by_id[link_id]
        if link_id not in self._masters or link_id in self._scheduling or link_id in links.down or links.over:
            return None                            # (not master, waiting for a SCHEDULE_ACK, or cannot generate)
        if link_id in self._runs:
            return self._trim(link_id)
        candidates = self._candidates(link_id)
        if not candidates:
            return None
        picked = self._scheduler.pick(link, candidates)
        if picked is None:
            return None
        request, pairs = picked
        if self._peer_on.get(link_id) is request:
            return self._start_run(request, pairs, now)
        self._run_number[link_id] += 1
        pending = PendingSchedule(request, self._run_number[link_id], pairs, 0, self._timing.reliable_retries,
                                  now + self._timing.interval_ns)
        self._scheduling[link_id] = pending
        self._counters.schedules_sent += 1
        return Actions(send=[self._message(pending)])

    def numbered(self, link_id: int, now: int, count: int = 1) -> Actions | None:
        """``count`` more pairs of the current run are numbered: the run ends with its last pair, or when its
        request needs no more (what that asks for; None, as for most pairs, when the run goes on or nothing
        follows it)."""
        run = self._runs[link_id]
        run.numbered += count
        request = run.request
        if run.numbered >= run.pairs or (request.credit if request.windowed else request.create.number) \
                <= request.numbered:        # Request.to_number <= 0, written out on this per-pair path (the
            # property's body; tests/test_link_parts.py::test_a_run_ends_when_to_number_says holds them equal)
            return self._end_run(link_id, now)
        return None

    def rearm(self, link_id: int, count: int = 1) -> Actions:
        """A herald of the current run (of ``count`` pairs) was lost before it was numbered: arm for as many more."""
        run = self._runs.get(link_id)
        return Actions(down=[generation.start(run.request, count)]) if run is not None else Actions()

    def stop_serving(self, request: Request) -> Actions:
        """``request`` failed: stop its run, and stop waiting for the SCHEDULE_ACK of its next one."""
        actions = Actions()
        link_id = request.link.link_id
        run = self._runs.get(link_id)
        if run is not None and run.request is request:
            del self._runs[link_id]
            actions.down.append(StopGeneration(link_id))
        pending = self._scheduling.get(link_id)
        if pending is not None and pending.request is request:
            del self._scheduling[link_id]
            self._peer_on.pop(link_id, None)      # it may or may not have switched: SCHEDULE again next time
        return actions

    def link_down(self, link_id: int) -> None:
        """The link makes no more pairs: forget its run and its SCHEDULE (the request fails at both ends, each
        told of the link going down); aborts go on while the peer answers (:meth:`peer_gone`)."""
        self._runs.pop(link_id, None)
        self._scheduling.pop(link_id, None)
        self._peer_on.pop(link_id, None)

    def peer_gone(self, link_id: int) -> None:
        """The peer is gone: forget the link's aborts."""
        for key in [key for key in self.aborting if key[0] == link_id]:
            del self.aborting[key]

    def _candidates(self, link_id: int) -> list[Request]:
        """The open requests the link could serve now, oldest first (``to_number`` written out: twice a pair)."""
        return [r for r in self._requests.open_values()
                if r.link.link_id == link_id and r.state in SERVED
                and (r.credit if r.windowed else r.create.number) > r.numbered]

    def _trim(self, link_id: int) -> Actions:
        """A request of at least the running one's priority is waiting: cut a long run to one quantum."""
        run = self._runs[link_id]
        link = self._links[link_id]
        end = self._scheduler.cut(link, run, self._candidates(link_id))
        if end is None:
            return Actions()
        run.pairs = end
        return Actions(down=[StopGeneration(link_id), generation.start(run.request, link.policy.quantum)])

    def _start_run(self, request: Request, pairs: int, now: int) -> Actions:
        link_id = request.link.link_id
        assert link_id not in self._runs
        if request.state is QUEUED:
            request.fire(LINK_FREE)
        self._runs[link_id] = Run(request, pairs, now)
        self._scheduler.served(request)
        self._counters.runs += 1
        return going_down([generation.start(request, pairs)])

    def _end_run(self, link_id: int, now: int) -> Actions | None:
        run = self._runs.pop(link_id)
        actions = self._next(link_id, now)
        next_run = self._runs.get(link_id)
        request = run.request
        if (next_run is None or next_run.request is not request) and request.state is GENERATING \
                and request.to_number > 0:
            request.fire(RUN_END)
        return actions

    # -- SCHEDULE and abort --------------------------------------------------------------
    def on_schedule_ack(self, message: EgpMessage, now: int) -> Actions:
        link_id = message.link_id
        abort = self.aborting.get((link_id, message.run))
        if abort is not None:
            del self.aborting[(link_id, message.run)]
            return Actions()
        pending = self._scheduling.get(link_id)
        if pending is None or pending.run != message.run:
            return Actions()                       # a duplicate, or an answer we stopped waiting for
        del self._scheduling[link_id]
        request = pending.request
        if message.status:                         # the other end cannot serve it: neither do we
            request.fire(RequestEvent.ABORTED)
            return self._fail(request, message.status, now)
        self._peer_on[link_id] = request
        if request.state not in SERVED or request.to_number == 0:
            return self.schedule(link_id, now)
        link = self._links[request.link.link_id]
        pairs = self._scheduler.run_size(link, request, self._candidates(link.link_id))
        return self._start_run(request, pairs, now)

    def abort(self, request: Request, code: int, now: int) -> Actions:
        """Master: tell the other end a request it may hold is given up (SCHEDULE with a Status)."""
        link_id = request.link.link_id
        if not self._links.is_master(request.link):
            return Actions()
        self._run_number[link_id] += 1
        abort = PendingSchedule(request, self._run_number[link_id], 0, code, self._timing.reliable_retries,
                                now + self._timing.interval_ns)
        self.aborting[(link_id, abort.run)] = abort
        return Actions(send=[self._message(abort)])

    def on_timer(self, now: int) -> Actions:
        """Retransmit SCHEDULEs and aborts that are due; give up on those retransmitted often enough."""
        actions = Actions()
        for link_id, pending in list(self._scheduling.items()):
            if pending.next_at > now:
                continue
            if pending.retries_left == 0:          # the peer is silent: the request cannot be served
                del self._scheduling[link_id]
                self._peer_on.pop(link_id, None)
                pending.request.fire(RequestEvent.ABORTED)
                actions.extend(self._fail(pending.request, ll.ERR_TIMEOUT, now))
                actions.extend(self.abort(pending.request, ll.ERR_TIMEOUT, now))
                continue
            pending.retries_left -= 1
            pending.next_at = now + self._timing.interval_ns
            actions.send.append(self._message(pending))
        for key, abort in list(self.aborting.items()):
            if abort.next_at > now:
                continue
            if abort.retries_left == 0:
                del self.aborting[key]
                continue
            abort.retries_left -= 1
            abort.next_at = now + self._timing.interval_ns
            actions.send.append(self._message(abort))
        return actions

    @staticmethod
    def _message(pending: PendingSchedule) -> tuple[Address, bytes]:
        request = pending.request
        message = EgpMessage(MSG_SCHEDULE, pending.status, request.create_id, request.link.link_id,
                             request.origin_node, request.queue_seq, run=pending.run, pairs=pending.pairs)
        return (request.link.peer_address, message.encode())
