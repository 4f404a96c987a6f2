"""Network layer: :class:`EndState`, one end's bookkeeping of its circuit's end-to-end pairs (the tables
:class:`~protocols.network.endpoint.EndPoint` keeps per circuit), and :class:`Reported`, the pairs an end has
told its application about, held in a bounded form.

>>> reported = Reported()
>>> for n in (0, 1, 3): reported.add(n)
>>> reported.mark, sorted(reported.above), 2 in reported, reported.unreported(5)
(2, [3], False, [2, 4])
>>> reported.close_below(4); reported.mark, sorted(reported.missing), reported.held(), 3 in reported
(4, [2], 1, True)
>>> reported.add(2); 2 in reported, reported.held()
(True, 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.network.pair_records import PairRecords
from protocols.network.types import HalfKey
from protocols.packets.qncp import Confirm


class Reported:
    """A set of pair numbers, exact, held as a mark below which every number is a member except the listed
    ``missing`` ones, and the members ``above`` the mark. Members added in order keep only the mark; the mark
    also moves past a number on :meth:`close_below` (it is then missing until added), which only changes
    what is held, never what is a member."""

    __slots__ = ("above", "mark", "missing")

    def __init__(self) -> None:
        self.mark = 0
        """Every n below this is a member unless in ``missing``."""
        self.above: set[int] = set()
        """The members at or above ``mark``."""
        self.missing: set[int] = set()
        """The numbers below ``mark`` that are not members."""

    def __contains__(self, n: int) -> bool:
        return n in self.above if n >= self.mark else n not in self.missing

    def held(self) -> int:
        """How many numbers are held (not the members, which are unbounded): ``above`` and ``missing``."""
        return len(self.above) + len(self.missing)

    def add(self, n: int) -> None:
        mark = self.mark
        if n < mark:
            self.missing.discard(n)
        elif n > mark:
            self.above.add(n)
        else:
            mark += 1
            above = self.above
            while above and mark in above:
                above.remove(mark)
                mark += 1
            self.mark = mark

    def close_below(self, floor: int) -> None:
        """Move the mark up to ``floor``: the numbers below it that are not members become ``missing``."""
        above, missing = self.above, self.missing
        for n in range(self.mark, floor):
            if n in above:
                above.remove(n)
            else:
                missing.add(n)
        self.mark = max(self.mark, floor)

    def unreported(self, below: int) -> list[int]:
        """The numbers below ``below`` that are not members, in order."""
        found = sorted(n for n in self.missing if n < below)
        return found + [n for n in range(self.mark, below) if n not in self.above]


@dataclass(slots=True)
class EndState:
    """One end's bookkeeping of its circuit's end-to-end pairs."""

    numbered: int = 0
    """Tail: pairs numbered so far (n runs from 0)."""
    settled: int = 0
    """Tail: pairs whose CONFIRM was answered or given up (each once: its retransmission ends either way)."""
    reported: Reported = field(default_factory=Reported)
    """Pairs this end has told its application about (an OK or an ERR EXPIRE). The tail reports in order (its
    OKs, at numbering), so it holds none; the head's mark follows its ``answered`` floor (docs/architecture.md,
    "Bounded reports")."""
    retracted: set[int] = field(default_factory=set)
    """Tail: pairs still in ``delivered`` whose half was poisoned (reported expired then): their CONFIRM_ACK
    EXPIRE or give-up reports nothing more. Each leaves when its pair is settled."""
    answered: PairRecords[int] | None = None
    """Head: CONFIRM_ACK Status given per pair (duplicates get the same), kept while a copy of the pair's
    CONFIRM can still come (:func:`protocols.network.relay.confirm_lifetime_ns`); made by the first CONFIRM."""
    waiting: dict[int, tuple[Confirm, int]] = field(default_factory=dict)
    """Head: CONFIRMs for halves still being measured, with the node each came from, by head pair sequence."""
    delivered: dict[int, HalfKey] = field(default_factory=dict)
    """Tail: the half of each pair delivered and not yet settled (poisoned if its CONFIRM is given up)."""
    held: list[bytes] = field(default_factory=list)
    """OK-Ms held until the circuit completes (measure-directly with CON clear)."""
    linger_ns: int = 0
    """How long a delivered half is kept once over (:func:`protocols.network.relay.delivered_linger_ns`; 0: not
    reckoned yet)."""
