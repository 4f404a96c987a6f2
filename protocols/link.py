"""Link layer (minimal): the CREATE → ACK → OK service of draft-dahlberg-ll-quantum-03.

The node that receives a CREATE from its higher layer (the *origin*) answers ACK,
forwards the request to the peer as an EGP REQ and, once the peer's REQ_ACK accepts it,
both ends ask their physical layer for the pairs. Each heralded pair becomes an OK (type
K or M) to the origin's higher layer (D=0) and to the peer's higher layer registered
for the request's Purpose ID (D=1). One request is served per link at a time. The end
with the lower node id is the link's master: it numbers accepted requests (the EGP
Queue Sequence) and both ends serve them strictly in that order, so both generate for the
same request even when both ends send CREATEs at once. Without a repair protocol this
holds only while the EGP messages of a request arrive: if every REQ or every REQ_ACK of
a request is lost, the ends can disagree (the full distributed queue fixes this). The full
service (distributed queue with slots, fidelity and time limits, expiry) is a later
issue.

Request lifecycle (:data:`TRANSITIONS`)::

    WAITING_PEER --REQ_ACK accepted--> QUEUED --its turn--> GENERATING --last pair--> DONE
    WAITING_PEER --REQ_ACK error / retries exhausted--> FAILED
    WAITING_PEER, QUEUED, GENERATING --Max Time runs out--> FAILED (ERR TIMEOUT)

A CREATE is admitted against the link's options (:mod:`protocols.admission`): the fastest
option meeting its Minimum Fidelity, else ERR UNSUPP; ERR NOTIME if the expected time for
Number pairs exceeds Max Time.
"""

from __future__ import annotations

from typing import Any

from protocols import admission, physics
from protocols.admission import LinkOption
from protocols.common import EGP_PORT, Actions, Address, Basis, ParseError
from protocols.hardware import Discard
from protocols.link_types import (
    RANDOM_BASES,
    ROTATION_BASES,
    TRANSITIONS,
    LinkConfig,
    LinkCounters,
    PendingConfirm,
    Request,
    RequestEvent,
    RequestState,
    basis_choice,
)
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_CONFIRM, MSG_CONFIRM_ACK, MSG_REQ, MSG_REQ_ACK, EgpMessage
from protocols.physical import AttemptLost, PairReady, StartGeneration, StopGeneration

__all__ = ["ROTATION_BASES", "TRANSITIONS", "LinkConfig", "LinkCounters", "LinkLayer", "Request", "RequestEvent",
           "RequestState"]


