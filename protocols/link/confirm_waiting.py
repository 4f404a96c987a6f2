"""Link layer: what the other end of a link holds until its counterpart comes (:class:`Waiting`).

A pair heralded here waits for the master's CONFIRM, a lost herald's sequence number for a CONFIRM to
answer EXPIRE, and a CONFIRM that came before its pair for that pair; each at most ``confirm_timeout_ns``.
:class:`~protocols.link.confirm.Confirmation` decides what each input does to these tables; this object owns
them, and answers what the layer asks of them after every input (settled, the slots held, the next deadline).
"""

from __future__ import annotations

from protocols.link.types import PairKey, Request
from protocols.packets.egp import EgpMessage
from protocols.physical.node import BlockReady, PairReady


class Waiting:
    """The other end's tables of what waits for its counterpart, each entry with its deadline: pairs awaiting
    their CONFIRM (``awaiting``), heralds lost (``lost``; ``lost_count``, the pairs of a lost block) and
    CONFIRMs that came before their pair (``early``)."""

    def __init__(self, confirm_timeout_ns: int) -> None:
        self._confirm_timeout_ns = confirm_timeout_ns
        self.awaiting: dict[PairKey, tuple[Request, PairReady | BlockReady, int]] = {}  # awaiting their CONFIRM
        self.lost: dict[PairKey, int] = {}                                    # heralds lost, until when
        self.lost_count: dict[PairKey, int] = {}                              # pairs of a lost block
        self.early: dict[PairKey, tuple[EgpMessage, int]] = {}                # CONFIRMs before the pair
        self.timed = (self.awaiting, self.lost, self.early)
        """The tables whose entries have deadlines (:meth:`deadline`: None while all are empty)."""

    def settled(self) -> bool:
        """No pair (or early CONFIRM) waits for its counterpart."""
        return not (self.awaiting or self.early)

    def held_slots(self) -> set[int]:
        """Memory slots of pairs that wait for the master's CONFIRM."""
        return {pair.slot for _, pair, _ in self.awaiting.values() if pair.outcome is None}

    def deadline(self) -> int | None:
        """When a pair, lost herald or early CONFIRM is next given up (None: none waits)."""
        best = None
        if self.awaiting:
            for _, _, t in self.awaiting.values():
                if best is None or t < best:
                    best = t
        if self.lost:
            for t in self.lost.values():
                if best is None or t < best:
                    best = t
        if self.early:
            for _, t in self.early.values():
                if best is None or t < best:
                    best = t
        return best

    def mark_lost(self, key: PairKey, count: int, now: int) -> None:
        """Other end: pair ``key`` (``count`` of a block) is not held here: a CONFIRM for it within
        ``confirm_timeout_ns`` is answered EXPIRE."""
        self.lost[key] = now + self._confirm_timeout_ns
        if count != 1:
            self.lost_count[key] = count
