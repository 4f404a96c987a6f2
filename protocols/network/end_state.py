"""Network layer: :class:`EndState`, one end's bookkeeping of its circuit's end-to-end pairs (the tables
:class:`~protocols.network.endpoint.EndPoint` keeps per circuit)."""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.network.pair_records import PairRecords
from protocols.network.types import HalfKey
from protocols.packets.qncp import Confirm


@dataclass(slots=True)
class EndState:
    """One end's bookkeeping of its circuit's end-to-end pairs."""

    numbered: int = 0
    """Tail: pairs numbered so far (n runs from 0)."""
    settled: int = 0
    """Tail: pairs whose CONFIRM was answered or given up (each once: its retransmission ends either way)."""
    reported: set[int] = field(default_factory=set)
    """Pairs this end has told its application about (an OK or ERR EXPIRE)."""
    expired: set[int] = field(default_factory=set)
    answered: PairRecords[int] | None = None
    """Head: CONFIRM_ACK Status given per pair (duplicates get the same), kept while a copy of the pair's
    CONFIRM can still come (:func:`protocols.network.relay.confirm_lifetime_ns`); made by the first CONFIRM."""
    waiting: dict[int, tuple[Confirm, int]] = field(default_factory=dict)
    """Head: CONFIRMs for halves still being measured, with the node each came from, by head pair sequence."""
    delivered: dict[int, HalfKey] = field(default_factory=dict)
    """Tail: the half of each pair delivered and not yet settled (poisoned if its CONFIRM is given up)."""
    held: list[bytes] = field(default_factory=list)
    """OK-Ms held until the circuit completes (measure-directly with CON clear)."""
