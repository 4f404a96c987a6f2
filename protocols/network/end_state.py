"""Network layer: :class:`EndState`, one end's bookkeeping of its circuit's end-to-end pairs (the tables
:class:`~protocols.network.endpoint.EndPoint` keeps per circuit)."""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.network.types import HalfKey
from protocols.packets.qncp import Confirm


@dataclass(slots=True)
class EndState:
    """One end's bookkeeping of its circuit's end-to-end pairs."""

    numbered: int = 0
    """Tail: pairs numbered so far (n runs from 0)."""
    settled: set[int] = field(default_factory=set)
    """Tail: pairs whose CONFIRM was answered."""
    reported: set[int] = field(default_factory=set)
    """Pairs this end has told its application about (an OK or ERR EXPIRE)."""
    expired: set[int] = field(default_factory=set)
    answered: dict[int, int] = field(default_factory=dict)
    """Head: CONFIRM_ACK Status given per pair (duplicates get the same)."""
    waiting: dict[int, Confirm] = field(default_factory=dict)
    """Head: CONFIRMs for halves still being measured, by head pair sequence."""
    delivered: dict[int, HalfKey] = field(default_factory=dict)
    held: list[bytes] = field(default_factory=list)
    """OK-Ms held until the circuit completes (measure-directly with CON clear)."""
