"""Many qubits to one remote over standing kept-pair requests (:meth:`stack.api.transport.Teleporter.stream`):
a stream takes its request's pairs one by one for the Teleporter to send over."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Protocol

from protocols.packets import linkservice as ll
from stack.api.context import AppContext
from stack.api.epr import EPRSocket, KeptPair
from stack.api.errors import LinkError
from stack.api.records import UsedNumbers


class Teleporter(Protocol):
    """What a stream needs of :class:`stack.api.transport.Teleporter` (named here, not imported: that module
    imports this one)."""
    ctx: AppContext
    renamed: int
    sent_names: UsedNumbers

    def _socket(self, remote: str, service: str) -> EPRSocket: ...

    async def send_over(self, remote: str, slot: int, pair: KeptPair, receiver_ok_ns: int | None = None) -> int: ...


class Latest(Enum):
    """What the sending end last settled under one Sequence Number of its request."""
    EXPIRED = "an ERR EXPIRE named it, no OK came since"
    HELD = "a pair's OK came: taken for a qubit (in use, lost) or skipped"
    ACKED = "a pair's OK came and the receiver acknowledged the qubit sent over it"


class Settling(Enum):
    """What this end learns of a number."""
    OK = "an OK (K) under it"
    EXPIRE = "an ERR EXPIRE naming it"
    ACK = "the receiver applied the corrections of the qubit sent over its pair"


_SETTLE: dict[tuple[Latest | None, Settling], tuple[Latest, int]] = {
    # (what came last under the number, what comes now) -> (what came last now, pairs newly settled)
    (None, Settling.OK): (Latest.HELD, 1),
    (Latest.EXPIRED, Settling.OK): (Latest.HELD, 1),      # CON set: the expired pair's OK never follows
    (Latest.HELD, Settling.OK): (Latest.HELD, 1),
    (Latest.ACKED, Settling.OK): (Latest.HELD, 1),
    (None, Settling.EXPIRE): (Latest.EXPIRED, 1),         # a pair never delivered here
    (Latest.EXPIRED, Settling.EXPIRE): (Latest.EXPIRED, 1),  # a pair reports its expiry once: a later pair
    (Latest.HELD, Settling.EXPIRE): (Latest.EXPIRED, 0),  # that pair, retracted after its OK
    (Latest.ACKED, Settling.EXPIRE): (Latest.EXPIRED, 1),  # held at both ends: the next pair (class docstring)
    (Latest.HELD, Settling.ACK): (Latest.ACKED, 0),
}


class RequestPairs:
    """A stream's current request of ``number`` pairs as the sending end settles them, by Sequence Number: each
    pair is settled once, by its OK (taken, or skipped when its number was already used: QTP names a pair by
    it) or by an ERR EXPIRE if its OK never came here. The request shares its link, so its numbers can come
    round (65,536 link pairs later), and an ERR EXPIRE names a number, not a pair: it is the retraction of the
    number's pair whose OK came here last, or a later pair under the number never delivered here. The stream's
    requests have CON set, so the layer never delivers an expired pair's OK afterwards, and it reports each
    pair's expiry once. An expiry of a number whose last pair the receiver acknowledged names a later pair:
    the layer delivered that pair at both ends, and retracts such a pair only when every copy of its
    confirmation's answer was lost (128 in a row, docs/wire.md §4.4; then the request is taken as settled one
    pair early, and its last pair's OK is left queued here while the receiver holds its half to its deadline).
    An expiry of a number whose last pair was taken but not acknowledged (in use, lost, or skipped) is taken
    as that pair's retraction: the only reading at the end that delivers at the herald, where every expiry
    follows its pair's OK. At the end that delivers on confirmation it is wrong when the number came round
    and the next pair under it expired before any OK of it here; the last send then waits for a pair that
    never comes (:attr:`left` stays 1).

    >>> pairs = RequestPairs(3)
    >>> pairs.ok(5), pairs.settle(5, Settling.ACK), pairs.left
    (False, 0, 2)
    >>> pairs.expire([5]), pairs.ok(5), pairs.left       # 5's next pair expired, the one after came
    (1, True, 0)
    """

    __slots__ = ("_latest", "left")

    def __init__(self, number: int) -> None:
        self.left = number
        """Pairs of the request not yet settled at this end."""
        self._latest: dict[int, Latest] = {}

    def settle(self, seq: int, what: Settling) -> int:
        """Record ``what`` of number ``seq``; returns how many pairs it settled (0 or 1)."""
        step = _SETTLE.get((self._latest.get(seq), what))
        if step is None:                        # an ACK of a pair no longer the number's last: nothing to learn
            return 0
        self._latest[seq], settled = step
        self.left = max(0, self.left - settled)
        return settled

    def ok(self, seq: int) -> bool:
        """An OK under ``seq`` came: whether the number was already used (the pair is skipped)."""
        used = seq in self._latest
        self.settle(seq, Settling.OK)
        return used

    def expire(self, seqs: Iterable[int]) -> int:
        """An ERR EXPIRE named ``seqs``: how many pairs it settled."""
        return sum(self.settle(seq, Settling.EXPIRE) for seq in seqs)


class TeleportStream:
    """Qubits to one remote, each over the next pair of a standing create-and-keep request (uncorrected: the
    sender folds the pair's Bell index into the corrections). A request asks for ``remaining`` pairs, the
    number of qubits the caller says it will still send, so no pair is left over; when every pair of it is
    settled (used, or retracted by ERR EXPIRE: :class:`RequestPairs`) the next :meth:`send` makes a new one.
    Pairs come in sequence order at both ends, so the receiver's :meth:`Teleporter.recv` takes them one by one
    as for single sends. A pair whose QTP name (this node, Create ID, Sequence Number) a pair settled here with
    the same remote already had (its request shares its link and its numbers came round, or a stream over the
    other service has a request of the same Create ID) is skipped at both ends (:attr:`Teleporter.renamed`,
    :attr:`Teleporter.sent_names`)."""

    def __init__(self, teleporter: Teleporter, remote: str, service: str = "auto") -> None:
        self.teleporter = teleporter
        self.remote = remote
        self.socket = teleporter._socket(remote, service)
        self.create_id: int | None = None
        self._pairs = RequestPairs(0)
        """The current request's pairs settled here."""
        self.requests = 0
        """CREATEs sent so far."""

    @property
    def left(self) -> int:
        """Pairs of the current request not yet settled at this end."""
        return self._pairs.left

    async def send(self, slot: int, remaining: int = 1) -> int:
        """Teleport the qubit in ``slot`` over the next pair (``remaining``: how many qubits the caller will
        still send to this remote, this one included, the size of a new request when one is needed). Returns
        the transfer's sequence number once the receiver applied the corrections; raises
        :class:`TransportError` (the qubit is lost, or still in ``slot`` if it was never sent) or
        :class:`LinkError` (the request failed; EXPIRE: every pair left of it was retracted)."""
        pair = await self._next_pair(max(1, remaining))
        seq = await self.teleporter.send_over(self.remote, slot, pair)
        self._pairs.settle(pair.sequence_number, Settling.ACK)
        return seq

    async def _next_pair(self, remaining: int) -> KeptPair:
        ctx = self.teleporter.ctx
        while True:
            if self._pairs.left == 0:
                number = min(remaining, 0xFFFF)                 # CREATE's Number field
                self.create_id = await ctx.create(self.remote, number, service=self.socket.service)
                self._pairs, self.requests = RequestPairs(number), self.requests + 1
            pair = await self._take_pair()
            if pair is not None:
                return pair

    async def _take_pair(self) -> KeptPair | None:
        """The current request's next pair; None if it was one under a number the request already used (its
        half is discarded: QTP could not tell it from the first, and the receiver skips it too)."""
        ctx = self.teleporter.ctx
        while True:
            for message in list(ctx.intake.messages):
                if isinstance(message, ll.Err) and message.create_id == self.create_id \
                        and message.origin_node == ctx.node_id \
                        and self.socket._mine(message):             # not the remote's, nor the other service's
                    ctx.intake.messages.remove(message)
                    if message.err != ll.ERR_EXPIRE:
                        self._pairs.left = 0
                        raise LinkError(message.err, message.create_id, self.socket.port)
                    seqs = sorted(self.socket._expire(message))
                    for seq in seqs:
                        self.teleporter.sent_names.use((self.socket.remote_id, message.create_id), seq)
                    self._pairs.expire(seqs)
                    if self._pairs.left == 0:
                        raise LinkError(ll.ERR_EXPIRE, message.create_id, self.socket.port)
                elif isinstance(message, ll.OkKeep) and message.create_id == self.create_id \
                        and message.remote_node_id == self.socket.remote_id and message.d == 0 \
                        and self.socket._mine(message):
                    pair = self.socket._kept(message, ctx.intake.messages.take(message))
                    used = self._pairs.ok(message.sequence_number)
                    if not self.teleporter.sent_names.use((self.socket.remote_id, message.create_id),
                                                          message.sequence_number) or used:
                        ctx.discard(pair.slot)
                        self.teleporter.renamed += 1
                        return None
                    return pair
            await ctx.intake.wait()
