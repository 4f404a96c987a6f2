"""Network layer: the records its collaborators share (network-design §6).

A *half* is this node's qubit of one link pair, named by ``(link id, pair sequence)`` as the link layer
numbers it (the same at both ends of the link). Its life is a state machine (:data:`HALF_TRANSITIONS`);
a dead half stays as a tombstone for the circuit's linger time, so late messages about it get consistent
answers. A circuit is named by its handle ``(head node, circuit id)``. What a node counts (:class:`CircuitStats`,
:class:`NetworkCounters`) is :mod:`protocols.network.stats`'s, re-exported here.

>>> HALF_TRANSITIONS[(HalfState.HELD, HalfEvent.SWAP)]
<HalfState.SWAPPING: 'swapping'>
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from protocols.network.stats import CircuitStats as CircuitStats
from protocols.network.stats import NetworkCounters as NetworkCounters
from protocols.packets.qnp import TrackFrame

Handle = tuple[int, int]
"""A circuit: (head node id, circuit id)."""
HalfKey = tuple[int, int]
"""A half: (link id, pair sequence)."""

LEFT, RIGHT = 0, 1
"""A circuit's hops at a node: LEFT towards the head, RIGHT towards the tail."""


class HalfState(enum.Enum):
    __hash__ = object.__hash__
    """Members are singletons compared by identity: hashed by identity too (``Enum.__hash__``, ``hash(name)``, is
    Python code: each :data:`HALF_TRANSITIONS` look-up, twice a half's every event, cost two such calls)."""

    EARLY = "early"
    """A TRACK named it before this node's link OK came."""
    HELD = "held"
    """In memory, owned by the network layer."""
    MEASURING = "measuring"
    """An end of a measure-directly circuit measured it; the result is on its way."""
    MEASURED = "measured"
    """Measured, the outcome known, not yet delivered."""
    SWAPPING = "swapping"
    """A repeater's Bell measurement took it; the result is on its way."""
    SWAPPED = "swapped"
    """Swapped with ``partner`` (outcome ``swap_bell``): the swap record of the P4 rule."""
    DELIVERED = "delivered"
    """An end delivered it to its application as end-to-end pair ``e2e``."""
    DEAD = "dead"
    """Gone (``reason``): a tombstone."""


class HalfEvent(enum.Enum):
    __hash__ = object.__hash__
    """Hashed by identity, as :class:`HalfState`."""

    OK = "ok"
    MEASURE = "measure"
    RESULT = "result"
    SWAP = "swap"
    SWAPPED = "swapped"
    DELIVER = "deliver"
    DIE = "die"


_ALIVE = (HalfState.EARLY, HalfState.HELD, HalfState.MEASURING, HalfState.MEASURED, HalfState.SWAPPING,
          HalfState.SWAPPED, HalfState.DELIVERED)
HALF_TRANSITIONS: dict[tuple[HalfState, HalfEvent], HalfState] = {
    (HalfState.EARLY, HalfEvent.OK): HalfState.HELD,
    (HalfState.HELD, HalfEvent.MEASURE): HalfState.MEASURING,
    (HalfState.MEASURING, HalfEvent.RESULT): HalfState.MEASURED,
    (HalfState.HELD, HalfEvent.SWAP): HalfState.SWAPPING,
    (HalfState.SWAPPING, HalfEvent.SWAPPED): HalfState.SWAPPED,
    (HalfState.HELD, HalfEvent.DELIVER): HalfState.DELIVERED,
    (HalfState.MEASURED, HalfEvent.DELIVER): HalfState.DELIVERED,
    **{(state, HalfEvent.DIE): HalfState.DEAD for state in _ALIVE},
}
"""Every half dies at most once; nothing comes back from DEAD."""
EARLY, HELD, MEASURING, MEASURED, SWAPPING, SWAPPED, DELIVERED, DEAD = (
    HalfState.EARLY, HalfState.HELD, HalfState.MEASURING, HalfState.MEASURED, HalfState.SWAPPING, HalfState.SWAPPED,
    HalfState.DELIVERED, HalfState.DEAD)
"""The states as module constants, for the per-pair paths: on Python 3.11 each ``HalfState.HELD`` goes through
``EnumType.__getattr__``'s slot hook (~150 ns here, against ~25 for a global name); the same objects."""
ON_OK, ON_MEASURE, ON_RESULT, ON_SWAP, ON_SWAPPED, ON_DELIVER, ON_DIE = (
    HalfEvent.OK, HalfEvent.MEASURE, HalfEvent.RESULT, HalfEvent.SWAP, HalfEvent.SWAPPED, HalfEvent.DELIVER,
    HalfEvent.DIE)
"""The events as module constants, for the same reason (``half.fire(ON_SWAP)``); the same objects."""


