"""From a partition and a move plan to the instructions of every QPU (docs/compiler.md, "Scheduling").

The partition fixes where qubits live; a gate between qubits on two QPUs runs at one of them (which one:
:meth:`Scheduler._gate_places`). The circuit's operations are taken in order. Before a two-qubit gate runs
at QPU k, the operand that does not live at k gets a cat copy there, made from the nearest QPU that holds the
qubit or a copy of it in the same segment (one ebit, ``hops`` link pairs); the copy is disentangled right
after its last use at k. A QPU holds at most ``link_qubits`` copies: when it needs one more, the copy whose
next use is furthest away is disentangled early (Belady's rule) and made again when needed, an ebit that
the count includes. A qubit the move plan sends elsewhere is teleported there just before its segment's
first gate (its copies of the previous segment are gone by then). The ebit count is exact for the program.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque

from protocols.compiler.circuit import Circuit
from protocols.compiler.gates import CompileError, Op, controlled_pauli, controlled_pauli_name
from protocols.compiler.network import NetworkModel
from protocols.compiler.partition import Partition
from protocols.compiler.program import CatDisentangle, CatEntangle, Instruction, Local, Teledata
from protocols.compiler.segments import SegmentTable
from protocols.compiler.teledata import MovePlan


class Scheduler:
    """Emits the instructions; one use per compilation."""

    def __init__(self, circuit: Circuit, table: SegmentTable, part: Partition, plan: MovePlan,
                 network: NetworkModel, short_lived: bool = True) -> None:
        self.circuit = circuit
        self.table = table
        self.names = network.names
        self.links = [qpu.link_qubits for qpu in network.qpus]
        self.capacity = [qpu.data_qubits for qpu in network.qpus]
        self.hops = network.hop_matrix()
        self.loc = list(part.homes)
        self.moves = {(t, q): where for q, plan_q in plan.moves.items() for t, where in plan_q}
        self.copies: list[dict[int, int]] = [{} for _ in self.names]
        self.data = [0] * len(self.names)
        for home in self.loc:
            self.data[home] += 1
        self.instructions: list[Instruction] = []
        self.next_id = 0
        self.short_lived = short_lived
        self.gate_qpu = self._gate_places(part)
        self.uses: dict[tuple[int, int], deque[int]] = defaultdict(deque)
        self._plan_uses()

    # -- where gates run and which copies they use ---------------------------------------------------------

    def _locations_over_time(self) -> dict[int, list[int]]:
        """Each two-qubit gate's operand locations, following the move plan."""
        where = list(self.loc)
        at: dict[int, list[int]] = {}
        for index, op in enumerate(self.circuit.ops):
            for qubit in op.qubits:
                if (index, qubit) in self.moves:
                    where[qubit] = self.moves[index, qubit]
            if op.is_two_qubit:
                at[index] = [where[q] for q in op.qubits]
        return at

    def _gate_places(self, part: Partition) -> dict[int, int]:
        """Where each gate runs: where its operands are when they are together; otherwise at one of them, the
        other sending a cat copy. A copy already made for the segment is reused. Otherwise, when
        ``short_lived``, the side whose copy would hold a link qubit for the shortest time per gate it serves
        (from now to its last use at that QPU, over its uses there) is copied, so that few copies compete for
        link memory; on a tie, the one serving more gates, then the partition's choice. Without
        ``short_lived``, the one serving more gates first. Copies are counted here without the memory limit;
        the pass itself evicts."""
        at = self._locations_over_time()
        remaining: dict[tuple[int, int], int] = defaultdict(int)
        last: dict[tuple[int, int], int] = {}
        for gate, where in at.items():
            for side in (0, 1):
                key = (self.table.of_gate[gate][side], where[1 - side])
                remaining[key] += 1
                last[key] = gate
        alive: set[tuple[int, int]] = set()
        places = {}
        for gate, (la, lb) in at.items():
            sa, sb = self.table.of_gate[gate]
            copy_a, copy_b = (sa, lb), (sb, la)         # a copied to b's QPU, or b to a's
            scores = {}
            for key in (copy_a, copy_b):
                lifetime = (last[key] - gate) / remaining[key]
                scores[key] = (lifetime, -remaining[key]) if self.short_lived else (-remaining[key], lifetime)
                remaining[key] -= 1
            if la == lb:
                places[gate] = la
                continue
            if copy_a in alive:
                chosen = lb
            elif copy_b in alive:
                chosen = la
            elif scores[copy_a] != scores[copy_b]:
                chosen = lb if scores[copy_a] < scores[copy_b] else la
            else:
                chosen = lb if part.gate_qpu[gate] == lb else la
            alive.add(copy_a if chosen == lb else copy_b)
            places[gate] = chosen
        return places

    def _plan_uses(self) -> None:
        for gate, homes in self._locations_over_time().items():
            k = self.gate_qpu[gate]
            for side, home in enumerate(homes):
                if home != k:
                    self.uses[self.table.of_gate[gate][side], k].append(gate)

    # -- the pass ------------------------------------------------------------------------------------------

    def run(self) -> tuple[list[Instruction], list[int]]:
        for index, op in enumerate(self.circuit.ops):
            due = [q for q in op.qubits if (index, q) in self.moves and self.moves[index, q] != self.loc[q]]
            if len(due) == 2 and self.data[self.moves[index, due[0]]] >= self.capacity[self.moves[index, due[0]]]:
                due.reverse()                   # the operands swap QPUs: the one with room goes first
            for qubit in due:
                self._teleport(qubit, self.moves[index, qubit])
            if op.is_two_qubit:
                self._remote_gate(index, op)
            else:
                q = op.qubits[0]
                self._emit(Local(self._step(), self.names[self.loc[q]], op.name, op.qubits, (False,), op.kind,
                                 op.params, op.clifford, op.record))
        assert not any(self.copies), "every copy is disentangled after its last use"
        return self.instructions, self.loc

    def _step(self) -> int:
        return len(self.instructions)

    def _emit(self, instruction: Instruction) -> None:
        self.instructions.append(instruction)

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _remote_gate(self, index: int, op: Op) -> None:
        k = self.gate_qpu[index]
        segments = self.table.of_gate[index]
        copy = tuple(self.loc[q] != k for q in op.qubits)
        pinned: set[int] = set()
        for side, qubit in enumerate(op.qubits):
            if copy[side]:
                if qubit not in self.copies[k]:
                    self._make_copy(qubit, segments[side], k, pinned)
                pinned.add(qubit)
        name = op.name
        pair = controlled_pauli(op.name)
        if any(copy) and pair is not None:
            name = controlled_pauli_name("Z" if copy[0] else pair[0], "Z" if copy[1] else pair[1])
        self._emit(Local(self._step(), self.names[k], name, op.qubits, copy, op.kind, op.params, op.clifford))
        for side, qubit in enumerate(op.qubits):
            if copy[side]:
                uses = self.uses[segments[side], k]
                uses.popleft()
                if not uses:
                    self._disentangle(qubit, k)

    def _make_copy(self, qubit: int, segment: int, k: int, pinned: set[int]) -> None:
        holders = [self.loc[qubit]] + [y for y, held in enumerate(self.copies) if qubit in held]
        usable = [y for y in holders if math.isfinite(self.hops[y][k])
                  and self.links[y] - (y != self.loc[qubit]) >= 1]
        if not usable:
            raise CompileError(f"the network cannot entangle {self.names[self.loc[qubit]]} with {self.names[k]}")
        source = min(usable, key=lambda y: (self.hops[y][k], y != self.loc[qubit], y))
        self._make_room(k, pinned)
        self._make_room(source, {qubit} if source != self.loc[qubit] else set())
        self._emit(CatEntangle(self._step(), self._new_id(), qubit, self.table.segments[segment].basis,
                               self.names[source], self.names[k], int(self.hops[source][k]),
                               source != self.loc[qubit]))
        self.copies[k][qubit] = segment

    def _make_room(self, qpu: int, pinned: set[int]) -> None:
        """A free link qubit at ``qpu``: evict the copy used furthest in the future (never a pinned one)."""
        while len(self.copies[qpu]) >= self.links[qpu]:
            victims = [q for q in self.copies[qpu] if q not in pinned]
            if not victims:
                raise CompileError(f"{self.names[qpu]} has too few communication qubits for one remote gate")
            victim = max(victims, key=lambda q: (self._next_use(q, qpu), q))
            self._disentangle(victim, qpu)

    def _next_use(self, qubit: int, qpu: int) -> int:
        uses = self.uses[self.copies[qpu][qubit], qpu]
        return uses[0] if uses else len(self.circuit.ops)

    def _disentangle(self, qubit: int, qpu: int) -> None:
        segment = self.copies[qpu].pop(qubit)
        self._emit(CatDisentangle(self._step(), self._new_id(), qubit, self.table.segments[segment].basis,
                                  self.names[qpu], self.names[self.loc[qubit]]))

    def _teleport(self, qubit: int, target: int) -> None:
        source = self.loc[qubit]
        if source == target:
            return
        if not math.isfinite(self.hops[source][target]):
            raise CompileError(f"the network cannot entangle {self.names[source]} with {self.names[target]}")
        assert all(qubit not in held for held in self.copies), "no copy outlives its segment"
        assert self.data[target] < self.capacity[target], "the move plan books a free data qubit"
        self._make_room(source, set())
        self._make_room(target, set())
        self._emit(Teledata(self._step(), self._new_id(), qubit, self.names[source], self.names[target],
                            int(self.hops[source][target])))
        self.data[source] -= 1
        self.data[target] += 1
        self.loc[qubit] = target
