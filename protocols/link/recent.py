"""Link layer: answers remembered for a bounded time, so that a duplicate gets the same answer.

A peer retransmits a message until it hears the answer, a bounded number of times; a copy can
also be duplicated or delayed by the channel. The link layer remembers each answer it gave for
``keep_ns`` (longer than the peer's whole retransmission span plus the path's delay and jitter)
and then forgets it, so its tables stay bounded however long it runs. Forgetting is lazy: each
input first drops what is older than ``keep_ns`` (:meth:`Recent.forget`), so the result depends
only on the times of the inputs, as a timer would.

The tables of one engine share a :class:`Forgetting`, which knows the earliest time any of them
has something to forget: an input before it costs one comparison, not a call per table.

>>> answers = Recent(keep_ns=100)
>>> answers.put((1, 7), 0, now=10)
>>> answers.get((1, 7)), len(answers)
(0, 1)
>>> answers.forget(now=109)
[]
>>> answers.forget(now=110)
[0]
>>> answers.get((1, 7)) is None
True
>>> group = Forgetting()
>>> seen = Recent(100, group)
>>> seen.put("a", 1, now=5)
>>> group.next_at
105
>>> group.forget(now=105)
>>> "a" in seen, group.next_at
(False, inf)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Forgetting:
    """The :class:`Recent` tables of one engine, forgotten together: :meth:`forget` does nothing before
    ``next_at``, a lower bound on the earliest time one of them has an entry to forget."""

    def __init__(self) -> None:
        self.next_at: float = math.inf
        self._tables: list[Recent] = []

    def add(self, table: Recent) -> None:
        self._tables.append(table)

    def forget(self, now: int) -> None:
        """Forget, in every table, what was put ``keep_ns`` or longer before ``now``."""
        if now < self.next_at:
            return
        next_at = math.inf
        for table in self._tables:
            order = table._order
            if order and order[0][0] <= now:
                table.forget(now)
            if order and order[0][0] < next_at:
                next_at = order[0][0]
        self.next_at = next_at


class Recent(Generic[K, V]):
    """A mapping whose entries are forgotten ``keep_ns`` after they were last put; ``group``, if given, is
    told of each entry's time (:class:`Forgetting`); ``on_forget`` is called with each value forgotten."""

    def __init__(self, keep_ns: int, group: Forgetting | None = None,
                 on_forget: Callable[[V], None] | None = None) -> None:
        self.keep_ns = keep_ns
        self._items: dict[K, V] = {}
        self._until: dict[K, int] = {}
        self._order: deque[tuple[int, K]] = deque()
        self._group = group if group is not None else Forgetting()
        self._group.add(self)
        self._on_forget = on_forget

    def put(self, key: K, value: V, now: int) -> None:
        until = now + self.keep_ns
        self._items[key] = value
        self._until[key] = until
        self._order.append((until, key))
        group = self._group
        if until < group.next_at:
            group.next_at = until

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __len__(self) -> int:
        return len(self._items)

    def forget(self, now: int) -> list[V]:
        """Forget every entry put ``keep_ns`` or longer before ``now``; the forgotten values, oldest first."""
        gone: list[V] = []
        order = self._order
        while order and order[0][0] <= now:
            until, key = order.popleft()
            if self._until.get(key) == until:     # not put again since
                del self._until[key]
                gone.append(self._items.pop(key))
        if gone and self._on_forget is not None:
            for value in gone:
                self._on_forget(value)
        return gone
