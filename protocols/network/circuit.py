"""Network layer: circuits as one node sees them, their state machine, and the node's circuit table.

A circuit serves one request: a route of QPUs from the head (whose application asked) to the tail. Each
node of the route knows its place in it, its hops (LEFT towards the head, RIGHT towards the tail: the link,
the circuit's label on it, the neighbour, and whether this node is the hop's *origin*, the end that sends
the link CREATEs) and, once the tail's SETUP_REPLY is in, the rules.

Lifecycle (:data:`TRANSITIONS`)::

    head:          SETTING_UP --reply OK--> ACTIVE --teardown / Max Time--> WAITING (for the tail's verdict)
    others:        RESERVED   --reply OK--> ACTIVE
    tail:          ACTIVE --Number pairs numbered--> COMPLETING
    any live state --error reply / COMPLETE / TEARDOWN / setup timeout--> CLOSED (lingers, then forgotten)

>>> TRANSITIONS[(CircuitState.ACTIVE, CircuitEvent.ALL_NUMBERED)]
<CircuitState.COMPLETING: 'completing'>
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

from protocols.common import Address
from protocols.network.policy import DistilRule
from protocols.network.types import LEFT, CircuitStats, Handle
from protocols.packets.linkservice import Create
from protocols.physical.hardware import BellDistribution


class CircuitState(enum.Enum):
    __hash__ = object.__hash__
    """Hashed by identity, as :class:`protocols.network.types.HalfState`."""

    SETTING_UP = "setting-up"
    RESERVED = "reserved"
    ACTIVE = "active"
    COMPLETING = "completing"
    WAITING = "waiting"
    CLOSED = "closed"


class CircuitEvent(enum.Enum):
    __hash__ = object.__hash__

    REPLY_OK = "reply-ok"
    ALL_NUMBERED = "all-numbered"
    STOP = "stop"
    CLOSE = "close"


LIVE = (CircuitState.SETTING_UP, CircuitState.RESERVED, CircuitState.ACTIVE, CircuitState.COMPLETING,
        CircuitState.WAITING)
GENERATING = (CircuitState.ACTIVE, CircuitState.COMPLETING)
"""The states in which a circuit's hops make pairs (:attr:`Circuit.generating`, asked several times a link pair: a
module tuple, not two look-ups through ``EnumType.__getattr__``'s slot hook each time)."""
LINGERING_FACTOR = 4
"""A node keeps at most this many times ``max_circuits`` circuits, closed ones lingering included."""
TRANSITIONS: dict[tuple[CircuitState, CircuitEvent], CircuitState] = {
    (CircuitState.SETTING_UP, CircuitEvent.REPLY_OK): CircuitState.ACTIVE,
    (CircuitState.RESERVED, CircuitEvent.REPLY_OK): CircuitState.ACTIVE,
    (CircuitState.ACTIVE, CircuitEvent.ALL_NUMBERED): CircuitState.COMPLETING,
    (CircuitState.ACTIVE, CircuitEvent.STOP): CircuitState.WAITING,
    **{(state, CircuitEvent.CLOSE): CircuitState.CLOSED for state in LIVE},
}
"""WAITING: the head stopped generating (a TEARDOWN came from a node other than the tail, or it gave up
itself) and waits for the tail's verdict: TEARDOWN (the request failed: ERR at both ends) or COMPLETE."""


@dataclass(slots=True)
class Hop:
    """One hop of a circuit at one of its two nodes."""

    index: int
    """1..K along the route."""
    link_id: int
    label: int
    peer: int
    peer_ip: str
    origin: bool
    """This node holds the hop's windowed link request (the lower node id of the two: the link's master)."""
    rto_ns: int
    link_min_fidelity: int = 0
    """Minimum Fidelity of the hop's link CREATEs (16-bit encoding), from the tail's rules."""
    distil: DistilRule | None = None
    """How the hop distils its pairs before they are swapped or delivered (the tail's rule), None: not."""

    @property
    def initiator(self) -> bool:
        """This node starts the hop's distillation rounds: the granter (the higher node id, the link's non-master,
        which gets each pair's OK last, so the other end already holds both pairs of a round it names)."""
        return not self.origin


