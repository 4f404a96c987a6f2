"""Link layer: the CREATE → ACK → OK service of draft-dahlberg-ll-quantum-03 over a distributed queue.

The node that receives a CREATE from its higher layer (the *origin*) answers ACK and
forwards the request to the peer as an EGP REQ; the peer answers REQ_ACK (accepted, or an
error code such as REJECTED, UNSUPP or NORES when its queue is full). The end with the lower
node id is the link's *master*: it numbers accepted requests (Queue Sequence) and decides
what the link generates. It serves requests in *runs*: strict priority (CREATE's Priority,
higher first), and within a priority round-robin between request streams (origin node,
Purpose ID), a few pairs per run while others wait (:class:`QueuePolicy`). Before the first
run of a request that the other end is not already generating for, the master sends
SCHEDULE and starts only on SCHEDULE_ACK; the other end switches its generation to that
request (REQ_ACKs that were all lost are thus repaired: the SCHEDULE implies acceptance) or
refuses with a Status, and both ends fail the request. A SCHEDULE with a Status is an
*abort*: the master gave the request up (its REQ never got an answer).

Each heralded pair is numbered by the master, delivered there and CONFIRMed (naming the
request); the other end delivers it on CONFIRM if it made the pair for that request (by the
pair's emission time and when it switched), and otherwise both ends report it expired.

Request lifecycle (:data:`TRANSITIONS`)::

    WAITING_PEER --REQ_ACK accepted--> QUEUED --its run--> GENERATING --last pair--> DONE
    GENERATING --run over, another request's turn--> QUEUED
    WAITING_PEER --REQ_ACK error / retries exhausted--> FAILED
    any open state --Max Time runs out / aborted--> FAILED (ERR TIMEOUT or the peer's Status)

A CREATE is admitted against the link's options (:mod:`protocols.admission`): the fastest
option meeting its Minimum Fidelity, else ERR UNSUPP; ERR NOTIME if the expected time for
Number pairs exceeds Max Time; ERR NORES if the link's queue is full or the node's memory
(:class:`Memory`) cannot take the request's pairs.

An atomic create-and-keep request (ATO, or CON clear) keeps its pairs at both ends, moved to
storage qubits when there are any, until all are there; the master then delivers them and
RELEASEs them to the other end. A kept pair older than the link's cutoff is discarded at both
ends (ERR EXPIRE at both, RELEASE with Status EXPIRE) and replaced. A measure-directly request
with CON clear gets all its OKs when it completes.
"""

from __future__ import annotations

from typing import Any

from protocols import admission, physics
from protocols.admission import LinkOption
from protocols.common import EGP_PORT, Actions, Address, Basis, ParseError
from protocols.hardware import Discard, LinkDown, Move, MoveResult
from protocols.link_types import (
    FOLLOW_PAIRS,
    HISTORY,
    RANDOM_BASES,
    ROTATION_BASES,
    TRANSITIONS,
    Held,
    LinkConfig,
    LinkCounters,
    Memory,
    PendingConfirm,
    PendingSchedule,
    QueuePolicy,
    Request,
    RequestEvent,
    RequestState,
    Run,
    basis_choice,
)
from protocols.packets import linkservice as ll
from protocols.packets.egp import (
    MSG_CONFIRM,
    MSG_CONFIRM_ACK,
    MSG_RELEASE,
    MSG_RELEASE_ACK,
    MSG_REQ,
    MSG_REQ_ACK,
    MSG_SCHEDULE,
    MSG_SCHEDULE_ACK,
    EgpMessage,
)
from protocols.physical import AttemptLost, PairReady, StartGeneration, StopGeneration

__all__ = ["ROTATION_BASES", "TRANSITIONS", "LinkConfig", "LinkCounters", "LinkLayer", "Memory", "QueuePolicy",
           "Request", "RequestEvent", "RequestState"]


