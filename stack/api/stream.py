"""Many qubits to one remote over standing kept-pair requests (:meth:`stack.api.transport.Teleporter.stream`):
a stream takes its request's pairs one by one for the Teleporter to send over."""

from __future__ import annotations

from typing import Protocol

from protocols.packets import linkservice as ll
from stack.api.context import AppContext
from stack.api.epr import EPRSocket, KeptPair
from stack.api.errors import LinkError


class Teleporter(Protocol):
    """What a stream needs of :class:`stack.api.transport.Teleporter` (named here, not imported: that module
    imports this one)."""
    ctx: AppContext
    renamed: int

    def _socket(self, remote: str, service: str) -> EPRSocket: ...

    async def send_over(self, remote: str, slot: int, pair: KeptPair, receiver_ok_ns: int | None = None) -> int: ...


class TeleportStream:
    """Qubits to one remote, each over the next pair of a standing create-and-keep request (uncorrected: the
    sender folds the pair's Bell index into the corrections). A request asks for ``remaining`` pairs, the
    number of qubits the caller says it will still send, so no pair is left over; when every pair of it is
    settled (used, or retracted by ERR EXPIRE) the next :meth:`send` makes a new one. Pairs come in sequence
    order at both ends, so the receiver's :meth:`Teleporter.recv` takes them one by one as for single sends. A pair
    under a Sequence Number its request already used (the request shares its link) is skipped at both ends
    (:attr:`Teleporter.renamed`): QTP names a pair by its number."""

    def __init__(self, teleporter: Teleporter, remote: str, service: str = "auto") -> None:
        self.teleporter = teleporter
        self.remote = remote
        self.socket = teleporter._socket(remote, service)
        self.create_id: int | None = None
        self._settled: set[int] = set()
        """Sequence numbers of the current request taken or retracted."""
        self.left = 0
        """Pairs of the current request not yet settled at this end."""
        self.requests = 0
        """CREATEs sent so far."""

    async def send(self, slot: int, remaining: int = 1) -> int:
        """Teleport the qubit in ``slot`` over the next pair (``remaining``: how many qubits the caller will
        still send to this remote, this one included, the size of a new request when one is needed). Returns
        the transfer's sequence number once the receiver applied the corrections; raises
        :class:`TransportError` (the qubit is lost, or still in ``slot`` if it was never sent) or
        :class:`LinkError` (the request failed; EXPIRE: every pair left of it was retracted)."""
        pair = await self._next_pair(max(1, remaining))
        return await self.teleporter.send_over(self.remote, slot, pair)

    async def _next_pair(self, remaining: int) -> KeptPair:
        ctx = self.teleporter.ctx
        while True:
            if self.left == 0:
                number = min(remaining, 0xFFFF)                 # CREATE's Number field
                self.create_id = await ctx.create(self.remote, number, service=self.socket.service)
                self.left, self.requests, self._settled = number, self.requests + 1, set()
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
                        self.left = 0
                        raise LinkError(message.err, message.create_id, self.socket.port)
                    gone = self.socket._expire(message) - self._settled
                    self._settled |= gone
                    self.left = max(0, self.left - len(gone))
                    if self.left == 0:
                        raise LinkError(ll.ERR_EXPIRE, message.create_id, self.socket.port)
                elif isinstance(message, ll.OkKeep) and message.create_id == self.create_id \
                        and message.remote_node_id == self.socket.remote_id and message.d == 0 \
                        and self.socket._mine(message):
                    pair = self.socket._kept(message, ctx.intake.messages.take(message))
                    self.left -= 1
                    if message.sequence_number in self._settled:
                        ctx.discard(pair.slot)
                        self.teleporter.renamed += 1
                        return None
                    self._settled.add(message.sequence_number)
                    return pair
            await ctx.intake.wait()
