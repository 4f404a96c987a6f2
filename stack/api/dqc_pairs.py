"""The ebit of a distributed program's joint instruction (cat-entangle, teledata: :mod:`stack.api.dqc`), agreed
by both ends before either does anything irreversible with its half.

Both ends first meet (:meth:`JointPairs.rendezvous`); then the source asks for a kept pair (again, with backoff,
while the layer answers NORES) and the target takes its half. The layer may retract the pair (ERR EXPIRE) at
one end while the other holds an OK: the end that lost the herald answers the master's CONFIRM with EXPIRE and
reports ERR EXPIRE at once, the master (which delivered its OK at the herald) only a round trip later. So the
ends settle the pair in one exchange tag before using it: the target sends its status first (``b""``: it holds
its half; :data:`EXPIRED`), and the source, knowing both, sends EXPIRED or the payload of its use of the half
(a cat-entangle's bit, a teledata's go-ahead), which it may only produce after :meth:`JointPairs.create`
returned. Either status EXPIRED: both drop their halves (:meth:`JointPairs.drop`) and try again from a new
rendezvous, at most :data:`EXPIRE_RETRIES` times in a row.

A pair both ends reported holding is not retracted afterwards (link layer): the end that is not the master
delivers its OK only on the CONFIRM and its retraction is the only cause of the master's, so when it reports a
half, the master's is final too; when it is the source, it knows its own status before the target's arrives.
The network layer's ends settle a pair the same way (the tail delivers first, the head on CONFIRM if it still
holds its half); a pair poisoned after both ends delivered it is not caught here (its ERR EXPIRE comes after
the use).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from protocols.packets import linkservice as ll
from stack.api.context import AppContext
from stack.api.epr import KeptPair
from stack.api.errors import LinkError, QuantumError
from stack.api.exchange import exchange_of

T = TypeVar("T")
NORES_RETRIES = 1000
NORES_BACKOFF_NS = 1_000_000
EXPIRE_RETRIES = 16
"""A joint instruction's pair retracted (ERR EXPIRE) this many times in a row ends the execution (LinkError
EXPIRE)."""
EXPIRED = b"E"
"""Payload, in the exchange tag that settles a pair, of an end whose pair was retracted (otherwise the target
sends ``b""``, the source its payload)."""
SETTLED_REMEMBERED = 4096
"""Create IDs of a source's requests a target remembers as settled (IDs repeat only after 65,535 requests)."""
STALE_EXPIRE_INTERVALS = 64
"""Exchange intervals an end that got its OK waits for the layer's ERR EXPIRE of a pair the other end saw
retracted, before it discards its half anyway."""


def ok_stamp(ok_time: int) -> bytes:
    """A target's status carrying when its OK arrived (virtual ns; under ``qnet up`` every process counts
    emulated time from one shared epoch): 8 bytes, big-endian, never :data:`EXPIRED`."""
    return ok_time.to_bytes(8, "big")


def stamped_ok(status: bytes) -> int | None:
    """The OK time an :func:`ok_stamp` status carries (None for any other status)."""
    return int.from_bytes(status, "big") if len(status) == 8 else None


class PairCounts(Protocol):
    """Where :class:`JointPairs` counts (:class:`stack.api.dqc.QpuRun`)."""

    pairs_created: int
    pairs_received: int
    pairs_retried: int
    nores_retries: int


@dataclass(frozen=True, slots=True)
class Agreed:
    """A pair both ends hold: this end's half, the exchange tag that settled it, and what the other end sent in
    it (the source's payload at the target; ``b""`` at the source)."""

    pair: KeptPair
    tag: int
    theirs: bytes


