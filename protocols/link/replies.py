"""Link layer: :class:`Replies`, what the link layer tells its higher layer, and the engine's counters.

OK-K and OK-M (a delivered pair, with its goodness: the fidelity estimate after the memories'
decoherence while it was stored), ERR (a refused or failed request, or ERR EXPIRE for a pair that
is withdrawn), and a request's progress as its higher layer sees it: each pair that is settled
(delivered, or expired at the other end) counts towards the request's Number, and the last one
completes it. A measure-directly request with CON clear gets all its OKs when it is over.

>>> from protocols.link.types import LinkConfig, LinkCounters, Request, RequestState
>>> replies = Replies(LinkCounters(), following=lambda link_id: None)
>>> request = Request(3, 1, ll.Create(remote_node_id=2), LinkConfig(7, 2, ("198.18.0.2", 7772), 1e6, 1e6),
...                   ("198.18.0.1", 49152), 0, RequestState.GENERATING)
>>> (app, err), = replies.expired(request, seq=5).send
>>> ll.decode_upward(err).err == ll.ERR_EXPIRE, replies.counters.expired
(True, 1)
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.common import Actions, Address, sending
from protocols.link.types import SETTLING, GoodnessMemo, LinkConfig, LinkCounters, Request, RequestEvent
from protocols.packets import linkservice as ll
from protocols.packets.bitpack import pack_bits, pack_uniform
from protocols.physical import physics
from protocols.physical.hardware import BellDistribution
from protocols.physical.node import BlockReady, PairReady, StopGeneration


class Replies:
    """OKs and ERRs to the higher layer, counted in ``counters``; a request's settled pairs and its completion.

    ``following(link_id)`` is the request this end is generating for as the other end of the link (None
    when it follows none): a request that completes there stops its generation.
    """

    def __init__(self, counters: LinkCounters, following: Callable[[int], Request | None]) -> None:
        self.counters = counters
        self._following = following

    # -- ERR -----------------------------------------------------------------------------
    def refuse(self, app: Address, message: ll.Err) -> Actions:
        """An ERR to ``app`` (a request refused before it was known, or failed)."""
        self.counters.err_sent += 1
        return Actions(send=[(app, message.encode())])

    def err(self, request: Request, code: int) -> Actions:
        """ERR ``code`` for ``request``."""
        return self.refuse(request.app, ll.Err(request.create_id, code, origin_node=request.origin_node))

    def expired(self, request: Request, seq: int, count: int = 1) -> Actions:
        """ERR EXPIRE for pairs ``seq`` to ``seq + count - 1`` of ``request``: withdrawn (they were, or may have
        been, lost)."""
        self.counters.expired += count
        expiry = ll.Err(request.create_id, ll.ERR_EXPIRE, 1, seq, (seq + count) & 0xFFFF, request.origin_node)
        return self.refuse(request.app, expiry)

    # -- OK ------------------------------------------------------------------------------
    def deliver(self, request: Request, pair: PairReady | BlockReady, seq: int, now: int,
                slot: int | None = None) -> Actions:
        """The OK of pair ``seq`` (in memory ``slot`` if it moved there), which settles one of the request's pairs;
        or the OK-MB of a block numbered from ``seq``, which settles its pairs."""
        ok = ok_message(request, pair, seq, now, slot, request.goodness)
        count = pair.count
        self.counters.ok_sent += count
        if request.outcomes_together:              # CON clear: all OKs when the request completes
            request.outcomes.append(ok)
            return self.settle(request, count)
        delivered = request.delivered + count
        if request.windowed or delivered < request.create.number:   # settle() would send nothing more: the OK alone
            request.delivered = delivered
            return sending([(request.app, ok)])
        actions = self.settle(request, count)
        actions.send.insert(0, (request.app, ok))   # the OK before what its settling sends
        return actions

    def settle(self, request: Request, count: int = 1) -> Actions:
        """``count`` more of the request's pairs are settled (delivered, or expired at the other end)."""
        request.delivered += count
        if request.delivered < request.create.number or request.state not in SETTLING:
            return Actions()
        if request.windowed:                       # no count ends it: its CLOSE, or a failure, does
            return Actions()
        request.fire(RequestEvent.LAST_PAIR)
        actions = self.flush(request)
        if self._following(request.link.link_id) is request:    # the other end: stop following a finished request
            actions.down.append(StopGeneration(request.link.link_id))
        return actions

    @staticmethod
    def flush(request: Request) -> Actions:
        """The OKs of a measure-directly request with CON clear, now that it is over."""
        oks, request.outcomes = request.outcomes, []
        return Actions(send=[(request.app, ok) for ok in oks])


MEMO_SIZE = 1024
"""Entries a request's :attr:`~protocols.link.types.Request.goodness` holds before it starts again empty."""


