"""Network layer: one circuit hop's flow at one end and its credit (:mod:`protocols.network.hops` drives them).

A :class:`HopFlow` holds the hop's windowed link request (:class:`LinkRequest`) and, at the origin, the pairs
that hold a credit: settled here and not yet released at both ends, and the hop's pipeline cap
(:mod:`protocols.network.hop_cap`).

>>> flow = HopFlow(handle=(1, 0), side=1, link_id=3, label=7, peer=2, origin=True, window=2)
>>> flow.settle(5, now=90); flow.own_released.add(5); flow.free(5, now=100)
False
>>> flow.peer_released.add(5); flow.free(5, now=120), flow.outstanding, list(flow.freed), flow.freed_at
(True, set(), [5], {5: 90})
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from protocols.network.hop_cap import PipelineCap
from protocols.network.types import Handle
from protocols.packets import linkservice as ll
from protocols.packets.qncp import pack_seq, pair_template
from protocols.packets.qncp_common import CREDIT, CREDIT_RELEASED

FlowKey = tuple[Handle, int]
"""(circuit, side)."""


@dataclass(slots=True)
class LinkRequest:
    """The origin's windowed link request of one hop, open until the circuit stops (or the request fails)."""

    pending: int
    """Credits given to the link layer whose pairs have not settled here yet."""
    create_id: int | None = None


RECENT_FREED = 256
"""Pairs whose credit has come back that a flow remembers, so a late ERR EXPIRE for one settles nothing."""


