"""Link-layer configuration: how a node runs each link (:class:`LinkConfig` and its options and queue policy),
how it retransmits (:class:`Retransmission`) and its qubits (:class:`Memory`); re-exported by
:mod:`protocols.link.types`.

>>> Retransmission(interval_ns=1_000, retries=3, reliable_retries=8).keep_ns
12000
>>> Memory(communication=2, storage=4).total
6
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.common import Address
from protocols.physical.hardware import BellDistribution

RELIABLE_RETRIES = 128
"""Retransmissions of a message whose loss would leave the two ends disagreeing (CONFIRM, RELEASE, an
abort) before the sender gives up. A CONFIRM given up is retracted (a RELEASE with Status EXPIRE), which
settles the pair at both ends unless every copy of that is lost too; giving up on a RELEASE leaves the pair
in doubt (the other end may have delivered it). So the limit is far beyond what loss makes likely: with a
round trip lost with probability 0.87 (0.4 loss on each of four fibres) all 129 copies fail with probability
about 2e-8."""


@dataclass(frozen=True, slots=True)
class Retransmission:
    """How the link layer repeats a message until its answer, and how long it remembers what it answered.

    ``retries`` bounds a REQ's retransmissions; ``reliable_retries`` those of a message whose loss would
    leave the two ends disagreeing (CONFIRM, RELEASE, SCHEDULE, an abort), at least ``retries``.
    """

    interval_ns: int
    retries: int = 3
    reliable_retries: int = RELIABLE_RETRIES

    @property
    def keep_ns(self) -> int:
        """How long a finished request and each answer given are remembered: longer than the peer may still
        send anything about them (a whole retransmission span, delay and jitter included)."""
        return (self.reliable_retries + 4) * self.interval_ns

    @property
    def confirm_timeout_ns(self) -> int:
        """Other end: how long a pair waits for its CONFIRM (and a CONFIRM for its pair) before it is dropped."""
        return (self.retries + 2) * self.interval_ns

    @property
    def resolution_ns(self) -> int:
        """The longest this node goes on retransmitting a message that waits for its answer."""
        return (self.reliable_retries + 2) * self.interval_ns

    def ending_ns(self, peer_interval_ns: int) -> int:
        """How long after the generation window's end a request still waits for the pairs numbered before it, on
        a link whose master retransmits every ``peer_interval_ns``: the master's last copy of a CONFIRM or
        RELEASE it sent before the end leaves ``reliable_retries`` intervals after it; one interval more covers
        its one-way delay and jitter (an interval is twice the longest attempt cycle and jitter, plus 1 ms, and a
        cycle is at least a message's way between the two ends); a CONFIRM that finds no pair here then waits
        ``confirm_timeout_ns`` for it before it is answered EXPIRE, which settles it.

        >>> Retransmission(interval_ns=1_000, retries=3, reliable_retries=8).ending_ns(2_000)
        23000
        """
        return (self.reliable_retries + 1) * peer_interval_ns + self.confirm_timeout_ns


@dataclass(frozen=True, slots=True)
class LinkOption:
    """One way to run a link: its parameter (α, or None), fidelity at the OK, success probability, and the
    Bell-diagonal distribution at the OK relative to the heralded state (``distribution[0]`` is the fidelity;
    None when only the fidelity is known). Admission uses only fidelity and success; the network layer's
    model uses the distribution."""

    alpha: float | None
    fidelity: float
    success: float
    distribution: BellDistribution | None = None


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """How the master shares a link between requests.

    ``quantum``: pairs per run while another request of the same priority waits (round-robin
    between streams); ``max_run``: pairs per run otherwise (a higher-priority request waits at
    most one run); ``max_queue``: open requests per link at this node before new ones get NORES;
    ``max_per_source`` and ``priority_pairs``: one source's open requests on the link, and the pairs
    still to make in its requests of a Priority above 0, before its new ones get NORES
    (:mod:`protocols.link.admission`).
    """

    quantum: int = 4
    max_run: int = 64
    max_queue: int = 64
    max_per_source: int = 16
    priority_pairs: int = 4096


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
    policy: QueuePolicy = QueuePolicy()
    cutoff_ns: int | None = None
    """Master: an atomic request's pair not yet released this long after its emission is discarded at both
    ends (ERR EXPIRE at both) and replaced."""
    batch: int = 0
    """Measure-directly requests of at least this many pairs are made and delivered in blocks of up to this
    many (one QHP BATCH and one OK-MB per block, :mod:`protocols.link.generation`); 0: never."""
    move_fidelity_local: float = 1.0
    move_fidelity_peer: float = 1.0
    """The fidelity f of a move to a storage qubit at this end and at the peer (the node's gate fidelity; 1 at a
    node without storage, which never moves): the OK-K's Goodness counts the one-qubit depolarising M(f) of
    this end's move when it made one, and of the peer's whenever the peer has storage (it moves every kept
    pair there before its OK)."""
    peer_retransmit_ns: int = 0
    """The peer's link layer's retransmission interval (0: the same as this node's): how long a request here may
    still wait for the CONFIRMs the peer, when it is the master, sent before the generation window ended
    (:meth:`Retransmission.ending_ns`)."""


@dataclass(frozen=True, slots=True)
class Memory:
    """A node's qubits: communication qubits (needed to generate) and storage qubits (a pair can move to)."""

    communication: int = 1 << 30
    storage: int = 0

    @property
    def total(self) -> int:
        return self.communication + self.storage
