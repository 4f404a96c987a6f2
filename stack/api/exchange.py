"""Reliable symmetric exchanges between two applications over application messages (wire.md §11.2).

Both ends call :meth:`Exchange.swap` with the same tag (a counter both advance in step) and their own
payload; each gets the other's. A message is ``E7 C4 + tag (4 bytes, big-endian) + flags (1 byte) + payload``
(:class:`protocols.packets.exchange.ExchangeMessage`). Each end resends its payload every ``retransmit_ns``
until the peer's arrives. An end handles the peer's messages as soon as they arrive, whatever its application
is waiting for: a second copy of a tag it already answered is answered again with its own, flagged as a reply
(bit 0: its first copy may have been lost), and a second copy of a tag it has not reached yet with a
keepalive (tag 0, reply, no payload: "alive, not there yet"; not once its application has returned), as is a
probe (tag 0, not a reply, no payload: what :meth:`Exchange.receive` sends while it waits). A reply
is never answered, so two ends never echo each other for ever. After the application returns an end keeps
answering (TIME-WAIT) until nothing has come for ``LINGER_INTERVALS`` retransmission intervals: the peer may
still be resending its last tag because every answer so far was lost. Both ends are bounded: an end that hears
nothing at all from its peer (not even a keepalive) for ``give_up`` intervals while it waits (the peer
finished, failed or was cut off, or every copy was lost) raises :class:`stack.api.errors.ExchangeError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocols.common import ParseError
from protocols.packets.exchange import FLAG_REPLY as REPLY
from protocols.packets.exchange import ExchangeMessage
from stack.api.errors import ExchangeError
from stack.core.kernel import TIMER

if TYPE_CHECKING:
    from stack.api.context import AppContext

KEEPALIVE_TAG = 0
"""Tags start at 1: a reply with tag 0 and no payload is a keepalive."""
LINGER_INTERVALS = 16
"""Retransmission intervals an end keeps answering after its application returned, counted from the last
message it heard: the peer gives up its last tag only if all of that many copies in a row were lost
(0.3**16 ≈ 4e-9 at 30 % loss)."""
GIVE_UP_INTERVALS = 256
"""Retransmission intervals with nothing at all heard from the peer after which a wait gives up
(ExchangeError). A live peer answers every second copy (a reply or a keepalive), so only a peer that is gone,
or a loss rate that drops 256 answers in a row, reaches it."""


def exchange_of(ctx: AppContext, remote: str) -> Exchange:
    """The application's one Exchange with ``remote`` (shared by every protocol it runs with it, so tags never
    repeat), made on first use (or when the first message from ``remote`` arrives)."""
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
        """Intervals in a row with nothing heard from the peer after which a wait raises ExchangeError."""
        self.mine: dict[int, bytes] = {}
        self.theirs: dict[int, bytes] = {}
        self.last_heard = 0
        self.malformed = 0
        """Exchange messages from ``remote`` that did not parse (protocols.packets.exchange): dropped."""
        self.keepalives = 0
        """Keepalives sent (copies of a tag not reached yet, answered)."""
        self._next_tag = 0
        self._lingering = False
        ctx.lingering.append(self._linger)

    def tag(self) -> int:
        """The next tag (both ends take them in the same order)."""
        self._next_tag += 1
        return self._next_tag

    async def swap(self, tag: int, payload: bytes) -> bytes:
        """Send ``payload`` under ``tag``; return the peer's payload for the same tag. Raises
        :class:`ExchangeError` after ``give_up`` intervals with nothing heard from the peer."""
        self.mine[tag] = payload
        message = ExchangeMessage(tag, 0, payload).encode()
        self.ctx.send(self.remote, message)
        return await self._wait_for(tag, message)

    async def receive(self, tag: int) -> bytes:
        """The peer's payload for ``tag``, without sending this end's yet (the peer resends until it has it): an
        end that must hear the peer before it decides what to send calls this, then :meth:`swap`. Each interval
        it sends a probe (tag 0, no payload), which a live peer answers with a keepalive. Raises
        :class:`ExchangeError` after ``give_up`` intervals with nothing heard from the peer."""
        return await self._wait_for(tag, ExchangeMessage(KEEPALIVE_TAG, 0, b"").encode())

    async def _wait_for(self, tag: int, message: bytes) -> bytes:
        ctx = self.ctx
        silent, heard, deadline = 0, self.last_heard, ctx.now + self.retransmit_ns
        while tag not in self.theirs:
            ctx.port.set_timer(deadline)
            if await ctx.intake.wait() is TIMER and ctx.now >= deadline and tag not in self.theirs:
                silent = 0 if self.last_heard != heard else silent + 1
                heard, deadline = self.last_heard, ctx.now + self.retransmit_ns
                if silent > self.give_up:                       # every one of give_up intervals silent
                    raise ExchangeError(self.remote, tag, self.give_up, silent * self.retransmit_ns)
                ctx.send(self.remote, message)
        return self.theirs[tag]

    def deliver(self, data: bytes) -> None:
        """An exchange message from ``remote`` (the context hands each over as it arrives)."""
        try:
            message = ExchangeMessage.decode(data)
        except ParseError:
            self.malformed += 1                             # dropped, like any layer drops a malformed datagram
            return
        tag = message.tag
        self.last_heard = self.ctx.now
        if message.flags & REPLY:
            if tag != KEEPALIVE_TAG:
                self.theirs.setdefault(tag, message.payload)
            return
        if tag in self.mine and tag in self.theirs:             # a second copy: our answer was lost
            self.ctx.send(self.remote, ExchangeMessage(tag, REPLY, self.mine[tag]).encode())
        elif (tag == KEEPALIVE_TAG or tag in self.theirs) and not self._lingering:    # a probe, or not there yet
            self.keepalives += 1
            self.ctx.send(self.remote, ExchangeMessage(KEEPALIVE_TAG, REPLY, b"").encode())
        if tag != KEEPALIVE_TAG:
            self.theirs.setdefault(tag, message.payload)

    async def _linger(self) -> None:
        ctx = self.ctx
        self._lingering = True
        quiet = LINGER_INTERVALS * self.retransmit_ns
        while ctx.now < self.last_heard + quiet:
            ctx.port.set_timer(self.last_heard + quiet)
            await ctx.intake.wait()