class JointPairs:
    """The pairs one QPU makes (as a joint instruction's source) or takes (as its target); counts them in
    ``run`` (``pairs_created``, ``pairs_received``, ``pairs_retried``, ``nores_retries``)."""

    def __init__(self, ctx: AppContext, run: PairCounts, service: str = "auto") -> None:
        self.ctx = ctx
        self.run = run
        self.service = service
        self._settled: dict[str, OrderedDict[int, None]] = {}
        """The target's side: Create IDs of each source's requests it took a pair (or its ERR EXPIRE) of; a late
        message of one (the ERR EXPIRE of a pair already used) is dropped, not taken for the next pair's."""

    async def rendezvous(self, partner: str) -> None:
        """Wait until ``partner`` has reached the same joint instruction. Only then is the pair asked for: a pair
        made for an instruction the partner has not reached yet would hold one of its communication qubits while
        it needs them for the instruction before (with another QPU), and neither could go on."""
        exchange = exchange_of(self.ctx, partner)
        await exchange.swap(exchange.tag(), b"")

    async def create(self, target: str, correct: bool = True) -> Agreed:
        """The source's half of a pair with ``target`` that both ends hold (``correct``: turned into |Φ+⟩).
        The caller must then send its payload (never EXPIRED) with :meth:`settle`. Raises LinkError EXPIRE
        after EXPIRE_RETRIES retracted pairs in a row."""
        exchange = exchange_of(self.ctx, target)
        socket = self.ctx.epr_socket(target, self.service)
        for _ in range(EXPIRE_RETRIES):
            await self.rendezvous(target)
            tag = exchange.tag()
            pair = await self._pair(self.retrying(target, lambda: socket.create_one(correct=correct)))
            self.run.pairs_created += 1
            theirs = await exchange.receive(tag)
            if pair is not None and theirs != EXPIRED:
                return Agreed(pair, tag, theirs)
            await self.drop(pair, exchange.retransmit_ns, self.ctx.node_id, socket.port)
            await exchange.swap(tag, EXPIRED)
            self.run.pairs_retried += 1
        raise LinkError(ll.ERR_EXPIRE, port=socket.port)

    async def settle(self, target: str, agreed: Agreed, payload: bytes) -> None:
        """The source's payload for a pair :meth:`create` returned (the target's :meth:`receive` returns it)."""
        if payload == EXPIRED:
            raise ValueError("a settled pair's payload cannot be EXPIRED")
        await exchange_of(self.ctx, target).swap(agreed.tag, payload)

    async def receive(self, source: str, stamped: bool = False) -> Agreed:
        """The target's half of a pair from ``source`` that both ends hold (uncorrected), with the source's
        payload. ``stamped``: the status that says this end holds its half is when its OK arrived
        (:func:`ok_stamp`; a teledata's source counts the target's memory deadline from it), not ``b""``.
        Raises LinkError EXPIRE after EXPIRE_RETRIES retracted pairs in a row."""
        exchange = exchange_of(self.ctx, source)
        socket = self.ctx.epr_socket(source, self.service)
        settled = self._settled.setdefault(source, OrderedDict())
        for _ in range(EXPIRE_RETRIES):
            await self.rendezvous(source)
            tag = exchange.tag()
            pair = await self._pair(socket.recv_one(settled=settled))
            assert socket.last_request is not None
            settled[socket.last_request] = None
            while len(settled) > SETTLED_REMEMBERED:
                settled.popitem(last=False)
            self.run.pairs_received += 1
            status = EXPIRED if pair is None else ok_stamp(pair.ok_time) if stamped else b""
            theirs = await exchange.swap(tag, status)
            if pair is not None and theirs != EXPIRED:
                return Agreed(pair, tag, theirs)
            await self.drop(pair, exchange.retransmit_ns, socket.remote_id, socket.port)
        raise LinkError(ll.ERR_EXPIRE, port=socket.port)

    async def retrying(self, partner: str, create: Callable[[], Awaitable[T]]) -> T:
        """``create()`` (which sends a CREATE first), again after 1, 2, 4, ... round trips to ``partner`` (at most
        NORES_BACKOFF_NS) while the layer answers NORES (the network layer's circuit table keeps closed circuits
        for a while, up to ``[network] max_circuits``); the CREATE it refused never left this node, so the
        partner just goes on waiting for the pair."""
        wait = exchange_of(self.ctx, partner).retransmit_ns
        for _ in range(NORES_RETRIES):
            try:
                return await create()
            except LinkError as error:
                if error.code != ll.ERR_NORES:
                    raise
            self.run.nores_retries += 1
            await self.ctx.sleep(wait)
            wait = min(2 * wait, NORES_BACKOFF_NS)
        return await create()

    @staticmethod
    async def _pair(made: Awaitable[KeptPair]) -> KeptPair | None:
        """The pair, or None if the layer retracted it (ERR EXPIRE)."""
        try:
            return await made
        except LinkError as error:
            if error.code != ll.ERR_EXPIRE:
                raise
            return None

    async def drop(self, pair: KeptPair | None, interval_ns: int, origin: int, port: int | None = None) -> None:
        """Give up a half whose other end was retracted: wait (bounded) for this end's ERR EXPIRE of it, so that
        it is not taken for a later request's, then discard the qubit (unless the layer already did). ``origin``:
        the node whose request made the pair, ``port``: the service that served it (Create IDs are per origin node
        and service: an ERR EXPIRE of another node's or service's request with the same Create ID, or of another
        pair, is left for whoever waits for it)."""
        if pair is None:
            return
        ctx = self.ctx
        deadline = ctx.now + STALE_EXPIRE_INTERVALS * interval_ns
        while ctx.now < deadline:
            stale = next((m for m in ctx.intake.messages if isinstance(m, ll.Err) and _expires(m, pair, origin)
                          and ctx.service_of(m) in (None, port)), None)
            if stale is not None:
                ctx.intake.messages.remove(stale)
                break
            ctx.port.set_timer(deadline)
            await ctx.intake.wait()
        with contextlib.suppress(QuantumError):
            ctx.discard(pair.slot)


def _expires(err: ll.Err, pair: KeptPair, origin: int) -> bool:
    """Whether ``err`` is an ERR EXPIRE of ``pair`` (of ``origin``'s request): its Create ID and Origin Node, and
    (S set) a sequence range holding the pair's, or (S clear) every pair of the request."""
    if err.err != ll.ERR_EXPIRE or err.create_id != pair.create_id or err.origin_node != origin:
        return False
    return not err.s or err.retracts(pair.sequence_number)
