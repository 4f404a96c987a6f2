"""Link layer: :class:`DistributedQueue`, requests joining the link's queue at both ends (CREATE, REQ, REQ_ACK).

The node that receives a CREATE from its higher layer (the *origin*) admits it
(:class:`~protocols.link.admission.Admission`), answers ACK and forwards it to the peer as an EGP
REQ, retransmitted until REQ_ACK (``retries`` times at most: then the request fails with ERR
TIMEOUT, and the master aborts it in case the peer holds it). The peer admits it too and answers
REQ_ACK: accepted, or an error code (REJECTED, UNSUPP, NORES, NOTIME, TIMEOUT); a retransmitted REQ
gets the same answer and restarts nothing. The master of the link numbers every request it
accepts (Queue Sequence) and schedules it (:class:`~protocols.link.runs.MasterRuns`).
"""

from __future__ import annotations

from protocols.common import NETWORK_PURPOSE_BASE, Actions, Address, ParseError
from protocols.link.admission import Admission, unsupported
from protocols.link.links import Links
from protocols.link.recent import Recent
from protocols.link.replies import Replies
from protocols.link.requests import RequestTable
from protocols.link.runs import MasterRuns
from protocols.link.types import (
    FINAL,
    FailRequest,
    LinkCounters,
    LinkOption,
    Request,
    RequestEvent,
    RequestKey,
    RequestState,
    Retransmission,
)
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_REQ, MSG_REQ_ACK, EgpMessage
from protocols.packets.linkservice_create import CREDIT_BITS, CREDIT_FIELDS, WINDOW_BITS, WINDOW_BYTE


