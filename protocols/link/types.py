"""Link-layer data: requests and their state machine, the records the parts keep; the links as one node sees
them (:mod:`protocols.link.config`: :class:`LinkConfig`, :class:`Retransmission`, :class:`Memory`, ...) are
re-exported here.

>>> TRANSITIONS[(RequestState.QUEUED, RequestEvent.LINK_FREE)]
<RequestState.GENERATING: 'generating'>
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from protocols.common import Actions, Address, Basis
from protocols.link.config import RELIABLE_RETRIES as RELIABLE_RETRIES  # re-exported: configuration lives there
from protocols.link.config import LinkConfig, LinkOption
from protocols.link.config import Memory as Memory
from protocols.link.config import QueuePolicy as QueuePolicy
from protocols.link.config import Retransmission as Retransmission
from protocols.packets import linkservice as ll
from protocols.physical.hardware import BellDistribution
from protocols.physical.service import StartGeneration

RequestKey = tuple[int, int]
"""A request, as both ends name it: (origin node, Create ID)."""
PairKey = tuple[int, int]
"""A heralded pair, as both ends name it: (link ID, attempt sequence)."""
GoodnessMemo = dict[tuple[BellDistribution, int, int, bool], int]
"""OK-K Goodness values of one link's kept pairs by (distribution, Bell state, time stored, moved here)."""


class RequestState(enum.Enum):
    WAITING_PEER = "waiting-peer"
    QUEUED = "queued"
    GENERATING = "generating"
    ENDING = "ending"
    DONE = "done"
    FAILED = "failed"

    __hash__ = object.__hash__      # by identity (members are singletons): Enum's is Python code, hash(self._name_)


class RequestEvent(enum.Enum):
    PEER_ACCEPTED = "peer-accepted"
    PEER_REFUSED = "peer-refused"
    LINK_FREE = "link-free"
    LAST_PAIR = "last-pair"
    MAX_TIME = "max-time"
    RUN_END = "run-end"
    ABORTED = "aborted"
    LINK_DOWN = "link-down"
    GENERATION_OVER = "generation-over"
    GENERATION_ENDING = "generation-ending"
    WAITED_OUT = "waited-out"
    CLOSED = "closed"

    __hash__ = object.__hash__      # as RequestState's


# The members the per-pair paths name, as module constants: on Python 3.11 ``RequestState.QUEUED`` is a look-up
# through EnumType's Python-level ``__getattr__`` hook (~900 instructions), a global ~25.
WAITING_PEER, QUEUED, GENERATING = RequestState.WAITING_PEER, RequestState.QUEUED, RequestState.GENERATING
DONE, FAILED, ENDING = RequestState.DONE, RequestState.FAILED, RequestState.ENDING
LINK_FREE, RUN_END, CLOSED = RequestEvent.LINK_FREE, RequestEvent.RUN_END, RequestEvent.CLOSED
SERVED = (QUEUED, GENERATING)
"""A request in one of these states is served: the master may number pairs for it."""
SETTLING = (QUEUED, GENERATING, ENDING)
"""A request in one of these states completes when its last pair is settled
(:meth:`~protocols.link.replies.Replies.settle`)."""


