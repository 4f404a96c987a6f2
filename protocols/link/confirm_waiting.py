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
    their CONFIRM, heralds lost (and the pairs of a lost block) and CONFIRMs that came before their pair."""

    def __init__(self, confirm_timeout_ns: int) -> None:
        self._confirm_timeout_ns = confirm_timeout_ns
        self._awaiting: dict[PairKey, tuple[Request, PairReady | BlockReady, int]] = {}  # awaiting their CONFIRM
        self._lost: dict[PairKey, int] = {}                                   # heralds lost, until when
        self._lost_count: dict[PairKey, int] = {}                             # pairs of a lost block
        self._early: dict[PairKey, tuple[EgpMessage, int]] = {}               # CONFIRMs before the pair
        self.timed = (self._awaiting, self._lost, self._early)
        """The tables whose entries have deadlines (:meth:`deadline`: None while all are empty)."""

    def tables(self) -> tuple[dict[PairKey, tuple[Request, PairReady | BlockReady, int]], dict[PairKey, int],
                              dict[PairKey, int], dict[PairKey, tuple[EgpMessage, int]]]:
        """The tables themselves (awaiting, lost, lost_count, early), for
        :class:`~protocols.link.confirm.Confirmation`, which decides what each input does to them."""
        return self._awaiting, self._lost, self._lost_count, self._early

    def settled(self) -> bool:
        """No pair (or early CONFIRM) waits for its counterpart."""
        return not (self._awaiting or self._early)

    def held_slots(self) -> set[int]:
        """Memory slots of pairs that wait for the master's CONFIRM."""
        return {pair.slot for _, pair, _ in self._awaiting.values() if pair.outcome is None}

    def deadline(self) -> int | None:
        """When a pair, lost herald or early CONFIRM is next given up (None: none waits)."""
        best = None
        if self._awaiting:
            for _, _, t in self._awaiting.values():
                if best is None or t < best:
                    best = t
        if self._lost:
            for t in self._lost.values():
                if best is None or t < best:
                    best = t
        if self._early:
            for _, t in self._early.values():
                if best is None or t < best:
                    best = t
        return best

    def mark_lost(self, key: PairKey, count: int, now: int) -> None:
        """Other end: pair ``key`` (``count`` of a block) is not held here: a CONFIRM for it within
        ``confirm_timeout_ns`` is answered EXPIRE."""
        self._lost[key] = now + self._confirm_timeout_ns
        if count != 1:
            self._lost_count[key] = count
