"""Link layer: answers remembered for a bounded time, so that a duplicate gets the same answer.

A peer retransmits a message until it hears the answer, a bounded number of times; a copy can
also be duplicated or delayed by the channel. The link layer remembers each answer it gave for
``keep_ns`` (longer than the peer's whole retransmission span plus the path's delay and jitter)
and then forgets it, so its tables stay bounded however long it runs. Forgetting is lazy: each
input first drops what is older than ``keep_ns`` (:meth:`Recent.forget`), so the result depends
only on the times of the inputs, as a timer would.

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
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """A mapping whose entries are forgotten ``keep_ns`` after they were last put."""

    def __init__(self, keep_ns: int) -> None:
        self.keep_ns = keep_ns
        self._items: dict[K, V] = {}
        self._until: dict[K, int] = {}
        self._order: deque[tuple[int, K]] = deque()

    def put(self, key: K, value: V, now: int) -> None:
        until = now + self.keep_ns
        self._items[key] = value
        self._until[key] = until
        self._order.append((until, key))

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
        return gone