class LinkLayer:
    """Sans-IO link-layer engine of one node (every link of that node)."""

    def __init__(self, node_id: int, links: list[LinkConfig], purposes: dict[int, Address],
                 retransmit_ns: int, retries: int = 3) -> None:
        self.node_id = node_id
        self.links_by_peer = {link.peer_node_id: link for link in links}
        self.links_by_id = {link.link_id: link for link in links}
        self.purposes = purposes
        self.retransmit_ns = retransmit_ns
        self.retries = retries
        self.requests: dict[tuple[int, int], Request] = {}
        self.ready: dict[int, dict[int, Request | None]] = {link.link_id: {} for link in links}
        self.serve_next: dict[int, int] = {link.link_id: 1 for link in links}
        self.numbered: dict[int, int] = {link.link_id: 0 for link in links}
        self.active: dict[int, Request] = {}
        self.next_seq: dict[int, int] = {link.link_id: 0 for link in links}
        self.next_create_id = 1
        self.counters = LinkCounters()
        self.confirm_timeout_ns = (retries + 2) * retransmit_ns
        self.sent: dict[tuple[int, int], PendingConfirm] = {}                # master: CONFIRMs awaiting ACK
        self.awaiting: dict[tuple[int, int], tuple[Request, PairReady, int]] = {}   # slave: pairs awaiting CONFIRM
        self.lost: dict[tuple[int, int], int] = {}                           # slave: heralds lost, until when
        self.early: dict[tuple[int, int], tuple[EgpMessage, int]] = {}       # slave: CONFIRMs before the pair
        self.answered: dict[tuple[int, int], int] = {}                       # slave: CONFIRM_ACK statuses sent

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
            self.counters.lost_attempts += 1
            key = (event.link_id, event.attempt_seq)
            link = self.links_by_id[event.link_id]
            if self._is_master(link):
                actions = self._rearm(event.link_id)     # no number was given to it: the slave will not keep it
            elif key in self.early:
                actions = self._expire_confirmed(self.early.pop(key)[0], now)
            else:
                self.lost[key] = now + self.confirm_timeout_ns
                actions = Actions()
        else:
            raise TypeError(f"link layer cannot handle {event!r}")
        actions.deadline = self._deadline()
        return actions

    def start(self, now: int) -> Actions:
        return Actions()

    def on_timer(self, now: int) -> Actions:
        actions = self._confirm_timers(now)
        for request in list(self.requests.values()):
            if request.expires_at is not None and request.expires_at <= now:
                actions.extend(self._expire(request))
                continue
            if request.retry_at is None or request.retry_at > now:
                continue
            if request.retries_left == 0:
                request.retry_at = None
                request.fire(RequestEvent.PEER_REFUSED)
                actions.extend(self._err(request, ll.ERR_TIMEOUT))
                if request.queue_seq:
                    actions.extend(self._mark(request.link.link_id, request.queue_seq, None))
            else:
                request.retries_left -= 1
                request.retry_at = now + self.retransmit_ns
                actions.send.append(self._req(request))
        actions.deadline = self._deadline()
        return actions

    def held_slots(self) -> set[int]:
        """Memory slots of pairs that wait for the master's CONFIRM."""
        return {pair.slot for _, pair, _ in self.awaiting.values() if pair.outcome is None}

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
        if error:
            self.counters.rejected += 1
            return self._reply(app, ll.Err(create_id, error, origin_node=self.node_id))
        assert link is not None
        option, error = self._admit(create, link)
        if error:
            self.counters.rejected += 1
            return self._reply(app, ll.Err(create_id, error, origin_node=self.node_id))
        request = Request(create_id, self.node_id, create, link, app, 0, RequestState.WAITING_PEER,
                          retries_left=self.retries, retry_at=now + self.retransmit_ns, option=option,
                          expires_at=self._expiry(create, now))
        if self._is_master(link):
            request.queue_seq = self._number(link.link_id)
        self.requests[(self.node_id, create_id)] = request
        return Actions(send=[(app, ll.Ack(create_id).encode()), self._req(request)])

    def _unsupported(self, create: ll.Create, local: bool) -> int:
        if create.number == 0 or create.ato:
            return ll.ERR_UNSUPP
        if create.rl or create.rr:                 # a random basis only makes sense measuring directly
            if create.tpe != ll.TPE_MEASURE or create.rl not in RANDOM_BASES or create.rr not in RANDOM_BASES:
                return ll.ERR_UNSUPP
            return 0
        if create.tpe == ll.TPE_MEASURE and self._rotation_basis(create, local) is None:
            return ll.ERR_UNSUPP
        return 0

    @staticmethod
    def _admit(create: ll.Create, link: LinkConfig) -> tuple[LinkOption | None, int]:
        """The link option that serves ``create``, or the error code that refuses it."""
        option = admission.choose(link.options, ll.decode_fidelity(create.minimum_fidelity))
        if option is None:
            return None, ll.ERR_UNSUPP
        limit = create.max_time_ns()
        if limit is not None and admission.expected_time_ns(option, create.number, link.cycle_ns) > limit:
            return None, ll.ERR_NOTIME
        return option, 0

    @staticmethod
    def _expiry(create: ll.Create, now: int) -> int | None:
        limit = create.max_time_ns()
        return None if limit is None else now + limit

    def _expire(self, request: Request) -> Actions:
        """Max Time ran out before the request was done: ERR TIMEOUT, and stop generating for it."""
        request.expires_at = None
        request.retry_at = None
        if request.state in (RequestState.DONE, RequestState.FAILED):
            return Actions()
        link_id = request.link.link_id
        was_active = self.active.get(link_id) is request
        request.fire(RequestEvent.MAX_TIME)
        actions = self._err(request, ll.ERR_TIMEOUT)
        if was_active:
            del self.active[link_id]
            actions.down.append(StopGeneration(link_id))
            actions.extend(self._serve(link_id))
        elif request.queue_seq and self.ready[link_id].get(request.queue_seq) is request:
            actions.extend(self._mark(link_id, request.queue_seq, None))
        return actions

    @staticmethod
    def _rotation_basis(create: ll.Create, local: bool) -> Basis | None:
        angles = ((create.rotx1l, create.rotyl, create.rotx2l) if local
                  else (create.rotx1r, create.rotyr, create.rotx2r))
        return ROTATION_BASES.get(angles)

    # -- peer protocol --------------------------------------------------------------------
    def _on_peer(self, message: EgpMessage, source: Address, now: int) -> Actions:
        if message.msg_type == MSG_REQ:
            return self._on_req(message, source, now)
        if message.msg_type == MSG_CONFIRM:
            return self._on_confirm(message, now)
        if message.msg_type == MSG_CONFIRM_ACK:
            return self._on_confirm_ack(message)
        request = self.requests.get((self.node_id, message.create_id))
        if message.msg_type != MSG_REQ_ACK or request is None or request.state != RequestState.WAITING_PEER:
            return Actions()
        request.retry_at = None
        if message.status:
            request.fire(RequestEvent.PEER_REFUSED)
            actions = self._err(request, message.status)
            if request.queue_seq:
                actions.extend(self._mark(request.link.link_id, request.queue_seq, None))
            return actions
        request.fire(RequestEvent.PEER_ACCEPTED)
        request.queue_seq = request.queue_seq or message.queue_seq
        return self._mark(request.link.link_id, request.queue_seq, request)

    def _on_req(self, message: EgpMessage, source: Address, now: int) -> Actions:
        create = message.create
        assert create is not None
        key = (message.origin_node, message.create_id)
        link = self.links_by_peer.get(message.origin_node)
        app = self.purposes.get(create.purpose_id)
        known = self.requests.get(key)
        if known is not None:
            reply = EgpMessage(MSG_REQ_ACK, 0, message.create_id, message.link_id, message.origin_node,
                               known.queue_seq)
            return Actions(send=[(source, reply.encode())])
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
        reply = EgpMessage(MSG_REQ_ACK, status, message.create_id, message.link_id, message.origin_node,
                           queue_seq)
        actions = Actions(send=[(source, reply.encode())])
        if status:
            self.counters.rejected += 1
            if link is not None and queue_seq:
                actions.extend(self._mark(link.link_id, queue_seq, None))
            return actions
        assert link is not None and app is not None
        request = Request(message.create_id, message.origin_node, create, link, app, 1,
                          RequestState.QUEUED, queue_seq=queue_seq, option=option,
                          expires_at=self._expiry(create, now))
        self.requests[key] = request
        return actions.extend(self._mark(link.link_id, queue_seq, request))

    def _req(self, request: Request) -> tuple[Address, bytes]:
        message = EgpMessage(MSG_REQ, 0, request.create_id, request.link.link_id, self.node_id,
                             request.queue_seq, request.create)
        return (request.link.peer_address, message.encode())

    # -- generation -----------------------------------------------------------------------
    def _is_master(self, link: LinkConfig) -> bool:
        return self.node_id < link.peer_node_id

    def _number(self, link_id: int) -> int:
        self.numbered[link_id] += 1
        return self.numbered[link_id]

    def _mark(self, link_id: int, queue_seq: int, request: Request | None) -> Actions:
        """Record request ``queue_seq`` as ready (or, with None, as never to be served)."""
        self.ready[link_id][queue_seq] = request
        return self._serve(link_id)

    def _serve(self, link_id: int) -> Actions:
        ready = self.ready[link_id]
        while link_id not in self.active and self.serve_next[link_id] in ready:
            request = ready.pop(self.serve_next[link_id])
            self.serve_next[link_id] += 1
            if request is None:
                continue
            request.fire(RequestEvent.LINK_FREE)
            self.active[link_id] = request
            alpha = request.option.alpha if request.option is not None else None
            return Actions(down=[StartGeneration(link_id, request.create.number, self._basis_of(link_id), alpha,
                                                 self._choice_of(link_id))])
        return Actions()

    def _basis_of(self, link_id: int) -> Basis | None:
        request = self.active.get(link_id)
        if request is None or request.create.tpe != ll.TPE_MEASURE or request.create.rl or request.create.rr:
            return None
        return self._rotation_basis(request.create, local=request.d == 0)

    def _choice_of(self, link_id: int) -> tuple[tuple[Basis, float], ...]:
        request = self.active.get(link_id)
        if request is None or request.create.tpe != ll.TPE_MEASURE:
            return ()
        return basis_choice(request.create, local=request.d == 0)

    def _on_pair(self, pair: PairReady, now: int) -> Actions:
        request = self.active.get(pair.link_id)
        if request is None:                # nobody asked for it: free the memory, lose nothing
            self.counters.unrequested += 1
            return Actions(hardware=self._free(pair))
        key = (pair.link_id, pair.attempt_seq)
        if not self._is_master(request.link):
            early = self.early.pop(key, None)
            if early is not None:
                return self._deliver_confirmed(request, pair, early[0], now)
            self.awaiting[key] = (request, pair, now + self.confirm_timeout_ns)
            return Actions()
        seq = self.next_seq[pair.link_id]
        self.next_seq[pair.link_id] = (seq + 1) & 0xFFFF
        self.sent[key] = PendingConfirm(request, seq, self.retries, now + self.retransmit_ns)
        actions = self._deliver(request, pair, seq, now)
        actions.send.append(self._confirm(request, pair.link_id, pair.attempt_seq, seq))
        return actions

    def _deliver(self, request: Request, pair: PairReady, seq: int, now: int) -> Actions:
        actions = Actions(send=[(request.app, self._ok(request, pair, seq, now))])
        self.counters.ok_sent += 1
        return actions.extend(self._count(request))

    def _count(self, request: Request) -> Actions:
        """One more of the request's pairs is settled (delivered, or expired at the other end)."""
        request.delivered += 1
        link_id = request.link.link_id
        if request.delivered != request.create.number or request.state != RequestState.GENERATING:
            return Actions()
        request.fire(RequestEvent.LAST_PAIR)
        if self.active.get(link_id) is request:
            del self.active[link_id]
        return self._serve(link_id)

    @staticmethod
    def _free(pair: PairReady) -> list[Any]:
        return [Discard(pair.slot)] if pair.outcome is None else []

    def _rearm(self, link_id: int) -> Actions:
        request = self.active.get(link_id)
        if request is None:
            return Actions()
        alpha = request.option.alpha if request.option is not None else None
        return Actions(down=[StartGeneration(link_id, 1, self._basis_of(link_id), alpha, self._choice_of(link_id))])

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
            return self._deliver_confirmed(held, pair, message, now)
        if key in self.lost:
            del self.lost[key]
            return self._expire_confirmed(message, now)
        if key not in self.early:
            self.early[key] = (message, now + self.confirm_timeout_ns)
        return Actions()

    def _ack(self, message: EgpMessage, status: int) -> tuple[Address, bytes]:
        link = self.links_by_id[message.link_id]
        reply = EgpMessage(MSG_CONFIRM_ACK, status, message.create_id, message.link_id, message.origin_node,
                           message.queue_seq, None, message.attempt_seq, message.sequence_number)
        return (link.peer_address, reply.encode())

    def _deliver_confirmed(self, request: Request, pair: PairReady, message: EgpMessage, now: int) -> Actions:
        self.answered[(message.link_id, message.attempt_seq)] = 0
        actions = Actions(send=[self._ack(message, 0)])
        return actions.extend(self._deliver(request, pair, message.sequence_number, now))

    def _expire_confirmed(self, message: EgpMessage, now: int) -> Actions:
        """The master numbered a pair this end never got: both ends report it expired."""
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

    def _on_confirm_ack(self, message: EgpMessage) -> Actions:
        pending = self.sent.pop((message.link_id, message.attempt_seq), None)
        if pending is None or message.status == 0:
            return Actions()
        return self._expired(pending.request, pending.seq)

    def _confirm_timers(self, now: int) -> Actions:
        actions = Actions()
        for key, pending in list(self.sent.items()):
            if pending.next_at > now:
                continue
            if pending.retries_left == 0:        # the peer is silent: assume the worst for this pair
                del self.sent[key]
                actions.extend(self._expired(pending.request, pending.seq))
            else:
                pending.retries_left -= 1
                pending.next_at = now + self.retransmit_ns
                actions.send.append(self._confirm(pending.request, key[0], key[1], pending.seq))
        for key, (_, pair, deadline) in list(self.awaiting.items()):
            if deadline <= now:                  # the master never numbered it: it lost its herald
                del self.awaiting[key]
                actions.hardware.extend(self._free(pair))
                actions.extend(self._rearm(key[0]))
        for key, deadline in list(self.lost.items()):
            if deadline <= now:                  # both ends lost it
                del self.lost[key]
                actions.extend(self._rearm(key[0]))
        for key, (message, deadline) in list(self.early.items()):
            if deadline <= now:
                del self.early[key]
                actions.extend(self._expire_confirmed(message, now))
        return actions

    def _ok(self, request: Request, pair: PairReady, seq: int, now: int) -> bytes:
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
        return ll.OkKeep(request.create_id, pair.slot, request.d, int(pair.bell_state), seq,
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
        return min(times, default=None)