@dataclass(slots=True)
class Half:
    """This node's qubit of one link pair of a circuit."""

    link_id: int
    seq: int
    circuit: Handle
    side: int
    """LEFT or RIGHT: the hop of the circuit the link pair is on, seen from this node."""
    state: HalfState
    slot: int | None = None
    link_bell: int = 0
    """The link pair's Bell state (our encoding), from this node's link OK."""
    label: int = 0
    ok_at: int | None = None
    link_goodness: float = 0.0
    track: TrackFrame | None = None
    """The TRACK that named this half (repeater, tail), kept until it is forwarded or delivered."""
    track_from: int | None = None
    """The node that sent ``track``."""
    partner: HalfKey | None = None
    swap_bell: int = 0
    e2e: int | None = None
    basis: int | None = None
    outcome: int | None = None
    reason: int = 0
    doomed: tuple[int, int | None] | None = None
    """A death (reason, from node) that came while the half was SWAPPING: applied at the result."""
    released: bool = False
    tracked: bool = False
    """A TRACK about this half went to the right neighbour (head's hop-1 half, repeater's right half)."""
    distilled: float | None = None
    """An end-to-end pair that survived its ends' distillation rounds: its estimated fidelity (the tail's
    estimate; at the head, CONFIRM's Goodness)."""
    end_pooled: bool = False
    """At the tail: in the end pool (:mod:`protocols.network.end_distiller`): its TRACK is in, and its tracked
    Bell state is the rounds' (a duplicate TRACK changes nothing)."""
    distilling: bool = False
    """In its hop's distillation pool (:mod:`protocols.network.distiller`): not yet the hop's pair to swap or
    deliver."""
    collided: bool = False
    """A final half (SWAPPED, DELIVERED) whose key a new link pair's OK came for while it still lingered (the 16-bit
    link sequence came round): an EXPIRE naming the key is then the new pair's, whose qubit was discarded here, and
    is answered without touching this half (:meth:`protocols.network.tracker.Tracker.on_expire`)."""
    delivered_at: int | None = None
    """At the tail: when it was delivered (its TRACK had come): a copy of that TRACK comes no later than its
    retransmission span after (:meth:`protocols.network.tracker.Tracker.on_track`)."""
    next_track: tuple[TrackFrame, int, int] | None = None
    """At the tail, on a delivered half: the last TRACK that came for its key since, its sender and when (a copy of
    its own pair's, or, the 16-bit link sequence having come round, the next pair's on its key before that pair's
    link OK: :meth:`protocols.network.tracker.Tracker.adopt`)."""
    pair_id: int | None = None
    """At a repeater, the left half of a swap record: the Pair ID of the TRACK it forwarded (the head's sequence,
    which the pair's CONFIRM names as Head Pair Seq), by which :class:`protocols.network.swap_records.SwapRecords`
    finds the record."""
    forget_at: int | None = None
    """When this half is forgotten (:meth:`protocols.network.context.Node.linger`): a forget queue's entry counts
    only while it names this half's latest deadline."""

    key: HalfKey = field(init=False, repr=False, compare=False)
    """(link id, pair sequence): how the node's tables name the half, made once (read several times a pair)."""

    def __post_init__(self) -> None:
        self.key = (self.link_id, self.seq)

    def fire(self, event: HalfEvent) -> None:
        try:
            self.state = HALF_TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RuntimeError(f"half {self.key}: no transition {self.state} on {event}") from None


_new = object.__new__


def new_held(link_id: int, seq: int, key: HalfKey, circuit: Handle, side: int, slot: int, link_bell: int, label: int,
             ok_at: int, link_goodness: float) -> Half:
    """``Half(link_id, seq, circuit, side, HELD, slot, link_bell, label, ok_at, link_goodness)`` whose key is ``key``
    (the caller's ``(link_id, seq)``), built without calling the class: a link OK's new half, one a link pair at
    each end, where the class call (its ``__init__`` of 25 parameters called from C, and ``__post_init__``) costs
    more than the stores. Every other field is its default (tests/test_network_per_pair.py compares the two).

    >>> new_held(3, 7, (3, 7), (1, 0x0101), 0, 4, 1, 0x8001, 50, 0.9) == Half(3, 7, (1, 0x0101), 0, HELD, 4, 1, 0x8001,
    ...                                                                       50, 0.9)
    True
    """
    half = _new(Half)
    half.link_id = link_id
    half.seq = seq
    half.circuit = circuit
    half.side = side
    half.state = HELD
    half.slot = slot
    half.link_bell = link_bell
    half.label = label
    half.ok_at = ok_at
    half.link_goodness = link_goodness
    half.track = None
    half.track_from = None
    half.partner = None
    half.swap_bell = 0
    half.e2e = None
    half.basis = None
    half.outcome = None
    half.reason = 0
    half.doomed = None
    half.released = False
    half.tracked = False
    half.distilled = None
    half.end_pooled = False
    half.distilling = False
    half.collided = False
    half.delivered_at = None
    half.next_track = None
    half.pair_id = None
    half.forget_at = None
    half.key = key
    return half


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """The ``[network]`` table of a scenario (docs/scenario.md) and the engine's protocol constants."""

    window: int = 1
    """W: link pairs per hop per circuit in flight (the head's proposal; the tail may lower it)."""
    retries: int = 8
    """Retransmissions of a setup message before the sender gives up."""
    reliable_retries: int = 64
    """Retransmissions of a message whose loss would leave nodes disagreeing (TRACK, CREDIT, EXPIRE,
    CONFIRM, COMPLETE, TEARDOWN). With a round trip lost with probability 0.36 (20 % per datagram) all
    65 copies fail with probability about 1e-29."""
    link_priority: int = 7
    """Priority of the hop CREATEs: network-layer requests are served first."""
    max_circuits: int = 64
    """Live circuits per node (setting up or active) before new ones are refused with NORES; closed ones still
    lingering for their retransmissions do not count, up to ``LINGERING_FACTOR`` (4) times this many in all
    (:meth:`protocols.network.circuit.Circuits.full`)."""
    setup_attempts: int = 8
    """Circuit ids the head tries when nodes answer INUSE, before ERR NORES."""
