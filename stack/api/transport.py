"""Teleportation for applications: the transport engine (:mod:`protocols.transport.teleport`) hosted by an
:class:`stack.api.context.AppContext`, its QTP datagrams on the node's UDP port 7776.

The sending application makes the pair (an EPR socket's ``create_keep``, uncorrected), Bell-measures its
qubit with its half and sends the corrections; the receiving application takes its half (``recv_keep``),
waits for them and gets the qubit in that half's slot. Either end raises :class:`TransportError` with QTP's
error code when the qubit is lost (no corrections before the receiver's memory deadline, a failed Bell
measurement, no answer).

>>> # async def alice(ctx):  await Teleporter(ctx).send("bob", slot)
>>> # async def bob(ctx):    slot = await Teleporter(ctx).recv("alice")

Many qubits to one remote: :meth:`Teleporter.stream` sends each over the next pair of one standing CREATE (of
as many pairs as the sender says it will still send) instead of a CREATE per qubit; the receiver's ``recv``
is the same either way.

>>> # stream = teleporter.stream("bob")
>>> # for left in range(n, 0, -1):  await stream.send(prepare(), remaining=left)
"""

from __future__ import annotations

from typing import Any

from protocols.common import QTP_PORT, Actions
from protocols.packets import linkservice as ll
from protocols.physical.hardware import BellMeasure, BellMeasureResult, CommandRejected
from protocols.transport.model import CLASSICAL_LIMIT, deadline_budget_ns
from protocols.transport.teleport import Delivered, Lost, PairRef, Sent, Transport
from stack.api.context import AppContext
from stack.api.epr import EPRSocket, KeptPair
from stack.api.errors import LinkError, TransportError
from stack.api.records import EXPIRED_KEPT, RecentKeys, UsedNumbers
from stack.api.stream import TeleportStream
from stack.core.capture import node_ip
from stack.core.kernel import TIMER
from stack.core.network import Datagram

RETRANSMIT_MARGIN_NS = 10_000
"""Added to the round trip (with its jitter) to give DATA's retransmission interval."""