TRANSITIONS: dict[tuple[RequestState, RequestEvent], RequestState] = {
    (RequestState.WAITING_PEER, RequestEvent.PEER_ACCEPTED): RequestState.QUEUED,
    (RequestState.WAITING_PEER, RequestEvent.PEER_REFUSED): RequestState.FAILED,
    (RequestState.QUEUED, RequestEvent.LINK_FREE): RequestState.GENERATING,
    (RequestState.GENERATING, RequestEvent.LAST_PAIR): RequestState.DONE,
    (RequestState.WAITING_PEER, RequestEvent.MAX_TIME): RequestState.FAILED,
    (RequestState.QUEUED, RequestEvent.MAX_TIME): RequestState.FAILED,
    (RequestState.GENERATING, RequestEvent.MAX_TIME): RequestState.FAILED,
    (RequestState.GENERATING, RequestEvent.RUN_END): RequestState.QUEUED,
    (RequestState.QUEUED, RequestEvent.LAST_PAIR): RequestState.DONE,
    (RequestState.WAITING_PEER, RequestEvent.ABORTED): RequestState.FAILED,
    (RequestState.QUEUED, RequestEvent.ABORTED): RequestState.FAILED,
    (RequestState.GENERATING, RequestEvent.ABORTED): RequestState.FAILED,
    (RequestState.WAITING_PEER, RequestEvent.LINK_DOWN): RequestState.FAILED,
    (RequestState.QUEUED, RequestEvent.LINK_DOWN): RequestState.FAILED,
    (RequestState.GENERATING, RequestEvent.LINK_DOWN): RequestState.FAILED,
    (RequestState.WAITING_PEER, RequestEvent.GENERATION_OVER): RequestState.FAILED,
    (RequestState.QUEUED, RequestEvent.GENERATION_OVER): RequestState.FAILED,
    (RequestState.GENERATING, RequestEvent.GENERATION_OVER): RequestState.FAILED,
    (RequestState.QUEUED, RequestEvent.GENERATION_ENDING): RequestState.ENDING,
    (RequestState.GENERATING, RequestEvent.GENERATION_ENDING): RequestState.ENDING,
    (RequestState.ENDING, RequestEvent.LAST_PAIR): RequestState.DONE,
    (RequestState.ENDING, RequestEvent.WAITED_OUT): RequestState.FAILED,
    (RequestState.ENDING, RequestEvent.ABORTED): RequestState.FAILED,
    (RequestState.ENDING, RequestEvent.LINK_DOWN): RequestState.FAILED,
    (RequestState.WAITING_PEER, RequestEvent.CLOSED): RequestState.DONE,
    (RequestState.QUEUED, RequestEvent.CLOSED): RequestState.DONE,
    (RequestState.GENERATING, RequestEvent.CLOSED): RequestState.DONE,
}
"""QUEUED ⇄ GENERATING: the master serves a request in *runs* (a few pairs at a time when requests compete);
between runs it waits in the queue. ABORTED: the other end refused a run or gave the request up.
GENERATION_OVER: the run's generation window ended first (:class:`GenerationOver`), and no pair numbered for the
request can still be settled. GENERATION_ENDING: the window ended (or the request's Max Time ran out), but pairs
the master numbered before it may still be settled (their CONFIRMs, RELEASEs or moves are under way): the request
waits (ENDING) until its last pair is settled (DONE) or the span in which the master still retransmits is over
(WAITED_OUT: ERR TIMEOUT). CLOSED: the higher layer closed its windowed request (CREATE Window = CLOSE): it is over,
whatever its count."""

FINAL = (RequestState.DONE, RequestState.FAILED)
"""A request in one of these states has ended at this end (its last OK or its ERR was sent)."""

FOLLOW_PAIRS = 1 << 30
"""The other end arms its hardware for this many pairs when it follows a SCHEDULE: the master's own
arming bounds the attempts (both ends must be armed), so the other end never has to re-arm."""
HISTORY = 8
"""Runs the other end remembers, to tell which request a late-heralded pair was made for."""


ROTATION_BASES = {(0, 0, 0): Basis.Z, (0, 64, 0): Basis.X, (192, 0, 0): Basis.Y}
"""Fixed-basis measure-directly: the draft's Euler rotations (units of 2π/256) we support."""


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
    numbered: int = 0
    error: int = 0
    """The ERR code it failed with; while it waits (ENDING), the code it fails with if its wait runs out."""
    outcomes: list[bytes] = field(default_factory=list)
    """OKs of a measure-directly request with CON clear, held until it is over."""
    credit: int = 0
    """A windowed request (``create.windowed``): the pairs its higher layer has allowed so far (OPEN's Number,
    plus every CREDIT's); the master numbers no more."""
    goodness: GoodnessMemo = field(default_factory=dict, repr=False, compare=False)
    """The OK-K Goodness of this request's kept pairs by what else it depends on
    (:func:`protocols.link.replies.ok_message`: the link is the request's)."""
    ended: list[Request] | None = field(default=None, repr=False, compare=False)
    """Where :meth:`fire` lists the request when it reaches a final state (its table's
    :attr:`~protocols.link.requests.RequestTable.ended`: the table then looks for ended requests)."""
    windowed: bool = field(init=False, repr=False, compare=False)
    """``create.windowed`` (a property of the CREATE, which never changes), read once: the master reads it for
    each candidate of each run it schedules."""
    arming: StartGeneration | None = field(default=None, init=False, repr=False, compare=False)
    """The last :class:`~protocols.physical.service.StartGeneration` made for this request
    (:func:`protocols.link.generation.start`: a circuit hop's runs are all of one pair, each credit's the same)."""

    kept_together: bool = field(init=False, repr=False, compare=False)
    """``create.kept_together``, read once (each pair reads it at both ends)."""
    outcomes_together: bool = field(init=False, repr=False, compare=False)
    """``create.outcomes_together``, read once (each OK reads it)."""
    ok_head: int = field(init=False, repr=False, compare=False)
    """The request's bits of its OK-Ks' first word (:func:`~protocols.packets.linkservice.ok_keep_head`), made once."""

    def __post_init__(self) -> None:
        create = self.create
        self.windowed = create.window == ll.WINDOW_OPEN
        self.kept_together = create.kept_together
        self.outcomes_together = create.outcomes_together
        self.ok_head = ll.ok_keep_head(self.create_id, self.d)

    @property
    def stream(self) -> tuple[int, int]:
        """Requests of one stream share a fair share of the link: same origin node and Purpose ID."""
        return (self.origin_node, self.create.purpose_id)

    @property
    def to_number(self) -> int:
        """Pairs the master has still to number for this request (a windowed one: as its credit allows; written out
        in :meth:`~protocols.link.runs.MasterRuns.numbered`, a per-pair path)."""
        return (self.credit if self.windowed else self.create.number) - self.numbered

    @property
    def key(self) -> RequestKey:
        return (self.origin_node, self.create_id)

    def fire(self, event: RequestEvent) -> None:
        try:
            state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RuntimeError(f"request {self.create_id}: no transition {self.state} on {event}") from None
        self.state = state
        if self.ended is not None and state in FINAL:
            self.ended.append(self)


