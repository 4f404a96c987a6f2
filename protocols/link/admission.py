"""Link layer: admission of a new request (a CREATE at its origin, a REQ at the peer), :class:`Admission`.

A request is refused with ERR UNSUPP if the link layer does not do what it asks (:func:`unsupported`:
no pairs, an atomic measure-directly request, a rotation or random-basis choice we do not support),
ERR TIMEOUT once the run's generation window is over, and ERR NORES if the link's queue is full
(``policy.max_queue`` open requests at this node), if the node's memory cannot take it (no
communication qubit at all, or, for an atomic request, fewer qubits than its Number pairs beside
those the open atomic requests reserve), or if its *source* is over its quota.

Per-source quotas: one source must not starve everyone, whatever it asks for. A source is, at the origin,
the address the CREATE came from (one higher-layer program; in ``qnet up`` every sender from outside the
port map is the single address 127.0.0.1:0), and at the other end the request's stream (origin node,
Purpose ID). On each link a source may have at most ``policy.max_per_source`` open requests (so it
cannot fill the queue), and at most ``policy.priority_pairs`` pairs still to be made in requests of a
Priority above 0 (the link serves priorities strictly, so a source can keep lower priorities waiting for
at most that many pairs; at Priority 0 streams share the link round-robin, and no pair quota applies). A
request beyond either is refused with NORES and counted (``LinkCounters.over_quota``).

A link offers one or more :class:`LinkOption` (for single-click, one per bright-state
population α: a smaller α gives a better pair, more slowly). The link layer picks the
fastest option whose fidelity at the time of the OK meets the CREATE's Minimum Fidelity
(none: ERR UNSUPP), then checks that the expected time for Number pairs fits in Max Time
(it does not: ERR NOTIME). A request that is still not done when Max Time runs out ends with
ERR TIMEOUT.

>>> options = (LinkOption(0.3, 0.70, 0.06), LinkOption(0.1, 0.90, 0.02), LinkOption(0.05, 0.95, 0.01))
>>> choose(options, 0.85).alpha
0.1
>>> choose(options, 0.99) is None
True
>>> expected_time_ns(LinkOption(None, 0.9, 0.5), pairs=10, cycle_ns=100)
2000.0
>>> from protocols.link.types import Request, RequestState
>>> link = LinkConfig(7, 2, ("198.18.0.2", 7772), 1e6, 1e6)
>>> flood = ll.Create(remote_node_id=2, number=65535, priority=7)
>>> Admission(Links(1, [link]), RequestTable(keep_ns=100), Memory()).admit(flood, link, ("127.0.0.1", 0))
(None, 8)
"""

from __future__ import annotations

from collections.abc import Hashable

from protocols.link.generation import rotation_basis
from protocols.link.links import Links
from protocols.link.requests import RequestTable
from protocols.link.types import FINAL, RANDOM_BASES, LinkConfig, LinkCounters, LinkOption, Memory, Request
from protocols.packets import linkservice as ll

__all__ = ["Admission", "LinkOption", "choose", "expected_time_ns", "source_of", "unsupported"]

Source = Hashable
"""Who asked for a request, for the quotas: an address at the origin, a stream at the other end."""


def source_of(request: Request) -> Source:
    """The source a request counts against: its higher layer's address at the origin, its stream elsewhere."""
    return request.app if request.d == 0 else request.stream


class Admission:
    """Whether this node takes a new request on one of its links, and with which of the link's options."""

    def __init__(self, links: Links, requests: RequestTable, memory: Memory,
                 counters: LinkCounters | None = None) -> None:
        self._links = links
        self._requests = requests
        self._memory = memory
        self._counters = counters if counters is not None else LinkCounters()

    def admit(self, create: ll.Create, link: LinkConfig, source: Source | None = None) -> tuple[LinkOption | None, int]:
        """The link option that serves ``create`` from ``source`` (None: no quota applies), or the error code
        that refuses it."""
        if self._links.over:
            return None, ll.ERR_TIMEOUT
        if self._open_on(link.link_id) >= link.policy.max_queue or self._no_room(create):
            return None, ll.ERR_NORES
        if source is not None and self._over_quota(create, link, source):
            self._counters.over_quota += 1
            return None, ll.ERR_NORES
        option = choose(link.options, ll.decode_fidelity(create.minimum_fidelity))
        if option is None:
            return None, ll.ERR_UNSUPP
        limit = create.max_time_ns()
        if limit is not None and expected_time_ns(option, create.number, link.cycle_ns) > limit:
            return None, ll.ERR_NOTIME
        return option, 0

    def _no_room(self, create: ll.Create) -> bool:
        if self._memory.communication == 0:
            return True
        if not create.kept_together:
            return False
        reserved = sum(r.create.number for r in self._requests.open_requests() if r.create.kept_together
                       and r.state not in FINAL)
        return create.number + reserved > self._memory.total

    def _over_quota(self, create: ll.Create, link: LinkConfig, source: Source) -> bool:
        """Whether ``source`` already has its quota of open requests on ``link``, or of pairs at a raised priority."""
        mine = [r for r in self._requests.open_requests()
                if r.link.link_id == link.link_id and r.state not in FINAL and source_of(r) == source]
        if len(mine) >= link.policy.max_per_source:
            return True
        if create.priority == 0:
            return False
        raised = sum(r.to_number for r in mine if r.create.priority > 0)
        return raised + create.number > link.policy.priority_pairs

    def _open_on(self, link_id: int) -> int:
        return sum(1 for r in self._requests.open_requests() if r.link.link_id == link_id and r.state not in FINAL)


def unsupported(create: ll.Create, local: bool) -> int:
    """ERR UNSUPP if the link layer does not do what ``create`` asks of this end (``local``: the origin), else 0.
    (A windowed request must also be opened at the link's master: :class:`~protocols.link.queue.DistributedQueue`.)"""
    if create.number == 0 or (create.ato and create.tpe != ll.TPE_KEEP):   # atomic: create-and-keep only
        return ll.ERR_UNSUPP
    if create.window not in (ll.WINDOW_NONE, ll.WINDOW_OPEN) or (create.windowed and (create.ato or not create.con)):
        return ll.ERR_UNSUPP                   # CREDIT and CLOSE name an open request; a window is never atomic
    if create.rl or create.rr:                 # a random basis only makes sense measuring directly
        if create.tpe != ll.TPE_MEASURE or create.rl not in RANDOM_BASES or create.rr not in RANDOM_BASES:
            return ll.ERR_UNSUPP
        return 0
    if create.tpe == ll.TPE_MEASURE and rotation_basis(create, local) is None:
        return ll.ERR_UNSUPP
    return 0


def choose(options: tuple[LinkOption, ...], minimum_fidelity: float) -> LinkOption | None:
    """The option with the highest success probability whose fidelity is at least the minimum."""
    good = [option for option in options if option.fidelity >= minimum_fidelity and option.success > 0]
    return max(good, key=lambda option: option.success, default=None)


def expected_time_ns(option: LinkOption, pairs: int, cycle_ns: int) -> float:
    """Mean time to herald ``pairs`` pairs: a geometric number of attempt cycles each."""
    return pairs * cycle_ns / option.success
