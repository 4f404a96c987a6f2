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

import math
import re
import time
from collections import Counter
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
from stack.quantum.components import Components
from stack.quantum.medium import Medium, NodeHardware, Pair, Qubit, QubitStatus
from stack.quantum.state import frame_of, side_pauli
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
    while (entry := kernel.pop_entry()) is not None:
        at, callback, arg = entry
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
        pair = Pair(frame_of(FRAMES[index]), (1.0, 0.0, 0.0, 0.0))
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
    joint = stim.TableauSimulator(seed=0)
    joint.set_inverse_tableau(inverse)
    where = [next(i for i, m in enumerate(members) if m is q) for q in qubits]
    reordered = []
    for stabilizer in joint.canonical_stabilizers():
        out = stim.PauliString(len(qubits))
        for new, old in enumerate(where):
            out[new] = stabilizer[old]
        out.sign = stabilizer.sign
        reordered.append(out)
    target = stim.TableauSimulator(seed=0)
    target.set_state_from_stabilizers(reordered)
    return target.canonical_stabilizers()


def canonical_of(circuit: stim.Circuit, qubits: int = 0) -> list[stim.PauliString]:
    sim = stim.TableauSimulator(seed=0)
    sim.set_num_qubits(max(qubits, circuit.num_qubits))
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