def ok_message(request: Request, pair: PairReady | BlockReady, seq: int, now: int, slot: int | None = None,
               memo: GoodnessMemo | None = None) -> bytes:
    """OK-M for a measured pair; OK-K for a kept one, whose goodness counts the time both halves were stored
    and their moves to storage (:func:`kept_goodness`: this end's if it moved the half to ``slot``, the
    peer's if the peer has storage); OK-MB for a block (its distribution is relative to each pair's heralded state).
    ``memo``, if given, remembers the request's OK-K Goodness values by what else they are computed from: the
    pairs of a link are mostly stored for the same time (the herald's, or the CONFIRM's, delay), so most are
    computed once."""
    remote = request.link.peer_node_id
    if isinstance(pair, BlockReady):
        bells = pair.bell_plane if pair.bell_plane is not None else pack_bits(pair.bells, 2)
        return ll.OkMeasureBlock.from_planes(request.create_id, request.d, seq, request.create.purpose_id, remote,
                                             ll.encode_fidelity(pair.distribution[0]), pair.count,
                                             _outcome_plane(pair), pack_uniform(pair.bases, 2), bells).encode()
    if pair.outcome is not None:
        goodness = ll.encode_fidelity(physics.relabel(pair.distribution, int(pair.bell_state))[0])
        assert pair.basis is not None
        return ll.ok_measure(request.create_id, pair.outcome, request.d, int(pair.basis), int(pair.bell_state), seq,
                             request.create.purpose_id, remote, goodness)
    moved = slot is not None and slot != pair.slot
    bell = pair.bell_state      # an IntEnum: an int's hash, equality and arithmetic (``int()`` of it: ~0.7 k instr.)
    stored_ns = now - pair.emission_time
    if memo is None:
        goodness = _kept_goodness(pair, bell, stored_ns, request.link, moved)
    else:
        key = (pair.distribution, bell, stored_ns, moved)
        found = memo.get(key)
        if found is None:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            found = memo[key] = _kept_goodness(pair, bell, stored_ns, request.link, moved)
        goodness = found
    return ll.ok_keep_from(request.ok_head, pair.slot if slot is None else slot, bell, seq, request.create.purpose_id,
                           remote, goodness, (now // 1000) & 0xFFFF)


def _kept_goodness(pair: PairReady, bell: int, stored_ns: int, link: LinkConfig, moved: bool) -> int:
    """:func:`kept_goodness` of ``pair`` (moved to storage here if ``moved``): the moves' fidelities looked up
    only when the value is not remembered."""
    moves = (link.move_fidelity_local if moved else 1.0, link.move_fidelity_peer)
    return kept_goodness(pair.distribution, bell, stored_ns, link, moves)


def kept_goodness(distribution: BellDistribution, bell_state: int, stored_ns: int, link: LinkConfig,
                  moves: tuple[float, float]) -> int:
    """The OK-K Goodness of a kept pair heralded as ``bell_state`` with ``distribution`` (relative to it), stored
    ``stored_ns`` and moved as ``moves`` says (:func:`stored_distribution`): its fidelity, encoded."""
    dist = stored_distribution(physics.relabel(distribution, bell_state), stored_ns, link, moves)
    return ll.encode_fidelity(dist[0])


def stored_distribution(dist: BellDistribution, stored_ns: int, link: LinkConfig,
                        moves: tuple[float, float] = (1.0, 1.0)) -> BellDistribution:
    """A kept pair's Bell-diagonal state at its OK: ``dist`` through both halves' memories (T1/T2 Pauli twirl)
    for ``stored_ns`` (from the emission to the OK, a move's duration included: the OK follows the move) and
    through the move to storage of each half, the one-qubit depolarising M(f) = f·δ₀ + (1 − f)·U (Nielsen &
    Chuang §8.3.4; ``moves`` = (f here, f at the peer), 1: not moved). All are Pauli channels, so their order
    does not matter. Both memories alike (the same T1 and T2): their probabilities are computed once."""
    local = physics.memory_pauli_probabilities(stored_ns, link.t1_local_ns, link.t2_local_ns)
    if link.t1_peer_ns == link.t1_local_ns and link.t2_peer_ns == link.t2_local_ns:
        peer = local
    else:
        peer = physics.memory_pauli_probabilities(stored_ns, link.t1_peer_ns, link.t2_peer_ns)
    dist = physics.pauli_channel(physics.pauli_channel(dist, *local), *peer)
    for fidelity in moves:
        if fidelity < 1:
            dist = physics.pauli_channel(dist, *(((1 - fidelity) / 4,) * 3))
    return dist


def _outcome_plane(block: BlockReady) -> bytes:
    """The block's packed outcomes with their padding bits cleared (the OK-MB insists on zero padding)."""
    plane = bytearray(block.outcomes[:-(-block.count // 8)].tobytes())
    if block.count % 8:
        plane[-1] &= (0xFF << (8 - block.count % 8)) & 0xFF
    return bytes(plane)