class Teleporter:
    """Sends and receives qubits by teleportation (one per application: it binds the node's QTP port).

    ``floor``: the receiver's memory deadline is when storage alone would bring the teleported qubit's average
    fidelity down to ``floor`` (default 2/3, the classical limit).
    """

    def __init__(self, ctx: AppContext, floor: float = CLASSICAL_LIMIT) -> None:
        if ctx.teleporter is not None:
            raise ValueError("this application already has a Teleporter (teleporter_of(ctx) returns it)")
        ctx.teleporter = self
        self.ctx = ctx
        self.floor = floor
        node = ctx.emu.scenario.nodes[ctx.node]
        ctx.emu.network.bind(ctx.node_id, QTP_PORT, ctx.port)
        ctx.handlers[QTP_PORT] = self._datagram
        self.engine = Transport(ctx.purpose_id, deadline_budget_ns(node.t1_ns, node.t2_ns, floor), 0)
        self.events: list[Any] = []
        self._sockets: dict[tuple[str, str], EPRSocket] = {}
        self._retransmit: dict[str, int] = {}
        self._held_pairs: dict[tuple[int, int, int], int] = {}
        """Pairs :meth:`recv` holds for a qubit, not yet delivered or lost."""
        self._retracted = RecentKeys[tuple[int | None, int, int, int]](EXPIRED_KEPT)
        """(service port, origin node, Create ID, sequence number) of the remote's pairs the layer retracted
        before their OK was taken (the last ones)."""
        self.names = UsedNumbers()
        """Receiving (:meth:`recv`): by QTP's name of a remote's request, (origin node, Create ID), whichever
        service made it, the Sequence Numbers its pairs were settled under here."""
        self.sent_names = UsedNumbers()
        """Sending (:meth:`send`, :class:`TeleportStream`): by (remote node, Create ID) of this end's requests,
        whichever service made them, the Sequence Numbers their pairs were settled under here. Apart from
        :attr:`names` and keyed by the remote: each receiver sees only the pairs sent to it, so a name used with
        one remote must not skip a pair to another (review 9d)."""
        self.renamed = 0
        """Pairs this end skipped, sending (:class:`TeleportStream`) or receiving (:meth:`recv`), their halves
        discarded: QTP's name for them, (origin, Create ID, Sequence Number), was an earlier pair's. A request's
        numbers come round when it shares its link (a higher-priority request taking 65,536 link pairs
        meanwhile), and the link and network services number their requests apart, so a request of each can
        have one Create ID; QTP carries no service, so both ends skip by name, whatever service (docs/wire.md
        §11.1)."""
        ctx.lingering.append(self._linger)

    def _retransmit_ns(self, remote: str) -> int:
        if remote not in self._retransmit:
            route = self.ctx.emu.network.route(self.ctx.node_id, self.ctx.emu.scenario.nodes[remote].node_id)
            self._retransmit[remote] = 2 * (route.delay_ns + route.jitter_ns) + RETRANSMIT_MARGIN_NS
        return self._retransmit[remote]

    def _one_way_ns(self, remote: str) -> int:
        """The longest one-way delay of a datagram to ``remote`` (the route's delay and jitter)."""
        route = self.ctx.emu.network.route(self.ctx.node_id, self.ctx.emu.scenario.nodes[remote].node_id)
        return int(route.delay_ns + route.jitter_ns)

    def _socket(self, remote: str, service: str) -> EPRSocket:
        """The EPR socket to ``remote`` (one per remote and service, reused for every qubit)."""
        key = (remote, service)
        if key not in self._sockets:
            self._sockets[key] = self.ctx.epr_socket(remote, service)
        return self._sockets[key]

    async def send(self, remote: str, slot: int, service: str = "auto") -> int:
        """Teleport the qubit in ``slot`` to the application on ``remote`` (over a fresh pair); returns the
        transfer's sequence number once the receiver has applied the corrections. A pair under a QTP name
        already used with ``remote`` (:attr:`sent_names`: a request of the other service with the same Create ID) is
        discarded, as the receiver discards it, and another made."""
        while True:
            socket = self._socket(remote, service)
            pair = await socket.create_one(correct=False)
            if self.sent_names.use((socket.remote_id, pair.create_id), pair.sequence_number):
                return await self.send_over(remote, slot, pair)
            self.ctx.discard(pair.slot)
            self.renamed += 1

    def stream(self, remote: str, service: str = "auto") -> TeleportStream:
        """A stream of qubits to the application on ``remote`` over standing kept-pair requests."""
        return TeleportStream(self, remote, service)

    async def send_many(self, remote: str, slots: list[int], service: str = "auto") -> list[int]:
        """Teleport the qubits in ``slots`` in order over one request of ``len(slots)`` pairs; returns their
        sequence numbers. The first failure raises (the qubits after it stay in their slots, unsent)."""
        stream = self.stream(remote, service)
        return [await stream.send(slot, remaining=len(slots) - index) for index, slot in enumerate(slots)]

    async def recv_many(self, remote: str, number: int, service: str = "auto") -> list[int]:
        """The next ``number`` qubits ``remote`` teleports here (e.g. by :meth:`send_many`): their slots."""
        return [await self.recv(remote, service) for _ in range(number)]

    async def send_over(self, remote: str, slot: int, pair: KeptPair, receiver_ok_ns: int | None = None) -> int:
        """Teleport the qubit in ``slot`` over ``pair`` (this end's half of an uncorrected kept pair it created).
        If the pair is already past the receiver's memory deadline, the qubit stays in ``slot`` (the half is
        discarded) and TransportError DEADLINE is raised.

        ``receiver_ok_ns``: when the receiver's OK of the pair arrived, if it said (a teledata's target does:
        :mod:`stack.api.dqc_pairs`). Its deadline counts from its own OK, which may come before this end's
        (the link's master delivers at the herald, the other end on CONFIRM), so the deadline is then counted
        from the earlier of the two OKs and the qubit is sent only if its DATA, one way of the route (delay and
        jitter) later, reaches the receiver before it: what the receiver will decide, decided here."""
        ctx, peer = self.ctx, ctx_node(self.ctx, remote)
        ctx.intake.live()                             # before the engine sends or commands anything
        self.engine.retransmit_ns = self._retransmit_ns(remote)
        remote_node = ctx.emu.scenario.nodes[remote]
        ok_time = pair.ok_time
        if receiver_ok_ns is not None:
            ok_time = min(ok_time, receiver_ok_ns) - self._one_way_ns(remote)
        ref = PairRef(pair.slot, ctx.node_id, pair.create_id, pair.sequence_number, pair.bell_state, ok_time)
        seq, actions = self.engine.send(slot, ref, (node_ip(peer), QTP_PORT), ctx.now,
                                        deadline_budget_ns(remote_node.t1_ns, remote_node.t2_ns, self.floor))
        self._apply(actions)
        ctx.held -= {pair.slot} if not actions.hardware or not isinstance(actions.hardware[0], BellMeasure) \
            else {slot, pair.slot}
        event = await self._until(lambda e: isinstance(e, Sent | Lost) and e.transfer_seq == seq)
        if isinstance(event, Lost):
            raise TransportError(event.code, f"teleporting to {remote}: {event.reason}", event.kept)
        return seq

    async def recv(self, remote: str, service: str = "auto") -> int:
        """The next qubit the application on ``remote`` teleports here: returns its slot. Every kept pair
        ``remote`` made with this end is held for a qubit as soon as its OK is here, and the first whose
        corrections come is returned (OKs of a standing request may arrive out of order; the sender waits for
        each qubit's ACK, so qubits still arrive in the order sent). Raises :class:`TransportError` when a
        held pair's qubit is lost (NOPAIR, DEADLINE) and :class:`LinkError` for the layer's errors. Kept pairs
        ``remote`` makes while this waits are taken for teleportation: an application that also takes kept
        pairs of its own from ``remote`` meanwhile uses :meth:`recv_over` with each pair instead."""
        ctx, socket = self.ctx, self._socket(remote, service)
        event = await self._until(lambda e: isinstance(e, Delivered | Lost) and e.pair in self._held_pairs,
                                  poll=lambda: self._hold_oks(socket))
        slot = self._held_pairs.pop(event.pair)
        if isinstance(event, Lost):
            ctx.held.discard(slot)
            raise TransportError(event.code, f"receiving from {remote}: {event.reason}")
        return slot

    def _hold_oks(self, socket: EPRSocket) -> None:
        """Hold every OK (K) of ``socket``'s remote's requests waiting in the queue for a qubit (ERR EXPIRE: the
        engine gives up its pairs, through ``ctx.expired``; any other ERR raises LinkError). Messages of this
        node's own requests (an ERR's Origin Node, an OK's D bit) are left for them, and so are the ERRs of the
        remote's measure-directly requests (known by their OKs: ``AppContext.kept_request``); an ERR of a request
        no OK came for yet is taken as the teleport's."""
        ctx = self.ctx
        for message in [m for m in ctx.intake.messages if isinstance(m, ll.OkKeep | ll.Err)]:
            if isinstance(message, ll.Err):
                if message.origin_node != socket.remote_id or socket._of_kind(message, False):
                    continue
                port = ctx.service_of(message)
                ctx.intake.messages.remove(message)
                if message.err != ll.ERR_EXPIRE:
                    raise LinkError(message.err, message.create_id, port)
                for seq in socket._expire(message):
                    self._retracted.add((port, message.origin_node, message.create_id, seq))
                    self.names.use((message.origin_node, message.create_id), seq)
            elif message.remote_node_id == socket.remote_id and message.d == 1:
                port = ctx.service_of(message)
                pair = socket._kept(message, ctx.intake.messages.take(message))
                if self._retracted.take((port, socket.remote_id, pair.create_id, pair.sequence_number)):
                    ctx.discard(pair.slot)
                    continue
                if not self.names.use((socket.remote_id, pair.create_id), pair.sequence_number):
                    ctx.discard(pair.slot)              # a second pair under one QTP name: the sender skips it too
                    self.renamed += 1
                    continue
                ref = PairRef(pair.slot, socket.remote_id, pair.create_id, pair.sequence_number, pair.bell_state,
                              pair.ok_time)
                self.engine.retransmit_ns = self._retransmit_ns(socket.remote)
                self._held_pairs[ref.key] = ref.slot
                self._apply(self.engine.expect(ref, (node_ip(ref.origin_node), QTP_PORT), ctx.now))

    async def recv_over(self, remote: str, pair: KeptPair) -> int:
        """Wait for the corrections of a qubit teleported over ``pair`` (this end's half, created by ``remote``)."""
        ctx = self.ctx
        ctx.intake.live()
        self.engine.retransmit_ns = self._retransmit_ns(remote)
        ref = PairRef(pair.slot, ctx_node(ctx, remote), pair.create_id, pair.sequence_number, pair.bell_state,
                      pair.ok_time)
        self._apply(self.engine.expect(ref, (node_ip(ref.origin_node), QTP_PORT), ctx.now))
        event = await self._until(lambda e: isinstance(e, Delivered | Lost) and e.pair == ref.key)
        if isinstance(event, Lost):
            ctx.held.discard(pair.slot)
            raise TransportError(event.code, f"receiving from {remote}: {event.reason}")
        return pair.slot

    # -- hosting the engine -----------------------------------------------------------------------
    def _apply(self, actions: Actions) -> None:
        ctx = self.ctx
        for destination, payload in actions.send:
            ctx.emu.network.send(ctx.node_id, QTP_PORT, destination, payload)
        for command in actions.hardware:
            ctx.emu.medium.command(ctx.node_id, command, ctx.port)
        self.events.extend(actions.up)

    async def _linger(self) -> None:
        """After the application returned: serve QTP until the engine is quiet (its answers may be lost)."""
        while not self.engine.quiet(self.ctx.now):
            await self._until(lambda e: False, until=self.engine.quiet)

    def _datagram(self, event: Datagram) -> None:
        self._apply(self.engine.receive(event.payload, event.source, event.port, self.ctx.now))

    async def _until(self, wanted: Any, until: Any = None, poll: Any = None) -> Any:
        ctx = self.ctx
        while until is None or not until(ctx.now):
            if poll is not None:
                poll()
            while ctx.expired:
                self._apply(self.engine.expired(ctx.expired.popleft(), ctx.now))
            for event in self.events:
                if wanted(event):
                    self.events.remove(event)
                    ctx.port.set_timer(self.engine.deadline())   # none left: no stale wake-up later
                    return event
            for slot in [s for s in ctx.intake.results if s in self.engine._measuring]:
                result = ctx.intake.results.pop(slot)
                assert isinstance(result, BellMeasureResult | CommandRejected)
                self._apply(self.engine.handle(result, ctx.now))
                break
            else:
                deadline = self.engine.deadline()
                if until is not None:
                    deadline = min(deadline or self.engine.quiet_at, self.engine.quiet_at)
                ctx.port.set_timer(deadline)
                if await ctx.intake.wait() is TIMER and deadline is not None and ctx.now >= deadline:
                    self._apply(self.engine.on_timer(ctx.now))


def teleporter_of(ctx: AppContext) -> Teleporter:
    """The application's Teleporter, made on first use."""
    return ctx.teleporter if ctx.teleporter is not None else Teleporter(ctx)


def ctx_node(ctx: AppContext, name: str) -> int:
    """The node id of ``name``."""
    return ctx.emu.scenario.nodes[name].node_id
