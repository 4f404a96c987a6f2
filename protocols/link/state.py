"""Link layer: :class:`LinkState`, the state and shared helpers of :class:`~protocols.link.layer.LinkLayer`.

The engine's tables are set up here (``__init__``), with the small helpers every part of it uses.
The parts (:mod:`protocols.link.queue`, :mod:`protocols.link.confirm`, :mod:`protocols.link.memory`
and :class:`~protocols.link.layer.LinkLayer` itself) derive from :class:`LinkState`; the methods one part
calls in another are declared here for the type checker only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocols.common import Actions, Address, Basis
from protocols.link.recent import Recent
from protocols.link.types import (
    FINAL,
    RELIABLE_RETRIES,
    ROTATION_BASES,
    Held,
    LinkConfig,
    LinkCounters,
    Memory,
    PendingConfirm,
    PendingSchedule,
    Request,
    Run,
)
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_CONFIRM, EgpMessage
from protocols.physical.node import PairReady

if TYPE_CHECKING:
    from protocols.link.admission import LinkOption
    from protocols.physical.node import StartGeneration


class LinkState:
    """The tables of the link-layer engine and the helpers every part of it uses."""

    def __init__(self, node_id: int, links: list[LinkConfig], purposes: dict[int, Address],
                 retransmit_ns: int, retries: int = 3, memory: Memory | None = None,
                 reliable_retries: int = RELIABLE_RETRIES, network: Address | None = None) -> None:
        self.node_id = node_id
        self.network = network        # the node's network layer: listens on every Purpose ID ≥ 0x8000 (a link label)
        self.links_by_peer = {link.peer_node_id: link for link in links}
        self.links_by_id = {link.link_id: link for link in links}
        self.purposes = purposes
        self.retransmit_ns = retransmit_ns
        self.retries = retries
        self.reliable_retries = max(retries, reliable_retries)
        self.memory = memory or Memory()
        # a finished request (and each answer given) is remembered this long: longer than the peer may
        # still send anything about it (a whole retransmission span, delay and jitter included)
        self.keep_ns = (self.reliable_retries + 4) * retransmit_ns
        self.requests: dict[tuple[int, int], Request] = {}                  # open and recently finished
        self.open: dict[tuple[int, int], Request] = {}                      # open only, oldest first
        self.finished: Recent[tuple[int, int], Request] = Recent(self.keep_ns)
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
        self.schedule_answers: Recent[tuple[int, int], int] = Recent(self.keep_ns)
        self.sent: dict[tuple[int, int], PendingConfirm] = {}                # master: CONFIRMs awaiting ACK
        self.awaiting: dict[tuple[int, int], tuple[Request, PairReady, int]] = {}   # slave: pairs awaiting CONFIRM
        self.lost: dict[tuple[int, int], int] = {}                           # slave: heralds lost, until when
        self.early: dict[tuple[int, int], tuple[EgpMessage, int]] = {}       # slave: CONFIRMs before the pair
        self.answered: Recent[tuple[int, int], int] = Recent(self.keep_ns)   # slave: CONFIRM_ACK statuses sent
        # atomic requests: pairs kept until all are there; the master's RELEASEs; the other end's answers
        self.holding: dict[tuple[int, int], Held] = {}
        self.releasing: dict[tuple[int, int], PendingConfirm] = {}
        self.released: Recent[tuple[int, int], int] = Recent(self.keep_ns)
        # create-and-keep pairs moving to storage before their OK: communication slot -> (request, pair, seq)
        self.moving: dict[int, tuple[Request, PairReady, int]] = {}
        self.down: set[int] = set()                                          # links whose peer is gone
        self.over = False                                                    # generation is over (GenerationOver)

    @property
    def resolution_ns(self) -> int:
        """The longest this engine goes on retransmitting a message that waits for its answer."""
        return (self.reliable_retries + 2) * self.retransmit_ns

    # -- the request table ---------------------------------------------------------------
    def _add(self, request: Request) -> None:
        key = (request.origin_node, request.create_id)
        self.requests[key] = request
        self.open[key] = request

    def _tidy(self, now: int) -> None:
        """Move requests that have just finished out of the open table, and forget finished requests
        and answers older than ``keep_ns`` (so the tables stay bounded however many requests come)."""
        for key, request in list(self.open.items()):
            if request.state in FINAL:
                del self.open[key]
                request.retry_at = request.expires_at = None
                self.finished.put(key, request, now)
        for request in self.finished.forget(now):
            key = (request.origin_node, request.create_id)
            if self.requests.get(key) is request:
                del self.requests[key]
        for table in (self.answered, self.released, self.schedule_answers):
            table.forget(now)

    # -- shared helpers ----------------------------------------------------------------
    def _is_master(self, link: LinkConfig) -> bool:
        return self.node_id < link.peer_node_id

    def _number(self, link_id: int) -> int:
        self.numbered[link_id] += 1
        return self.numbered[link_id]

    @staticmethod
    def _rotation_basis(create: ll.Create, local: bool) -> Basis | None:
        angles = ((create.rotx1l, create.rotyl, create.rotx2l) if local
                  else (create.rotx1r, create.rotyr, create.rotx2r))
        return ROTATION_BASES.get(angles)

    @staticmethod
    def _expiry(create: ll.Create, now: int) -> int | None:
        limit = create.max_time_ns()
        return None if limit is None else now + limit

    def _err(self, request: Request, code: int) -> Actions:
        return self._reply(request.app, ll.Err(request.create_id, code, origin_node=request.origin_node))

    def _reply(self, app: Address, message: ll.Err) -> Actions:
        self.counters.err_sent += 1
        return Actions(send=[(app, message.encode())])

    if TYPE_CHECKING:   # defined in the other parts; declared here so that each part type-checks alone
        # protocols.link.layer: admission, failing a request
        def _unsupported(self, create: ll.Create, local: bool) -> int: ...
        def _admit(self, create: ll.Create, link: LinkConfig) -> tuple[LinkOption | None, int]: ...
        def _fail_quietly(self, request: Request, code: int, now: int) -> Actions: ...

        # protocols.link.queue: runs
        def _schedule(self, link_id: int, now: int) -> Actions: ...
        def _start(self, request: Request, pairs: int) -> StartGeneration: ...
        def _end_run(self, link_id: int, now: int) -> Actions: ...
        def _followed_request(self, link_id: int, emitted_at: int) -> Request | None: ...

        # protocols.link.confirm: confirmation
        def _confirm(self, request: Request, link_id: int, attempt_seq: int, seq: int,
                     msg_type: int = MSG_CONFIRM, status: int = 0) -> tuple[Address, bytes]: ...
        def _expired(self, request: Request, seq: int) -> Actions: ...

        # protocols.link.memory: delivery, kept pairs
        def _store_and_deliver(self, request: Request, pair: PairReady, seq: int, now: int) -> Actions: ...
        def _count(self, request: Request) -> Actions: ...
        def _hold(self, request: Request, pair: PairReady, seq: int) -> Actions: ...
        def _replace(self, key: tuple[int, int], now: int) -> Actions: ...
        def _try_release(self, request: Request, now: int) -> Actions: ...
        @staticmethod
        def _free(pair: PairReady) -> list[Any]: ...