class LinkLayer:
    """Sans-IO link-layer engine of one node (every link of that node)."""

    def __init__(self, node_id: int, links: list[LinkConfig], purposes: dict[int, Address],
                 retransmit_ns: int, retries: int = 3, memory: Memory | None = None) -> None:
        self.node_id = node_id
        self.links_by_peer = {link.peer_node_id: link for link in links}
        self.links_by_id = {link.link_id: link for link in links}
        self.purposes = purposes
        self.retransmit_ns = retransmit_ns
        self.retries = retries
        self.memory = memory or Memory()
        self.requests: dict[tuple[int, int], Request] = {}
        self.numbered: dict[int, int] = {link.link_id: 0 for link in links}
        self.next_seq: dict[int, int] = {link.link_id: 0 for link in links}
        self.next_create_id = 1
        self.counters = LinkCounters()
        self.confirm_timeout_ns = (retries + 2) * retransmit_ns
        # master: the run being generated, the SCHEDULE awaiting its ACK, aborts, what the peer is armed for
        self.runs: dict[int, Run] = {}
        self.scheduling: dict[int, PendingSchedule] = {}
        self.aborting: dict[tuple[int, int], PendingSchedule] = {}
        self.peer_on: dict[int, Request] = {}
        self.run_number: dict[int, int] = {link.link_id: 0 for link in links}
        self.last_served: dict[tuple[int, int, int], int] = {}
        self.serve_clock = 0
        # other end: the runs it follows (when it switched, to which request) and its SCHEDULE answers
        self.followed: dict[int, int] = {link.link_id: 0 for link in links}
        self.history: dict[int, list[tuple[int, Request]]] = {link.link_id: [] for link in links}
        self.schedule_answers: dict[tuple[int, int], int] = {}
        self.sent: dict[tuple[int, int], PendingConfirm] = {}                # master: CONFIRMs awaiting ACK
        self.awaiting: dict[tuple[int, int], tuple[Request, PairReady, int]] = {}   # slave: pairs awaiting CONFIRM
        self.lost: dict[tuple[int, int], int] = {}                           # slave: heralds lost, until when
        self.early: dict[tuple[int, int], tuple[EgpMessage, int]] = {}       # slave: CONFIRMs before the pair
        self.answered: dict[tuple[int, int], int] = {}                       # slave: CONFIRM_ACK statuses sent
        # atomic requests: pairs kept until all are there; the master's RELEASEs; the other end's answers
        self.holding: dict[tuple[int, int], Held] = {}
        self.releasing: dict[tuple[int, int], PendingConfirm] = {}
        self.released: dict[tuple[int, int], int] = {}
        # create-and-keep pairs moving to storage before their OK: communication slot -> (request, pair, seq)
        self.moving: dict[int, tuple[Request, PairReady, int]] = {}
        self.down: set[int] = set()                                          # links whose peer is gone

    # -- inputs -------------------------------------------------------------------------
    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        try:
            if port == EGP_PORT:
                actions = self._on_peer(EgpMessage.decode(payload), source, now)
            else:
                actions = self._on_create(payload, source, now)
        except ParseError:
            self.counters.malformed += 1
            actions = Actions()
        actions.deadline = self._deadline()
        return actions

    def handle(self, event: Any, now: int) -> Actions:
        if isinstance(event, PairReady):
            actions = self._on_pair(event, now)
        elif isinstance(event, AttemptLost):
            actions = self._on_lost(event, now)
        elif isinstance(event, MoveResult):
            actions = self._on_moved(event, now)
        elif isinstance(event, LinkDown):
            actions = self._on_link_down(event.link_id, now)
        else:
            raise TypeError(f"link layer cannot handle {event!r}")
        actions.deadline = self._deadline()
        return actions

    def start(self, now: int) -> Actions:
        return Actions()

    def on_timer(self, now: int) -> Actions:
        actions = self._confirm_timers(now)
        actions.extend(self._schedule_timers(now))
        actions.extend(self._release_timers(now))
        actions.extend(self._cutoff_timers(now))
        for request in list(self.requests.values()):
            if request.expires_at is not None and request.expires_at <= now:
                actions.extend(self._expire(request, now))
                continue
            if request.retry_at is None or request.retry_at > now:
                continue
            if request.retries_left == 0:
                request.retry_at = None
                request.fire(RequestEvent.PEER_REFUSED)
                actions.extend(self._fail_quietly(request, ll.ERR_TIMEOUT, now))
                actions.extend(self._abort(request, ll.ERR_TIMEOUT, now))   # its REQ_ACKs may just be lost
            else:
                request.retries_left -= 1
                request.retry_at = now + self.retransmit_ns
                actions.send.append(self._req(request))
        actions.deadline = self._deadline()
        return actions

    def settled(self) -> bool:
        """No message of the peer protocol waits for an answer and no pair for its CONFIRM."""
        return not (self.sent or self.awaiting or self.early or self.scheduling or self.aborting
                    or self.holding or self.releasing or self.moving)

    def held_slots(self) -> set[int]:
        """Memory slots of pairs that wait for the master's CONFIRM, or for the rest of their atomic request."""
        waiting = {pair.slot for _, pair, _ in self.awaiting.values() if pair.outcome is None}
        return waiting | {held.slot for held in self.holding.values()}

    # -- CREATE from a higher layer -------------------------------------------------------
    def _on_create(self, payload: bytes, app: Address, now: int) -> Actions:
        try:
            create = ll.Create.decode(payload)
        except ParseError:
            self.counters.malformed += 1
            return self._reply(app, ll.Err(0, ll.ERR_CREATE, origin_node=self.node_id))
        create_id = self.next_create_id
        self.next_create_id = create_id % 0xFFFF + 1
        link = self.links_by_peer.get(create.remote_node_id)
        error = self._unsupported(create, local=True) if link else ll.ERR_UNSUPP
        if link is not None and link.link_id in self.down:
            error = ll.ERR_OTHER
        option: LinkOption | None = None
        if not error:
            assert link is not None
            option, error = self._admit(create, link)
        if error:
            self.counters.rejected += 1
            return self._reply(app, ll.Err(create_id, error, origin_node=self.node_id))
        assert link is not None
        request = Request(create_id, self.node_id, create, link, app, 0, RequestState.WAITING_PEER,
                          retries_left=self.retries, retry_at=now + self.retransmit_ns, option=option,
                          expires_at=self._expiry(create, now))
        if self._is_master(link):
            request.queue_seq = self._number(link.link_id)
        self.requests[(self.node_id, create_id)] = request
        return Actions(send=[(app, ll.Ack(create_id).encode()), self._req(request)])

    def _unsupported(self, create: ll.Create, local: bool) -> int:
        if create.number == 0 or (create.ato and create.tpe != ll.TPE_KEEP):   # atomic: create-and-keep only
            return ll.ERR_UNSUPP
        if create.rl or create.rr:                 # a random basis only makes sense measuring directly
            if create.tpe != ll.TPE_MEASURE or create.rl not in RANDOM_BASES or create.rr not in RANDOM_BASES:
                return ll.ERR_UNSUPP
            return 0
        if create.tpe == ll.TPE_MEASURE and self._rotation_basis(create, local) is None:
            return ll.ERR_UNSUPP
        return 0

    def _admit(self, create: ll.Create, link: LinkConfig) -> tuple[LinkOption | None, int]:
        """The link option that serves ``create``, or the error code that refuses it."""
        if self._open_requests(link.link_id) >= link.policy.max_queue or self._no_room(create):
            return None, ll.ERR_NORES
        option = admission.choose(link.options, ll.decode_fidelity(create.minimum_fidelity))
        if option is None:
            return None, ll.ERR_UNSUPP
        limit = create.max_time_ns()
        if limit is not None and admission.expected_time_ns(option, create.number, link.cycle_ns) > limit:
            return None, ll.ERR_NOTIME
        return option, 0

    def _no_room(self, create: ll.Create) -> bool:
        """No memory for the request's pairs: no communication qubit at all, or (atomic) fewer qubits than
        its Number pairs besides those the open atomic requests reserve."""
        if self.memory.communication == 0:
            return True
        if not create.kept_together:
            return False
        reserved = sum(r.create.number for r in self.requests.values() if r.create.kept_together
                       and r.state not in (RequestState.DONE, RequestState.FAILED))
        return create.number + reserved > self.memory.total

    def _open_requests(self, link_id: int) -> int:
        return sum(1 for r in self.requests.values()
                   if r.link.link_id == link_id and r.state not in (RequestState.DONE, RequestState.FAILED))

    @staticmethod
    def _expiry(create: ll.Create, now: int) -> int | None:
        limit = create.max_time_ns()
        return None if limit is None else now + limit

    def _expire(self, request: Request, now: int) -> Actions:
        """Max Time ran out before the request was done: ERR TIMEOUT, and stop generating for it."""
        request.expires_at = None
        request.retry_at = None
        if request.state in (RequestState.DONE, RequestState.FAILED):
            return Actions()
        request.fire(RequestEvent.MAX_TIME)
        return self._fail_quietly(request, ll.ERR_TIMEOUT, now)

    def _fail_quietly(self, request: Request, code: int, now: int) -> Actions:
        """``request`` has failed here (its state is FAILED): tell its higher layer, stop serving it."""
        request.error = code
        actions = self._flush(request).extend(self._err(request, code))
        link_id = request.link.link_id
        run = self.runs.get(link_id)
        if run is not None and run.request is request:
            del self.runs[link_id]
            actions.down.append(StopGeneration(link_id))
        pending = self.scheduling.get(link_id)
        if pending is not None and pending.request is request:
            del self.scheduling[link_id]
            self.peer_on.pop(link_id, None)       # it may or may not have switched: SCHEDULE again next time
        history = self.history[link_id]
        if not self._is_master(request.link) and history and history[-1][1] is request:
            actions.down.append(StopGeneration(link_id))
        for key, held in list(self.holding.items()):     # an atomic request's kept pairs go with it
            if held.request is request:
                actions.extend(self._drop(key))
        return actions.extend(self._schedule(link_id, now))

    def _on_link_down(self, link_id: int, now: int) -> Actions:
        """The peer (or the station between) is gone: pairs it never confirmed expire here, and every
        open request on the link fails with ERR OTHER; later CREATEs for that peer get ERR OTHER too."""
        if link_id not in self.links_by_id or link_id in self.down:
            return Actions()
        self.down.add(link_id)
        actions = Actions(down=[StopGeneration(link_id)])
        self.runs.pop(link_id, None)
        self.scheduling.pop(link_id, None)
        self.peer_on.pop(link_id, None)
        for key, pending in list(self.sent.items()):
            if key[0] == link_id:
                del self.sent[key]
                actions.extend(self._expired(pending.request, pending.seq))
        for key, (_, pair, _) in list(self.awaiting.items()):
            if key[0] == link_id:
                del self.awaiting[key]
                actions.hardware.extend(self._free(pair))
        for table in (self.early, self.lost, self.aborting, self.releasing):
            for key in [key for key in table if key[0] == link_id]:
                del table[key]
        for request in list(self.requests.values()):
            if request.link.link_id == link_id and request.state not in (RequestState.DONE, RequestState.FAILED):
                request.fire(RequestEvent.LINK_DOWN)
                request.retry_at = request.expires_at = None
                actions.extend(self._fail_quietly(request, ll.ERR_OTHER, now))
        return actions

    @staticmethod
    def _rotation_basis(create: ll.Create, local: bool) -> Basis | None:
        angles = ((create.rotx1l, create.rotyl, create.rotx2l) if local
                  else (create.rotx1r, create.rotyr, create.rotx2r))
        return ROTATION_BASES.get(angles)

    # -- peer protocol: the distributed queue ------------------------------------------------
    def _on_peer(self, message: EgpMessage, source: Address, now: int) -> Actions:
        handlers = {MSG_REQ: self._on_req, MSG_REQ_ACK: self._on_req_ack, MSG_CONFIRM: self._on_confirm,
                    MSG_CONFIRM_ACK: self._on_confirm_ack, MSG_SCHEDULE: self._on_schedule,
                    MSG_SCHEDULE_ACK: self._on_schedule_ack, MSG_RELEASE: self._on_release,
                    MSG_RELEASE_ACK: self._on_release_ack}
        handler = handlers.get(message.msg_type)
        if handler is None or message.link_id not in self.links_by_id:
            return Actions()
        return handler(message, now)

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
        app = self.purposes.get(create.purpose_id)
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
        self.requests[key] = request
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

    # -- the master's scheduler ---------------------------------------------------------------
    def _is_master(self, link: LinkConfig) -> bool:
        return self.node_id < link.peer_node_id

    def _number(self, link_id: int) -> int:
        self.numbered[link_id] += 1
        return self.numbered[link_id]

    def _candidates(self, link_id: int) -> list[Request]:
        return [r for r in self.requests.values()
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
        if not self._is_master(link) or link_id in self.scheduling or link_id in self.down:
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
        pending = PendingSchedule(request, self.run_number[link_id], pairs, 0, self.retries,
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
        abort = PendingSchedule(request, self.run_number[link_id], 0, code, self.retries, now + self.retransmit_ns)
        self.aborting[(link_id, abort.run)] = abort
        return Actions(send=[self._schedule_message(abort)])

    # -- the other end follows the master's runs ----------------------------------------------
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
            self.schedule_answers[key] = 0
            return actions.extend(Actions(send=[self._schedule_ack(message, 0)]))
        if message.run <= self.followed[link_id]:
            return Actions()                       # an old SCHEDULE overtaken by a newer one
        self.followed[link_id] = message.run
        status = self._follow(request, message, now)
        self.schedule_answers[key] = status
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

    # -- generation -----------------------------------------------------------------------
    def _basis_of(self, request: Request) -> Basis | None:
        if request.create.tpe != ll.TPE_MEASURE or request.create.rl or request.create.rr:
            return None
        return self._rotation_basis(request.create, local=request.d == 0)

    @staticmethod
    def _choice_of(request: Request) -> tuple[tuple[Basis, float], ...]:
        if request.create.tpe != ll.TPE_MEASURE:
            return ()
        return basis_choice(request.create, local=request.d == 0)

    def _on_lost(self, event: AttemptLost, now: int) -> Actions:
        self.counters.lost_attempts += 1
        key = (event.link_id, event.attempt_seq)
        link = self.links_by_id[event.link_id]
        if self._is_master(link):
            run = self.runs.get(event.link_id)     # no number was given to it: the other end will not keep it
            return Actions(down=[self._start(run.request, 1)]) if run is not None else Actions()
        if key in self.early:
            return self._expire_confirmed(self.early.pop(key)[0], now)
        self.lost[key] = now + self.confirm_timeout_ns
        return Actions()

    def _on_pair(self, pair: PairReady, now: int) -> Actions:
        link = self.links_by_id[pair.link_id]
        if not self._is_master(link):
            return self._on_pair_followed(pair, now)
        run = self.runs.get(pair.link_id)
        if run is None or pair.emission_time < run.started_at:
            self.counters.unrequested += 1        # nobody asked for it: free the memory, lose nothing
            return Actions(hardware=self._free(pair))
        request = run.request
        seq = self.next_seq[pair.link_id]
        self.next_seq[pair.link_id] = (seq + 1) & 0xFFFF
        key = (pair.link_id, pair.attempt_seq)
        self.sent[key] = PendingConfirm(request, seq, self.retries, now + self.retransmit_ns)
        request.numbered += 1
        run.numbered += 1
        actions = (self._hold(request, pair, seq) if request.create.kept_together
                   else self._store_and_deliver(request, pair, seq, now))
        actions.send.append(self._confirm(request, pair.link_id, pair.attempt_seq, seq))
        if run.numbered >= run.pairs or request.to_number == 0:
            actions.extend(self._end_run(pair.link_id, now))
        return actions

    def _on_pair_followed(self, pair: PairReady, now: int) -> Actions:
        request = self._followed_request(pair.link_id, pair.emission_time)
        if request is None:
            self.counters.unrequested += 1
            return Actions(hardware=self._free(pair))
        key = (pair.link_id, pair.attempt_seq)
        early = self.early.pop(key, None)
        if early is not None:
            return self._on_confirmed(request, pair, early[0], now)
        self.awaiting[key] = (request, pair, now + self.confirm_timeout_ns)
        return Actions()

    def _deliver(self, request: Request, pair: PairReady, seq: int, now: int, slot: int | None = None) -> Actions:
        ok = self._ok(request, pair, seq, now, slot)
        self.counters.ok_sent += 1
        if request.create.outcomes_together:       # CON clear: all OKs when the request completes
            request.outcomes.append(ok)
            return self._count(request)
        return Actions(send=[(request.app, ok)]).extend(self._count(request))

    def _store_and_deliver(self, request: Request, pair: PairReady, seq: int, now: int) -> Actions:
        """Deliver a pair; a kept one first moves to a storage qubit if the node has any, freeing its
        communication qubit for the next attempt (the OK then names the storage qubit)."""
        if pair.outcome is not None or self.memory.storage == 0:
            return self._deliver(request, pair, seq, now)
        self.moving[pair.slot] = (request, pair, seq)
        return Actions(hardware=[Move(pair.slot)])

    @staticmethod
    def _flush(request: Request) -> Actions:
        """The OKs of a measure-directly request with CON clear, now that it is over."""
        oks, request.outcomes = request.outcomes, []
        return Actions(send=[(request.app, ok) for ok in oks])

    def _count(self, request: Request) -> Actions:
        """One more of the request's pairs is settled (delivered, or expired at the other end)."""
        request.delivered += 1
        if request.delivered != request.create.number or request.state not in (RequestState.GENERATING,
                                                                                 RequestState.QUEUED):
            return Actions()
        request.fire(RequestEvent.LAST_PAIR)
        actions = self._flush(request)
        history = self.history[request.link.link_id]
        if history and history[-1][1] is request:       # the other end: stop following a finished request
            actions.down.append(StopGeneration(request.link.link_id))
        return actions

    @staticmethod
    def _free(pair: PairReady) -> list[Any]:
        return [Discard(pair.slot)] if pair.outcome is None else []

    # -- pair confirmation (master numbers, the other end confirms or expires) -----------------
    def _confirm(self, request: Request, link_id: int, attempt_seq: int, seq: int,
                 msg_type: int = MSG_CONFIRM, status: int = 0) -> tuple[Address, bytes]:
        message = EgpMessage(msg_type, status, request.create_id, link_id, request.origin_node,
                             request.queue_seq, None, attempt_seq, seq)
        return (request.link.peer_address, message.encode())

    def _on_confirm(self, message: EgpMessage, now: int) -> Actions:
        key = (message.link_id, message.attempt_seq)
        request = self.requests.get((message.origin_node, message.create_id))
        if key in self.answered or request is None:
            status = self.answered.get(key, ll.ERR_EXPIRE)
            return Actions(send=[self._ack(message, status)])
        if key in self.awaiting:
            held, pair, _ = self.awaiting.pop(key)
            return self._on_confirmed(held, pair, message, now)
        if key in self.lost:
            del self.lost[key]
            return self._expire_confirmed(message, now)
        if key not in self.early:
            self.early[key] = (message, now + self.confirm_timeout_ns)
        return Actions()

    def _on_confirmed(self, held: Request, pair: PairReady, message: EgpMessage, now: int) -> Actions:
        """The master numbered a pair this end holds: deliver it, unless this end made it for another request."""
        if (held.origin_node, held.create_id) != (message.origin_node, message.create_id):
            actions = Actions(hardware=self._free(pair))
            return actions.extend(self._expire_confirmed(message, now))
        self.answered[(message.link_id, message.attempt_seq)] = 0
        actions = Actions(send=[self._ack(message, 0)])
        if held.create.kept_together:              # kept until the master RELEASEs it
            return actions.extend(self._hold(held, pair, message.sequence_number))
        return actions.extend(self._store_and_deliver(held, pair, message.sequence_number, now))

    def _ack(self, message: EgpMessage, status: int) -> tuple[Address, bytes]:
        link = self.links_by_id[message.link_id]
        reply = EgpMessage(MSG_CONFIRM_ACK, status, message.create_id, message.link_id, message.origin_node,
                           message.queue_seq, None, message.attempt_seq, message.sequence_number)
        return (link.peer_address, reply.encode())

    def _expire_confirmed(self, message: EgpMessage, now: int) -> Actions:
        """The master numbered a pair this end does not hold (for that request): both ends report it expired."""
        self.answered[(message.link_id, message.attempt_seq)] = ll.ERR_EXPIRE
        actions = Actions(send=[self._ack(message, ll.ERR_EXPIRE)])
        request = self.requests.get((message.origin_node, message.create_id))
        if request is not None:
            actions.extend(self._expired(request, message.sequence_number))
            actions.extend(self._count(request))
        return actions

    def _expired(self, request: Request, seq: int) -> Actions:
        self.counters.expired += 1
        expiry = ll.Err(request.create_id, ll.ERR_EXPIRE, 1, seq, (seq + 1) & 0xFFFF, request.origin_node)
        return self._reply(request.app, expiry)

    def _on_confirm_ack(self, message: EgpMessage, now: int) -> Actions:
        key = (message.link_id, message.attempt_seq)
        pending = self.sent.pop(key, None)
        if pending is None:
            return Actions()
        held = self.holding.get(key)
        if message.status == 0:
            if held is None:
                return Actions()
            held.acked = True
            return self._try_release(held.request, now)
        actions = self._expired(pending.request, pending.seq)
        return actions.extend(self._replace(key, now)) if held is not None else actions

    def _confirm_timers(self, now: int) -> Actions:
        actions = Actions()
        for key, pending in list(self.sent.items()):
            if pending.next_at > now:
                continue
            if pending.retries_left == 0:        # the peer is silent: assume the worst for this pair
                del self.sent[key]
                actions.extend(self._expired(pending.request, pending.seq))
                if key in self.holding:
                    actions.extend(self._replace(key, now))
            else:
                pending.retries_left -= 1
                pending.next_at = now + self.retransmit_ns
                actions.send.append(self._confirm(pending.request, key[0], key[1], pending.seq))
        for key, (_, pair, deadline) in list(self.awaiting.items()):
            if deadline <= now:                  # the master never numbered it: it lost its herald
                del self.awaiting[key]
                actions.hardware.extend(self._free(pair))
        for key, deadline in list(self.lost.items()):
            if deadline <= now:                  # both ends lost it
                del self.lost[key]
        for key, (message, deadline) in list(self.early.items()):
            if deadline <= now:
                del self.early[key]
                actions.extend(self._expire_confirmed(message, now))
        return actions

    def _ok(self, request: Request, pair: PairReady, seq: int, now: int, slot: int | None = None) -> bytes:
        dist = physics.relabel(pair.distribution, int(pair.bell_state))
        remote = request.link.peer_node_id
        if pair.outcome is not None:
            goodness = ll.encode_fidelity(dist[0])
            assert pair.basis is not None
            return ll.OkMeasure(request.create_id, pair.outcome, request.d, int(pair.basis),
                                int(pair.bell_state), seq, request.create.purpose_id, remote,
                                goodness).encode()
        stored = now - pair.emission_time
        link = request.link
        for t1, t2 in ((link.t1_local_ns, link.t2_local_ns), (link.t1_peer_ns, link.t2_peer_ns)):
            dist = physics.pauli_channel(dist, *physics.memory_pauli_probabilities(stored, t1, t2))
        return ll.OkKeep(request.create_id, pair.slot if slot is None else slot, request.d, int(pair.bell_state), seq,
                         request.create.purpose_id, remote, ll.encode_fidelity(dist[0]),
                         (now // 1000) & 0xFFFF).encode()

    def _err(self, request: Request, code: int) -> Actions:
        return self._reply(request.app, ll.Err(request.create_id, code, origin_node=request.origin_node))

    def _reply(self, app: Address, message: ll.Err) -> Actions:
        self.counters.err_sent += 1
        return Actions(send=[(app, message.encode())])

    def _deadline(self) -> int | None:
        times = [t for r in self.requests.values() for t in (r.retry_at, r.expires_at) if t is not None]
        times += [p.next_at for p in self.sent.values()] + [d for _, _, d in self.awaiting.values()]
        times += list(self.lost.values()) + [d for _, d in self.early.values()]
        times += [p.next_at for p in (*self.scheduling.values(), *self.aborting.values())]
        times += [p.next_at for p in self.releasing.values()]
        times += [t for t in map(self._cutoff_at, self.holding.values()) if t is not None]
        return min(times, default=None)

    # -- atomic requests: kept pairs, moves to storage, release, cutoff ----------------------
    def _hold(self, request: Request, pair: PairReady, seq: int) -> Actions:
        """Keep a pair of an atomic request; move it to a storage qubit if the node has any."""
        held = Held(request, pair, seq, pair.slot)
        self.holding[(pair.link_id, pair.attempt_seq)] = held
        if self.memory.storage == 0:
            return Actions()
        held.moving = True
        return Actions(hardware=[Move(pair.slot)])

    def _on_moved(self, event: MoveResult, now: int) -> Actions:
        if event.slot in self.moving:              # an ordinary kept pair: its OK, from where it is now
            request, pair, seq = self.moving.pop(event.slot)
            slot = event.slot if event.storage_slot is None else event.storage_slot
            return self._deliver(request, pair, seq, now, slot)
        key = next((k for k, h in self.holding.items() if h.moving and h.slot == event.slot), None)
        if key is None:
            return Actions()
        held = self.holding[key]
        held.moving = False
        if event.storage_slot is not None:
            held.slot = event.storage_slot
        if held.drop:
            return self._drop(key)
        if held.release is not None:
            return self._apply_release(key, held.release, now)
        return self._try_release(held.request, now) if self._is_master(held.request.link) else Actions()

    def _drop(self, key: tuple[int, int]) -> Actions:
        """Discard a kept pair (once it has finished moving)."""
        held = self.holding[key]
        if held.moving:
            held.drop = True
            return Actions()
        del self.holding[key]
        return Actions(hardware=[Discard(held.slot)])

    def _replace(self, key: tuple[int, int], now: int) -> Actions:
        """Master: a kept pair is lost (expired): discard it and generate another for its request."""
        request = self.holding[key].request
        actions = self._drop(key)
        request.numbered -= 1
        return actions.extend(self._schedule(request.link.link_id, now))

    def _try_release(self, request: Request, now: int) -> Actions:
        """Master: once all of an atomic request's pairs are kept at both ends, deliver them and RELEASE them."""
        kept = [(key, h) for key, h in self.holding.items() if h.request is request and not h.drop]
        if len(kept) < request.create.number or any(h.moving or not h.acked for _, h in kept):
            return Actions()
        actions = Actions()
        for key, held in kept:
            del self.holding[key]
            self.releasing[key] = PendingConfirm(request, held.seq, self.retries, now + self.retransmit_ns, 0)
            actions.send.append(self._confirm(request, key[0], key[1], held.seq, MSG_RELEASE))
            actions.extend(self._deliver(request, held.pair, held.seq, now, held.slot))
        return actions

    def _cutoff_at(self, held: Held) -> int | None:
        cutoff = held.request.link.cutoff_ns
        if cutoff is None or held.moving or held.drop or not self._is_master(held.request.link):
            return None
        return held.pair.emission_time + cutoff

    def _cutoff_timers(self, now: int) -> Actions:
        """Master: a kept pair older than the link's cutoff is discarded at both ends, and replaced."""
        actions = Actions()
        for key, held in list(self.holding.items()):
            at = self._cutoff_at(held)
            if at is None or at > now:
                continue
            self.counters.cut_off += 1
            self.sent.pop(key, None)               # the RELEASE below settles the pair instead
            request = held.request
            self.releasing[key] = PendingConfirm(request, held.seq, self.retries, now + self.retransmit_ns,
                                                 ll.ERR_EXPIRE)
            actions.send.append(self._confirm(request, key[0], key[1], held.seq, MSG_RELEASE, ll.ERR_EXPIRE))
            actions.extend(self._expired(request, held.seq))
            actions.extend(self._replace(key, now))
        return actions

    def _on_release(self, message: EgpMessage, now: int) -> Actions:
        """Other end: deliver (Status 0) or discard (EXPIRE) a pair of an atomic request."""
        key = (message.link_id, message.attempt_seq)
        if key in self.released:
            return Actions(send=[self._release_ack(message, self.released[key])])
        held = self.holding.get(key)
        if held is not None and held.moving:
            held.release = message.status
            self.released[key] = 0
            return Actions(send=[self._release_ack(message, 0)])
        if held is not None:
            self.released[key] = 0
            return Actions(send=[self._release_ack(message, 0)]).extend(
                self._apply_release(key, message.status, now))
        # not kept here (its herald was lost, its CONFIRM not yet come, or the request failed here)
        waiting = self.awaiting.pop(key, None)
        actions = Actions(hardware=self._free(waiting[1]) if waiting is not None else [])
        self.answered[key] = ll.ERR_EXPIRE
        request = self.requests.get((message.origin_node, message.create_id))
        status = ll.ERR_EXPIRE if message.status == 0 else 0
        if message.status and request is not None:
            actions.extend(self._expired(request, message.sequence_number))
        self.released[key] = status
        return actions.extend(Actions(send=[self._release_ack(message, status)]))

    def _apply_release(self, key: tuple[int, int], status: int, now: int) -> Actions:
        held = self.holding.pop(key)
        if status == 0:
            return self._deliver(held.request, held.pair, held.seq, now, held.slot)
        return Actions(hardware=[Discard(held.slot)]).extend(self._expired(held.request, held.seq))

    def _release_ack(self, message: EgpMessage, status: int) -> tuple[Address, bytes]:
        link = self.links_by_id[message.link_id]
        reply = EgpMessage(MSG_RELEASE_ACK, status, message.create_id, message.link_id, message.origin_node,
                           message.queue_seq, None, message.attempt_seq, message.sequence_number)
        return (link.peer_address, reply.encode())

    def _on_release_ack(self, message: EgpMessage, now: int) -> Actions:
        pending = self.releasing.pop((message.link_id, message.attempt_seq), None)
        if pending is None or message.status == 0 or pending.status:
            return Actions()
        return self._expired(pending.request, pending.seq)   # delivered here, not there: both report it

    def _release_timers(self, now: int) -> Actions:
        actions = Actions()
        for key, pending in list(self.releasing.items()):
            if pending.next_at > now:
                continue
            if pending.retries_left == 0:          # the peer is silent: a delivered pair may be there or not
                del self.releasing[key]
                if pending.status == 0:
                    actions.extend(self._expired(pending.request, pending.seq))
                continue
            pending.retries_left -= 1
            pending.next_at = now + self.retransmit_ns
            actions.send.append(self._confirm(pending.request, key[0], key[1], pending.seq, MSG_RELEASE,
                                              pending.status))
        return actions
