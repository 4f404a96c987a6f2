"""The compiler's output is the monolithic circuit: checked by running it in the reference executor
(tests/compiler_executor.py) against stim running the input circuit.

- Unitary circuits: the Choi state. Every circuit qubit starts in a Bell pair with a reference qubit no QPU
  holds; after the distributed run, with ideal ebits and the protocols' Pauli corrections, the stabiliser
  state of (circuit qubits, references) must equal stim's for the monolithic circuit exactly (canonical
  stabilisers, signs included). Equal Choi states mean equal Clifford unitaries up to global phase.
- Circuits with measurements: lockstep. Before each of the circuit's measurements both simulators are asked
  whether the outcome is determined and which; they must agree, and a random outcome is drawn and forced in
  both (postselection). Equal conditional distributions at every step give equal record distributions (the
  chain rule). A sampled test compares the record distribution with stim's sampler by a χ² test too.

The programs pass through JSON before they run, and the QPUs' programs are also interleaved at random.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import stim
from scipy import stats

from protocols.compiler import (
    CatEntangle,
    CompileError,
    DistributedProgram,
    NetworkModel,
    Teledata,
    compile_circuit,
    from_stim,
    program_from_json,
)
from tests.compiler_executor import Executor

ONE_QUBIT = ("H", "S", "S_DAG", "X", "Y", "Z", "SQRT_X", "SQRT_Y_DAG", "H_YZ", "C_XYZ")
TWO_QUBIT = ("CX", "CZ", "CY", "XCZ", "XCX", "YCZ", "SWAP", "ISWAP", "CZ", "CX", "CZ")
MEASURE = ("M", "MX", "MY", "MR", "R", "RX")


def random_circuit(rng: np.random.Generator, n: int, ops: int, measure: float = 0.0) -> stim.Circuit:
    circuit = stim.Circuit()
    for _ in range(ops):
        roll = rng.random()
        if roll < measure:
            circuit.append(str(rng.choice(MEASURE)), [int(rng.integers(n))])
        elif roll < measure + 0.35 or n < 2:
            circuit.append(str(rng.choice(ONE_QUBIT)), [int(rng.integers(n))])
        else:
            a, b = rng.choice(n, 2, replace=False)
            circuit.append(str(rng.choice(TWO_QUBIT)), [int(a), int(b)])
    while circuit.num_qubits < n:                       # every qubit appears
        circuit.append("I", [circuit.num_qubits])
    return circuit


NETWORKS = {
    "2 qpus": lambda n: NetworkModel.uniform([math.ceil(n / 2)] * 2),
    "3 qpus, one link qubit": lambda n: NetworkModel.uniform([math.ceil(n / 3) + 1] * 3, link_qubits=1),
    "4 in a line": lambda n: NetworkModel.uniform([math.ceil(n / 4) + 1] * 4, link_qubits=3,
                                                  hops={(0, 1): 1, (1, 2): 1, (2, 3): 1, (0, 2): 2, (1, 3): 2,
                                                        (0, 3): 3}),
    "uneven": lambda n: NetworkModel.uniform([max(1, n // 2), n - max(1, n // 2) + 1, 2], link_qubits=2),
}


def capacities(network: NetworkModel) -> tuple[dict[str, int], dict[str, int]]:
    return ({q.name: q.data_qubits for q in network.qpus}, {q.name: q.link_qubits for q in network.qpus})


def through_json(program: DistributedProgram) -> DistributedProgram:
    again = program_from_json(program.to_json())
    assert again == program
    return again


def choi_states_equal(circuit: stim.Circuit, program: DistributedProgram, network: NetworkModel,
                      interleave: np.random.Generator | None, seed: int) -> bool:
    n = program.num_qubits
    sim = stim.TableauSimulator(seed=seed)
    executor = Executor(program, *capacities(network), sim, first_free=n)
    for qubit, index in enumerate(executor.final_qubits()):
        sim.h(qubit)
        sim.cx(qubit, index)                            # reference qubit `qubit`, circuit qubit at `index`
    executor.run(interleave)
    final = executor.final_qubits()
    size = max([executor.next_index, *final]) + 1
    sim.set_num_qubits(size)
    for index in set(range(n, size)) - set(final):      # measured link and vacated data qubits: product states
        sim.reset(index)
    reference = stim.TableauSimulator()
    reference.set_num_qubits(size)
    for qubit in range(n):
        reference.h(qubit)
        reference.cx(qubit, final[qubit])
    reference.do_circuit(circuit.remapped_qubits(final) if hasattr(circuit, "remapped_qubits")
                         else _remap(circuit, final))
    return sim.canonical_stabilizers() == reference.canonical_stabilizers()


def _remap(circuit: stim.Circuit, where: list[int]) -> stim.Circuit:
    out = stim.Circuit()
    for instruction in circuit.flattened():
        out.append(instruction.name, [where[t.value] for t in instruction.targets_copy()],
                   instruction.gate_args_copy())
    return out


CASES = [(n, name, seed) for seed, n in enumerate((2, 3, 4, 5, 7, 9, 12, 16, 24)) for name in NETWORKS]


@pytest.mark.parametrize(("n", "network_name", "seed"), CASES)
def test_unitary_circuits_equal_the_monolithic_circuit(n: int, network_name: str, seed: int) -> None:
    rng = np.random.default_rng([16, n, seed])
    network = NETWORKS[network_name](n)
    for trial in range(3):
        circuit = random_circuit(rng, n, ops=int(rng.integers(5, 12 * n)))
        for teledata in (True, False):
            program = through_json(compile_circuit(from_stim(circuit), network, seed=trial, teledata=teledata))
            assert choi_states_equal(circuit, program, network, None, seed=trial)
            assert choi_states_equal(circuit, program, network, np.random.default_rng(trial), seed=trial + 1)


def test_the_check_catches_a_wrong_program() -> None:
    """The oracle is not vacuous: dropping a cat-disentangle's correction, or compiling another circuit,
    makes the states differ."""
    rng = np.random.default_rng(5)
    network = NETWORKS["2 qpus"](6)
    circuit = random_circuit(rng, 6, 60)
    program = compile_circuit(from_stim(circuit), network)
    assert program.total_ebits > 0
    other = circuit.copy()
    other.append("S", [0])
    assert not choi_states_equal(other, program, network, None, seed=1)
    cut = next(i for i in program.instructions if isinstance(i, CatEntangle))
    broken = DistributedProgram(program.qpus, program.num_qubits, 0, program.placement, program.final_placement,
                                tuple(i if i != cut else CatEntangle(cut.step, cut.id, cut.qubit,
                                                                     "X" if cut.basis != "X" else "Z", cut.source,
                                                                     cut.target, cut.hops, cut.from_copy)
                                      for i in program.instructions))
    assert not all(choi_states_equal(circuit, broken, network, None, seed=s) for s in range(4))


class Lockstep:
    """Measures the distributed and the monolithic circuit together (see the module docstring). A reset is a
    measurement whose outcome is forgotten: it is forced alike in both too."""

    BASIS = {"M": "z", "MR": "z", "MX": "x", "MRX": "x", "MY": "y", "MRY": "y", "R": "z", "RX": "x", "RY": "y"}

    def __init__(self, circuit: stim.Circuit, rng: np.random.Generator) -> None:
        self.rng = rng
        self.mono = stim.TableauSimulator()
        self.pending = [(i.name, t) for i in circuit.flattened() for t in _split(i)]
        self.position = 0
        self.measured = 0

    def _advance(self) -> tuple[str, list[int]]:
        """Run the monolithic circuit up to its next measurement or reset, and return that."""
        while True:
            op, targets = self.pending[self.position]
            self.position += 1
            if op in self.BASIS:
                return op, targets
            self.mono.do(stim.CircuitInstruction(op, targets))

    def __call__(self, sim: stim.TableauSimulator, name: str, target: int, record: int) -> bool:
        op, targets = self._advance()
        assert op == name, f"the distributed run does {name} where the circuit does {op}"
        basis = self.BASIS[name]
        expected = getattr(self.mono, f"peek_{basis}")(targets[0])
        got = getattr(sim, f"peek_{basis}")(target)
        assert got == expected, f"{name} ({record}): determined {expected}, distributed {got}"
        if expected == 0:
            outcome = bool(self.rng.integers(2))
            getattr(self.mono, f"postselect_{basis}")(targets[0], desired_value=outcome)
            getattr(sim, f"postselect_{basis}")(target, desired_value=outcome)
        for simulator, qubit in ((self.mono, targets[0]), (sim, target)):
            simulator.do(stim.CircuitInstruction(name, [qubit]))
        if record < 0:
            return False
        assert record == self.measured, "the circuit's measurements come in their order"
        self.measured += 1
        assert sim.current_measurement_record()[-1] == self.mono.current_measurement_record()[-1]
        return bool(sim.current_measurement_record()[-1])


def _split(instruction: stim.CircuitInstruction) -> list[list[int]]:
    values = [t.value for t in instruction.targets_copy()]
    width = 2 if stim.gate_data(instruction.name).is_two_qubit_gate else 1
    return [values[i:i + width] for i in range(0, len(values), width)]


@pytest.mark.parametrize(("n", "network_name", "seed"), CASES[::2])
def test_measurement_records_follow_the_monolithic_distribution(n: int, network_name: str, seed: int) -> None:
    rng = np.random.default_rng([17, n, seed])
    network = NETWORKS[network_name](n)
    for trial in range(3):
        circuit = random_circuit(rng, n, ops=int(rng.integers(5, 12 * n)), measure=0.15)
        program = through_json(compile_circuit(from_stim(circuit), network, seed=trial))
        assert program.num_measurements == circuit.num_measurements
        lockstep = Lockstep(circuit, rng)
        executor = Executor(program, *capacities(network), stim.TableauSimulator(seed=trial), measure=lockstep)
        executor.run()
        assert lockstep.measured == circuit.num_measurements


def test_sampled_records_match_stims_sampler() -> None:
    """Free-running distributed shots (random interleaving, random protocol outcomes) against stim's own
    sampler: a χ² test of homogeneity on the records of a GHZ-like circuit spread over three QPUs, whose 16
    possible records are not uniform. At a 10⁻³ level the test fails by chance once in a thousand runs."""
    circuit = stim.Circuit("H 0\nCX 0 1 0 2\nH 3\nCZ 2 3\nMX 3\nM 0 1\nMY 2")
    network = NetworkModel.uniform([2, 1, 1], link_qubits=2)
    program = compile_circuit(from_stim(circuit), network)
    assert len(set(program.placement)) == 3
    shots = 1200
    rng = np.random.default_rng(3)
    distributed = np.zeros(16)
    for shot in range(shots):
        executor = Executor(program, *capacities(network), stim.TableauSimulator(seed=shot))
        executor.run(rng)
        distributed[sum(int(executor.records[r]) << r for r in range(4))] += 1
    samples = circuit.compile_sampler(seed=4).sample(shots)
    monolithic = np.bincount(samples.astype(int) @ (1 << np.arange(4)), minlength=16)
    support = (distributed + monolithic) > 0
    assert set(np.flatnonzero(distributed)) <= set(np.flatnonzero(monolithic))
    _, p_value, _, _ = stats.chi2_contingency(np.array([distributed[support], monolithic[support]]))
    assert p_value > 1e-3


def test_capacities_hold_and_the_predicted_ebits_are_the_programs() -> None:
    rng = np.random.default_rng(9)
    for n in (6, 10, 20):
        network = NETWORKS["4 in a line"](n)
        program = compile_circuit(from_stim(random_circuit(rng, n, 15 * n)), network, seed=1)
        for qpu in network.qpus:
            assert program.placement.count(qpu.name) <= qpu.data_qubits
        remote = [i for i in program.instructions if isinstance(i, CatEntangle | Teledata)]
        assert program.total_ebits == len(remote) == sum(program.ebits.values())
        assert program.link_pairs == sum(network.pair(*i.qpus).hops for i in remote)  # type: ignore[union-attr]


def test_compilation_is_deterministic_across_processes() -> None:
    code = ("import numpy as np, hashlib\nfrom tests.test_compiler import *\n"
            "circuit = from_stim(random_circuit(np.random.default_rng(1), 30, 400))\n"
            "program = compile_circuit(circuit, NETWORKS['4 in a line'](30), seed=4)\n"
            "print(hashlib.sha256(program.to_json().encode()).hexdigest())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                           cwd=Path(__file__).resolve().parent.parent).stdout for _ in range(2)}
    circuit = from_stim(random_circuit(np.random.default_rng(1), 30, 400))
    here = compile_circuit(circuit, NETWORKS["4 in a line"](30), seed=4).to_json()
    assert runs == {hashlib.sha256(here.encode()).hexdigest() + "\n"}


def test_a_circuit_that_fits_on_one_qpu_stays_there() -> None:
    program = compile_circuit(from_stim("H 0\nCZ 0 1\nCX 1 2"), NetworkModel.uniform([5] * 8))
    assert len(set(program.placement)) == 1 and program.total_ebits == 0


def _rounds(a: int, b: int, times: int) -> str:
    """``times`` CZs between a and b, each its own segment (H on both between them)."""
    return f"H {a} {b}\nCZ {a} {b}\n" * times


def test_a_run_of_gates_sharing_a_control_costs_one_ebit() -> None:
    """The cat-entanglement of Andrés-Martínez & Heunen: qubits {0, 1, 2} and {3, 4, 5} are bound together
    (so each trio is one QPU); CX from qubit 0 to 3, 4 and 5 with phase gates between is one ebit, and an H
    between them breaks the run into three."""
    network = NetworkModel.uniform([3, 3])
    trios = _rounds(0, 1, 4) + _rounds(1, 2, 4) + _rounds(3, 4, 4) + _rounds(4, 5, 4)
    shared = compile_circuit(from_stim(trios + "CX 0 3\nS 0\nCZ 0 4\nZ 0\nCX 0 5"), network)
    assert len({shared.placement[q] for q in (0, 1, 2)}) == 1 != len(set(shared.placement))
    assert shared.total_ebits == 1 and shared.count(CatEntangle) == 1
    broken = compile_circuit(from_stim(trios + "CX 0 3\nH 0\nCZ 0 4\nH 0\nCX 0 5"), network, teledata=False)
    assert broken.total_ebits == 3


def test_teledata_moves_a_qubit_when_cheaper() -> None:
    """Qubit 0 works with qubit 2 (QPU A), then five times with qubit 1 (QPU B, which has a free data qubit):
    five cat-entanglements, or one teleportation."""
    circuit = from_stim(_rounds(1, 3, 6) + _rounds(0, 2, 6) + _rounds(0, 1, 5))
    network = NetworkModel.uniform([2, 3])
    moved = compile_circuit(circuit, network, teledata=True)
    assert moved.count(Teledata) == 1 and moved.total_ebits == 1
    assert compile_circuit(circuit, network, teledata=False).total_ebits == 5


def test_too_many_qubits_is_one_line_naming_the_capacities() -> None:
    with pytest.raises(CompileError, match=r"5 qubits but the network's QPUs hold only 4 data qubits \(qpu0 2, "
                                           r"qpu1 2; scenario key nodes.NAME.data_qubits\)"):
        compile_circuit(from_stim("CX 0 4"), NetworkModel.uniform([2, 2]))


def test_non_clifford_gates_are_scheduled_and_flagged() -> None:
    from protocols.compiler import from_qasm

    program = compile_circuit(from_qasm('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\nh q[0];\nt q[0];\n'
                                        'ccx q[0],q[1],q[2];\nrz(0.3) q[1];\ncx q[1],q[2];\n'),
                              NetworkModel.uniform([2, 2]))
    assert program.non_clifford == ("RZ", "T", "TDG") and not program.executable
