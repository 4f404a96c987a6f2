"""Reliable symmetric exchanges between two applications over application messages (wire.md §11.2).

Both ends call :meth:`Exchange.swap` with the same tag (a counter both advance in step) and their own
payload; each gets the other's. A message is ``E7 C4 + tag (4 bytes, big-endian) + flags (1 byte) + payload``
(:class:`protocols.packets.exchange.ExchangeMessage`). Each
end resends its payload every ``retransmit_ns`` until the peer's arrives, answers a peer's second copy of a
tag with its own again, flagged as a reply (bit 0: its first copy may have been lost; a reply is never
answered, so two ends never echo each other for ever), and after the application returns keeps answering
until nothing has come for four retransmission intervals (the last answer may be lost too).
"""

from __future__ import annotations

from protocols.common import ParseError
from protocols.packets.exchange import FLAG_REPLY as REPLY
from protocols.packets.exchange import ExchangeMessage
from stack.api.context import AppContext
from stack.core.kernel import TIMER


def exchange_of(ctx: AppContext, remote: str) -> Exchange:
    """The application's one Exchange with ``remote`` (shared by every protocol it runs with it, so tags never
    repeat), made on first use."""
    if remote not in ctx.exchanges:
        ctx.exchanges[remote] = Exchange(ctx, remote)
    exchange: Exchange = ctx.exchanges[remote]
    return exchange


class Exchange:
    """Tagged exchanges with the application on ``remote``. Both ends must run the same protocols in the same
    order, taking tags with :meth:`tag`."""

    def __init__(self, ctx: AppContext, remote: str, retransmit_ns: int | None = None) -> None:
        self.ctx = ctx
        self.remote = remote
        if retransmit_ns is None:
            route = ctx.emu.network.route(ctx.node_id, ctx.emu.scenario.nodes[remote].node_id)
            retransmit_ns = 2 * (route.delay_ns + route.jitter_ns) + 10_000
        self.retransmit_ns = retransmit_ns
        self.mine: dict[int, bytes] = {}
        self.theirs: dict[int, bytes] = {}
        self.last_heard = 0
        self.malformed = 0
        """Exchange messages from ``remote`` that did not parse (protocols.packets.exchange): dropped."""
        self._next_tag = 0
        ctx.lingering.append(self._linger)

    def tag(self) -> int:
        """The next tag (both ends take them in the same order)."""
        self._next_tag += 1
        return self._next_tag

    async def swap(self, tag: int, payload: bytes) -> bytes:
        """Send ``payload`` under ``tag``; return the peer's payload for the same tag."""
        ctx = self.ctx
        self.mine[tag] = payload
        message = ExchangeMessage(tag, 0, payload).encode()
        ctx.send(self.remote, message)
        resend = ctx.now + self.retransmit_ns
        while tag not in self.theirs:
            ctx.port.set_timer(resend)
            if await self._next() is TIMER and ctx.now >= resend:
                ctx.send(self.remote, message)
                resend = ctx.now + self.retransmit_ns
        return self.theirs[tag]

    async def _next(self) -> object:
        ctx = self.ctx
        for index, (source, data) in enumerate(ctx._exchange_inbox):
            if source == self.remote:
                del ctx._exchange_inbox[index]
                try:
                    self._on(ExchangeMessage.decode(data))
                except ParseError:
                    self.malformed += 1                     # dropped, like any layer drops a malformed datagram
                return None
        return await ctx._wait()

    def _on(self, message: ExchangeMessage) -> None:
        tag = message.tag
        self.last_heard = self.ctx.now
        if tag in self.theirs and tag in self.mine and not message.flags & REPLY:  # they did not get ours: again
            self.ctx.send(self.remote, ExchangeMessage(tag, REPLY, self.mine[tag]).encode())
        self.theirs.setdefault(tag, message.payload)

    async def _linger(self) -> None:
        ctx = self.ctx
        quiet = 4 * self.retransmit_ns
        while ctx.now < self.last_heard + quiet:
            ctx.port.set_timer(self.last_heard + quiet)
            await self._next()