class DistributedQueue:
    """CREATE → ACK and REQ at the origin, REQ → REQ_ACK at the peer, and the master's Queue Sequence.

    ``purposes`` maps a Purpose ID to the higher-layer address that serves it at this node (a REQ for
    another purpose is REJECTED); ``fail`` fails a request whose REQ was never answered.
    """

    def __init__(self, links: Links, requests: RequestTable, admission: Admission, runs: MasterRuns,
                 replies: Replies, counters: LinkCounters, timing: Retransmission, purposes: dict[int, Address],
                 fail: FailRequest, network: Address | None = None,
                 aborted: Recent[RequestKey, int] | None = None) -> None:
        self._links = links
        self._requests = requests
        self._admission = admission
        self._runs = runs
        self._replies = replies
        self._counters = counters
        self._timing = timing
        self._purposes = purposes
        self._network = network       # the node's network layer: listens on every Purpose ID ≥ 0x8000 (a link label)
        self._fail = fail
        self._aborted = aborted if aborted is not None else Recent(timing.keep_ns)   # the follower's: REQs too late
        self._queue_seq = {link_id: 0 for link_id in links.ids()}     # master: the last Queue Sequence given
        self._windows: dict[tuple[Address, int, int], Request] = {}
        """The origin's windowed requests by (higher layer, peer node, Purpose ID): the last one opened of each
        (at most one of each is open and not ended: :meth:`_windowed`)."""

    # -- the origin ----------------------------------------------------------------------
    def on_create(self, payload: bytes, app: Address, now: int) -> Actions:
        """A CREATE from the higher layer at ``app``: ACK and REQ, or ERR."""
        if len(payload) == ll.CREATE_SIZE and payload[WINDOW_BYTE] & WINDOW_BITS == CREDIT_BITS:
            remote, purpose, number = CREDIT_FIELDS.unpack_from(payload)   # one a circuit hop's link pair
            return self._on_credit(remote, purpose, number, app, now)
        node_id = self._links.node_id
        try:
            create = ll.Create.decode(payload)
            if create.window in (ll.WINDOW_CREDIT, ll.WINDOW_CLOSE):   # its other fields are ignored
                return self._on_window(create, app, now)
            create.max_time_ns()             # Time Unit 3 is unused: ERR CREATE (docs/wire.md §4.1), no Create ID
        except ParseError:
            self._counters.malformed += 1
            if _is_reply(payload):           # never an error about a reply: two link layers would answer
                return Actions()             # each other's ERRs forever (a forged source does that)
            return self._replies.refuse(app, ll.Err(0, ll.ERR_CREATE, origin_node=node_id))
        create_id = self._requests.new_create_id()
        link = self._links.by_peer.get(create.remote_node_id)
        error = unsupported(create, local=True) if link else ll.ERR_UNSUPP
        if create.windowed and link is not None and not error:
            if not self._links.is_master(link):       # only the master numbers pairs, so only it holds a window
                error = ll.ERR_UNSUPP
            elif self._windowed(create.remote_node_id, create.purpose_id, app) is not None:
                error = ll.ERR_REJECTED               # one open window per (higher layer, peer, Purpose ID)
        if link is not None and link.link_id in self._links.down:
            error = ll.ERR_OTHER
        option: LinkOption | None = None
        if not error:
            assert link is not None
            option, error = self._admission.admit(create, link, source=app)
        if error:
            self._counters.rejected += 1
            return self._replies.refuse(app, ll.Err(create_id, error, origin_node=node_id))
        assert link is not None
        request = Request(create_id, node_id, create, link, app, 0, RequestState.WAITING_PEER,
                          retries_left=self._timing.retries, retry_at=now + self._timing.interval_ns,
                          option=option, expires_at=_expiry(create, now),
                          credit=create.number if create.windowed else 0)
        if self._links.is_master(link):
            request.queue_seq = self._number(link.link_id)
        self._requests.add(request)
        if request.windowed:
            self._windows[(app, create.remote_node_id, create.purpose_id)] = request
        return Actions(send=[(app, ll.Ack(create_id).encode()), self._req(request)])

    def _windowed(self, remote_node_id: int, purpose_id: int, app: Address) -> Request | None:
        """The open windowed request of ``app`` to ``remote_node_id`` for ``purpose_id`` (one a credit: looked up,
        not searched for). A windowed request is opened only at the origin (here), only while no other of the
        same key is open and not ended, and stays open until it ends: so the last one opened of the key is the
        one, if it has not ended."""
        key = (app, remote_node_id, purpose_id)
        request = self._windows.get(key)
        if request is None or request.state not in FINAL:
            return request
        del self._windows[key]                    # ended: forgotten with it
        return None

    def forget_windows(self, ended: list[Request]) -> None:
        """Forget the windowed requests among ``ended`` (each key is a hop's label, which changes from circuit to
        circuit: a key that never comes back would keep its ended request for good)."""
        for request in ended:
            if request.windowed:
                create = request.create
                key = (request.app, create.remote_node_id, create.purpose_id)
                if self._windows.get(key) is request:
                    del self._windows[key]

    def _on_credit(self, remote_node_id: int, purpose_id: int, number: int, app: Address, now: int) -> Actions:
        """CREDIT: ``number`` more pairs for ``app``'s open windowed request to ``remote_node_id`` for
        ``purpose_id`` (a CREATE with Window CREDIT, read without decoding the whole CREATE); not answered, and one
        that names no open request (it has just ended: its ERR is on its way) is dropped and counted."""
        request = self._windowed(remote_node_id, purpose_id, app)
        if request is None:
            self._counters.stale_windows += 1
            return Actions()
        request.credit += number
        return self._runs.schedule(request.link.link_id, now)

    def _on_window(self, create: ll.Create, app: Address, now: int) -> Actions:
        """CREDIT (Number more pairs) or CLOSE for an open windowed request; neither is answered, and one that
        names no open request (it has just ended: its ERR is on its way) is dropped and counted."""
        if create.window == ll.WINDOW_CREDIT:
            return self._on_credit(create.remote_node_id, create.purpose_id, create.number, app, now)
        request = self._windowed(create.remote_node_id, create.purpose_id, app)
        if request is None:
            self._counters.stale_windows += 1
            return Actions()
        link_id = request.link.link_id
        request.retry_at = request.expires_at = None
        request.fire(RequestEvent.CLOSED)
        actions = self._runs.stop_serving(request)
        actions.extend(self._runs.abort(request, ll.ERR_TIMEOUT, now))   # the other end's copy ends too
        return actions.extend(self._runs.schedule(link_id, now))

    def retry(self, request: Request, now: int) -> Actions:
        """``request``'s REQ is due again: retransmit it, or give up (ERR TIMEOUT, and the master aborts it)."""
        if request.retries_left == 0:
            request.retry_at = None
            request.fire(RequestEvent.PEER_REFUSED)
            actions = self._fail(request, ll.ERR_TIMEOUT, now)
            return actions.extend(self._runs.abort(request, ll.ERR_TIMEOUT, now))   # its REQ_ACKs may just be lost
        request.retries_left -= 1
        request.retry_at = now + self._timing.interval_ns
        return Actions(send=[self._req(request)])

    def on_req_ack(self, message: EgpMessage, now: int) -> Actions:
        node_id = self._links.node_id
        request = self._requests.get((node_id, message.create_id))
        if request is None or request.state != RequestState.WAITING_PEER or message.origin_node != node_id:
            return Actions()
        request.retry_at = None
        if message.status:
            request.fire(RequestEvent.PEER_REFUSED)
            request.error = message.status
            return self._replies.err(request, message.status)
        request.fire(RequestEvent.PEER_ACCEPTED)
        request.queue_seq = request.queue_seq or message.queue_seq
        return self._runs.schedule(request.link.link_id, now)

    def _req(self, request: Request) -> tuple[Address, bytes]:
        message = EgpMessage(MSG_REQ, 0, request.create_id, request.link.link_id, self._links.node_id,
                             request.queue_seq, request.create)
        return (request.link.peer_address, message.encode())

    # -- the peer ------------------------------------------------------------------------
    def on_req(self, message: EgpMessage, now: int) -> Actions:
        create = message.create
        assert create is not None
        key = (message.origin_node, message.create_id)
        link = self._links.by_peer.get(message.origin_node)
        app = self._network if create.purpose_id >= NETWORK_PURPOSE_BASE else self._purposes.get(create.purpose_id)
        known = self._requests.get(key)
        if known is not None:                      # a retransmission: the same answer, nothing restarted
            return Actions(send=[self._req_ack(message, known.error if known.state == RequestState.FAILED else 0,
                                               known.queue_seq)])
        status = 0
        if key in self._aborted:                   # the master gave it up before its REQ came: stay closed
            status = self._aborted[key]
        elif link is not None and link.link_id in self._links.down:    # as a CREATE for that peer would be
            status = ll.ERR_OTHER
        elif not _parseable(create):               # Time Unit 3 (docs/wire.md §4.4): as a CREATE, ERR CREATE
            status = ll.ERR_CREATE
        elif link is None or create.remote_node_id != self._links.node_id or app is None:
            status = ll.ERR_REJECTED
        else:
            status = unsupported(create, local=False)
            if create.windowed and self._links.is_master(link):
                status = status or ll.ERR_UNSUPP        # a window is held by the master, never asked of it
        stream = (message.origin_node, create.purpose_id)
        option, refusal = (self._admission.admit(create, link, source=stream) if link is not None and not status
                           else (None, 0))
        status = status or refusal
        queue_seq = message.queue_seq
        if link is not None and self._links.is_master(link) and not status:
            queue_seq = self._number(link.link_id)
        actions = Actions(send=[self._req_ack(message, status, queue_seq)])
        if status:
            self._counters.rejected += 1
            return actions
        assert link is not None and app is not None
        request = Request(message.create_id, message.origin_node, create, link, app, 1,
                          RequestState.QUEUED, queue_seq=queue_seq, option=option,
                          expires_at=_expiry(create, now))
        self._requests.add(request)
        return actions.extend(self._runs.schedule(link.link_id, now))

    def _req_ack(self, message: EgpMessage, status: int, queue_seq: int) -> tuple[Address, bytes]:
        link = self._links.by_peer.get(message.origin_node)
        reply = EgpMessage(MSG_REQ_ACK, status, message.create_id, message.link_id, message.origin_node, queue_seq)
        destination = link.peer_address if link is not None else self._links[message.link_id].peer_address
        return (destination, reply.encode())

    def _number(self, link_id: int) -> int:
        self._queue_seq[link_id] += 1
        return self._queue_seq[link_id]


def _is_reply(payload: bytes) -> bool:
    """Whether ``payload`` is what a link layer sends upwards (ACK, OK, ERR)."""
    try:
        ll.decode_upward(payload)
    except ParseError:
        return False
    return True


def _parseable(create: ll.Create) -> bool:
    """Whether ``create``'s Max Time can be read (Time Unit 3 is unused, docs/wire.md §4.1)."""
    try:
        create.max_time_ns()
    except ParseError:
        return False
    return True


def _expiry(create: ll.Create, now: int) -> int | None:
    """When Max Time runs out for a request accepted at ``now`` (None: no Max Time)."""
    limit = create.max_time_ns()
    return None if limit is None else now + limit
