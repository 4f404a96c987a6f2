"""Transport: what one teleportation transfer is (:mod:`protocols.transport.teleport` runs them): the pair it
goes over, its phases at the sender, its outcome events at either end, and the engine's counters.

>>> out = Outgoing(1, PairRef(0, 1, 2, 3, 0, 0), ("10.0.0.2", 7776), data_slot=4, give_up_at=10)
>>> out.to(Phase.SENT); out.to(Phase.MEASURING)
Traceback (most recent call last):
RuntimeError: transfer 1: sent -> measuring
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocols.common import Address
from protocols.packets import qtp

PairKey = tuple[int, int, int]
"""A pair's names at both ends: (origin node, Create ID, sequence number)."""

@dataclass(frozen=True, slots=True)
class PairRef:
    """This end's half of a kept pair, as its OK named it."""

    slot: int
    origin_node: int
    create_id: int
    sequence_number: int
    bell_state: int
    ok_time: int

    @property
    def key(self) -> PairKey:
        return (self.origin_node, self.create_id, self.sequence_number)


@dataclass(frozen=True, slots=True)
class Delivered:
    """Receiver: the qubit sent over ``pair`` is now in ``slot`` (the pair's slot), corrected."""

    transfer_seq: int
    slot: int
    pair: PairKey


@dataclass(frozen=True, slots=True)
class Sent:
    """Sender: the receiver applied the corrections of transfer ``transfer_seq``."""

    transfer_seq: int
    pair: PairKey


@dataclass(frozen=True, slots=True)
class Lost:
    """Either end: the qubit of ``transfer_seq`` (0: the receiver never learnt it) over ``pair`` is lost."""

    transfer_seq: int
    pair: PairKey
    code: int
    reason: str
    kept: bool = False
    """Sender: the qubit was never Bell-measured (the pair was already past the receiver's deadline): it is
    still in its slot and may go over another pair."""


class Phase(enum.Enum):
    MEASURING = "measuring"
    SENT = "sent"
    DONE = "done"


TRANSITIONS = {Phase.MEASURING: {Phase.SENT, Phase.DONE}, Phase.SENT: {Phase.DONE}, Phase.DONE: set()}
"""A transfer's life at the sender: Bell measurement, DATA sent (and retransmitted), answered or given up."""


@dataclass(slots=True)
class Outgoing:
    transfer_seq: int
    pair: PairRef
    peer: Address
    data_slot: int
    give_up_at: int
    phase: Phase = Phase.MEASURING
    message: qtp.Qtp | None = None
    next_at: int | None = None

    def to(self, phase: Phase) -> None:
        if phase not in TRANSITIONS[self.phase]:
            raise RuntimeError(f"transfer {self.transfer_seq}: {self.phase.value} -> {phase.value}")
        self.phase = phase


@dataclass(slots=True)
class Incoming:
    pair: PairRef
    peer: Address
    deadline: int


@dataclass(slots=True)
class Counters:
    sent: int = 0
    retransmitted: int = 0
    delivered: int = 0
    lost: int = 0
    malformed: int = 0
    unexpected: int = 0
    """Well-formed messages that match nothing (a stale or forged answer): dropped."""
