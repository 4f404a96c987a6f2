"""Link layer, the distributed queue: REQ/REQ_ACK, the master's runs and the other end following them.

Part of :class:`~protocols.link.layer.LinkLayer` (the protocol is described in :mod:`protocols.link.layer`):
the peer's admission of a REQ, the master's scheduler (strict priority, round-robin between
streams, runs of :class:`~protocols.link.types.QueuePolicy` size), SCHEDULE/SCHEDULE_ACK and
aborts, and the other end switching its generation on SCHEDULE (its history of switches decides
which request a pair was made for).
"""

from __future__ import annotations

from protocols.common import NETWORK_PURPOSE_BASE, Actions, Address, Basis
from protocols.link.state import LinkState
from protocols.link.types import (
    FOLLOW_PAIRS,
    HISTORY,
    PendingSchedule,
    Request,
    RequestEvent,
    RequestState,
    Run,
    basis_choice,
)
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_REQ, MSG_REQ_ACK, MSG_SCHEDULE, MSG_SCHEDULE_ACK, EgpMessage
from protocols.physical.node import StartGeneration, StopGeneration


class QueueMixin(LinkState):
    """The distributed queue of :class:`~protocols.link.layer.LinkLayer`."""

    # -- peer protocol: the distributed queue ------------------------------------------
    def _on_req_ack(self, message: EgpMessage, now: int) -> Actions:
        request = self.requests.get((self.node_id, message.create_id))
        if request is None or request.state != RequestState.WAITING_PEER or message.origin_node != self.node_id:
            return Actions()
        request.retry_at = None
        if message.status:
            request.fire(RequestEvent.PEER_REFUSED)
            request.error = message.status
            return self._err(request, message.status)
        request.fire(RequestEvent.PEER_ACCEPTED)
        request.queue_seq = request.queue_seq or message.queue_seq
        return self._schedule(request.link.link_id, now)

    def _on_req(self, message: EgpMessage, now: int) -> Actions:
        create = message.create
        assert create is not None
        key = (message.origin_node, message.create_id)
        link = self.links_by_peer.get(message.origin_node)
        app = self.network if create.purpose_id >= NETWORK_PURPOSE_BASE else self.purposes.get(create.purpose_id)
        known = self.requests.get(key)
        if known is not None:                      # a retransmission: the same answer, nothing restarted
            return Actions(send=[self._req_ack(message, known.error if known.state == RequestState.FAILED else 0,
                                               known.queue_seq)])
        status = 0
        if link is None or create.remote_node_id != self.node_id or app is None:
            status = ll.ERR_REJECTED
        else:
            status = self._unsupported(create, local=False)
        option, refusal = self._admit(create, link) if link is not None and not status else (None, 0)
        status = status or refusal
        queue_seq = message.queue_seq
        if link is not None and self._is_master(link) and not status:
            queue_seq = self._number(link.link_id)
        actions = Actions(send=[self._req_ack(message, status, queue_seq)])
        if status:
            self.counters.rejected += 1
            return actions
        assert link is not None and app is not None
        request = Request(message.create_id, message.origin_node, create, link, app, 1,
                          RequestState.QUEUED, queue_seq=queue_seq, option=option,
                          expires_at=self._expiry(create, now))
        self._add(request)
        return actions.extend(self._schedule(link.link_id, now))

    def _req_ack(self, message: EgpMessage, status: int, queue_seq: int) -> tuple[Address, bytes]:
        link = self.links_by_peer.get(message.origin_node)
        reply = EgpMessage(MSG_REQ_ACK, status, message.create_id, message.link_id, message.origin_node, queue_seq)
        destination = link.peer_address if link is not None else self.links_by_id[message.link_id].peer_address
        return (destination, reply.encode())

    def _req(self, request: Request) -> tuple[Address, bytes]:
        message = EgpMessage(MSG_REQ, 0, request.create_id, request.link.link_id, self.node_id,
                             request.queue_seq, request.create)
        return (request.link.peer_address, message.encode())

    # -- the master's scheduler --------------------------------------------------------
    def _candidates(self, link_id: int) -> list[Request]:
        return [r for r in self.open.values()
                if r.link.link_id == link_id and r.to_number > 0
                and r.state in (RequestState.QUEUED, RequestState.GENERATING)]

    def _pick(self, link_id: int) -> tuple[Request, int] | None:
        """The request the next run serves and its number of pairs.

        Strict priority (higher first); within the highest priority, the stream (origin node,
        Purpose ID) served least recently, then the oldest request. A run is at most
        the link's ``policy.quantum`` pairs while another request of that priority waits, else at most
        ``policy.max_run``.
        """
        candidates = self._candidates(link_id)
        if not candidates:
            return None
        top = max(r.create.priority for r in candidates)
        tied = [r for r in candidates if r.create.priority == top]
        chosen = min(tied, key=lambda r: (self.last_served.get((link_id, *r.stream), 0), r.queue_seq))
        return chosen, self._run_size(chosen)

    def _run_size(self, request: Request) -> int:
        link_id = request.link.link_id
        policy = self.links_by_id[link_id].policy
        competing = any(r is not request and r.create.priority >= request.create.priority
                        for r in self._candidates(link_id))
        return min(request.to_number, policy.quantum if competing else policy.max_run)

    def _schedule(self, link_id: int, now: int) -> Actions:
        """Master: if the link is idle, start the next run (after the peer's SCHEDULE_ACK if it must switch)."""
        link = self.links_by_id[link_id]
        if not self._is_master(link) or link_id in self.scheduling or link_id in self.down or self.over:
            return Actions()
        if link_id in self.runs:
            return self._trim(link_id)
        picked = self._pick(link_id)
        if picked is None:
            return Actions()
        request, pairs = picked
        if self.peer_on.get(link_id) is request:
            return self._start_run(request, pairs, now)
        self.run_number[link_id] += 1
        pending = PendingSchedule(request, self.run_number[link_id], pairs, 0, self.reliable_retries,
                                  now + self.retransmit_ns)
        self.scheduling[link_id] = pending
        self.counters.schedules_sent += 1
        return Actions(send=[self._schedule_message(pending)])

    def _trim(self, link_id: int) -> Actions:
        """A request of at least the running one's priority is waiting: cut a long run to one quantum."""
        run = self.runs[link_id]
        quantum = self.links_by_id[link_id].policy.quantum
        if run.pairs - run.numbered <= quantum:
            return Actions()
        waiting = [r for r in self._candidates(link_id) if r is not run.request
                   and r.create.priority >= run.request.create.priority]
        if not waiting:
            return Actions()
        run.pairs = run.numbered + quantum
        return Actions(down=[StopGeneration(link_id), self._start(run.request, quantum)])

    def _schedule_message(self, pending: PendingSchedule, msg_type: int = MSG_SCHEDULE) -> tuple[Address, bytes]:
        request = pending.request
        message = EgpMessage(msg_type, pending.status, request.create_id, request.link.link_id,
                             request.origin_node, request.queue_seq, run=pending.run, pairs=pending.pairs)
        return (request.link.peer_address, message.encode())

    def _start_run(self, request: Request, pairs: int, now: int) -> Actions:
        link_id = request.link.link_id
        for other in self.runs.values():
            assert other.request.link.link_id != link_id
        if request.state == RequestState.QUEUED:
            request.fire(RequestEvent.LINK_FREE)
        self.runs[link_id] = Run(request, pairs, now)
        self.serve_clock += 1
        self.last_served[(link_id, *request.stream)] = self.serve_clock
        self.counters.runs += 1
        return Actions(down=[self._start(request, pairs)])

    def _start(self, request: Request, pairs: int) -> StartGeneration:
        alpha = request.option.alpha if request.option is not None else None
        return StartGeneration(request.link.link_id, pairs, self._basis_of(request), alpha, self._choice_of(request))

    def _end_run(self, link_id: int, now: int) -> Actions:
        run = self.runs.pop(link_id)
        actions = self._schedule(link_id, now)
        next_run = self.runs.get(link_id)
        request = run.request
        if (next_run is None or next_run.request is not request) and request.state == RequestState.GENERATING \
                and request.to_number > 0:
            request.fire(RequestEvent.RUN_END)
        return actions

    def _on_schedule_ack(self, message: EgpMessage, now: int) -> Actions:
        link_id = message.link_id
        abort = self.aborting.get((link_id, message.run))
        if abort is not None:
            del self.aborting[(link_id, message.run)]
            return Actions()
        pending = self.scheduling.get(link_id)
        if pending is None or pending.run != message.run:
            return Actions()                       # a duplicate, or an answer we stopped waiting for
        del self.scheduling[link_id]
        request = pending.request
        if message.status:                         # the other end cannot serve it: neither do we
            request.fire(RequestEvent.ABORTED)
            return self._fail_quietly(request, message.status, now)
        self.peer_on[link_id] = request
        if request.state not in (RequestState.QUEUED, RequestState.GENERATING) or request.to_number == 0:
            return self._schedule(link_id, now)
        return self._start_run(request, self._run_size(request), now)

    def _schedule_timers(self, now: int) -> Actions:
        actions = Actions()
        for link_id, pending in list(self.scheduling.items()):
            if pending.next_at > now:
                continue
            if pending.retries_left == 0:          # the peer is silent: the request cannot be served
                del self.scheduling[link_id]
                self.peer_on.pop(link_id, None)
                pending.request.fire(RequestEvent.ABORTED)
                actions.extend(self._fail_quietly(pending.request, ll.ERR_TIMEOUT, now))
                actions.extend(self._abort(pending.request, ll.ERR_TIMEOUT, now))
                continue
            pending.retries_left -= 1
            pending.next_at = now + self.retransmit_ns
            actions.send.append(self._schedule_message(pending))
        for key, abort in list(self.aborting.items()):
            if abort.next_at > now:
                continue
            if abort.retries_left == 0:
                del self.aborting[key]
                continue
            abort.retries_left -= 1
            abort.next_at = now + self.retransmit_ns
            actions.send.append(self._schedule_message(abort))
        return actions

    def _abort(self, request: Request, code: int, now: int) -> Actions:
        """Master: tell the other end a request it may hold is given up (SCHEDULE with a Status)."""
        link_id = request.link.link_id
        if not self._is_master(request.link):
            return Actions()
        self.run_number[link_id] += 1
        abort = PendingSchedule(request, self.run_number[link_id], 0, code, self.reliable_retries,
                                now + self.retransmit_ns)
        self.aborting[(link_id, abort.run)] = abort
        return Actions(send=[self._schedule_message(abort)])

    # -- the other end follows the master's runs ---------------------------------------
    def _on_schedule(self, message: EgpMessage, now: int) -> Actions:
        link_id = message.link_id
        key = (link_id, message.run)
        if key in self.schedule_answers:
            return Actions(send=[self._schedule_ack(message, self.schedule_answers[key])])
        request = self.requests.get((message.origin_node, message.create_id))
        if message.status:                         # an abort
            actions = Actions()
            if request is not None and request.state not in (RequestState.DONE, RequestState.FAILED):
                request.retry_at = None
                request.fire(RequestEvent.ABORTED)
                actions.extend(self._fail_quietly(request, message.status, now))
            self.schedule_answers.put(key, 0, now)
            return actions.extend(Actions(send=[self._schedule_ack(message, 0)]))
        if message.run <= self.followed[link_id]:
            return Actions()                       # an old SCHEDULE overtaken by a newer one
        self.followed[link_id] = message.run
        status = self._follow(request, message, now)
        self.schedule_answers.put(key, status, now)
        actions = Actions(send=[self._schedule_ack(message, status)])
        if status == 0:
            assert request is not None
            actions.down += [StopGeneration(link_id), self._start(request, FOLLOW_PAIRS)]
        return actions

    def _follow(self, request: Request | None, message: EgpMessage, now: int) -> int:
        """Switch this end to the request of a SCHEDULE; the Status to answer with."""
        if request is None or request.link.link_id != message.link_id:
            return ll.ERR_REJECTED
        if request.state == RequestState.FAILED:
            return request.error or ll.ERR_OTHER
        if request.state == RequestState.WAITING_PEER:   # every REQ_ACK was lost: the SCHEDULE says it all
            request.retry_at = None
            request.fire(RequestEvent.PEER_ACCEPTED)
            request.queue_seq = message.queue_seq
        history = self.history[message.link_id]
        previous = history[-1][1] if history else None
        if previous is not None and previous is not request and previous.state == RequestState.GENERATING:
            previous.fire(RequestEvent.RUN_END)
        if request.state == RequestState.QUEUED:
            request.fire(RequestEvent.LINK_FREE)
        history.append((now, request))
        del history[:-HISTORY]
        return 0

    def _schedule_ack(self, message: EgpMessage, status: int) -> tuple[Address, bytes]:
        link = self.links_by_id[message.link_id]
        reply = EgpMessage(MSG_SCHEDULE_ACK, status, message.create_id, message.link_id, message.origin_node,
                           message.queue_seq, run=message.run, pairs=message.pairs)
        return (link.peer_address, reply.encode())

    def _followed_request(self, link_id: int, emitted_at: int) -> Request | None:
        """Other end: the request this end was generating for when it emitted at ``emitted_at``."""
        for switched_at, request in reversed(self.history[link_id]):
            if switched_at <= emitted_at:
                return request
        return None

    # -- generation --------------------------------------------------------------------
    def _basis_of(self, request: Request) -> Basis | None:
        if request.create.tpe != ll.TPE_MEASURE or request.create.rl or request.create.rr:
            return None
        return self._rotation_basis(request.create, local=request.d == 0)

    @staticmethod
    def _choice_of(request: Request) -> tuple[tuple[Basis, float], ...]:
        if request.create.tpe != ll.TPE_MEASURE:
            return ()
        return basis_choice(request.create, local=request.d == 0)
