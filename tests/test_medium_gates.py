"""Data qubits and local Clifford gates in the medium (``Init``, ``Gate``; tableau components) against
independent oracles.

- Exact protocols: teleportation of the six Pauli eigenstates (Bennett et al., PRL 70, 1895 (1993)), the
  remote CNOT by gate teleportation with one ebit (Eisert, Jacobs, Papadopoulos, Plenio, PRA 62, 052317
  (2000)), GHZ states by fusing pairs: with ideal hardware every check is a deterministic outcome, or equality
  of stim's canonical stabilisers with those of a circuit run directly in stim.
- Random Clifford circuits mixing frame pairs, data qubits, gates, measurements, moves, discards and Bell
  measurements, against one stim ``TableauSimulator`` over every qubit: each outcome the reference says is
  determined (given the outcomes so far) must be equal; the others must be balanced (4σ over all of them).
- Noise, each a Pauli channel whose closed form is written out here: the depolarising channel of fidelity f
  scales every Pauli correlator of the qubits it acts on by f (one qubit: X, Y, Z each (1 − f)/4; two qubits:
  each of the 15 non-identity Paulis (1 − f)/16), so k one-qubit gates on a pair half give the error rate
  (1 − f^k)/2 in any basis; the T1/T2 twirl scales ⟨X⟩, ⟨Y⟩ by e^(−t/T2) and ⟨Z⟩ by e^(−t/T1).

Sampled checks allow 4 standard errors; each sample size is derived from the smallest difference the check
must resolve (as in tests/test_swap.py). Seeds are fixed.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stim

from protocols.common import Basis
from protocols.physical.hardware import (
    GATES,
    BellMeasure,
    BellMeasureResult,
    Discard,
    Gate,
    Init,
    Measure,
    MeasureResult,
    Move,
)
from stack.core.kernel import Kernel
from stack.multiprocess.medium import Connection, MediumServer
from stack.multiprocess.medium_protocol import decode_hardware, encode_hardware
from stack.quantum.medium import Medium, NodeHardware, Pair, Qubit, QubitStatus
from stack.runtime import node_hardware
from stack.scenario import ScenarioError, load_text
from tests.mp_util import two_node_toml

SIGMAS = 4
INF = math.inf
BASES = (Basis.Z, Basis.X, Basis.Y)
FRAMES = {0: "__", 1: "_X", 2: "_Z", 3: "_Y"}       # (I ⊗ X^x Z^z)|Φ+⟩ for index x | z << 1
PAULI_OF = {Basis.Z: "Z", Basis.X: "X", Basis.Y: "Y"}
ONE_QUBIT = sorted(name for name, arity in GATES.items() if arity == 1)
TWO_QUBIT = sorted(name for name, arity in GATES.items() if arity == 2)


def parity(bell: int, basis: Basis) -> int:
    """Outcome parity of Bell state ``bell`` measured on both halves in ``basis`` (⟨ZZ⟩ = ⟨XX⟩ = −⟨YY⟩ = 1 on Φ+)."""
    x, z = bell & 1, bell >> 1
    return {Basis.Z: x, Basis.X: z, Basis.Y: 1 ^ x ^ z}[basis]


def run_due(kernel: Kernel) -> None:
    heap = kernel._heap
    while heap:
        at, _, callback, arg = heapq.heappop(heap)
        kernel.now = max(kernel.now, at)
        callback(arg)


class Lab:
    """Nodes 1..n on one medium: ``comm`` communication slots, ``storage`` storage, ``data`` data qubits each
    (data slots from comm + storage), ideal and without memory noise unless ``hardware`` says otherwise."""

    def __init__(self, nodes: int = 2, seed: int = 1, comm: int = 4, storage: int = 0, data: int = 4,
                 **hardware: Any) -> None:
        self.kernel = Kernel()
        self.medium = Medium(self.kernel, np.random.default_rng(seed))
        self.first_data = comm + storage
        params: dict[str, Any] = {"t2_ns": INF, "readout_ns": 0} | hardware
        for node_id in range(1, nodes + 1):
            self.medium.add_node(NodeHardware(node_id, comm, storage=storage, data=data, **params))
        self.events: list[Any] = []

    def deliver(self, event: Any) -> None:                       # the reply_to port
        self.events.append((self.kernel.now, event))

    def pair(self, a: int, slot_a: int, b: int, slot_b: int, index: int = 0) -> Pair:
        pair = Pair(stim.PauliString(FRAMES[index]), (1.0, 0.0, 0.0, 0.0))
        self.medium.create(a, slot_a, 0, self.kernel.now, pair)
        self.medium.create(b, slot_b, 1, self.kernel.now, pair)
        return pair

    def do(self, node: int, *commands: Any) -> list[Any]:
        """Issue ``commands`` at ``node`` now, run until the medium is idle; returns the events they caused."""
        before = len(self.events)
        for command in commands:
            self.medium.command(node, command, self)  # type: ignore[arg-type]
        run_due(self.kernel)
        return [event for _, event in self.events[before:]]

    def init(self, node: int, slot: int, *gates: str) -> None:
        self.do(node, Init(slot), *(Gate(name, (slot,)) for name in gates))

    def measure(self, node: int, slot: int, basis: Basis) -> int:
        (result,) = self.do(node, Measure(slot, basis))
        return int(result.outcome)

    def qubit(self, node: int, slot: int) -> Qubit:
        return self.medium.nodes[node].held[slot]

    def live(self) -> list[int]:
        """Sizes of the components holding qubits in memory."""
        components = {id(q.component): q.component for q in self.medium.qubits.values()
                      if q.status is QubitStatus.IN_MEMORY and q.component is not None}
        return sorted(len(c.members) for c in components.values())  # type: ignore[attr-defined]


def canonical(qubits: list[Qubit]) -> list[stim.PauliString]:
    """The canonical stabilisers of the joint state of ``qubits`` (in this order), which must be all the
    qubits of their components (nothing else entangled with them)."""
    components: list[Any] = []
    for qubit in qubits:
        assert qubit.component is not None
        if all(qubit.component is not c for c in components):
            components.append(qubit.component)
    members = [m for c in components for m in c.members]
    assert sorted(id(m) for m in members) == sorted(id(q) for q in qubits)
    inverse = components[0].sim.current_inverse_tableau()
    for component in components[1:]:
        inverse += component.sim.current_inverse_tableau()
    joint = stim.TableauSimulator()
    joint.set_inverse_tableau(inverse)
    where = [next(i for i, m in enumerate(members) if m is q) for q in qubits]
    reordered = []
    for stabilizer in joint.canonical_stabilizers():
        out = stim.PauliString(len(qubits))
        for new, old in enumerate(where):
            out[new] = stabilizer[old]
        out.sign = stabilizer.sign
        reordered.append(out)
    target = stim.TableauSimulator()
    target.set_state_from_stabilizers(reordered)
    return target.canonical_stabilizers()


def canonical_of(circuit: stim.Circuit) -> list[stim.PauliString]:
    sim = stim.TableauSimulator()
    sim.do(circuit)
    return sim.canonical_stabilizers()


# -- exact protocols ------------------------------------------------------------------------------------
EIGENSTATES = {(Basis.Z, 0): (), (Basis.Z, 1): ("X",), (Basis.X, 0): ("H",), (Basis.X, 1): ("X", "H"),
               (Basis.Y, 0): ("H", "S"), (Basis.Y, 1): ("H", "S_DAG")}
"""Gates taking |0⟩ to the eigenstate of the basis with that outcome (0: eigenvalue +1)."""


@pytest.mark.parametrize(("basis", "outcome"), list(EIGENSTATES))
def test_teleporting_each_pauli_eigenstate_gives_it_exactly(basis: Basis, outcome: int) -> None:
    lab = Lab(seed=int(basis) * 2 + outcome)
    data = lab.first_data
    for trial in range(16):
        index = trial % 4                                  # the pair's heralded Bell state, known to both ends
        lab.pair(1, 0, 2, 0, index)
        lab.init(1, data, *EIGENSTATES[basis, outcome])
        lab.do(1, Gate("CNOT", (data, 0)), Gate("H", (data,)))
        m_z, m_x = lab.measure(1, data, Basis.Z), lab.measure(1, 0, Basis.Z)
        corrections = [Gate(name, (0,)) for name, bit in (("X", m_x ^ index & 1), ("Z", m_z ^ index >> 1)) if bit]
        lab.do(2, *corrections)
        assert lab.live() == [1]                           # only the teleported qubit, alone
        assert lab.measure(2, 0, basis) == outcome
    assert lab.medium.components.largest == 3


@pytest.mark.parametrize(("basis", "outcome"), list(EIGENSTATES))
def test_teleporting_with_the_bell_measure_command_gives_the_state_exactly(basis: Basis, outcome: int) -> None:
    lab = Lab(seed=7)
    data = lab.first_data
    for index in range(4):
        lab.pair(1, 0, 2, 0, index)
        lab.init(1, data, *EIGENSTATES[basis, outcome])
        (result,) = lab.do(1, BellMeasure(data, 0))
        assert isinstance(result, BellMeasureResult) and result.success
        shift = result.bell_index ^ index                  # x from the pair half (target), z from the data qubit
        lab.do(2, *[Gate(name, (0,)) for name, bit in (("X", shift & 1), ("Z", shift >> 1)) if bit])
        assert lab.measure(2, 0, basis) == outcome


def remote_cnot(lab: Lab, control: int, target: int, index: int) -> None:
    """CNOT from ``control`` (node 1) to ``target`` (node 2) over the pair in slots 0, Bell state ``index``:
    cat-entangle (CNOT c→a, measure a, X on b), then cat-disentangle (CNOT b→t, H b, measure b, Z on c)."""
    lab.do(1, Gate("CNOT", (control, 0)))
    m1 = lab.measure(1, 0, Basis.Z)
    lab.do(2, *[Gate(name, (0,)) for name, bit in (("X", m1 ^ index & 1), ("Z", index >> 1)) if bit])
    lab.do(2, Gate("CNOT", (0, target)), Gate("H", (0,)))
    if lab.measure(2, 0, Basis.Z):
        lab.do(1, Gate("Z", (control,)))


@pytest.mark.parametrize(("c", "t"), [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_remote_cnot_reproduces_the_truth_table(c: int, t: int) -> None:
    lab = Lab(seed=10 + 2 * c + t)
    control, target = lab.first_data, lab.first_data
    for trial in range(12):
        lab.pair(1, 0, 2, 0, trial % 4)
        lab.init(1, control, *("X",) * c)
        lab.init(2, target, *("X",) * t)
        remote_cnot(lab, control, target, trial % 4)
        assert (lab.measure(1, control, Basis.Z), lab.measure(2, target, Basis.Z)) == (c, c ^ t)


def test_remote_cnot_makes_a_bell_state_from_plus_and_zero() -> None:
    lab = Lab(seed=3)
    control, target = lab.first_data, lab.first_data
    bell = canonical_of(stim.Circuit("H 0\nCX 0 1"))
    for trial in range(12):
        lab.pair(1, 0, 2, 0, trial % 4)
        lab.init(1, control, "H")
        lab.init(2, target)
        remote_cnot(lab, control, target, trial % 4)
        assert canonical([lab.qubit(1, control), lab.qubit(2, target)]) == bell
        basis = BASES[trial % 3]
        assert lab.measure(1, control, basis) ^ lab.measure(2, target, basis) == parity(0, basis)


def test_remote_cnot_equals_a_local_cnot_on_random_stabiliser_inputs() -> None:
    """Control and target each entangled with a reference qubit by a random two-qubit Clifford; the remote
    CNOT must leave the four exactly as a local CNOT would (stim canonical stabilisers)."""
    lab = Lab(seed=5)
    control, ref = lab.first_data, lab.first_data + 1
    for trial in range(30):
        inputs = [stim.Tableau.random(2).to_circuit("elimination") for _ in range(2)]
        lab.pair(1, 0, 2, 0, trial % 4)
        reference = stim.Circuit()
        for node, slots, offset, circuit in ((1, (ref, control), 0, inputs[0]), (2, (control, ref), 2, inputs[1])):
            lab.init(node, slots[0])
            lab.init(node, slots[1])
            for instruction in circuit:
                targets = [t.value for t in instruction.targets_copy()]
                arity = GATES[instruction.name]
                for i in range(0, len(targets), arity):
                    lab.do(node, Gate(instruction.name, tuple(slots[k] for k in targets[i:i + arity])))
                    reference.append(instruction.name, [offset + k for k in targets[i:i + arity]])
        reference.append("CX", [1, 2])
        remote_cnot(lab, control, control, trial % 4)
        qubits = [lab.qubit(1, ref), lab.qubit(1, control), lab.qubit(2, control), lab.qubit(2, ref)]
        assert canonical(qubits) == canonical_of(reference)
        for node in (1, 2):
            lab.do(node, Discard(control), Discard(ref))
    assert max(lab.live(), default=0) == 0


@pytest.mark.parametrize("parties", [3, 4, 6])
def test_fusing_pairs_along_a_chain_makes_a_ghz_state(parties: int) -> None:
    """Node i holds slot 0 (pair to the left) and slot 1 (pair to the right). Each pair is first corrected to
    Φ+ at its right end (X^x Z^z: Pauli gates, which stay in the frame algebra); node i then fuses, from left
    to right: CNOT 0→1, measure 1 in Z, X on the next node's slot 0 if the outcome is 1."""
    ghz = canonical_of(stim.Circuit("H 0\n" + "\n".join(f"CX {i} {i + 1}" for i in range(parties - 1))))
    lab = Lab(nodes=parties, seed=parties)
    for trial in range(9):
        for node in range(1, parties):
            index = (trial + node) % 4
            lab.pair(node, 1, node + 1, 0, index)
            lab.do(node + 1, *[Gate(name, (0,)) for name, bit in (("X", index & 1), ("Z", index >> 1)) if bit])
        assert lab.live() == []                            # Pauli corrections leave the pairs as frames
        for node in range(2, parties):
            lab.do(node, Gate("CNOT", (0, 1)))
            if lab.measure(node, 1, Basis.Z):
                lab.do(node + 1, Gate("X", (0,)))
        members = [lab.qubit(1, 1)] + [lab.qubit(node, 0) for node in range(2, parties + 1)]
        if parties > 2:
            assert canonical(members) == ghz
        basis = (Basis.Z, Basis.X)[trial % 2]
        outcomes = [lab.measure(1, 1, basis)] + [lab.measure(node, 0, basis) for node in range(2, parties + 1)]
        if basis is Basis.Z:
            assert len(set(outcomes)) == 1
        else:
            assert sum(outcomes) % 2 == 0                  # X^⊗n stabilises the GHZ state
        assert lab.live() == []
    assert lab.medium.components.largest <= parties + 1