@dataclass(slots=True)
class Circuit:
    handle: Handle
    route: tuple[int, ...]
    index: int
    """This node's position in the route (0: the head, K: the tail)."""
    state: CircuitState
    create: Create
    create_id: int
    window: int
    app: Address | None = None
    """The application at an end (the head's requester, the tail's listener)."""
    hops: list[Hop | None] = field(default_factory=lambda: [None, None])
    reserved: int = 0
    cutoff_ns: int | None = None
    """τ for halves held at repeaters (None: none)."""
    hold_ns: int | None = None
    """How long an end holds a half (τ_end, or the safety limit without cutoffs)."""
    model: BellDistribution = (1.0, 0.0, 0.0, 0.0)
    expected_pair_ns: int = 0
    e2e_rto_ns: int = 0
    linger_ns: int = 0
    stats: CircuitStats = field(default_factory=lambda: CircuitStats("repeater"))
    attempts: int = 1
    end_distil: DistilRule | None = None
    """How the ends distil end-to-end pairs before delivering them (the SETUP_REPLY's End Distil), None: not."""
    first_link: tuple[int, int] = (0, 0)
    """(link id, label) of the head's hop: how END_TO_END DISTILs name pairs."""
    peers: dict[int, int] = field(default_factory=dict)
    """Link id → the neighbour on that hop of the circuit here (:meth:`Circuits.bind` fills it): who may send a
    message naming that link (:func:`protocols.network.senders.expected`), one look-up instead of a scan."""
    sides: dict[int, int] = field(default_factory=dict)
    """Link id → the side (LEFT, RIGHT) of its hop here (:meth:`side_of`'s answers; :meth:`Circuits.bind`)."""
    """Head: circuit ids tried so far."""

    head: int = field(init=False, repr=False, compare=False)
    """The route's first node (the head's id)."""
    tail: int = field(init=False, repr=False, compare=False)
    is_head: bool = field(init=False, repr=False, compare=False)
    is_tail: bool = field(init=False, repr=False, compare=False)
    is_end: bool = field(init=False, repr=False, compare=False)
    number: int = field(init=False, repr=False, compare=False)
    """The request's Number of pairs."""

    def __post_init__(self) -> None:
        # The route, this node's index in it and the request never change: what follows from them is read as
        # attributes (several times a link pair), not computed by properties.
        route, index = self.route, self.index
        self.head, self.tail = route[0], route[-1]
        self.is_head, self.is_tail = index == 0, index == len(route) - 1
        self.is_end = self.is_head or self.is_tail
        self.number = self.create.number

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def generating(self) -> bool:
        """Hops make pairs for it: installed and not stopped."""
        return self.state in GENERATING

    def hop(self, side: int) -> Hop:
        hop = self.hops[side]
        assert hop is not None, f"circuit {self.handle} has no {'left' if side == LEFT else 'right'} hop here"
        return hop

    def side_of(self, link_id: int) -> int | None:
        return self.sides.get(link_id)

    def fire(self, event: CircuitEvent) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RuntimeError(f"circuit {self.handle}: no transition {self.state} on {event}") from None


class Circuits:
    """The circuits a node takes part in, by handle, by circuit id and by (link, label); its qubit
    reservations and its label allocation."""

    def __init__(self, node_id: int, qubits: int, max_circuits: int) -> None:
        self.node_id = node_id
        self.qubits = qubits
        self.max_circuits = max_circuits
        self.by_handle: dict[Handle, Circuit] = {}
        self.by_id: dict[int, Handle] = {}
        self.by_label: dict[tuple[int, int], tuple[Handle, int]] = {}
        self._labels: dict[int, int] = {}
        self._ids = 0

    def get(self, handle: Handle) -> Circuit | None:
        return self.by_handle.get(handle)

    def __iter__(self) -> Iterator[Circuit]:
        return iter(list(self.by_handle.values()))

    def full(self) -> bool:
        """No room for another circuit: ``max_circuits`` live ones, or (closed ones lingering included) four
        times as many, which bounds what a burst of short requests leaves behind."""
        live = sum(1 for circuit in self.by_handle.values() if circuit.live)
        return live >= self.max_circuits or len(self.by_handle) >= LINGERING_FACTOR * self.max_circuits

    def free_qubits(self) -> int:
        """Qubits no live circuit of this node holds or has reserved."""
        return max(0, self.qubits - sum(c.reserved for c in self.by_handle.values() if c.live))

    def id_in_use(self, circuit_id: int, handle: Handle) -> bool:
        """Another circuit (not ``handle``) has ``circuit_id`` here."""
        return self.by_id.get(circuit_id, handle) != handle

    def new_circuit_id(self) -> int | None:
        """The head's next proposal: ((head id & 0xFF) << 8) | counter, skipping ids in use here (None: all
        256 are, by circuits still lingering)."""
        for _ in range(256):
            self._ids = (self._ids + 1) & 0xFF
            circuit_id = (self.node_id & 0xFF) << 8 | self._ids
            if circuit_id not in self.by_id:
                return circuit_id
        return None

    def label_in_use(self, link_id: int, label: int, handle: Handle) -> bool:
        bound = self.by_label.get((link_id, label))
        return bound is not None and bound[0] != handle

    def new_label(self, link_id: int, peer: int) -> int:
        """A label for a new circuit on ``link_id``: 0x8000 | master << 14 | counter, so the two ends of a
        link (the master and the other) never propose the same one."""
        master = int(self.node_id < peer)
        for _ in range(0x4000):
            counter = self._labels.get(link_id, 0)
            self._labels[link_id] = (counter + 1) & 0x3FFF
            label = 0x8000 | master << 14 | counter
            if (link_id, label) not in self.by_label:
                return label
        raise RuntimeError(f"no free label on link {link_id}")

    def add(self, circuit: Circuit) -> None:
        self.by_handle[circuit.handle] = circuit
        self.by_id[circuit.handle[1]] = circuit.handle

    def bind(self, circuit: Circuit, side: int, hop: Hop) -> None:
        circuit.hops[side] = hop
        if side == LEFT or hop.link_id not in circuit.sides:    # (the side a scan from LEFT would find first)
            circuit.sides[hop.link_id] = side
            circuit.peers[hop.link_id] = hop.peer
        self.by_label[(hop.link_id, hop.label)] = (circuit.handle, side)

    def at_label(self, link_id: int, label: int) -> tuple[Circuit, int] | None:
        bound = self.by_label.get((link_id, label))
        if bound is None:
            return None
        circuit = self.by_handle.get(bound[0])
        return None if circuit is None else (circuit, bound[1])

    def forget(self, handle: Handle) -> None:
        circuit = self.by_handle.pop(handle, None)
        if circuit is None:
            return
        if self.by_id.get(handle[1]) == handle:
            del self.by_id[handle[1]]
        for hop in circuit.hops:
            if hop is not None and self.by_label.get((hop.link_id, hop.label), (None,))[0] == handle:
                del self.by_label[(hop.link_id, hop.label)]
