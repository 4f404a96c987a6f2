"""Link layer: :class:`RequestTable`, every request this node knows, open or recently finished.

A request is named by (origin node, Create ID) at both ends. Open requests have their own index,
oldest first, so that nothing scans past requests. A request that has ended (DONE or FAILED) leaves
the open index at the end of the input that ended it (:meth:`RequestTable.tidy`) and is remembered
for ``keep_ns`` more (:mod:`protocols.link.recent`), so that a retransmission about it still gets the
first answer; then it is forgotten, and the table stays bounded however many requests come.

>>> from protocols.link.types import LinkConfig, Request, RequestEvent, RequestState
>>> from protocols.packets import linkservice as ll
>>> table = RequestTable(keep_ns=100)
>>> request = Request(table.new_create_id(), 1, ll.Create(remote_node_id=2),
...                   LinkConfig(7, 2, ("198.18.0.2", 7772), 1e6, 1e6), ("198.18.0.1", 49152), 0, RequestState.QUEUED)
>>> table.add(request)
>>> request.fire(RequestEvent.LAST_PAIR)
>>> table.tidy(now=10)
>>> len(table.open), table.get((1, 1)) is request
(0, True)
>>> table.tidy(now=110)
>>> table.get((1, 1)) is None
True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, ValuesView
from types import MappingProxyType

from protocols.link.recent import Forgetting, Recent
from protocols.link.types import FINAL, Request, RequestKey


class RequestTable:
    """Requests by (origin node, Create ID): the open ones, and those finished less than ``keep_ns`` ago.

    ``forgetting``, if given, forgets the finished ones with the engine's other tables (:meth:`close_ended`
    then only moves those that have just ended)."""

    def __init__(self, keep_ns: int, forgetting: Forgetting | None = None) -> None:
        self._known: dict[RequestKey, Request] = {}
        self._open: dict[RequestKey, Request] = {}          # oldest first
        self._finished: Recent[RequestKey, Request] = Recent(keep_ns, forgetting, self._forgotten)
        self._next_create_id = 1
        self.ended: list[Request] = []
        """Requests that have reached a final state (:meth:`Request.fire`) since the last :meth:`close_ended`."""
        self.timed: dict[RequestKey, Request] = {}
        """The open requests that may have a retry or a Max Time due (:meth:`deadline`): those made with one. A
        request's ``retry_at`` and ``expires_at`` are set only when it is made and when its due REQ is sent again
        (``retry_at`` again), so one that has neither has none until it ends and is left out from then on."""

    def new_create_id(self) -> int:
        """The Create ID of this node's next request (1 to 65535, then again from 1)."""
        create_id = self._next_create_id
        self._next_create_id = create_id % 0xFFFF + 1
        return create_id

    def add(self, request: Request) -> None:
        request.ended = self.ended
        self._known[request.key] = request
        self._open[request.key] = request
        if request.retry_at is not None or request.expires_at is not None:
            self.timed[request.key] = request
        if request.state in FINAL:
            self.ended.append(request)

    def time(self, request: Request) -> None:
        """``request`` (open) has been given a deadline (``expires_at``) after it was made."""
        self.timed[request.key] = request

    def get(self, key: RequestKey) -> Request | None:
        return self._known.get(key)

    def __getitem__(self, key: RequestKey) -> Request:
        return self._known[key]

    def __len__(self) -> int:
        return len(self._known)

    def __iter__(self) -> Iterator[RequestKey]:
        return iter(self._known)

    def values(self) -> list[Request]:
        return list(self._known.values())

    @property
    def open(self) -> Mapping[RequestKey, Request]:
        """The open requests, oldest first (and, until the end of the input, those that have just ended)."""
        return MappingProxyType(self._open)

    def open_requests(self) -> list[Request]:
        """The open requests, oldest first, as a list (the caller may end some while it goes through it)."""
        return list(self._open.values())

    def open_values(self) -> ValuesView[Request]:
        """The open requests, oldest first, as a view (for a caller that ends none while it goes through them)."""
        return self._open.values()

    def deadline(self) -> int | None:
        """The earliest retry or Max Time of the open requests (of :attr:`timed`: the others have neither)."""
        best = None
        done = None
        for key, request in self.timed.items():
            t = request.retry_at
            if t is not None and (best is None or t < best):
                best = t
            u = request.expires_at
            if u is not None and (best is None or u < best):
                best = u
            if t is None and u is None:          # answered, or ended: no retry or Max Time any more
                done = [key] if done is None else [*done, key]
        if done is not None:
            for key in done:
                del self.timed[key]
        return best

    def tidy(self, now: int) -> None:
        """Move requests that have just ended out of the open index, and forget those that ended ``keep_ns``
        or longer ago."""
        self.close_ended(now)
        self._finished.forget(now)

    def close_ended(self, now: int) -> None:
        """Move requests that have just ended out of the open index (oldest first), remembered from ``now``."""
        if not self.ended:
            return
        self.ended.clear()
        ended = [key for key, request in self._open.items() if request.state in FINAL]
        for key in ended:
            request = self._open.pop(key)
            request.retry_at = request.expires_at = None
            if self.timed.get(key) is request:
                del self.timed[key]
            self._finished.put(key, request, now)

    def _forgotten(self, request: Request) -> None:
        if self._known.get(request.key) is request:
            del self._known[request.key]