@pytest.mark.parametrize("tableau", [False, True])
def test_the_bell_measure_commands_noisy_cnot_depolarises_the_teleported_qubit(
        tableau: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """BellMeasure with gate fidelity f over ideal pairs: w.p. 1 − f a uniformly random two-qubit Pauli after
    the CNOT flips each reported outcome w.p. ½, independently, which leaves the teleported qubit behind a
    uniformly random Pauli, fully depolarised: |0⟩ arrives right w.p. f + (1 − f)/2. The same whether the
    medium teleports without a tableau (the data qubit alone, the pair in the frame algebra: no component of
    two qubits is ever built) or joins all three in one (``tableau``, forced)."""
    if tableau:
        monkeypatch.setattr(Components, "teleportable", staticmethod(lambda *_: False))
    f = 0.8
    expected = f + (1 - f) / 2
    n = sample_size(expected, (1 - f) / 4)
    lab = Lab(seed=31, gate_fidelity=f)
    data, right = lab.first_data, 0
    for trial in range(n):
        index = trial % 4
        lab.pair(1, 0, 2, 0, index)
        lab.init(1, data)
        (result,) = lab.do(1, BellMeasure(data, 0))
        right += lab.measure(2, 0, Basis.Z) ^ (result.bell_index ^ index) & 1 == 0
    assert rate_ok(right, n, expected), (right / n, expected)
    assert (lab.medium.components.largest == 3) is tableau


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


def random_two_qubit_circuit(rng: np.random.Generator, length: int = 10) -> list[tuple[str, tuple[int, ...]]]:
    """``length`` gates drawn uniformly from the whole gate set, on random qubits of two."""
    names = sorted(GATES)
    circuit = []
    for _ in range(length):
        name = names[int(rng.integers(len(names)))]
        circuit.append((name, tuple(int(q) for q in rng.permutation(2))[:GATES[name]]))
    return circuit


def test_remote_cnot_equals_a_local_cnot_on_random_stabiliser_inputs() -> None:
    """Control and target each entangled with a reference qubit by a random two-qubit Clifford circuit; the
    remote CNOT must leave the four exactly as a local CNOT would (stim canonical stabilisers)."""
    rng = np.random.default_rng(5)
    lab = Lab(seed=5)
    control, ref = lab.first_data, lab.first_data + 1
    for trial in range(40):
        lab.pair(1, 0, 2, 0, trial % 4)
        reference = stim.Circuit()
        for node, slots, offset in ((1, (ref, control), 0), (2, (control, ref), 2)):
            lab.init(node, slots[0])
            lab.init(node, slots[1])
            for name, targets in random_two_qubit_circuit(rng):
                lab.do(node, Gate(name, tuple(slots[k] for k in targets)))
                reference.append(name, [offset + k for k in targets])
        reference.append("CX", [1, 2])
        remote_cnot(lab, control, control, trial % 4)
        qubits = [lab.qubit(1, ref), lab.qubit(1, control), lab.qubit(2, control), lab.qubit(2, ref)]
        assert canonical(qubits) == canonical_of(reference, 4)
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
        for qubit, code in ((a, side_pauli(pair.frame, 0)), (b, side_pauli(pair.frame, 1))):
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
            pair = Pair(frame_of(FRAMES[int(rng.integers(4))]), (1.0, 0.0, 0.0, 0.0))
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


# -- noise ---------------------------------------------------------------------------------------------------
def rate_ok(errors: int, n: int, expected: float) -> bool:
    return abs(errors / n - expected) < SIGMAS * math.sqrt(expected * (1 - expected) / n)


def sample_size(expected: float, delta: float) -> int:
    """Trials so that a rate ``delta`` away from ``expected`` is 8 standard errors away: it then fails the 4σ
    check with probability above 1 − 3e-5, while the right rate passes with 1 − 6e-5."""
    return math.ceil(64 * expected * (1 - expected) / delta ** 2)


@pytest.mark.parametrize(("gates", "shift"), [(("H", "H"), 0), (("X", "Z"), 3), (("SQRT_X", "SQRT_X_DAG", "I"), 0)])
def test_noisy_one_qubit_gates_on_a_pair_half_depolarise_it_as_predicted(gates: tuple[str, ...], shift: int) -> None:
    """k gates of fidelity f on one half: correlators scale by f^k, so each basis errs w.p. (1 − f^k)/2 against
    the ideal result (the pair's index shifted by the gates: X by 1, Z by 2). The samples must tell f^k from
    f^(k−1)."""
    f, k = 0.8, len(gates)
    expected = (1 - f ** k) / 2
    n = sample_size(expected, (f ** (k - 1) - f ** k) / 2)
    lab = Lab(seed=k, gate_fidelity=f)
    errors = dict.fromkeys(BASES, 0)
    for trial in range(3 * n):
        basis = BASES[trial % 3]
        pair = lab.pair(1, 0, 2, 0)
        lab.do(1, *(Gate(name, (0,)) for name in gates))
        if shift and trial < 30:                           # Pauli gates keep the pair a frame, tracked exactly
            assert lab.live() == []
            lam = f ** k
            assert pair.distribution == pytest.approx([(1 + 3 * lam) / 4 if i == shift else (1 - lam) / 4
                                                       for i in range(4)], abs=1e-12)
        errors[basis] += lab.measure(1, 0, basis) ^ lab.measure(2, 0, basis) != parity(shift, basis)
    for basis in BASES:
        assert rate_ok(errors[basis], n, expected), (basis, errors[basis] / n, expected)


def test_a_noisy_cnot_is_the_two_qubit_depolarising_channel() -> None:
    """CNOT on |00⟩ with fidelity f: the outcomes flip by the X part of a uniformly random two-qubit Pauli
    w.p. 1 − f, so 00 has f + (1 − f)/4 and 01, 10, 11 each (1 − f)/4 (a one-qubit channel on either qubit
    could never flip both)."""
    f = 0.8
    n = sample_size((1 - f) / 4, (1 - f) / 8)
    lab = Lab(seed=21, gate_fidelity=f)
    a, b = lab.first_data, lab.first_data + 1
    counts = Counter()
    for _ in range(n):
        lab.init(1, a)
        lab.init(1, b)
        lab.do(1, Gate("CNOT", (a, b)))
        counts[lab.measure(1, a, Basis.Z), lab.measure(1, b, Basis.Z)] += 1
    for outcome in ((0, 0), (0, 1), (1, 0), (1, 1)):
        expected = f + (1 - f) / 4 if outcome == (0, 0) else (1 - f) / 4
        assert rate_ok(counts[outcome], n, expected), (outcome, counts[outcome] / n, expected)


def test_a_noisy_h_and_cnot_make_a_bell_state_with_the_predicted_errors() -> None:
    """H then CNOT on two data qubits, both gates of fidelity f, p = (1 − f)/2: the H's noise on |+⟩ (X, Y or Z
    w.p. (1 − f)/4 each) never flips ZZ after the CNOT and flips XX and YY w.p. p; the CNOT's flips each of ZZ,
    XX and YY w.p. p (8 of the 16 Paulis anticommute with each). So e_Z = p and e_X = e_Y = 2p(1 − p)."""
    f = 0.8
    p = (1 - f) / 2
    expected = {Basis.Z: p, Basis.X: 2 * p * (1 - p), Basis.Y: 2 * p * (1 - p)}
    n = sample_size(expected[Basis.X], expected[Basis.X] - p)      # tell the H's noise from none
    lab = Lab(seed=22, gate_fidelity=f)
    a, b = lab.first_data, lab.first_data + 1
    errors = dict.fromkeys(BASES, 0)
    for trial in range(3 * n):
        basis = BASES[trial % 3]
        lab.init(1, a, "H")
        lab.init(1, b)
        lab.do(1, Gate("CNOT", (a, b)))
        errors[basis] += lab.measure(1, a, basis) ^ lab.measure(1, b, basis) != parity(0, basis)
    for basis in BASES:
        assert rate_ok(errors[basis], n, expected[basis]), (basis, errors[basis] / n, expected[basis])


def test_memory_noise_of_component_qubits_is_the_twirl_sampled_at_each_operation() -> None:
    """A pair made at 0; its half at node 1 gets S at 0 and S_DAG at 0.9 t (the identity, through a
    component; S maps the twirl to itself since it scales ⟨X⟩ and ⟨Y⟩ alike); both halves measured at t.
    Each half's channel over [0, t] scales ⟨X⟩, ⟨Y⟩ by e^(−t/T2) and ⟨Z⟩ by e^(−t/T1), so the error rates are
    (1 − e^(−2t/T1))/2 in Z and (1 − e^(−2t/T2))/2 in X and Y. Sampling the half's noise twice (not resetting
    its age at the gate) would add 0.9 t: the samples must tell that apart."""
    t1, t2, t = 2e6, 1e6, 300_000
    expected = {Basis.Z: (1 - math.exp(-2 * t / t1)) / 2, Basis.X: (1 - math.exp(-2 * t / t2)) / 2,
                Basis.Y: (1 - math.exp(-2 * t / t2)) / 2}
    wrong = (1 - math.exp(-2.9 * t / t2)) / 2
    n = sample_size(expected[Basis.X], wrong - expected[Basis.X])
    lab = Lab(seed=23, t1_ns=t1, t2_ns=t2)
    errors = dict.fromkeys(BASES, 0)
    for trial in range(3 * n):
        basis = BASES[trial % 3]
        lab.kernel.now = 0
        lab.pair(1, 0, 2, 0)
        lab.do(1, Gate("S", (0,)))
        lab.kernel.now = round(0.9 * t)
        lab.do(1, Gate("S_DAG", (0,)))
        lab.kernel.now = t
        errors[basis] += lab.measure(1, 0, basis) ^ lab.measure(2, 0, basis) != parity(0, basis)
    for basis in BASES:
        assert rate_ok(errors[basis], n, expected[basis]), (basis, errors[basis] / n, expected[basis])


def test_readout_errors_flip_data_qubit_outcomes() -> None:
    r = 0.9
    n = sample_size(1 - r, 0.05)
    lab = Lab(seed=24, readout_fidelity=r)
    ones = 0
    for _ in range(n):
        lab.init(1, lab.first_data)
        ones += lab.measure(1, lab.first_data, Basis.Z)
    assert rate_ok(ones, n, 1 - r)


def test_a_failed_bell_measurement_in_a_component_leaves_the_far_halves_uncorrelated() -> None:
    """With success probability ½, a failure (BellMeasureResult success False, index 0) traces both qubits out:
    the far halves of the two pairs are each alone and uncorrelated, as the frame algebra leaves them."""
    n = sample_size(0.5, 0.1)
    lab = Lab(nodes=3, seed=25, bsm_success=0.5)
    failures, agreements = 0, 0
    for _ in range(n):
        lab.pair(1, 0, 2, 0)
        lab.pair(2, 1, 3, 0)
        lab.do(2, Gate("H", (1,)), Gate("H", (1,)))
        (result,) = lab.do(2, BellMeasure(0, 1))
        if not result.success:
            assert result.bell_index == 0 and lab.live() == [1, 1]  # each far half alone
            failures += 1
            agreements += lab.measure(1, 0, Basis.Z) == lab.measure(3, 0, Basis.Z)
        else:
            assert lab.measure(1, 0, Basis.Z) ^ lab.measure(3, 0, Basis.Z) == parity(result.bell_index, Basis.Z)
    assert rate_ok(failures, n, 0.5)
    assert rate_ok(agreements, failures, 0.5)
    assert lab.medium.ledger["created"] == lab.medium.ledger["measured"]


# -- timing, accounting, bad commands ----------------------------------------------------------------------
def test_commands_on_a_qubit_run_in_order_and_take_the_gate_and_readout_time() -> None:
    lab = Lab(seed=26, gate_ns=100, readout_ns=1000)
    data = lab.first_data
    lab.medium.command(1, Init(data), lab)  # type: ignore[arg-type]
    lab.medium.command(1, Gate("H", (data,)), lab)  # type: ignore[arg-type]
    lab.medium.command(1, Gate("H", (data,)), lab)  # type: ignore[arg-type]
    lab.medium.command(1, Measure(data, Basis.Z), lab)  # type: ignore[arg-type]
    lab.medium.command(1, Init(data), lab)  # type: ignore[arg-type]      # the slot is free, still reading out
    run_due(lab.kernel)
    ((at, result),) = lab.events
    assert isinstance(result, MeasureResult) and (at, result.outcome) == (200 + 1000, 0)
    assert lab.qubit(1, data).ready_at == 1200                # the new qubit waits for the readout to end
    lab.pair(1, 0, 2, 0)
    lab.medium.command(1, Gate("CNOT", (data, 0)), lab)  # type: ignore[arg-type]
    lab.medium.command(1, BellMeasure(data, 0), lab)  # type: ignore[arg-type]
    run_due(lab.kernel)
    assert lab.events[-1][0] == 1200 + 100 + 100 + 1000


def test_every_qubit_is_accounted_for() -> None:
    lab = Lab(seed=27)
    data = lab.first_data
    lab.init(1, data, "H")
    lab.init(1, data + 1)
    lab.do(1, Gate("CNOT", (data, data + 1)), Discard(data))
    lab.pair(1, 0, 2, 0)
    lab.do(1, Gate("CZ", (0, data + 1)))
    with pytest.raises(Exception, match=r"3 qubit\(s\) in memory that no layer holds"):
        lab.medium.finish({})
    ledger = lab.medium.finish({1: {0, data + 1}, 2: {0}})
    assert ledger == {"created": 4, "measured": 0, "discarded": 1, "discarded_at_end": 3}


@pytest.mark.parametrize(("command", "message"), [
    (Init(0), r"cannot initialise slot 0: it needs a free data qubit \(slots 4..7\)"),
    (Init(8), r"cannot initialise slot 8"),
    (Gate("H", (5,)), r"cannot apply H to slots \(5,\): it needs distinct held qubits"),
    (Gate("CZ", (4, 4)), r"cannot apply CZ to slots \(4, 4\)"),
])
def test_bad_commands_are_clear_errors_and_change_nothing(command: Any, message: str) -> None:
    """A bad command is refused (counted, its reason kept), never executed and never a crash."""
    lab = Lab(seed=28)
    lab.init(1, 4)
    lab.do(1, command)
    assert lab.medium.rejected_commands == 1 and re.search(message, lab.medium.last_rejection or "")
    assert lab.medium.ledger["created"] == 1 and sorted(lab.medium.nodes[1].held) == [4]
    lab.do(1, Init(4))                                     # occupied
    assert lab.medium.rejected_commands == 2 and "cannot initialise slot 4" in (lab.medium.last_rejection or "")
    with pytest.raises(ValueError, match=r"unknown gate 'T'"):
        Gate("T", (4,))
    with pytest.raises(ValueError, match=r"gate CNOT acts on 2 qubit\(s\), got slots \(4,\)"):
        Gate("CNOT", (4,))


# -- scenario and the multi-process medium -----------------------------------------------------------------
def test_data_qubits_reach_the_medium_after_communication_and_storage() -> None:
    text = two_node_toml(pairs=1).replace('kind = "qpu"\nt2_ms = 1000.0',
                                          'kind = "qpu"\nt2_ms = 1000.0\nstorage_qubits = 3\ndata_qubits = 5', 1)
    scenario = load_text(text, "two.toml")
    alice = node_hardware(scenario.nodes["alice"], None)
    assert (alice.slots, alice.storage, alice.data) == (2, 3, 5)
    assert [slot for slot in range(12) if alice.is_data(slot)] == [5, 6, 7, 8, 9]
    assert node_hardware(scenario.nodes["bob"], None).data == 0


@pytest.mark.parametrize("value", ["-1", "1.5", '"two"', "5000"])
def test_bad_data_qubits_names_the_key(value: str) -> None:
    text = two_node_toml(pairs=1).replace('kind = "qpu"\nt2_ms = 1000.0',
                                          f'kind = "qpu"\nt2_ms = 1000.0\ndata_qubits = {value}', 1)
    with pytest.raises(ScenarioError, match=r"two.toml: nodes.alice.data_qubits: "):
        load_text(text, "two.toml")


def test_the_multi_process_medium_executes_init_gate_and_measure(tmp_path: Path) -> None:
    """Init, Gate and Measure cross the medium socket (wire.md §8.3) to the same Medium; the result comes
    back as an ``event`` after two gates and the readout."""
    text = two_node_toml(pairs=1).replace('kind = "qpu"\nt2_ms = 1000.0',
                                          'kind = "qpu"\nt2_ms = 1000.0\ndata_qubits = 2', 2)
    scenario = load_text(text, "two.toml")
    server = MediumServer(scenario, 3, tmp_path, dilation=0.01, tolerance_ns=10_000)
    try:
        server.kernel.epoch_ns = time.time_ns() + 10**15        # the wall clock never moves emulated time here
        bob = Connection(None, "bob")  # type: ignore[arg-type]
        server.connections["bob"] = bob
        for command in (Init(2), Gate("H", (2,)), Gate("S", (2,)), Measure(2, Basis.Y)):
            server._dispatch(bob, {"op": "command", "at": 0, "node_id": 2, "reply_to": "bob/app",
                                   "command": encode_hardware(command)})
        run_due(server.kernel)
        message = bob.inbox.receive_nowait()
    finally:
        server._pcap.close()
    hardware = scenario.nodes["bob"]
    assert message["op"] == "event" and message["reply_to"] == "bob/app"
    assert message["at"] == 2 * hardware.gate_ns + hardware.readout_ns
    assert decode_hardware(message["event"]) == MeasureResult(2, 1, Basis.Y, 0)      # |+i⟩ reads +1
