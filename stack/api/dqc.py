"""Executing a compiled distributed program on the emulated network (docs/compiler.md, "Execution").

Every QPU with a program runs it as an application (:func:`run_program`), shot after shot: its instructions in step
order, local operations as the medium's gates and measurements on its data qubits (:mod:`protocols.apps.dqc`), and
each remote operation together with the partner QPU, over a pair of the link layer (neighbours) or the network layer
(any other QPU), with application messages for the classical bits:

- ``cat_entangle`` (Eisert et al., PRA 62, 052317 (2000)): the source makes the pair (``create_keep``, turned
  into |Φ+⟩), applies the basis-controlled X from the qubit (or its copy) onto its half, measures the half in
  Z and sends the bit; the target applies X to its half when the bit is 1: the half is the cat copy;
- ``cat_disentangle``: the copy's QPU measures it in X and sends the bit; the qubit's QPU applies the Pauli of
  the copy's basis to the qubit when it is 1;
- ``teledata``: the qubit is teleported (:mod:`stack.api.transport`, QTP) and swapped from the communication
  qubit it arrived in into a data qubit.

Before a pair is asked for, both ends meet (:meth:`QpuExecutor.rendezvous`), so a QPU's communication qubits only
ever serve the instruction it is at. A pair the layer retracts (ERR EXPIRE: at one end, or at one end after the
other's OK) is asked for again, after a new rendezvous, at both ends: they tell each other first (the target's
status, then the source's bit or status), so neither uses a half whose partner is gone. Both ends of a joint
instruction swap their bits through the application's
:class:`Exchange` with the other QPU, which takes tags in the program's order (the same at both ends). The medium
frees a measured qubit, so a measured circuit qubit is re-prepared in the state its outcome names."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from protocols.apps.dqc import MEASURE_BASIS, PREPARE, RESET_BASIS, controlled_x, medium_gates
from protocols.common import Basis
from protocols.compiler import CatDisentangle, CatEntangle, DistributedProgram, Local, Teledata
from protocols.packets import linkservice as ll
from stack.api.context import AppContext
from stack.api.epr import KeptPair
from stack.api.errors import LinkError, QuantumError
from stack.api.exchange import exchange_of
from stack.api.remote import teledata

T = TypeVar("T")
NORES_RETRIES = 1000
NORES_BACKOFF_NS = 1_000_000
EXPIRE_RETRIES = 16
"""A cat-entangle's pair retracted (ERR EXPIRE) this many times in a row ends the execution (LinkError EXPIRE)."""
EXPIRED = b"E"
"""Payload of a cat-entangle's bit exchange from an end whose pair was retracted (otherwise the target sends
nothing, the source its bit)."""
STALE_EXPIRE_INTERVALS = 64
"""Exchange intervals an end that got its OK waits for the layer's ERR EXPIRE of a pair the other end saw
retracted, before it discards its half anyway."""


@dataclass(slots=True)
class QpuRun:
    """What one QPU did: its measurement outcomes per shot ({record index: bit}), pairs it made and received,
    remote operations it took part in by kind, and when it finished (virtual ns)."""

    records: list[dict[int, int]] = field(default_factory=list)
    pairs_created: int = 0
    pairs_received: int = 0
    remote_ops: Counter[str] = field(default_factory=Counter)
    finished_ns: int = 0
    nores_retries: int = 0
    """CREATEs the layer refused for lack of qubits (NORES), sent again."""
    pairs_retried: int = 0
    """Pairs it made (as a cat-entangle's source) that were retracted (ERR EXPIRE at either end) and asked for
    again; ``pairs_created`` counts them too."""


