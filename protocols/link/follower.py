"""Link layer: :class:`Follower`, the other end of a link following the master's runs.

The master decides what a link generates; before the first run of a request the other end is not
already generating for, it sends SCHEDULE (the request, a run number). The other end switches its
generation to that request (disarm, then arm for it with an unbounded count: only the master's
count bounds the attempts) and answers SCHEDULE_ACK; a request it never heard of, or one that
failed here, is refused with a Status, and the master fails it too. A SCHEDULE whose REQ_ACKs were
all lost implies acceptance. A SCHEDULE with a Status is an *abort*: the master gave the request up,
and it fails here with the same code.

The last few switches are remembered (:data:`~protocols.link.types.HISTORY`), so that a pair whose
herald comes after the next switch is still assigned to the request it was made for
(:meth:`Follower.request_at`). Each answer is remembered for ``keep_ns``, so a retransmitted
SCHEDULE gets the first answer again.
"""

from __future__ import annotations

import protocols.link.generation as generation
from protocols.common import Actions, Address
from protocols.link.links import Links
from protocols.link.recent import Forgetting, Recent
from protocols.link.requests import RequestTable
from protocols.link.types import (
    FOLLOW_PAIRS,
    HISTORY,
    FailRequest,
    Request,
    RequestEvent,
    RequestKey,
    RequestState,
    Retransmission,
)
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_SCHEDULE_ACK, EgpMessage
from protocols.physical.node import StopGeneration


class Follower:
    """Which request this end generates for on each link where the peer is master, switched by SCHEDULE.

    ``fail`` fails a request the master aborted; ``forgetting`` forgets the answers with the engine's other tables.
    """

    def __init__(self, links: Links, requests: RequestTable, timing: Retransmission, fail: FailRequest,
                 forgetting: Forgetting | None = None) -> None:
        self._links = links
        self._requests = requests
        self._fail = fail
        self._followed = {link_id: 0 for link_id in links.ids()}        # the newest run number followed
        self._history: dict[int, list[tuple[int, Request]]] = {link_id: [] for link_id in links.ids()}
        self.answers: Recent[tuple[int, int], int] = Recent(timing.keep_ns, forgetting)   # (link, run) -> Status
        self.aborted: Recent[RequestKey, int] = Recent(timing.keep_ns, forgetting)
        """Aborts of requests this end did not know (yet): a REQ that comes after its abort is refused with the
        abort's Status (:class:`~protocols.link.queue.DistributedQueue`), so it is not left open here."""

    def following(self, link_id: int) -> Request | None:
        """The request this end switched to last on ``link_id`` (None: it never followed a run there)."""
        history = self._history[link_id]
        return history[-1][1] if history else None

    def request_at(self, link_id: int, emitted_at: int) -> Request | None:
        """The request this end was generating for when it emitted at ``emitted_at``."""
        for switched_at, request in reversed(self._history[link_id]):
            if switched_at <= emitted_at:
                return request
        return None

    def stop(self, request: Request) -> Actions:
        """``request`` failed here: if this end (not the master) is generating for it, stop."""
        link = request.link
        if not self._links.is_master(link) and self.following(link.link_id) is request:
            return Actions(down=[StopGeneration(link.link_id)])
        return Actions()

    def forget(self, now: int) -> None:
        """Forget answers given ``keep_ns`` or longer ago."""
        self.answers.forget(now)
        self.aborted.forget(now)

    def on_schedule(self, message: EgpMessage, now: int) -> Actions:
        link_id = message.link_id
        key = (link_id, message.run)
        if key in self.answers:
            return Actions(send=[self._answer(message, self.answers[key])])
        request = self._requests.get((message.origin_node, message.create_id))
        if message.status:                         # an abort
            actions = Actions()
            if request is not None and request.state not in (RequestState.DONE, RequestState.FAILED):
                request.retry_at = None
                request.fire(RequestEvent.ABORTED)
                actions.extend(self._fail(request, message.status, now))
            elif request is None:
                self.aborted.put((message.origin_node, message.create_id), message.status, now)
            self.answers.put(key, 0, now)
            return actions.extend(Actions(send=[self._answer(message, 0)]))
        if message.run <= self._followed[link_id]:
            return Actions()                       # an old SCHEDULE overtaken by a newer one
        self._followed[link_id] = message.run
        status = self._switch(request, message, now)
        self.answers.put(key, status, now)
        actions = Actions(send=[self._answer(message, status)])
        if status == 0:
            assert request is not None
            actions.down += [StopGeneration(link_id), generation.start(request, FOLLOW_PAIRS)]
        return actions

    def _switch(self, request: Request | None, message: EgpMessage, now: int) -> int:
        """Switch this end to the request of a SCHEDULE; the Status to answer with."""
        if request is None or request.link.link_id != message.link_id:
            return ll.ERR_REJECTED
        if request.state == RequestState.FAILED:
            return request.error or ll.ERR_OTHER
        if request.state == RequestState.ENDING:     # generation is over: it only waits for its numbered pairs,
            return request.error or ll.ERR_TIMEOUT   # and fails with this code if they do not complete it
        if request.state == RequestState.WAITING_PEER:   # every REQ_ACK was lost: the SCHEDULE says it all
            request.retry_at = None
            request.fire(RequestEvent.PEER_ACCEPTED)
            request.queue_seq = message.queue_seq
        history = self._history[message.link_id]
        previous = history[-1][1] if history else None
        if previous is not None and previous is not request and previous.state == RequestState.GENERATING:
            previous.fire(RequestEvent.RUN_END)
        if request.state == RequestState.QUEUED:
            request.fire(RequestEvent.LINK_FREE)
        history.append((now, request))
        del history[:-HISTORY]
        return 0

    def _answer(self, message: EgpMessage, status: int) -> tuple[Address, bytes]:
        reply = EgpMessage(MSG_SCHEDULE_ACK, status, message.create_id, message.link_id, message.origin_node,
                           message.queue_seq, run=message.run, pairs=message.pairs)
        return (self._links[message.link_id].peer_address, reply.encode())
