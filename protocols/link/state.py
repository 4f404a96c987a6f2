"""Link layer: :class:`LinkState`, the state and shared helpers of :class:`~protocols.link.layer.LinkLayer`.

The engine's tables are set up here (``__init__``), with the small helpers every part of it uses.
The parts (:mod:`protocols.link.queue`, :mod:`protocols.link.confirm`, :mod:`protocols.link.memory`
and :class:`~protocols.link.layer.LinkLayer` itself) derive from :class:`LinkState`; the methods one part
calls in another are declared here for the type checker only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from protocols.common import Actions, Address
from protocols.link.admission import Admission
from protocols.link.follower import Follower
from protocols.link.links import Links
from protocols.link.queue import DistributedQueue
from protocols.link.recent import Recent
from protocols.link.replies import Replies
from protocols.link.requests import RequestTable
from protocols.link.runs import MasterRuns
from protocols.link.scheduler import Scheduler
from protocols.link.types import (
    RELIABLE_RETRIES,
    Held,
    LinkConfig,
    LinkCounters,
    Memory,
    PendingConfirm,
    Request,
    Retransmission,
)
from protocols.packets.egp import EgpMessage
from protocols.physical.node import PairReady


class LinkState:
    """The tables of the link-layer engine and the helpers every part of it uses."""

    def __init__(self, node_id: int, links: list[LinkConfig], purposes: dict[int, Address],
                 retransmit_ns: int, retries: int = 3, memory: Memory | None = None,
                 reliable_retries: int = RELIABLE_RETRIES) -> None:
        self.node_id = node_id
        self.links = Links(node_id, links)
        self.purposes = purposes
        self.timing = Retransmission(retransmit_ns, retries, max(retries, reliable_retries))
        self.memory = memory or Memory()
        self.requests = RequestTable(self.timing.keep_ns)
        keep_ns = self.timing.keep_ns
        self.next_seq: dict[int, int] = {link.link_id: 0 for link in links}
        self.counters = LinkCounters()
        self.follower = Follower(self.links, self.requests, self.timing, fail=self._fail_quietly)
        self.replies = Replies(self.counters, following=self.follower.following)
        self.runs = MasterRuns(self.links, self.requests, Scheduler(), self.counters, self.timing,
                               fail=self._fail_quietly)
        self.queue = DistributedQueue(self.links, self.requests, Admission(self.links, self.requests, self.memory),
                                      self.runs, self.replies, self.counters, self.timing, purposes,
                                      fail=self._fail_quietly)
        self.sent: dict[tuple[int, int], PendingConfirm] = {}                # master: CONFIRMs awaiting ACK
        self.awaiting: dict[tuple[int, int], tuple[Request, PairReady, int]] = {}   # slave: pairs awaiting CONFIRM
        self.lost: dict[tuple[int, int], int] = {}                           # slave: heralds lost, until when
        self.early: dict[tuple[int, int], tuple[EgpMessage, int]] = {}       # slave: CONFIRMs before the pair
        self.answered: Recent[tuple[int, int], int] = Recent(keep_ns)        # slave: CONFIRM_ACK statuses sent
        # atomic requests: pairs kept until all are there; the master's RELEASEs; the other end's answers
        self.holding: dict[tuple[int, int], Held] = {}
        self.releasing: dict[tuple[int, int], PendingConfirm] = {}
        self.released: Recent[tuple[int, int], int] = Recent(keep_ns)
        # create-and-keep pairs moving to storage before their OK: communication slot -> (request, pair, seq)
        self.moving: dict[int, tuple[Request, PairReady, int]] = {}

    @property
    def open(self) -> Mapping[tuple[int, int], Request]:
        """The open requests (by origin node and Create ID), oldest first."""
        return self.requests.open

    @property
    def resolution_ns(self) -> int:
        """The longest this engine goes on retransmitting a message that waits for its answer."""
        return self.timing.resolution_ns

    def _tidy(self, now: int) -> None:
        """Forget finished requests and answers older than ``keep_ns`` (so the tables stay bounded)."""
        self.requests.tidy(now)
        self.follower.forget(now)
        for table in (self.answered, self.released):
            table.forget(now)

    if TYPE_CHECKING:   # defined in the other parts; declared here so that each part type-checks alone
        # protocols.link.layer: failing a request
        def _fail_quietly(self, request: Request, code: int, now: int) -> Actions: ...

        # protocols.link.memory: delivery, kept pairs
        def _store_and_deliver(self, request: Request, pair: PairReady, seq: int, now: int) -> Actions: ...
        def _hold(self, request: Request, pair: PairReady, seq: int) -> Actions: ...
        def _replace(self, key: tuple[int, int], now: int) -> Actions: ...
        def _try_release(self, request: Request, now: int) -> Actions: ...
        @staticmethod
        def _free(pair: PairReady) -> list[Any]: ...
