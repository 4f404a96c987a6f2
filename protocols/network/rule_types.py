"""The records of the tail's decisions at circuit setup (:func:`protocols.network.rules.decide`).

What a decision takes: the capabilities the SETUP collected as the model sees them (:class:`NodeCap` per node,
:class:`LinkCap` per hop with its :class:`OptionCap` options; shaped like the wire's QCaps, docs/wire.md
§9.3.3, converted by :mod:`protocols.network.caps`, or built from the topology by :func:`node_cap` and
:func:`link_cap`) and the circuit's :class:`Demand`; what it gives: :class:`CircuitRules`, a :class:`HopRule`
per hop; and the :class:`Retries` it allows for.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.network.model import Memory, Repeater, move_fidelity, move_wait_ns
from protocols.network.policy import DistilRule
from protocols.network.topology import LinkCaps, NodeCaps, option_distribution
from protocols.physical.hardware import BellDistribution


@dataclass(frozen=True, slots=True)
class OptionCap:
    """A link option on the wire: success probability per attempt and the Bell-diagonal state at the OK,
    relative to the heralded state (index order 0, X, Z, Y)."""

    success: float
    distribution: BellDistribution

    @property
    def fidelity(self) -> float:
        return self.distribution[0]


@dataclass(frozen=True, slots=True)
class NodeCap:
    """A node's capabilities as the SETUP carries them (NodeCap, §3.5.2)."""

    node_id: int
    communication_qubits: int
    storage_qubits: int
    free_qubits: int
    """Qubits not held or reserved by other circuits, not counting this circuit's own tentative reservation."""
    bsm_success: float
    t1_ns: float
    t2_ns: float
    gate_fidelity: float
    readout_fidelity: float
    gate_ns: int
    readout_ns: int
    move_ns: int = 0
    """How long a move to storage takes: not in the SETUP's NodeCap; the tail takes it from its topology."""

    @property
    def memory(self) -> Memory:
        return Memory(self.t1_ns, self.t2_ns)

    @property
    def repeater(self) -> Repeater:
        return Repeater(self.memory, self.gate_fidelity, self.readout_fidelity, self.gate_ns + self.readout_ns)

    @property
    def move_fidelity(self) -> float:
        """The fidelity of the move to storage each link pair's half here gets (1: none)."""
        return move_fidelity(self.storage_qubits, self.gate_fidelity)

    @property
    def move_wait(self) -> tuple[Memory, float]:
        """This node's memory and how long each link pair's half here stays in it moving (0: no move)."""
        return self.memory, move_wait_ns(self.storage_qubits, self.move_ns)


@dataclass(frozen=True, slots=True)
class LinkCap:
    """A hop's capabilities as its upstream node reports them in the SETUP (LinkCap, §3.5.2)."""

    link_id: int
    link_label: int
    peer_node: int
    cycle_ns: int
    delay_ns: int
    options: tuple[OptionCap, ...]


@dataclass(frozen=True, slots=True)
class Demand:
    """What the circuit must deliver: the application's CREATE fields and the head's proposed window (and the
    cutoff the tail was told to use, if any)."""

    min_fidelity: float
    pairs: int
    max_time_ns: int = 0
    """0: no limit."""
    window: int = 1
    cutoff_ns: int | None = None
    """τ set by hand (the scenario's ``cutoff_us`` for the request's Purpose ID), which the tail uses instead of
    deriving one; None: derived. The options, the model and the hold limit are decided for it, and a Minimum
    Fidelity it cannot keep (F_worst(τ) below it) is refused (UNSUPP)."""


@dataclass(frozen=True, slots=True)
class HopRule:
    link_id: int
    link_label: int
    origin_node: int
    """The end that sends the hop's link CREATEs: the lower node id (the link's master)."""
    option: OptionCap
    link_min_fidelity: float
    """Minimum Fidelity of the hop's link CREATEs (:func:`protocols.network.rules.selecting_minimum`): the link
    layer picks the fastest option at least this good, this one (unless another is within two quanta of it)."""
    distil: DistilRule | None = None
    """How the hop distils its link pairs before they are swapped or delivered. ``option`` is the pair as the
    model sees it: the link layer's option after the moves to storage
    (:func:`protocols.network.rules.stored_option`), distilled (:func:`protocols.network.policy.distilled_option`)
    when the hop distils."""


@dataclass(frozen=True, slots=True)
class Retries:
    """The expected time a distillation round loses to retransmitted DISTILs
    (:func:`protocols.network.rules.retry_ns`): per hop, and between the circuit's ends."""

    hops_ns: tuple[float, ...] = ()
    end_ns: float = 0.0


NO_RETRIES = Retries()


@dataclass(frozen=True, slots=True)
class CircuitRules:
    route: tuple[int, ...]
    window: int
    cutoff_ns: int | None
    """τ for halves held at repeaters (None: no cutoff; 0 on the wire)."""
    end_cutoff_ns: int | None
    """τ_end for halves held at the ends (None: no cutoff)."""
    hold_limit_ns: int
    """How long an end may hold a half at most: τ_end, or without cutoffs a safety limit."""
    expected_pair_ns: int
    model: BellDistribution
    """D_mid: the end-to-end pair at its last swap, averaged over the expected waits."""
    worst_fidelity: float
    """F_worst(τ): every pair delivered under these cutoffs is at least this good."""
    hops: tuple[HopRule, ...]
    end_distil: DistilRule | None = None
    """How the ends distil end-to-end pairs before delivering them (:mod:`protocols.network.end_plans`);
    ``expected_pair_ns`` then counts the pairs the rounds take."""


def node_cap(caps: NodeCaps, free_qubits: int) -> NodeCap:
    """A node's NodeCap from its topology entry and its free qubits now."""
    return NodeCap(caps.node_id, caps.communication_qubits, caps.storage_qubits, free_qubits, caps.bsm_success,
                   caps.t1_ns, caps.t2_ns, caps.gate_fidelity, caps.readout_fidelity, caps.gate_ns, caps.readout_ns,
                   caps.move_ns)


def link_cap(caps: LinkCaps, node: int, label: int) -> LinkCap:
    """The LinkCap ``node`` reports for its hop over ``caps`` with the label it proposes."""
    options = tuple(OptionCap(option.success, option_distribution(option)) for option in caps.options)
    return LinkCap(caps.link_id, label, caps.peer(node), caps.cycle_ns, caps.delay_ns, options)
