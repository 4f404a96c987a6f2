"""Network layer: per end-to-end pair, a record kept only while a copy of the pair's CONFIRM can still arrive.

A repeater remembers the answer it passed back for each pair (:class:`protocols.network.relay.Relay`) and the
head the Status it answered (:class:`protocols.network.end_state.EndState`), so that a duplicate CONFIRM gets
the same answer. Those records are forgotten ``keep_ns`` after they were made (:func:`confirm_lifetime_ns`:
longer than any node of the route can still send a copy of that CONFIRM), so a circuit of any length holds
only the pairs of its last ``keep_ns``. Pairs are numbered in order at the tail, and no copy of CONFIRM(n)
exists before the tail numbered n; so once the record of pair m made at ``t`` is forgotten, no copy of any
n ≤ m can arrive any more, and ``floor`` (m + 1) tells a late copy of a forgotten pair (:meth:`late`) from a
new pair.

>>> records = PairRecords[str](keep_ns=100)
>>> records.put(0, "ok", now=10); records.put(1, "ok", now=20)
>>> records.forget(now=115); records.get(0), records.get(1), records.late(0), records.late(2)
(None, 'ok', True, False)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class PairRecords(Generic[V]):
    """Records by pair number, each forgotten ``keep_ns`` after it was first made (first in, first out)."""

    __slots__ = ("floor", "keep_ns", "made", "values")

    def __init__(self, keep_ns: int) -> None:
        assert keep_ns > 0, "a record must outlive the instant it is made"
        self.keep_ns = keep_ns
        self.values: dict[int, V] = {}
        self.made: deque[tuple[int, int]] = deque()
        """(when, pair number) of each record, oldest first."""
        self.floor = 0
        """No copy of a CONFIRM of a pair numbered below this can still arrive."""

    def __len__(self) -> int:
        return len(self.values)

    def __contains__(self, n: int) -> bool:
        return n in self.values

    def get(self, n: int) -> V | None:
        return self.values.get(n)

    def put(self, n: int, value: V, now: int) -> None:
        """Record (or replace) pair n's value; a new record is forgotten ``keep_ns`` after ``now``."""
        if n not in self.values:
            self.made.append((now, n))
        self.values[n] = value

    def late(self, n: int) -> bool:
        """Whether pair n's record was forgotten, or n was never seen here and no copy of its CONFIRM can
        arrive any more: a copy now is beyond the bound (its sender no longer waits for an answer)."""
        return n < self.floor and n not in self.values

    def forget(self, now: int, keep: Callable[[V], bool] | None = None) -> None:
        """Forget the records made ``keep_ns`` or longer ago; one for which ``keep`` is true (still needed,
        e.g. a CONFIRM still on its way) is kept for another ``keep_ns``."""
        made, values, horizon = self.made, self.values, now - self.keep_ns
        while made and made[0][0] <= horizon:
            _, n = made.popleft()
            value = values.get(n)
            if value is not None and keep is not None and keep(value):
                made.append((now, n))
                continue
            values.pop(n, None)
            if n >= self.floor:
                self.floor = n + 1
