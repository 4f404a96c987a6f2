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

Before a pair is asked for, both ends meet, so a QPU's communication qubits only ever serve the instruction it is
at. Both remote operations that consume a pair get it from :class:`stack.api.dqc_pairs.JointPairs`, which has
both ends agree that each holds its half before either uses it: the target sends its status, then the source,
knowing both, its bit (cat-entangle), its go-ahead (teledata) or EXPIRED. A pair the layer retracts (ERR EXPIRE:
at one end, or at one end after the other's OK) is asked for again, after a new rendezvous, at both ends. The
source's use of its half is irreversible (a cat-entangle's controlled X and measurement; a teledata's Bell
measurement, which takes the data qubit's state with it), so it comes only after that agreement: a teledata
whose pair is retracted leaves the qubit where it was, and the next pair carries it. Both ends of a joint
instruction swap their bits through the application's :class:`Exchange` with the other QPU, which takes tags in
the program's order (the same at both ends). The medium frees a measured qubit, so a measured circuit qubit is
re-prepared in the state its outcome names."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from protocols.apps.dqc import MEASURE_BASIS, PREPARE, RESET_BASIS, check_executable, controlled_x, medium_gates
from protocols.common import Basis
from protocols.compiler import CatDisentangle, CatEntangle, DistributedProgram, Local, Teledata
from stack.api.context import AppContext
from stack.api.dqc_pairs import EXPIRE_RETRIES, JointPairs, stamped_ok
from stack.api.errors import TransportError
from stack.api.exchange import exchange_of
from stack.api.transport import teleporter_of

RESEND = b"R"
"""A teledata source's verdict after a pair past the target's deadline: the qubit is still here, a new pair
carries it."""


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
    """Pairs it made (as a cat-entangle's or a teledata's source) that were retracted (ERR EXPIRE at either end),
    or for a teledata were past the target's memory deadline before the qubit was sent, and asked for again;
    ``pairs_created`` counts them too."""


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
        self.pairs = JointPairs(ctx, self.run, service)

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

    async def cat_entangle(self, op: CatEntangle) -> None:
        """The source's controlled X onto its half of an agreed pair, the half measured in Z and the bit sent;
        the target flips its half when the bit is 1: that half is the copy."""
        ctx = self.ctx
        self.run.remote_ops["cat_entangle"] += 1
        if self.qpu == op.source:
            agreed = await self.pairs.create(op.target)
            control = self.copies[op.qubit] if op.from_copy else self.slots[op.qubit]
            self.gate(controlled_x("Z" if op.from_copy else op.basis), (control, agreed.pair.slot))
            bit = await ctx.measure(agreed.pair.slot, Basis.Z)
            await self.pairs.settle(op.target, agreed, bytes([bit]))
            return
        agreed = await self.pairs.receive(op.source)
        if agreed.theirs[0]:
            ctx.gate("X", agreed.pair.slot)
        self.copies[op.qubit] = agreed.pair.slot

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
        """The qubit teleported (QTP) over an agreed pair: the source sends its go-ahead, then Bell-measures
        (the data qubit's state is gone from here only then); the target waits for the corrections and swaps
        the qubit from the communication qubit it arrived in into a data qubit.

        A pair already past the target's memory deadline when the source is to use it (QTP's DEADLINE before
        the Bell measurement: the qubit is still here) is given up at both ends and the qubit goes over a new
        one. The source judges that as the target will: the target's status carries when its OK arrived, the
        deadline counts from the earlier OK, and the DATA must reach the target before it
        (:meth:`~stack.api.transport.Teleporter.send_over`'s ``receiver_ok_ns``). The target, whose half then
        expires unused (its own DEADLINE), waits for the source's verdict (:data:`RESEND`, in a tag both take
        only then) before asking for the next. Any other loss, and the
        :data:`~stack.api.dqc_pairs.EXPIRE_RETRIES`-th DEADLINE in a row, ends the execution (the source's
        verdict is then anything else)."""
        ctx = self.ctx
        self.run.remote_ops["teledata"] += 1
        teleporter = teleporter_of(ctx)
        source = self.qpu == op.source
        exchange = exchange_of(ctx, op.target if source else op.source)
        for attempt in range(1, EXPIRE_RETRIES + 1):
            if source:
                agreed = await self.pairs.create(op.target, correct=False)     # QTP folds the Bell index in
                await self.pairs.settle(op.target, agreed, b"")
                try:
                    await teleporter.send_over(op.target, self.slots[op.qubit], agreed.pair,
                                               receiver_ok_ns=stamped_ok(agreed.theirs))
                except TransportError as error:
                    if not error.kept:
                        raise
                    again = attempt < EXPIRE_RETRIES
                    await exchange.swap(exchange.tag(), RESEND if again else b"")
                    if not again:
                        raise
                    self.run.pairs_retried += 1
                    continue
                del self.slots[op.qubit]
                return
            agreed = await self.pairs.receive(op.source, stamped=True)
            try:
                arrived = await teleporter.recv_over(op.source, agreed.pair)
            except TransportError:
                if await exchange.swap(exchange.tag(), b"") == RESEND:
                    continue
                raise
            slot = ctx.qubit()
            ctx.gate("SWAP", arrived, slot)
            ctx.discard(arrived)
            self.slots[op.qubit] = slot
            return


def check_part(node: str, program: DistributedProgram, qpu: str) -> None:
    """Refuse, in one line, a program the medium cannot run or a ``qpu`` that this ``node`` cannot run."""
    check_executable(program.non_clifford)
    if qpu not in program.qpus:
        raise ValueError(f"run_program: {qpu!r} is not a QPU of the program (its QPUs: {', '.join(program.qpus)})")
    if qpu != node:
        raise ValueError(f"run_program: the part of QPU {qpu!r} runs on node {qpu!r}, not on this application's "
                         f"node {node!r} (each QPU runs its own part: qpu={node!r} here)")


async def run_program(ctx: AppContext, program: DistributedProgram, qpu: str, shots: int,
                      service: str = "auto") -> QpuRun:
    """Run ``qpu``'s part of ``program`` ``shots`` times on this application's node (every QPU of the program
    must run it at the same time); returns what it did.

    ``qpu`` must be a QPU of the program and this application's node. Raises
    :class:`protocols.apps.dqc.NotExecutable` for a non-Clifford program (the stabiliser medium cannot run it),
    ValueError for a ``qpu`` that is not the program's or not this node (before anything is done)."""
    check_part(ctx.node, program, qpu)
    executor = QpuExecutor(ctx, program, qpu, service)
    for _ in range(shots):
        await executor.shot()
    executor.run.finished_ns = ctx.now
    return executor.run
