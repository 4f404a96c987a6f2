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
retransmitted up to ``reliable_retries`` times (a pair whose CONFIRM is given up is retracted
with a RELEASE, so that it expires at both ends), and every copy gets the first copy's answer:
answers and finished requests are remembered for ``keep_ns`` (:mod:`protocols.link.recent`),
then forgotten, so the tables stay bounded. At the end of the generation window
(:class:`GenerationOver`) every open request fails with ERR TIMEOUT at both ends, except one that pairs numbered
before the end may still complete: it waits for them (a bounded span, :mod:`protocols.link.failures`).

Request lifecycle (:data:`TRANSITIONS`)::

    WAITING_PEER --REQ_ACK accepted--> QUEUED --its run--> GENERATING --last pair--> DONE
    GENERATING --run over, another request's turn--> QUEUED
    WAITING_PEER --REQ_ACK error / retries exhausted--> FAILED
    any open state --Max Time runs out / aborted / generation over--> FAILED (ERR TIMEOUT or the peer's Status)
    QUEUED, GENERATING --generation (or Max Time) over, numbered pairs may still complete it--> ENDING
    ENDING --last pair settled--> DONE;  ENDING --span waited out / aborted / link down--> FAILED
    any open state --its higher layer's CLOSE (a windowed request, at the master)--> DONE

A *windowed* request (CREATE Window OPEN, docs/wire.md §4.1.1; the network layer's hops) is held by the
master: it numbers no more pairs than the credit the higher layer gave (OPEN's Number, plus each CREDIT's),
no count completes it at either end, and CLOSE ends it at the master and, by an abort, at the other end.

A CREATE is admitted against the link's options (:mod:`protocols.link.admission`): the fastest
option meeting its Minimum Fidelity, else ERR UNSUPP; ERR NOTIME if the expected time for
Number pairs exceeds Max Time; ERR NORES if the link's queue is full or the node's memory
(:class:`Memory`) cannot take the request's pairs.

An atomic create-and-keep request (ATO, or CON clear) keeps its pairs at both ends, moved to
storage qubits when there are any, until all are there; the master then delivers them and
RELEASEs them to the other end. A kept pair older than the link's cutoff is discarded at both
ends (ERR EXPIRE at both, RELEASE with Status EXPIRE) and replaced. A measure-directly request
with CON clear gets all its OKs when it completes.

Where things live: the package's docstring (:mod:`protocols.link`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from protocols.common import EGP_PORT, Actions, Address, ParseError
from protocols.link.admission import Admission
from protocols.link.confirm import Confirmation
from protocols.link.confirm_master import MasterConfirms
from protocols.link.failures import Failures
from protocols.link.follower import Follower
from protocols.link.links import Links
from protocols.link.memory import PairMemory
from protocols.link.peer import PeerMessages
from protocols.link.queue import DistributedQueue
from protocols.link.recent import Forgetting
from protocols.link.replies import Replies
from protocols.link.requests import RequestTable
from protocols.link.runs import MasterRuns
from protocols.link.scheduler import Scheduler
from protocols.link.types import (
    RELIABLE_RETRIES,
    ROTATION_BASES,
    TRANSITIONS,
    GenerationOver,
    LinkConfig,
    LinkCounters,
    Memory,
    QueuePolicy,
    Request,
    RequestEvent,
    RequestKey,
    RequestState,
    Retransmission,
)
from protocols.packets.egp import PAIR_SIZE, EgpMessage
from protocols.physical.hardware import CommandRejected, LinkDown, MoveResult
from protocols.physical.node import AttemptLost, BlockReady, PairReady

__all__ = ["ROTATION_BASES", "TRANSITIONS", "GenerationOver", "LinkConfig", "LinkCounters", "LinkLayer", "Memory",
           "QueuePolicy", "Request", "RequestEvent", "RequestState"]


class LinkLayer:
    """Sans-IO link-layer engine of one node (every link of that node).

    ``purposes`` maps a Purpose ID to the higher-layer address that serves it here (requests from the
    peer for it go there); ``retransmit_ns`` is the interval between copies of a message awaiting its
    answer: a REQ gets ``retries`` more copies, a CONFIRM, RELEASE, SCHEDULE or abort
    ``reliable_retries``; ``memory`` is the node's qubits. ``clients``, if given, are the addresses of
    the node's higher layers: a CREATE from any other address is dropped and counted
    (``counters.unknown_clients``), since the pairs it asked for would go to nobody.
    """

    def __init__(self, node_id: int, links: list[LinkConfig], purposes: dict[int, Address],
                 retransmit_ns: int, retries: int = 3, memory: Memory | None = None,
                 reliable_retries: int = RELIABLE_RETRIES, network: Address | None = None,
                 clients: set[Address] | None = None) -> None:
        self.node_id = node_id
        self.purposes = purposes
        self.clients = clients
        self.timing = Retransmission(retransmit_ns, retries, max(retries, reliable_retries))
        self.counters = LinkCounters()
        self.links = Links(node_id, links)
        self._forgetting = Forgetting()          # every table's answers, forgotten keep_ns after they were given
        self.requests = RequestTable(self.timing.keep_ns, self._forgetting)
        memory = memory or Memory()
        self.follower = Follower(self.links, self.requests, self.timing, fail=self._fail, forgetting=self._forgetting)
        self.replies = Replies(self.counters, following=self.follower.following)
        self.runs = MasterRuns(self.links, self.requests, Scheduler(), self.counters, self.timing, fail=self._fail)
        admission = Admission(self.links, self.requests, memory, self.counters)
        self.queue = DistributedQueue(self.links, self.requests, admission, self.runs, self.replies, self.counters,
                                      self.timing, purposes, fail=self._fail,
                                      network=network, aborted=self.follower.aborted)
        self.memory = PairMemory(self.links, self.replies, self.runs, memory, self.counters, self.timing,
                                 self._forgetting)
        self.confirms = MasterConfirms(self.links, self.runs, self.memory, self.replies, self.counters, self.timing,
                                       fail=self._fail)
        self.confirmation = Confirmation(self.links, self.requests, self.runs, self.follower, self.memory,
                                         self.replies, self.counters, self.timing, self.confirms, self._forgetting)
        self._waiting = self.confirmation.waiting
        self.failures = Failures(self.links, self.requests, self.runs, self.confirms, self.follower,
                                 self.confirmation, self.memory, self.timing, fail=self._fail_now)
        self.peer = PeerMessages(self.links, self.counters, self.queue, self.follower, self.runs, self.confirmation,
                                 self.confirms, self.memory)
        # bound here, so that receive calls them as it called its own methods: no attribute load more a datagram
        self._on_pair_message, self._on_peer = self.peer.on_pair_message, self.peer.on_peer
        self._event_handlers: dict[type, Callable[[Any, int], Actions]] = {
            PairReady: self.confirmation.on_pair, BlockReady: self.confirmation.on_pair,
            AttemptLost: self.confirmation.on_lost, MoveResult: self.failures.on_moved}

    @property
    def open(self) -> Mapping[RequestKey, Request]:
        """The open requests (by origin node and Create ID), oldest first."""
        return self.requests.open

    @property
    def resolution_ns(self) -> int:
        """The longest this engine goes on retransmitting a message that waits for its answer, or (after the
        generation window's end) waiting for the pairs numbered before it (:meth:`Retransmission.ending_ns`)."""
        timing = self.timing
        ending = [timing.ending_ns(link.peer_retransmit_ns or timing.interval_ns) for link in self.links.by_id.values()]
        return max([timing.resolution_ns, *ending])

    # -- inputs ------------------------------------------------------------------------
    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        try:
            if port == EGP_PORT:
                actions = None
                if len(payload) == PAIR_SIZE:
                    actions = self._on_pair_message(payload, source, now)
                if actions is None:
                    actions = self._on_peer(EgpMessage.decode(payload), source, now)
            elif self.clients is not None and source not in self.clients:
                self.counters.unknown_clients += 1
                actions = Actions()
            else:
                actions = self.queue.on_create(payload, source, now)
        except ParseError:
            self.counters.malformed += 1
            actions = Actions()
        return self._done(actions, now)

    def handle(self, event: Any, now: int) -> Actions:
        handler = self._event_handlers.get(type(event))     # the per-pair events by their exact class: one look-up
        if handler is not None:
            return self._done(handler(event, now), now)
        for kind, handler in self._event_handlers.items():  # a subclass of one
            if isinstance(event, kind):
                return self._done(handler(event, now), now)
        if isinstance(event, LinkDown):
            actions = self.failures.link_down(event.link_id, now, event.peer_alive)
        elif isinstance(event, GenerationOver):
            actions = self.failures.generation_over(now)
        elif isinstance(event, CommandRejected):    # a Move of a slot the medium finds empty: nothing moved
            self.counters.refused_commands += 1
            actions = Actions()
        else:
            raise TypeError(f"link layer cannot handle {event!r}")
        return self._done(actions, now)

    def start(self, now: int) -> Actions:
        return Actions()

    def on_timer(self, now: int) -> Actions:
        actions = self.confirms.on_timer(now)
        actions.extend(self.confirmation.on_timer(now))
        actions.extend(self.runs.on_timer(now))
        actions.extend(self.memory.on_timer(now, withdraw=self.confirms.withdraw))
        for request in self.requests.open_requests():
            if request.expires_at is not None and request.expires_at <= now:
                actions.extend(self.failures.expire(request, now))
            elif request.retry_at is not None and request.retry_at <= now:
                actions.extend(self.queue.retry(request, now))
        return self._done(actions, now)

    def settled(self) -> bool:
        """No message of the peer protocol waits for an answer, no pair for its CONFIRM, and no request for the
        pairs numbered before the generation window's end."""
        return (self.confirms.settled() and self._waiting.settled() and self.runs.settled()
                and self.memory.settled() and self.failures.settled())

    def held_slots(self) -> set[int]:
        """Memory slots of pairs that wait for the master's CONFIRM, or for the rest of their atomic request."""
        return self._waiting.held_slots() | self.memory.held_slots()

    def _done(self, actions: Actions, now: int) -> Actions:
        """After each input: requests that ended leave the open index, what is older than ``keep_ns`` is
        forgotten (:class:`~protocols.link.recent.Forgetting`: nothing to do before the earliest is due), and
        the next deadline: the earliest of the parts', a part asked only if one of its tables of deadlines is
        not empty (most inputs leave all but one or two empty; written out here, not a call of its own, since
        this runs after every input)."""
        requests = self.requests
        if requests.ended:
            self.queue.forget_windows(requests.ended)
            requests.close_ended(now)
        if now >= self._forgetting.next_at:
            self._forgetting.forget(now)
        best = requests.deadline() if requests.timed else None
        if self.confirms.sent:
            t = self.confirms.deadline()
            if t is not None and (best is None or t < best):
                best = t
        awaiting, lost, early = self._waiting.timed
        if awaiting or lost or early:
            t = self._waiting.deadline()
            if t is not None and (best is None or t < best):
                best = t
        scheduling, aborting = self.runs.timed
        if scheduling or aborting:
            t = self.runs.deadline()
            if t is not None and (best is None or t < best):
                best = t
        releasing, holding = self.memory.timed
        if releasing or holding:
            t = self.memory.deadline()
            if t is not None and (best is None or t < best):
                best = t
        actions.deadline = best
        return actions

    # -- failing requests: Max Time, the peer gone, the end of generation --------------
    def _fail(self, request: Request, code: int, now: int) -> Actions:
        """``request`` has failed here (its state is FAILED): :meth:`_fail_now`, or once its pairs moving to
        storage have had their OKs (:meth:`Failures.after_moves`: no OK follows an ERR)."""
        return self.failures.after_moves(request, code, now)

    def _fail_now(self, request: Request, code: int, now: int) -> Actions:
        """``request`` has failed here (its state is FAILED): tell its higher layer, stop serving it."""
        request.error = code
        actions = self.replies.flush(request).extend(self.replies.err(request, code))
        actions.extend(self.runs.stop_serving(request))
        actions.extend(self.follower.stop(request))
        actions.extend(self.memory.drop_kept(request))      # an atomic request's kept pairs go with it
        return actions.extend(self.runs.schedule(request.link.link_id, now))