def test_a_bell_measurement_swaps_a_frame_pair_with_a_component_pair() -> None:
    """Pair A (nodes 1-2) stays a frame; pair B (nodes 2-3) enters a component when its half at node 2 gets
    S then S_DAG (the identity). Swapping at node 2 must leave nodes 1 and 3 in Bell state a ⊕ b ⊕ m, for
    either order of the two slots, and the same for two component pairs."""
    lab = Lab(nodes=3, seed=2)
    for trial in range(48):
        a, b = trial % 4, (trial // 4) % 4
        lab.pair(1, 0, 2, 0, a)
        lab.pair(2, 1, 3, 0, b)
        lab.do(2, Gate("S", (1,)), Gate("S_DAG", (1,)))
        if trial % 3 == 2:
            lab.do(2, Gate("H", (0,)), Gate("H", (0,)))
        assert lab.live() == [2] * (1 + (trial % 3 == 2))
        slots = (0, 1) if trial % 2 else (1, 0)
        (result,) = lab.do(2, BellMeasure(*slots))
        assert result.success
        assert lab.live() == [2]                           # the far halves, in one two-qubit component
        basis = BASES[trial % 3]
        assert lab.measure(1, 0, basis) ^ lab.measure(3, 0, basis) == parity(a ^ b ^ result.bell_index, basis)


def test_a_half_whose_partner_was_measured_enters_in_the_state_the_outcome_left() -> None:
    lab = Lab(seed=4)
    for trial in range(36):
        index, first, second = trial % 4, BASES[trial % 3], BASES[(trial // 3) % 3]
        lab.pair(1, 0, 2, 0, index)
        outcome = lab.measure(1, 0, first)
        lab.do(2, Gate("H", (0,)), Gate("H", (0,)))         # the identity, through a component
        assert lab.live() == [1]
        later = lab.measure(2, 0, second)
        if first is second:
            assert outcome ^ later == parity(index, first)


# -- against one big stim simulator ----------------------------------------------------------------------
class Reference:
    """Every qubit the medium ever held, in one stim TableauSimulator; checks each outcome the medium gives."""

    def __init__(self, seed: int) -> None:
        self.sim = stim.TableauSimulator(seed=seed)
        self.index: dict[int, int] = {}
        self.size = 0
        self.determined = 0
        self.random: list[int] = []
        self.kinds: Counter[str] = Counter()
        """What the checked operations acted on: frame or component qubits."""

    def new(self, qubit_id: int | None) -> int:
        self.size += 1
        if qubit_id is not None:
            self.index[qubit_id] = self.size - 1
        return self.size - 1

    def pair(self, pair: Pair) -> None:
        a, b = (self.new(member or None) for member in pair.members)
        self.sim.h(a)
        self.sim.cx(a, b)
        for qubit, code in ((a, pair.frame[0]), (b, pair.frame[1])):
            if code:
                getattr(self.sim, "_xyz"[code])(qubit)

    def gate(self, name: str, qubit_ids: list[int]) -> None:
        if name != "I":
            self.sim.do(stim.Circuit(f"{name} " + " ".join(str(self.index[q]) for q in qubit_ids)))

    def observable(self, qubit_id: int, basis: Basis) -> stim.PauliString:
        observable = stim.PauliString(self.size)
        observable[self.index[qubit_id]] = PAULI_OF[basis]
        return observable

    def basis(self, qubit_id: int, rng: np.random.Generator) -> Basis:
        """A random basis; half the time one whose outcome is determined, when there is one (so that both
        kinds of outcome are checked often)."""
        determined = [b for b in BASES if self.sim.peek_observable_expectation(self.observable(qubit_id, b))]
        if determined and rng.random() < 0.5:
            return determined[int(rng.integers(len(determined)))]
        return BASES[int(rng.integers(3))]

    def check(self, qubit_id: int, basis: Basis, outcome: int) -> None:
        observable = self.observable(qubit_id, basis)
        expected = self.sim.peek_observable_expectation(observable)
        if expected:
            assert outcome == int(expected < 0)
            self.determined += 1
        else:
            self.sim.postselect_observable(observable, desired_value=bool(outcome))
            self.random.append(outcome)


def kind_of(qubit: Qubit) -> str:
    return "frame" if qubit.component is None else "component"


def random_circuit(seed: int, steps: int, reference: Reference) -> list[int]:
    """Random operations on 3 nodes (4 communication, 1 storage, 2 data qubits each), ideal hardware, checked
    against ``reference``; returns every outcome the medium gave."""
    rng = np.random.default_rng(seed)
    lab = Lab(nodes=3, seed=seed, comm=4, storage=1, data=2, gate_ns=10, readout_ns=5, move_ns=3)
    nodes, outcomes = lab.medium.nodes, []

    def held(node: int) -> list[int]:
        return sorted(nodes[node].held)

    for _ in range(steps):
        node = int(rng.integers(1, 4))
        slots = held(node)
        kind = rng.choice(["pair", "half", "init", "gate1", "gate1", "gate2", "gate2", "measure", "bsm", "move",
                           "discard"])
        if kind in ("pair", "half"):
            other = int(rng.integers(1, 4))
            free = [s for s in range(4) if s not in nodes[node].held]
            free_other = [s for s in range(4) if s not in nodes[other].held and [other, s] != [node, *free[:1]]]
            if not free or (kind == "pair" and not free_other):
                continue
            pair = Pair(stim.PauliString(FRAMES[int(rng.integers(4))]), (1.0, 0.0, 0.0, 0.0))
            lab.medium.create(node, free[0], 0, lab.kernel.now, pair)
            if kind == "pair":
                lab.medium.create(other, free_other[0], 1, lab.kernel.now, pair)
            reference.pair(pair)
        elif kind == "init":
            free = [s for s in (5, 6) if s not in nodes[node].held]
            if free:
                lab.do(node, Init(free[0]))
                reference.new(lab.qubit(node, free[0]).qubit_id)
        elif kind in ("gate1", "gate2"):
            names = ONE_QUBIT if kind == "gate1" else TWO_QUBIT
            arity = 1 if kind == "gate1" else 2
            if len(slots) < arity:
                continue
            chosen = tuple(int(s) for s in rng.choice(slots, size=arity, replace=False))
            name = str(rng.choice(names))
            lab.do(node, Gate(name, chosen))
            reference.gate(name, [lab.qubit(node, s).qubit_id for s in chosen])
        elif kind == "measure" and slots:
            slot = int(rng.choice(slots))
            qubit_id = lab.qubit(node, slot).qubit_id
            basis = reference.basis(qubit_id, rng)
            reference.kinds["measure " + kind_of(lab.qubit(node, slot))] += 1
            outcomes.append(lab.measure(node, slot, basis))
            reference.check(qubit_id, basis, outcomes[-1])
        elif kind == "bsm" and len(slots) >= 2:
            a, b = (int(s) for s in rng.choice(slots, size=2, replace=False))
            ids = lab.qubit(node, a).qubit_id, lab.qubit(node, b).qubit_id
            reference.kinds["bsm " + "+".join(sorted(kind_of(lab.qubit(node, s)) for s in (a, b)))] += 1
            (result,) = lab.do(node, BellMeasure(a, b))
            reference.gate("CX", list(ids))
            reference.gate("H", [ids[0]])
            reference.check(ids[0], Basis.Z, result.bell_index >> 1)
            reference.check(ids[1], Basis.Z, result.bell_index & 1)
            outcomes.append(result.bell_index)
        elif kind == "move" and any(s < 4 for s in slots) and 4 not in nodes[node].held:
            lab.do(node, Move(min(slots)))
        elif kind == "discard" and slots:
            lab.do(node, Discard(int(rng.choice(slots))))
    for node in (1, 2, 3):                                 # finally measure everything still held
        for slot in held(node):
            qubit_id = lab.qubit(node, slot).qubit_id
            basis = reference.basis(qubit_id, rng)
            outcomes.append(lab.measure(node, slot, basis))
            reference.check(qubit_id, basis, outcomes[-1])
    ledger = lab.medium.finish({})
    assert ledger["created"] == ledger["measured"] + ledger["discarded"]
    return outcomes


def test_random_circuits_mixing_frames_and_components_agree_with_one_stim_simulator() -> None:
    references = []
    for seed in range(400):
        reference = Reference(seed)
        random_circuit(seed, 60, reference)
        references.append(reference)
    determined = sum(r.determined for r in references)
    random = [bit for r in references for bit in r.random]
    assert determined > 1000 and len(random) > 1000         # both kinds of outcome are checked, many times
    kinds = sum((r.kinds for r in references), Counter())
    for kind in ("measure frame", "measure component", "bsm frame+frame", "bsm component+frame",
                 "bsm component+component"):
        assert kinds[kind] > 100, kinds                      # and both kinds of qubit
    ones, n = sum(random), len(random)
    assert abs(ones - n / 2) < SIGMAS * math.sqrt(n / 4), (ones, n)


def test_the_same_seed_gives_the_same_outcomes() -> None:
    assert random_circuit(11, 60, Reference(0)) == random_circuit(11, 60, Reference(0))
    assert random_circuit(11, 60, Reference(0)) != random_circuit(12, 60, Reference(0))


# -- component sizes ---------------------------------------------------------------------------------------
def test_components_stay_small_and_shrink_after_measurement() -> None:
    """A qubit in |+⟩ teleported around a ring of three nodes 60 times; at each stop it is swapped into a data
    slot and gets a CZ with a resident data qubit in |0⟩, which is then measured. The largest component ever
    holds 3 qubits (the teleported one and the pair), and after every stop each qubit is alone again."""
    lab = Lab(nodes=3, seed=8)
    data, resident = lab.first_data, lab.first_data + 1
    lab.init(1, data, "H")
    here = 1
    for hop in range(60):
        there, index = here % 3 + 1, hop % 4
        lab.pair(here, 0, there, 0, index)
        lab.do(here, Gate("CNOT", (data, 0)), Gate("H", (data,)))
        m_z, m_x = lab.measure(here, data, Basis.Z), lab.measure(here, 0, Basis.Z)
        lab.do(there, *[Gate(name, (0,)) for name, bit in (("X", m_x ^ index & 1), ("Z", m_z ^ index >> 1)) if bit])
        lab.init(there, data)
        lab.init(there, resident)
        lab.do(there, Gate("SWAP", (0, data)), Discard(0), Gate("CZ", (data, resident)))
        assert lab.live() == [2]
        assert lab.measure(there, resident, Basis.Z) == 0
        assert lab.live() == [1]
        here = there
    assert lab.measure(here, data, Basis.X) == 0
    assert lab.medium.components.largest == 3
    assert lab.medium.ledger["created"] == lab.medium.ledger["measured"] + lab.medium.ledger["discarded"]
