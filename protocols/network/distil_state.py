"""Network layer: the records of hop distillation (:mod:`protocols.network.distiller`): pooled pairs, rounds and
their state machine, which pairs a round takes, and the per-hop statistics the report shows.

>>> ROUND_TRANSITIONS[(RoundState.AWAITING_PEER, RoundEvent.MATCH)]
<RoundState.DONE: 'done'>
>>> from protocols.common import DistillProtocol
>>> rule = DistilRule(DistillProtocol.DEJMPS, Schedule.PUMPING, 3)
>>> choose(rule, [((1, 5), 1), ((1, 6), 0), ((1, 7), 2), ((1, 8), 0)])      # the highest level, an elementary pair
((1, 7), (1, 6))
>>> choose(DistilRule(DistillProtocol.BBPSSW, Schedule.RECURRENCE, 2), [((1, 5), 1), ((1, 6), 0), ((1, 7), 0)])
((1, 6), (1, 7))
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocols.network.distillation import Round as Closed
from protocols.network.distillation import Schedule
from protocols.network.policy import DistilRule
from protocols.network.types import HalfKey
from protocols.physical.hardware import BellDistribution


class RoundState(enum.Enum):
    MEASURING = "measuring"
    """This end's Distill is under way."""
    AWAITING_PEER = "awaiting-peer"
    """Initiator: DISTIL sent, waiting for DISTIL_ACK."""
    DONE = "done"
    FAILED = "failed"


class RoundEvent(enum.Enum):
    RESULT = "result"
    """The initiator's own outcome came."""
    MATCH = "match"
    MISMATCH = "mismatch"
    LOST = "lost"
    """The peer does not hold the pairs (DISTIL_ACK EXPIRE), every DISTIL went unanswered, or the kept half died."""
    REJECTED = "rejected"
    """The medium refused this end's Distill."""


ROUND_TRANSITIONS: dict[tuple[RoundState, RoundEvent], RoundState] = {
    (RoundState.MEASURING, RoundEvent.RESULT): RoundState.AWAITING_PEER,
    (RoundState.MEASURING, RoundEvent.MATCH): RoundState.DONE,
    (RoundState.MEASURING, RoundEvent.MISMATCH): RoundState.FAILED,
    (RoundState.MEASURING, RoundEvent.LOST): RoundState.FAILED,
    (RoundState.MEASURING, RoundEvent.REJECTED): RoundState.FAILED,
    (RoundState.AWAITING_PEER, RoundEvent.MATCH): RoundState.DONE,
    (RoundState.AWAITING_PEER, RoundEvent.MISMATCH): RoundState.FAILED,
    (RoundState.AWAITING_PEER, RoundEvent.LOST): RoundState.FAILED,
}
"""The responder decides on its own result (it knows both outcomes); the initiator on DISTIL_ACK."""


@dataclass(slots=True)
class Entry:
    """A pooled half: the rounds its pair has survived, its estimated distribution relative to its tracked
    state, and whether a round holds it."""

    level: int
    estimate: BellDistribution
    busy: bool = False


@dataclass(slots=True)
class Round:
    """One round at one end."""

    kept: HalfKey
    sacrificed: HalfKey
    level: int
    """Rounds the kept pair survived before this one."""
    initiator: bool
    parity: int
    """The outcomes' parity that keeps the pair."""
    predicted: Closed
    """The closed form of this round on the two pairs' estimates."""
    slots: tuple[int, int]
    state: RoundState = RoundState.MEASURING
    outcome: int = 0
    peer_outcome: int = 0
    answer: bytes = b""
    """Responder: the DISTIL_ACK it sent (a retransmitted DISTIL gets it again)."""

    def fire(self, event: RoundEvent) -> None:
        try:
            self.state = ROUND_TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RuntimeError(f"distillation round {self.kept}/{self.sacrificed}: no transition {self.state} "
                               f"on {event}") from None


def choose(rule: DistilRule, pool: list[tuple[HalfKey, int]]) -> tuple[HalfKey, HalfKey] | None:
    """(kept, sacrificed) among free pooled halves ``(key, level)``, oldest first, or None: recurrence takes the
    two oldest of the lowest level that has two; pumping the highest level below the rounds with the oldest
    elementary pair."""
    below = [(key, level) for key, level in pool if level < rule.rounds]
    if rule.schedule == Schedule.RECURRENCE:
        for level in sorted({level for _, level in below}):
            same = [key for key, at in below if at == level]
            if len(same) >= 2:
                return same[0], same[1]
        return None
    if len(below) < 2:
        return None
    kept = max(below, key=lambda item: item[1])[0]
    elementary = [key for key, level in below if level == 0 and key != kept]
    return (kept, elementary[0]) if elementary else None


@dataclass(slots=True)
class DistilStats:
    """One hop's distillation at one node, for the report (docs/report.md, ``circuits[].distillation``)."""

    elementary: int = 0
    """Link pairs that entered the pool."""
    attempted: int = 0
    succeeded: int = 0
    distilled: int = 0
    """Pairs that survived every round and left the pool."""
    predicted_success: float = 0.0
    """Sum over attempted rounds of the closed-form success probability on the pairs' estimates."""
    fidelity_before: float = 0.0
    """Sum of the elementary pairs' estimated fidelities (their link OKs' goodness)."""
    fidelity_after: float = 0.0
    """Sum of the distilled pairs' estimated fidelities."""