@dataclass(slots=True)
class HopFlow:
    """One circuit hop at one end: its link request and, at the origin, the credit its pairs hold."""

    handle: Handle
    side: int
    link_id: int
    label: int
    peer: int
    origin: bool
    window: int
    ready: bool = False
    """Origin: the granter's CREDIT READY has come."""
    stopped: bool = False
    request: LinkRequest | None = None
    outstanding: set[int] = field(default_factory=set)
    """Origin: pairs settled at this end and not yet released at both ends (each holds a credit)."""
    settled_at: dict[int, int] = field(default_factory=dict)
    """Origin: when each pair in :attr:`outstanding` settled here (its link OK, or its ERR EXPIRE)."""
    freed: deque[int] = field(default_factory=deque)
    """Origin: the last :data:`RECENT_FREED` pairs whose credit came back (:meth:`was_freed` asks)."""
    own_released: set[int] = field(default_factory=set)
    peer_released: set[int] = field(default_factory=set)
    backoff: int = 0
    retrying: bool = False
    credits: dict[int, bytes] = field(default_factory=dict)
    """Origin: the encoded ``CREATE(Window = CREDIT, Number = n)`` of this hop, by n (:meth:`credit_create`)."""
    freed_count: dict[int, int] = field(default_factory=dict)
    """How often each pair is in ``freed``: its membership in one look-up, not a scan of up to
    :data:`RECENT_FREED` (asked at every link OK and CREDIT of the hop)."""
    cap: PipelineCap | None = None
    """Origin: the hop's pipeline cap (None: none, or lifted)."""
    freed_at: dict[int, int] = field(default_factory=dict)
    """Origin: when each recently freed pair had settled here (its OK; the last, for a number freed twice): a link
    layer may retract a pair for so long after its OK (:meth:`expired`)."""
    freed_releases: dict[int, int] = field(default_factory=dict)
    """Origin: when a CREDIT RELEASED last came for a pair among the recently freed (a copy of the granter's
    release of it, or the next pair's on its number before that pair's OK: :meth:`renew`)."""
    released_bytes: tuple[bytes, bytes] | None = field(default=None, repr=False, compare=False)
    """Granter: this hop's CREDIT RELEASED before and after its Pair Sequence (:meth:`credit_released`)."""
    key: FlowKey = field(init=False, repr=False, compare=False)
    """(circuit, side), made once."""

    def __post_init__(self) -> None:
        self.key = (self.handle, self.side)

    def credit_create(self, number: int) -> bytes:
        """Origin: the bytes of ``CREATE(Window = CREDIT, Number = number)`` for this hop's request, encoded once
        per Number (they name only the peer, the label and the Number: one a link pair, the same bytes)."""
        try:
            return self.credits[number]
        except KeyError:
            create = ll.Create(remote_node_id=self.peer, purpose_id=self.label, number=number,
                               window=ll.WINDOW_CREDIT)
            encoded = self.credits[number] = create.encode()
            return encoded

    def credit_released(self, seq: int) -> bytes:
        """Granter: the bytes of this hop's ``CREDIT(Credit = RELEASED, Pair Sequence = seq)`` (one a link pair: only
        the Pair Sequence differs, the rest is made once per hop).

        >>> from protocols.packets.qncp import encode_pair
        >>> flow = HopFlow(handle=(1, 0x0101), side=0, link_id=3, label=0x8001, peer=2, origin=False, window=1)
        >>> flow.credit_released(7) == encode_pair(CREDIT, 0x0101, 1, 0x8001, 7, 3, credit=CREDIT_RELEASED)
        True
        """
        parts = self.released_bytes
        if parts is None:
            head, circuit_id = self.handle
            parts = self.released_bytes = pair_template(CREDIT, circuit_id, head, self.label, self.link_id,
                                                        credit=CREDIT_RELEASED)
        return parts[0] + pack_seq(seq) + parts[1]

    def was_freed(self, seq: int) -> bool:
        """Origin: pair ``seq`` is among the last :data:`RECENT_FREED` pairs whose credit came back."""
        return seq in self.freed_count

    def settle(self, seq: int, now: int) -> None:
        """Origin: pair ``seq`` of the request has settled at this end at ``now`` (its OK, or its ERR EXPIRE): it
        holds its credit until it is released at both ends (:meth:`free`)."""
        if seq in self.outstanding or seq in self.freed_count:
            return
        self.outstanding.add(seq)
        self.settled_at[seq] = now
        if self.cap is not None:
            self.cap.settled += 1
        self.backoff = 0
        request = self.request
        if request is not None and request.pending > 0:
            request.pending -= 1

    def expired(self, seq: int, now: int, retraction_ns: int) -> None:
        """Origin: the link layer expired pair ``seq`` (at both ends, so the granter's release is counted too). A
        recently freed pair's ERR EXPIRE within ``retraction_ns`` of that pair's settling here (its OK: as long as
        a link layer may retract a pair after its OK) is a late one of that pair: it settles nothing. Later, it is
        the next pair's on the number (the link sequence came round), expired before its OK came here
        (:meth:`renew`), as :class:`protocols.network.arrivals.Arrivals` decides from the same OK.

        >>> flow = HopFlow(handle=(1, 0), side=1, link_id=3, label=7, peer=2, origin=True, window=1)
        >>> flow.settle(0, now=0); flow.own_released.add(0); flow.peer_released.add(0); flow.free(0, now=500)
        True
        >>> flow.expired(0, now=600, retraction_ns=300); flow.outstanding   # 600 after its OK: the next pair's
        {0}
        """
        if seq in self.freed_count:
            if now - self.freed_at[seq] <= retraction_ns:
                return
            self.renew(seq, now)
        self.settle(seq, now)
        self.peer_released.add(seq)

    def renew(self, seq: int, since: int) -> None:
        """Origin: a link OK names pair ``seq``, which is among the recently freed: the 16-bit link sequence came
        round (the link is shared: 65 536 link pairs while this flow freed fewer than :data:`RECENT_FREED`), and
        it is a new pair. What was kept of the old one goes, so the new pair settles and is freed as any other;
        a CREDIT RELEASED that came for its number at or after ``since`` was the new pair's (the granter had its
        OK first), an older one a copy of the old pair's.

        >>> flow = HopFlow(handle=(1, 0), side=1, link_id=3, label=7, peer=2, origin=True, window=1)
        >>> flow.settle(0, now=40); flow.own_released.add(0); flow.peer_released.add(0); flow.free(0, now=50)
        True
        >>> flow.freed_releases[0] = 90            # the granter's release of the next pair on number 0, at 90
        >>> flow.renew(0, since=80); flow.settle(0, now=95); flow.outstanding, flow.peer_released, flow.was_freed(0)
        ({0}, {0}, False)
        """
        self.freed = deque(s for s in self.freed if s != seq)
        del self.freed_count[seq]
        del self.freed_at[seq]
        self.own_released.discard(seq)
        self.peer_released.discard(seq)
        came = self.freed_releases.pop(seq, None)
        if came is not None and came >= since:
            self.peer_released.add(seq)

    def free(self, seq: int, now: int) -> bool:
        """Origin: pair ``seq`` has been released at one end (at ``now``); True when that freed its credit (it is now
        settled here and released at both ends). :attr:`freed_at` keeps when it had settled."""
        if seq in self.outstanding and seq in self.own_released and seq in self.peer_released:
            self.outstanding.discard(seq)
            settled = self.settled_at.pop(seq, now)
            self.own_released.discard(seq)
            self.peer_released.discard(seq)
            freed, count = self.freed, self.freed_count
            freed.append(seq)
            count[seq] = count.get(seq, 0) + 1
            self.freed_at[seq] = settled
            if len(freed) > RECENT_FREED:
                old = freed.popleft()
                if count[old] == 1:
                    del count[old]
                    del self.freed_at[old]
                    self.freed_releases.pop(old, None)
                else:
                    count[old] -= 1
            return True
        return False
