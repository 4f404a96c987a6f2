"""Link layer: :class:`Scheduler`, the master's choice of which request a link serves next, and for how long.

Strict priority (CREATE's 3-bit Priority, higher first); within the highest priority, round-robin
between request *streams* (origin node, Purpose ID), the stream served least recently first, then
the oldest request (lowest Queue Sequence). A run is at most the link's ``policy.quantum`` pairs
while another request of that priority or higher waits, else up to ``policy.max_run``; when such a
request arrives during a longer run, the run is cut to one more quantum (:meth:`Scheduler.cut`),
so a higher-priority request waits at most one quantum.

>>> from protocols.link.types import LinkConfig, QueuePolicy, Request, RequestState
>>> from protocols.packets import linkservice as ll
>>> link = LinkConfig(7, 2, ("198.18.0.2", 7772), 1e6, 1e6, policy=QueuePolicy(quantum=2, max_run=10))
>>> def request(origin, purpose, queue_seq, number=20):
...     return Request(queue_seq, origin, ll.Create(remote_node_id=2, purpose_id=purpose, number=number),
...                    link, ("198.18.0.1", 49152), 0, RequestState.QUEUED, queue_seq=queue_seq)
>>> a, b = request(1, 5, queue_seq=1), request(1, 6, queue_seq=2)
>>> scheduler = Scheduler()
>>> chosen, pairs = scheduler.pick(link, [a, b])
>>> chosen is a, pairs
(True, 2)
>>> scheduler.served(a)
>>> scheduler.pick(link, [a, b])[0] is b
True
"""

from __future__ import annotations

import protocols.link.generation as generation
from protocols.link.types import LinkConfig, Request, Run


class Scheduler:
    """Priority and round-robin between streams, over the requests a link could serve; remembers when each
    stream (per link) was served last."""

    def __init__(self) -> None:
        self._last_served: dict[tuple[int, int, int], int] = {}      # (link, origin node, purpose) -> when
        self._clock = 0

    def pick(self, link: LinkConfig, candidates: list[Request]) -> tuple[Request, int] | None:
        """The request the link's next run serves, and its number of pairs (None: nothing to serve)."""
        if not candidates:
            return None
        if len(candidates) == 1:                  # one request to serve (a circuit hop's, each credit): no choice
            return candidates[0], self.run_size(link, candidates[0], candidates)
        top = max(r.create.priority for r in candidates)
        tied = [r for r in candidates if r.create.priority == top]
        chosen = min(tied, key=lambda r: (self._last_served.get((link.link_id, *r.stream), 0), r.queue_seq))
        return chosen, self.run_size(link, chosen, candidates)

    @staticmethod
    def run_size(link: LinkConfig, request: Request, candidates: list[Request]) -> int:
        """Pairs of the next run for ``request``: one quantum while a request of its priority or higher waits."""
        competing = len(candidates) > 1 and any(r is not request and r.create.priority >= request.create.priority
                                                for r in candidates)
        limit = link.policy.quantum if competing else link.policy.max_run
        if request.link.batch > 0:                  # (no blocks on a link without a batch size: not asked)
            limit = max(limit, generation.block_size(request))   # a block is one run
        return min(request.to_number, limit)

    def served(self, request: Request) -> None:
        """A run for ``request`` starts: its stream is now the most recently served of its link."""
        self._clock += 1
        self._last_served[(request.link.link_id, request.origin_node, request.create.purpose_id)] = self._clock

    @staticmethod
    def cut(link: LinkConfig, run: Run, candidates: list[Request]) -> int | None:
        """The pairs ``run`` should end at, if a request of at least its priority waits and more than one
        quantum is left (None: let it run)."""
        quantum = link.policy.quantum
        if run.pairs - run.numbered <= quantum:
            return None
        if not any(r is not run.request and r.create.priority >= run.request.create.priority for r in candidates):
            return None
        return run.numbered + quantum
