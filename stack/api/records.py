"""What an application's context remembers of requests and pairs between calls, for
:class:`stack.api.context.AppContext`: each record is kept only while a call can still ask for it, so an
application that runs for hours (QKD streaming pairs, a monitor) holds a bounded amount.

- :class:`RequestKinds`: whether each of the remote applications' requests keeps or measures its pairs (an ERR
  does not say; its OKs do), for the collections that must leave the ERRs of the other kind. This node's own
  requests are never asked about (their ERRs are matched by Create ID and service), so they are not recorded.
  The receiving end never learns that a remote request is complete, and a late ERR EXPIRE of a pair it
  delivered can follow its last OK, so the kinds of the :data:`REMEMBERED_REQUESTS` requests heard from last
  (an OK or an ERR of theirs) are kept: a request silent while that many others were heard from is over.
- The pairs the layers retracted (ERR EXPIRE), for the application's transport engine
  (:mod:`stack.api.transport`), which takes them when it next runs: the last :data:`EXPIRED_KEPT` of them,
  as many as the engine itself remembers answers for (:data:`protocols.transport.teleport.REMEMBERED`); and
  a Teleporter's pairs retracted before their OK came (:class:`RecentKeys`), forgotten when it comes.
- The Sequence Numbers each of the last :data:`NAMED_REQUESTS` requests a Teleporter sent or received pairs over
  has settled (:class:`UsedNumbers`), by QTP's name of the request (origin node, Create ID), whichever service
  made it: a pair under a number already used there is a second pair under one QTP name.
- When each queued OK (K) arrived lives with the queue (:class:`stack.api.answers.MessageQueue`): it leaves with
  the message, however it is taken (a collection, ``next_message``, a dropped pair).

>>> kinds = RequestKinds(capacity=2)
>>> for create_id in (1, 2, 3):
...     kinds.learn(ll.OkMeasure(create_id, 0, 1, 0, 0, 0, 0, 2, 0), 7771)
>>> sorted(kinds), kinds.get((7771, 2, 3))
([(7771, 2, 2), (7771, 2, 3)], False)
>>> keys = RecentKeys[int](capacity=2)
>>> for key in (1, 2, 3):
...     keys.add(key)
>>> keys.take(1), keys.take(3), list(keys)
(False, True, [2])
>>> sorted(retracted(ll.Err(1, ll.ERR_EXPIRE, 1, 65534, 1, origin_node=2)))
[(2, 1, 0), (2, 1, 65534), (2, 1, 65535)]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import TypeVar

from protocols.packets import linkservice as ll
from protocols.transport.teleport import REMEMBERED

REMEMBERED_REQUESTS = 4096
"""How many remote requests' kinds a context keeps (the ones heard from last)."""
EXPIRED_KEPT = REMEMBERED
"""How many retracted pairs a context keeps for its transport engine (the last ones)."""
NAMED_REQUESTS = 256
"""How many requests' used Sequence Numbers a :class:`UsedNumbers` keeps (the ones used last)."""
FEW_NUMBERS = 512
"""Numbers a :class:`UsedNumbers` keeps in a set for one request before it makes that request's bitmap."""

K = TypeVar("K", bound=Hashable)
RequestKey = tuple[int, int, int]
"""(service port, origin node, Create ID)."""


class RequestKinds(OrderedDict[RequestKey, bool]):
    """Whether each remote request heard from keeps its pairs (True) or measures them (False), by (service port,
    origin node, Create ID), the one heard from last at the end; at most ``capacity`` of them."""

    def __init__(self, capacity: int = REMEMBERED_REQUESTS) -> None:
        super().__init__()
        self.capacity = capacity

    def learn(self, message: ll.Upward, port: int) -> None:
        """``message`` came from the service on ``port``: an OK of a remote request records its kind, an ERR of
        one whose kind is known keeps it among the ones heard from last."""
        if isinstance(message, ll.OkKeep | ll.OkMeasure | ll.OkMeasureBlock):
            if message.d == 0:                  # this node's own request: never asked about
                return
            key = (port, message.remote_node_id, message.create_id)
            self[key] = isinstance(message, ll.OkKeep)
        elif isinstance(message, ll.Err):
            key = (port, message.origin_node, message.create_id)
            if key not in self:
                return
        else:
            return
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


class RecentKeys(OrderedDict[K, None]):
    """A set of at most ``capacity`` keys, the ones added last (a key added again counts as new)."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def add(self, key: K) -> None:
        """Remember ``key`` (forgetting the oldest if there are too many)."""
        self[key] = None
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)

    def take(self, key: K) -> bool:
        """Whether ``key`` was remembered; it is forgotten."""
        return self.pop(key, False) is None


def retracted(err: ll.Err) -> Iterator[tuple[int, int, int]]:
    """The pairs an ERR EXPIRE retracts, as (origin node, Create ID, sequence number): its Sequence Numbers
    from low up to (not including) high, modulo 2^16."""
    return ((err.origin_node, err.create_id, seq) for seq in err.sequences())


class UsedNumbers(OrderedDict[tuple[int, int], set[int] | bytearray]):
    """By request (origin node, Create ID): the Sequence Numbers its pairs were delivered or retracted under at this
    end, for the ``capacity`` requests that used one last. A request's numbers come round when it shares its
    link (65,536 link pairs later), and a link-service and a network-service request can share a Create ID (the
    services number requests apart): :meth:`use` tells a second pair under one QTP name from the first (the key
    leaves the service out on purpose, as QTP's name does: docs/wire.md §11.1). A request's
    numbers are a set while few, then a bitmap of all 2^16 (8 KiB), so a long stream holds at most
    ``capacity`` × 8 KiB.

    >>> used = UsedNumbers(capacity=2)
    >>> used.use((1, 3), 5), used.use((1, 3), 6), used.use((1, 3), 5), used.use((1, 4), 5)
    (True, True, False, True)
    >>> all(used.use((1, 4), seq) for seq in range(6, 5000)), used.use((1, 4), 4999), used.use((1, 4), 5000)
    (True, False, True)
    """

    def __init__(self, capacity: int = NAMED_REQUESTS) -> None:
        super().__init__()
        self.capacity = capacity

    def use(self, request: tuple[int, int], seq: int) -> bool:
        """Record that a pair of ``request`` was settled under ``seq``: False if one already was."""
        numbers = self.setdefault(request, set())
        self.move_to_end(request)
        while len(self) > self.capacity:
            self.popitem(last=False)
        if isinstance(numbers, set):
            if seq in numbers:
                return False
            numbers.add(seq)
            if len(numbers) > FEW_NUMBERS:
                bitmap = bytearray(1 << 13)
                for number in numbers:
                    bitmap[number >> 3] |= 1 << (number & 7)
                self[request] = bitmap
            return True
        if numbers[seq >> 3] >> (seq & 7) & 1:
            return False
        numbers[seq >> 3] |= 1 << (seq & 7)
        return True
