"""Network layer: a hop's pipeline cap at its origin (docs/architecture.md, "The pipeline cap").

A circuit of Number N needs N link pairs of each hop, plus one for each that dies before its end-to-end pair is
numbered. The hop's origin (the end that credits its link layer, :mod:`protocols.network.hops`) gives credit
only while fewer than N of the hop's link pairs are in the pipeline: settled at the origin or credited, less
those it knows died (its own half of the pair died here, whatever told it: cutoff, a failed swap, an EXPIRE
through its swap records, the link layer's ERR EXPIRE), plus those whose death ended a numbered pair (a
CONFIRM_ACK EXPIRE passed here: that pair is one of the N, and needs no replacement). Without losses a hop makes
at most N link pairs.

A loss whose news never comes would hold the cap for ever; so a capped hop that sees no progress (no credit
given, no pair of it freed or lost) for :func:`stall_ns` lifts its cap for the rest of the circuit
(:meth:`protocols.network.hop_caps.HopCaps.stalled`) and generates as it did without one: by then it is most
likely waiting for lost news, and a cap lifted wrongly costs pairs, never the request.

>>> cap = PipelineCap(need=2, stall_ns=10)
>>> cap.settled += 1; cap.room(1), cap.room(0)
(0, 1)
>>> cap.lost += 1; cap.room(1)
1
>>> cap.hold(5), cap.hold(7), cap.capped_at + cap.stall_ns
(True, False, 17)
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.network.circuit import Circuit, Hop


@dataclass(slots=True)
class PipelineCap:
    """One hop's pipeline cap at its origin: the counts its rule reads, and the stall fallback's clock."""

    need: int
    """The circuit's Number."""
    stall_ns: int
    """How long the cap may hold without progress before it is lifted (:func:`stall_ns`)."""
    settled: int = 0
    """Pairs of the hop's request settled at the origin (OK or ERR EXPIRE), each once."""
    lost: int = 0
    """Pairs of the hop whose half here is known dead."""
    ended_failed: int = 0
    """Numbered end-to-end pairs known here to have failed (CONFIRM_ACK EXPIRE)."""
    capped_at: int | None = None
    """When the cap last held back a credit the window had room for (None: it does not hold now)."""

    def room(self, pending: int) -> int:
        """How many more credits the cap allows with ``pending`` credits at the link layer."""
        return self.need - (self.settled + pending - self.lost + self.ended_failed)

    def hold(self, now: int) -> bool:
        """The cap holds back a credit at ``now``: the clock restarts. True when it was not running (the
        stall deadline is to be set; a later one is moved on when it comes due, :meth:`due`)."""
        idle = self.capped_at is None
        self.capped_at = now
        return idle

    def due(self) -> int | None:
        """When the cap is stalled, if it still holds then (None: it does not hold)."""
        return None if self.capped_at is None else self.capped_at + self.stall_ns


def stall_ns(circuit: Circuit) -> int:
    """How long a capped hop of ``circuit`` waits without progress: longer than any pair is held (an end's
    τ_end or safety limit, a repeater's cutoff) plus the circuit's linger, which outlasts every retransmission
    of an EXPIRE about it and a link layer's late retraction."""
    return max(circuit.hold_ns or 0, circuit.cutoff_ns or 0) + circuit.linger_ns


def pipeline_cap(circuit: Circuit, hop: Hop) -> PipelineCap | None:
    """The cap of ``hop`` at this node: None unless this node is its origin, or when the hop or the ends
    distil (a distilled pair consumes link pairs that no loss accounts for)."""
    if not hop.origin or hop.distil is not None or circuit.end_distil is not None:
        return None
    return PipelineCap(circuit.number, stall_ns(circuit))