FailRequest = Callable[[Request, int, int], Actions]
"""``fail(request, code, now)``: a request has failed at this end (its state is already FAILED): its
ERR to the higher layer, and nothing is generated, kept or scheduled for it any more."""


@dataclass(frozen=True, slots=True)
class GenerationOver:
    """Runtime → link layer: generation is over (the run's end); the other end of each link gets the same event at
    the same time. Later CREATEs and REQs get ERR TIMEOUT. A request that cannot complete any more fails with ERR
    TIMEOUT at once; one whose pairs already numbered may still complete it waits for them, at most
    :meth:`~protocols.link.config.Retransmission.ending_ns` (:class:`~protocols.link.failures.Failures`). Pairs
    already numbered are still confirmed."""


@dataclass(slots=True)
class LinkCounters:
    malformed: int = 0
    rejected: int = 0
    lost_attempts: int = 0
    ok_sent: int = 0
    err_sent: int = 0
    unrequested: int = 0
    expired: int = 0
    runs: int = 0
    schedules_sent: int = 0
    cut_off: int = 0
    refused_commands: int = 0
    """Hardware commands the medium refused (:class:`protocols.physical.hardware.CommandRejected`)."""
    over_quota: int = 0
    """Requests refused with NORES by a per-source quota (:class:`protocols.link.admission.Admission`)."""
    unknown_clients: int = 0
    """CREATEs dropped because they came from none of the node's higher layers (``LinkLayer.clients``)."""
    wrong_sender: int = 0
    """EGP messages dropped because they came from another address than the peer of the link they name."""
    stale_windows: int = 0
    """CREATEs with Window CREDIT or CLOSE that named no open windowed request (it had just ended)."""
    confirms_given_up: int = 0
    """Master: CONFIRMs retransmitted ``reliable_retries`` times unanswered: the pair expired at both ends."""


@dataclass(slots=True)
class Run:
    """The master's current generation run on a link: ``pairs`` pairs for ``request``."""

    request: Request
    pairs: int
    started_at: int
    numbered: int = 0


@dataclass(slots=True)
class PendingConfirm:
    """The master's CONFIRM (or RELEASE) of one pair, retransmitted until the other end acknowledges it."""

    request: Request
    seq: int
    retries_left: int
    next_at: int
    status: int = 0
    """RELEASE only: 0 = deliver the pair, EXPIRE = discard it."""
    count: int = 1
    """CONFIRM of a block: its pairs, numbered from ``seq``."""


RANDOM_BASES = {0: (), 1: (Basis.Z, Basis.X), 2: (Basis.Z, Basis.X, Basis.Y)}
"""CREATE's RL/RR: 01 = X or Z (BB84), 10 = X, Y or Z (six-state); 11 (CHSH) is not supported."""


def basis_choice(create: ll.Create, local: bool) -> tuple[tuple[Basis, float], ...]:
    """The random measurement basis of one end of a measure-directly CREATE, with probabilities.

    The draft gives the probabilities as (P1/255, 1 − P1/255) for two bases and (P1/255, P2/255,
    rest) for three, without saying which basis is which: we take them in the order Z, X, Y, and
    all-zero parameters mean a uniform choice.

    >>> basis_choice(ll.Create(remote_node_id=2, tpe=1, rl=1, pl1=51), local=True)
    ((<Basis.Z: 0>, 0.2), (<Basis.X: 1>, 0.8))
    """
    code, p1, p2 = (create.rl, create.pl1, create.pl2) if local else (create.rr, create.pr1, create.pr2)
    bases = RANDOM_BASES.get(code, ())
    if not bases:
        return ()
    if p1 == p2 == 0:
        return tuple((basis, 1 / len(bases)) for basis in bases)
    if len(bases) == 2:
        return ((bases[0], p1 / 255), (bases[1], 1 - p1 / 255))
    return ((bases[0], p1 / 255), (bases[1], p2 / 255), (bases[2], max(0.0, 1 - (p1 + p2) / 255)))
