"""Network layer: what one node counts, per circuit (:class:`CircuitStats`, the report's ``circuits``) and in all
(:class:`NetworkCounters`). Re-exported by :mod:`protocols.network.types`.

>>> stats = CircuitStats("head", route=(1, 2, 3))
>>> stats.swaps, stats.max_held, NetworkCounters().malformed
(0, [0, 0], 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CircuitStats:
    """What one node saw of one circuit, for the report (docs/report.md, ``circuits``)."""

    role: str
    route: tuple[int, ...] = ()
    circuit_id: int = 0
    created_at: int | None = None
    setup_attempts: int = 0
    nores_retries: int = 0
    """Head: setups tried again after a NORES refusal (with backoff)."""
    setup_done_at: int | None = None
    window: int = 0
    cutoff_ns: int = 0
    end_cutoff_ns: int = 0
    expected_pair_ns: int = 0
    model: tuple[float, float, float, float] | None = None
    """D_mid as the SETUP_REPLY carries it (16-bit fields, renormalised): what every node of the route uses."""
    model_fidelity: float | None = None
    """Tail: D_mid[0] as it computed it, before the 16-bit encoding (for the cutoff in force, one set by hand
    included, like the SETUP_REPLY's model): the report's ``fidelity_model``."""
    worst_fidelity: float | None = None
    """Tail: F_worst under the cutoff in force, exact like :attr:`model_fidelity` (so never above it)."""
    link_min_fidelity: list[float] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)
    link_pairs: dict[int, int] = field(default_factory=dict)
    """Per link id: link OKs for the circuit at this node."""
    link_expired: dict[int, int] = field(default_factory=dict)
    link_goodness: dict[int, float] = field(default_factory=dict)
    """Per link id: sum of the link OKs' goodness (the mean is this over ``link_pairs``)."""
    link_closes: dict[int, int] = field(default_factory=dict)
    """Per link id: ERRs that closed the hop's windowed link request here without failing it: at the granter,
    the ERR TIMEOUT its copy of the request ends with (the master's abort after the origin's CLOSE)."""
    link_errors: dict[int, dict[int, int]] = field(default_factory=dict)
    """Per link id: the other ERRs (not EXPIRE) that ended the hop's link request here, by error code."""
    swaps: int = 0
    swap_failures: int = 0
    cutoff_discards: int = 0
    max_held: list[int] = field(default_factory=lambda: [0, 0])
    expired_by_reason: dict[int, int] = field(default_factory=dict)
    errors: list[int] = field(default_factory=list)
    ended: str = ""
    """"complete", or the TEARDOWN's code name, once the circuit ended here."""
    hop1_ok_at: dict[int, int] = field(default_factory=dict)
    """Head: the time of each hop-1 link OK, by pair sequence (for the latency of its end-to-end OK)."""
    latencies: list[int] = field(default_factory=list)
    messages: dict[str, int] = field(default_factory=dict)
    """TRACKs and QNCP messages this node sent for the circuit, by type (retransmissions included)."""
    distil: list[str] = field(default_factory=list)
    """Per hop: its distillation rule ("" none), from the tail's rules."""
    distillation: dict[int, Any] = field(default_factory=dict)
    """Per link id of a distilling hop: :class:`protocols.network.distil_state.DistilStats`."""
    end_distil: str = ""
    """The circuit's end-to-end distillation rule ("" none), from the tail's rules."""
    end_distillation: Any = None
    """The tail's :class:`protocols.network.distil_state.DistilStats` of its end-to-end rounds, or None."""


@dataclass(slots=True)
class NetworkCounters:
    """Per node: malformed input, and what the protocol had to repair or drop."""

    malformed: int = 0
    unrequested: int = 0
    """Link OKs for a label of no live circuit (the qubit is discarded)."""
    bell_mismatches: int = 0
    """TRACKs whose EGP Bell state differs from this node's own link OK: must stay 0."""
    gave_up: int = 0
    """Reliable messages whose every retransmission went unanswered."""
    late_confirms: int = 0
    """CONFIRMs that came after every copy of them should have (their pair's answer forgotten): dropped."""
    refused: int = 0
    wrong_sender: int = 0
    """QNCP messages and TRACKs about a circuit from another node than its route says sends them: dropped."""
    hardware_refusals: int = 0
    """Hardware commands the medium refused (a qubit not in its slot): the halves they named died."""
    cap_resumes: int = 0
    """Capped hops that saw no progress for their stall time and lifted their cap
    (:meth:`protocols.network.hop_cap.HopCaps.stalled`)."""
    sent: dict[str, int] = field(default_factory=dict)
    """Messages sent, by name (TRACK and the QNCP types)."""
