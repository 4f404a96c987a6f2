"""Link-layer state: links as one node sees them, requests and their state machine.

>>> TRANSITIONS[(RequestState.QUEUED, RequestEvent.LINK_FREE)]
<RequestState.GENERATING: 'generating'>
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocols.admission import LinkOption
from protocols.common import Address, Basis
from protocols.packets import linkservice as ll


class RequestState(enum.Enum):
    WAITING_PEER = "waiting-peer"
    QUEUED = "queued"
    GENERATING = "generating"
    DONE = "done"
    FAILED = "failed"


class RequestEvent(enum.Enum):
    PEER_ACCEPTED = "peer-accepted"
    PEER_REFUSED = "peer-refused"
    LINK_FREE = "link-free"
    LAST_PAIR = "last-pair"
    MAX_TIME = "max-time"


TRANSITIONS: dict[tuple[RequestState, RequestEvent], RequestState] = {
    (RequestState.WAITING_PEER, RequestEvent.PEER_ACCEPTED): RequestState.QUEUED,
    (RequestState.WAITING_PEER, RequestEvent.PEER_REFUSED): RequestState.FAILED,
    (RequestState.QUEUED, RequestEvent.LINK_FREE): RequestState.GENERATING,
    (RequestState.GENERATING, RequestEvent.LAST_PAIR): RequestState.DONE,
    (RequestState.WAITING_PEER, RequestEvent.MAX_TIME): RequestState.FAILED,
    (RequestState.QUEUED, RequestEvent.MAX_TIME): RequestState.FAILED,
    (RequestState.GENERATING, RequestEvent.MAX_TIME): RequestState.FAILED,
}

ROTATION_BASES = {(0, 0, 0): Basis.Z, (0, 64, 0): Basis.X, (192, 0, 0): Basis.Y}
"""Fixed-basis measure-directly: the draft's Euler rotations (units of 2π/256) we support."""


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """One link as seen from this node."""

    link_id: int
    peer_node_id: int
    peer_address: Address
    t2_local_ns: float
    t2_peer_ns: float
    t1_local_ns: float = float("inf")
    t1_peer_ns: float = float("inf")
    options: tuple[LinkOption, ...] = (LinkOption(None, 1.0, 1.0),)
    cycle_ns: int = 0


@dataclass(slots=True)
class Request:
    create_id: int
    origin_node: int
    create: ll.Create
    link: LinkConfig
    app: Address
    d: int
    state: RequestState
    queue_seq: int = 0
    delivered: int = 0
    retries_left: int = 0
    retry_at: int | None = None
    option: LinkOption | None = None
    expires_at: int | None = None

    def fire(self, event: RequestEvent) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RuntimeError(f"request {self.create_id}: no transition {self.state} on {event}") from None


@dataclass(slots=True)
class LinkCounters:
    malformed: int = 0
    rejected: int = 0
    lost_attempts: int = 0
    ok_sent: int = 0
    err_sent: int = 0
    unrequested: int = 0
    expired: int = 0


@dataclass(slots=True)
class PendingConfirm:
    """The master's CONFIRM of one pair, until the other end acknowledges it."""

    request: Request
    seq: int
    retries_left: int
    next_at: int
