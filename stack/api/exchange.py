"""Reliable symmetric exchanges between two applications over application messages (wire.md §11.2).

Both ends call :meth:`Exchange.swap` with the same tag (a counter both advance in step) and their own
payload; each gets the other's. A message is ``E7 C4 + tag (4 bytes, big-endian) + flags (1 byte) + payload``
(:class:`protocols.packets.exchange.ExchangeMessage`). Each
end resends its payload every ``retransmit_ns`` until the peer's arrives, answers a peer's second copy of a
tag with its own again, flagged as a reply (bit 0: its first copy may have been lost; a reply is never
answered, so two ends never echo each other for ever), and after the application returns keeps answering
(TIME-WAIT) until nothing has come for ``LINGER_INTERVALS`` retransmission intervals: the peer may still be
resending its last tag because every answer so far was lost. Both ends are bounded: an end that hears nothing
at all from its peer for ``give_up`` retransmission intervals while it resends (the peer finished, failed, or
every copy was lost) raises :class:`stack.api.errors.ExchangeError`.
"""

from __future__ import annotations

from protocols.common import ParseError
from protocols.packets.exchange import FLAG_REPLY as REPLY
from protocols.packets.exchange import ExchangeMessage
from stack.api.context import AppContext
from stack.api.errors import ExchangeError
from stack.core.kernel import TIMER

LINGER_INTERVALS = 16
"""Retransmission intervals an end keeps answering after its application returned, counted from the last
message it heard: the peer gives up its last tag only if all of that many copies in a row were lost
(0.3**16 ≈ 4e-9 at 30 % loss)."""
GIVE_UP_INTERVALS = 1024
"""Retransmission intervals with nothing at all heard from the peer after which :meth:`Exchange.swap` gives
up (ExchangeError). Far more than LINGER_INTERVALS, since a live peer may be busy elsewhere (a distributed
circuit's QPU with another partner) before it reaches the tag."""


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

    def __init__(self, ctx: AppContext, remote: str, retransmit_ns: int | None = None,
                 give_up: int = GIVE_UP_INTERVALS) -> None:
        self.ctx = ctx
        self.remote = remote
        if retransmit_ns is None:
            route = ctx.emu.network.route(ctx.node_id, ctx.emu.scenario.nodes[remote].node_id)
            retransmit_ns = 2 * (route.delay_ns + route.jitter_ns) + 10_000
        self.retransmit_ns = retransmit_ns
        self.give_up = give_up
        """Retransmissions in a row with nothing heard from the peer after which a swap raises ExchangeError."""
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
        """Send ``payload`` under ``tag``; return the peer's payload for the same tag. Raises
        :class:`ExchangeError` after ``give_up`` retransmissions in a row with nothing heard from the peer."""
        ctx = self.ctx
        self.mine[tag] = payload
        message = ExchangeMessage(tag, 0, payload).encode()
        ctx.send(self.remote, message)
        resend = ctx.now + self.retransmit_ns
        silent = 0
        heard = self.last_heard
        while tag not in self.theirs:
            ctx.port.set_timer(resend)
            if await self._next() is TIMER and ctx.now >= resend:
                silent = 0 if self.last_heard != heard else silent + 1
                heard = self.last_heard
                if silent > self.give_up:                   # every one of give_up retransmissions unanswered
                    raise ExchangeError(self.remote, tag, self.give_up, silent * self.retransmit_ns)
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
        while any(source == self.remote for source, _ in ctx._exchange_inbox):   # copies that came meanwhile
            await self._next()
        quiet = LINGER_INTERVALS * self.retransmit_ns
        while ctx.now < self.last_heard + quiet:
            ctx.port.set_timer(self.last_heard + quiet)
            await self._next()
