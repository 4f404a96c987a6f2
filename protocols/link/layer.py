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
Messages whose loss would leave the ends disagreeing (CONFIRM, RELEASE, SCHEDULE, abort) are
retransmitted up to ``reliable_retries`` times, and every copy gets the first copy's answer:
answers and finished requests are remembered for ``keep_ns`` (:mod:`protocols.link.recent`),
then forgotten, so the tables stay bounded. At the end of the generation window
(:class:`GenerationOver`) every open request fails with ERR TIMEOUT at both ends.

Request lifecycle (:data:`TRANSITIONS`)::

    WAITING_PEER --REQ_ACK accepted--> QUEUED --its run--> GENERATING --last pair--> DONE
    GENERATING --run over, another request's turn--> QUEUED
    WAITING_PEER --REQ_ACK error / retries exhausted--> FAILED
    any open state --Max Time runs out / aborted / generation over--> FAILED (ERR TIMEOUT or the peer's Status)

A CREATE is admitted against the link's options (:mod:`protocols.link.admission`): the fastest
option meeting its Minimum Fidelity, else ERR UNSUPP; ERR NOTIME if the expected time for
Number pairs exceeds Max Time; ERR NORES if the link's queue is full or the node's memory
(:class:`Memory`) cannot take the request's pairs.

An atomic create-and-keep request (ATO, or CON clear) keeps its pairs at both ends, moved to
storage qubits when there are any, until all are there; the master then delivers them and
RELEASEs them to the other end. A kept pair older than the link's cutoff is discarded at both
ends (ERR EXPIRE at both, RELEASE with Status EXPIRE) and replaced. A measure-directly request
with CON clear gets all its OKs when it completes.

Where things live (:class:`LinkLayer` combines one class per concern):

- this module: :class:`LinkLayer`: its inputs (``receive``, ``handle``, ``on_timer``), CREATE
  admission, failing requests (Max Time, link down), the peer-message dispatch, the next deadline;
- :mod:`protocols.link.state`: :class:`~protocols.link.state.LinkState`, the tables (``__init__``)
  and the helpers every part uses;
- :mod:`protocols.link.queue`: REQ/REQ_ACK, the master's runs (SCHEDULE, abort), the other end
  following them;
- :mod:`protocols.link.confirm`: heralded and lost pairs, CONFIRM/CONFIRM_ACK, expired pairs;
- :mod:`protocols.link.memory`: OKs and moves to storage, atomic requests' kept pairs, RELEASE, cutoff;
- :mod:`protocols.link.types`: links, requests and their state machine, re-exported here.
"""

from __future__ import annotations

from typing import Any

from protocols.common import EGP_PORT, Actions, Address, ParseError
from protocols.link.confirm import ConfirmMixin
from protocols.link.memory import MemoryMixin
from protocols.link.types import (
    FINAL,
    ROTATION_BASES,
    TRANSITIONS,
    GenerationOver,
    LinkConfig,
    LinkCounters,
    Memory,
    QueuePolicy,
    Request,
    RequestEvent,
    RequestState,
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
from protocols.physical.hardware import LinkDown, MoveResult
from protocols.physical.node import AttemptLost, PairReady, StopGeneration

__all__ = ["ROTATION_BASES", "TRANSITIONS", "GenerationOver", "LinkConfig", "LinkCounters", "LinkLayer", "Memory",
           "QueuePolicy", "Request", "RequestEvent", "RequestState"]


class LinkLayer(ConfirmMixin, MemoryMixin):
    """Sans-IO link-layer engine of one node (every link of that node)."""

    # -- inputs ------------------------------------------------------------------------
    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        try:
            if port == EGP_PORT:
                actions = self._on_peer(EgpMessage.decode(payload), source, now)
            else:
                actions = self.queue.on_create(payload, source, now)
        except ParseError:
            self.counters.malformed += 1
            actions = Actions()
        self._tidy(now)
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
        elif isinstance(event, GenerationOver):
            actions = self._on_generation_over(now)
        else:
            raise TypeError(f"link layer cannot handle {event!r}")
        self._tidy(now)
        actions.deadline = self._deadline()
        return actions

    def start(self, now: int) -> Actions:
        return Actions()

    def on_timer(self, now: int) -> Actions:
        actions = self._confirm_timers(now)
        actions.extend(self.runs.on_timer(now))
        actions.extend(self._release_timers(now))
        actions.extend(self._cutoff_timers(now))
        for request in self.requests.open_requests():
            if request.expires_at is not None and request.expires_at <= now:
                actions.extend(self._expire(request, now))
            elif request.retry_at is not None and request.retry_at <= now:
                actions.extend(self.queue.retry(request, now))
        self._tidy(now)
        actions.deadline = self._deadline()
        return actions

    def settled(self) -> bool:
        """No message of the peer protocol waits for an answer and no pair for its CONFIRM."""
        return not (self.sent or self.awaiting or self.early or not self.runs.settled()
                    or self.holding or self.releasing or self.moving)

    def held_slots(self) -> set[int]:
        """Memory slots of pairs that wait for the master's CONFIRM, or for the rest of their atomic request."""
        waiting = {pair.slot for _, pair, _ in self.awaiting.values() if pair.outcome is None}
        return waiting | {held.slot for held in self.holding.values()}

    # -- failing requests: Max Time, the peer gone -------------------------------------
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
        actions = self.replies.flush(request).extend(self.replies.err(request, code))
        link_id = request.link.link_id
        actions.extend(self.runs.stop_serving(request))
        actions.extend(self.follower.stop(request))
        for key, held in list(self.holding.items()):     # an atomic request's kept pairs go with it
            if held.request is request:
                actions.extend(self._drop(key))
        return actions.extend(self.runs.schedule(link_id, now))

    def _on_generation_over(self, now: int) -> Actions:
        """The run's generation window is over: every open request fails here with ERR TIMEOUT (the other
        end does the same at the same time); pairs already numbered are still confirmed and released."""
        self.links.end_generation()
        actions = Actions()
        for request in self.requests.open_requests():
            if request.state not in FINAL:
                request.fire(RequestEvent.GENERATION_OVER)
                request.retry_at = request.expires_at = None
                actions.extend(self._fail_quietly(request, ll.ERR_TIMEOUT, now))
        return actions

    def _on_link_down(self, link_id: int, now: int) -> Actions:
        """The peer (or the station between) is gone: pairs it never confirmed expire here, and every
        open request on the link fails with ERR OTHER; later CREATEs for that peer get ERR OTHER too."""
        if link_id not in self.links or link_id in self.links.down:
            return Actions()
        self.links.mark_down(link_id)
        actions = Actions(down=[StopGeneration(link_id)])
        self.runs.link_down(link_id)
        for key, pending in list(self.sent.items()):
            if key[0] == link_id:
                del self.sent[key]
                actions.extend(self.replies.expired(pending.request, pending.seq))
        for key, (_, pair, _) in list(self.awaiting.items()):
            if key[0] == link_id:
                del self.awaiting[key]
                actions.hardware.extend(self._free(pair))
        for table in (self.early, self.lost, self.releasing):
            for key in [key for key in table if key[0] == link_id]:
                del table[key]
        for request in self.requests.open_requests():
            if request.link.link_id == link_id and request.state not in FINAL:
                request.fire(RequestEvent.LINK_DOWN)
                request.retry_at = request.expires_at = None
                actions.extend(self._fail_quietly(request, ll.ERR_OTHER, now))
        return actions

    # -- peer protocol -----------------------------------------------------------------
    def _on_peer(self, message: EgpMessage, source: Address, now: int) -> Actions:
        handlers = {MSG_REQ: self.queue.on_req, MSG_REQ_ACK: self.queue.on_req_ack, MSG_CONFIRM: self._on_confirm,
                    MSG_CONFIRM_ACK: self._on_confirm_ack, MSG_SCHEDULE: self.follower.on_schedule,
                    MSG_SCHEDULE_ACK: self.runs.on_schedule_ack, MSG_RELEASE: self._on_release,
                    MSG_RELEASE_ACK: self._on_release_ack}
        handler = handlers.get(message.msg_type)
        if handler is None or message.link_id not in self.links:
            return Actions()
        return handler(message, now)

    def _deadline(self) -> int | None:
        times = [t for r in self.requests.open_requests() for t in (r.retry_at, r.expires_at) if t is not None]
        times += [p.next_at for p in self.sent.values()] + [d for _, _, d in self.awaiting.values()]
        times += list(self.lost.values()) + [d for _, d in self.early.values()]
        times += [t for t in (self.runs.deadline(),) if t is not None]
        times += [p.next_at for p in self.releasing.values()]
        times += [t for t in map(self._cutoff_at, self.holding.values()) if t is not None]
        return min(times, default=None)
