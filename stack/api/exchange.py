"""Reliable symmetric exchanges between two applications over application messages (wire.md §10.2).

Both ends call :meth:`Exchange.swap` with the same tag (a counter both advance in step) and their own payload; each
gets the other's. A message is ``tag (4 bytes, big-endian) + payload``. Each end resends its payload every
``retransmit_ns`` until the peer's arrives, answers a peer's copy of an earlier tag with its own again (its answer
may have been lost) unless it sent that tag less than ``retransmit_ns`` ago (else two ends holding both payloads
would answer each other's answers for ever), and after the application returns keeps answering until nothing has
come for ``linger_ns`` (the last answer may be lost too)."""

from __future__ import annotations

import struct

from stack.api.context import AppContext
from stack.core.kernel import TIMER

_TAG = struct.Struct("!I")


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
        self.sent_at: dict[int, int] = {}
        """When this end last sent each tag (virtual ns)."""
        self.last_heard = 0
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
        self._send(tag)
        resend = ctx.now + self.retransmit_ns
        while tag not in self.theirs:
            ctx.port.set_timer(resend)
            if await self._next() is TIMER and ctx.now >= resend:
                self._send(tag)
                resend = ctx.now + self.retransmit_ns
        return self.theirs[tag]

    async def _next(self) -> object:
        ctx = self.ctx
        for index, (source, data) in enumerate(ctx._inbox):
            if source == self.remote and len(data) >= _TAG.size:
                del ctx._inbox[index]
                self._on(data)
                return None
        return await ctx._wait()

    def _on(self, data: bytes) -> None:
        tag, = _TAG.unpack_from(data)
        self.last_heard = self.ctx.now
        if tag in self.theirs and tag in self.mine \
                and self.ctx.now - self.sent_at[tag] >= self.retransmit_ns:      # they did not get our answer
            self._send(tag)
        self.theirs.setdefault(tag, data[_TAG.size:])

    def _send(self, tag: int) -> None:
        self.sent_at[tag] = self.ctx.now
        self.ctx.send(self.remote, _TAG.pack(tag) + self.mine[tag])

    async def _linger(self) -> None:
        ctx = self.ctx
        quiet = 4 * self.retransmit_ns
        while ctx.now < self.last_heard + quiet:
            ctx.port.set_timer(self.last_heard + quiet)
            await self._next()
