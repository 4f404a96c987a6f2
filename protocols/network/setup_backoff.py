"""Network layer: the head's requests refused NORES, waiting to set up again (docs/wire.md §9.3.3).

NORES at setup is not final: the nodes' qubits and circuit tables are held by other circuits, which end. The
head sets the request up again after a randomised exponential backoff: the k-th wait (k = 1, 2, …) is drawn
uniformly from [½, 1) × RTO(tail) × 2^min(k, :data:`MAX_DOUBLINGS`) from a stream spawned from the engine's injected
Generator (so that it takes no draw from the node's own stream, which the measurement bases use). The
randomness matters: two heads whose setups refuse each other (each reserving the qubits the other needs at a
repeater) would otherwise set up again at the same instants, and refuse each other every time. The wait stops
doubling at :data:`MAX_DOUBLINGS`, so a request notices a freed node within that bound.

A request waits as long as its CREATE allows: until its Max Time (ERR NORES when the next setup would come
after it), or, without one (no limit), until the run's generation window ends (ERR TIMEOUT then, as
:meth:`protocols.network.signalling.Signalling.retry` says).

>>> import numpy as np
>>> waits = [backoff_ns(1_000_000, k, np.random.default_rng(1)) for k in (1, 2, 9, 30)]
>>> [500_000 * 2 ** k <= w < 1_000_000 * 2 ** k for k, w in zip((1, 2, 6, 6), waits)]
[True, True, True, True]
"""

from __future__ import annotations

import numpy as np

from protocols.common import Actions
from protocols.network.context import Node
from protocols.network.service import Admitted, Service
from protocols.network.types import CircuitStats
from protocols.packets import linkservice as ll

MAX_DOUBLINGS = 6
"""The backoff stops doubling after this many NORES in a row: waits of [32, 64) × RTO(tail) at most (64 ms
with the 1 ms RTO floor), so a waiting request sets up again soon after room frees, at a few setups a second."""


def backoff_ns(rto_ns: int, k: int, rng: np.random.Generator) -> int:
    """The wait before the ``k``-th setup again (k ≥ 1): uniform in [½, 1) × ``rto_ns`` × 2^min(k, MAX_DOUBLINGS)."""
    span = rto_ns << min(k, MAX_DOUBLINGS)
    half = span // 2
    return half + int(rng.integers(span - half))


class SetupBackoff:
    """Head: requests waiting to set up again after NORES, by Create ID (deadline ``("setup-retry", create_id)``)."""

    def __init__(self, node: Node, service: Service) -> None:
        self.node = node
        self.service = service
        self.waiting: dict[int, tuple[Admitted, CircuitStats]] = {}
        self.rng = node.rng.spawn(1)[0]
        """The waits' own stream, spawned from the node's (no draw taken from it): a NORES does not shift the
        node's later measurement bases, so two scenarios that differ only in contention keep common random
        numbers."""

    def later(self, admitted: Admitted, stats: CircuitStats, now: int) -> Actions:
        """``admitted`` was refused NORES (or the head had no room for it): wait, or ERR NORES when the wait would
        end after its Max Time or the generation window is already over."""
        node = self.node
        if node.over:
            return self.service.err_admitted(admitted, ll.ERR_NORES, stats)
        retries = stats.nores_retries + 1
        at = now + backoff_ns(node.rto(admitted.route[-1]), retries, self.rng)
        limit = admitted.create.max_time_ns()
        created = now if stats.created_at is None else stats.created_at
        if limit is not None and at >= created + limit:
            return self.service.err_admitted(admitted, ll.ERR_NORES, stats)
        stats.nores_retries = retries
        self.waiting[admitted.create_id] = (admitted, stats)
        node.timers.schedule(("setup-retry", admitted.create_id), at)
        return Actions()

    def take(self, create_id: int) -> tuple[Admitted, CircuitStats] | None:
        """The request whose wait is over (None: it has been answered since)."""
        return self.waiting.pop(create_id, None)

    def settled(self) -> bool:
        """No request waits to set up again."""
        return not self.waiting