class QpuExecutor:
    """One QPU's program run on its node through the application API."""

    def __init__(self, ctx: AppContext, program: DistributedProgram, qpu: str, service: str = "auto") -> None:
        self.ctx = ctx
        self.qpu = qpu
        self.service = service
        self.program = program
        self.instructions = program.program(qpu)
        self.run = QpuRun()
        self.slots: dict[int, int] = {}
        """Slot of each circuit qubit living here."""
        self.copies: dict[int, int] = {}
        """Slot of the cat copy of each circuit qubit held here."""
        self.record: dict[int, int] = {}

    async def shot(self) -> None:
        """One execution of the program: data qubits in |0⟩, every instruction, then every qubit given up."""
        ctx = self.ctx
        self.record = {}
        self.slots = {q: ctx.qubit() for q, home in enumerate(self.program.placement) if home == self.qpu}
        for instruction in self.instructions:
            await self.execute(instruction)
        if self.copies:
            raise RuntimeError(f"{self.qpu}: copies of qubits {sorted(self.copies)} left at the end of the program")
        for slot in self.slots.values():
            ctx.discard(slot)
        self.run.records.append(self.record)

    def gate(self, name: str, slots: tuple[int, ...]) -> None:
        """A Clifford (stim name) on these slots, as the medium's gates."""
        for gate, operands in medium_gates(name):
            self.ctx.gate(gate, *(slots[i] for i in operands))

    def prepare(self, basis: Basis, outcome: int) -> int:
        """A fresh data qubit in the eigenstate of ``basis`` with ``outcome``; its slot."""
        slot = self.ctx.qubit()
        for gate in PREPARE[basis, outcome]:
            self.ctx.gate(gate, slot)
        return slot

    async def execute(self, op: object) -> None:
        if isinstance(op, Local):
            await self.local(op)
        elif isinstance(op, CatEntangle):
            await self.cat_entangle(op)
        elif isinstance(op, CatDisentangle):
            await self.cat_disentangle(op)
        elif isinstance(op, Teledata):
            await self.teledata(op)
        else:
            raise TypeError(f"unknown instruction {op!r}")

    async def local(self, op: Local) -> None:
        if op.kind == "gate":
            self.gate(op.name, tuple(self.copies[q] if copy else self.slots[q]
                                     for q, copy in zip(op.qubits, op.copy, strict=True)))
            return
        qubit = op.qubits[0]
        if op.kind == "measure":
            basis, reset = MEASURE_BASIS[op.name]
            outcome = await self.ctx.measure(self.slots[qubit], basis)
            self.record[op.record] = outcome
            self.slots[qubit] = self.prepare(basis, 0 if reset else outcome)
        else:
            self.ctx.discard(self.slots[qubit])
            self.slots[qubit] = self.prepare(RESET_BASIS[op.name], 0)

    async def rendezvous(self, partner: str) -> None:
        """Wait until ``partner`` has reached the same joint instruction. Only then is the pair asked for: a pair
        made for an instruction the partner has not reached yet would hold one of its communication qubits while
        it needs them for the instruction before (with another QPU), and neither could go on."""
        exchange = exchange_of(self.ctx, partner)
        await exchange.swap(exchange.tag(), b"")

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

    async def cat_entangle(self, op: CatEntangle) -> None:
        here = self.qpu == op.source
        partner = op.target if here else op.source
        exchange = exchange_of(self.ctx, partner)
        self.run.remote_ops["cat_entangle"] += 1
        for _ in range(EXPIRE_RETRIES):
            await self.rendezvous(partner)
            tag = exchange.tag()
            if await (self._entangle_source(op, tag) if here else self._entangle_target(op, tag)):
                return
            self.run.pairs_retried += here
        raise LinkError(ll.ERR_EXPIRE)

    async def _entangle_source(self, op: CatEntangle, tag: int) -> bool:
        """One try: the pair, the target's status, then the CNOT's bit (True) or, if either end's pair was
        retracted, EXPIRED (False)."""
        ctx, exchange = self.ctx, exchange_of(self.ctx, op.target)
        socket = ctx.epr_socket(op.target, self.service)
        pair = await self._pair(self.retrying(op.target, socket.create_one))
        self.run.pairs_created += 1
        if pair is None or await exchange.receive(tag) == EXPIRED:
            await self._drop(pair, exchange.retransmit_ns)
            await exchange.swap(tag, EXPIRED)
            return False
        control = self.copies[op.qubit] if op.from_copy else self.slots[op.qubit]
        self.gate(controlled_x("Z" if op.from_copy else op.basis), (control, pair.slot))
        bit = await ctx.measure(pair.slot, Basis.Z)
        await exchange.swap(tag, bytes([bit]))
        return True

    async def _entangle_target(self, op: CatEntangle, tag: int) -> bool:
        """One try: the pair, this end's status, the source's bit (True) or EXPIRED (False)."""
        ctx, exchange = self.ctx, exchange_of(self.ctx, op.source)
        pair = await self._pair(ctx.epr_socket(op.source, self.service).recv_one())
        self.run.pairs_received += 1
        theirs = await exchange.swap(tag, b"" if pair is not None else EXPIRED)
        if pair is None or theirs == EXPIRED:
            await self._drop(pair, exchange.retransmit_ns)
            return False
        if theirs[0]:
            ctx.gate("X", pair.slot)
        self.copies[op.qubit] = pair.slot
        return True

    @staticmethod
    async def _pair(made: Awaitable[KeptPair]) -> KeptPair | None:
        """The pair, or None if the layer retracted it (ERR EXPIRE)."""
        try:
            return await made
        except LinkError as error:
            if error.code != ll.ERR_EXPIRE:
                raise
            return None

    async def _drop(self, pair: KeptPair | None, interval_ns: int) -> None:
        """Give up a half whose other end was retracted: wait (bounded) for this end's ERR EXPIRE of it, so that
        it is not taken for a later request's, then discard the qubit (unless the layer already did)."""
        if pair is None:
            return
        ctx = self.ctx
        deadline = ctx.now + STALE_EXPIRE_INTERVALS * interval_ns
        while ctx.now < deadline:
            stale = next((m for m in ctx._messages if isinstance(m, ll.Err) and m.err == ll.ERR_EXPIRE
                          and m.create_id == pair.create_id), None)
            if stale is not None:
                ctx._messages.remove(stale)
                break
            ctx.port.set_timer(deadline)
            await ctx._wait()
        with contextlib.suppress(QuantumError):
            ctx.discard(pair.slot)

    async def cat_disentangle(self, op: CatDisentangle) -> None:
        ctx = self.ctx
        here = self.qpu == op.qpu
        exchange = exchange_of(ctx, op.home if here else op.qpu)
        tag = exchange.tag()
        self.run.remote_ops["cat_disentangle"] += 1
        if here:
            bit = await ctx.measure(self.copies.pop(op.qubit), Basis.X)
            await exchange.swap(tag, bytes([bit]))
            return
        if (await exchange.swap(tag, b""))[0]:
            ctx.gate(op.basis, self.slots[op.qubit])

    async def teledata(self, op: Teledata) -> None:
        ctx = self.ctx
        self.run.remote_ops["teledata"] += 1
        await self.rendezvous(op.target if self.qpu == op.source else op.source)
        if self.qpu == op.source:
            slot = self.slots.pop(op.qubit)
            await self.retrying(op.target, lambda: teledata(ctx, op.target, slot, "send", self.service))
            self.run.pairs_created += 1
            return
        arrived = await teledata(ctx, op.source, None, "recv", self.service)
        assert arrived is not None
        self.run.pairs_received += 1
        slot = ctx.qubit()
        ctx.gate("SWAP", arrived, slot)
        ctx.discard(arrived)
        self.slots[op.qubit] = slot


async def run_program(ctx: AppContext, program: DistributedProgram, qpu: str, shots: int,
                      service: str = "auto") -> QpuRun:
    """Run ``qpu``'s part of ``program`` ``shots`` times on this application's node (every QPU of the program
    must run it at the same time); returns what it did."""
    executor = QpuExecutor(ctx, program, qpu, service)
    for _ in range(shots):
        await executor.shot()
    executor.run.finished_ns = ctx.now
    return executor.run
