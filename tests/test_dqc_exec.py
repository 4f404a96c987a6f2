"""Executing compiled distributed programs on the emulated network (stack.api.dqc), against independent oracles.

- Ideal links and gates: the distributed execution is the monolithic circuit. Exact checks (a random Clifford
  U then U† always measures all zeros; a GHZ state gives only all-equal bits), and the chi-square homogeneity
  test of the measurement-record distribution against stim's sampler of the monolithic circuit, at
  significance 0.001 per circuit (fixed seeds, so the outcome is reproducible). The random circuits with
  mid-circuit measurements are checked against their exact distribution too: a Clifford circuit's record is
  uniform on an affine subspace of GF(2)^m (each measurement a fair coin or fixed by the earlier ones), so
  every record must lie in it (exact) and the counts pass the chi-square goodness-of-fit test against the
  uniform distribution on it at 0.001 (see :data:`SHOTS`). With 9 tests at 0.001 the chance that a correct
  executor fails one is below 1 %.
- The ebits the compiler predicts equal the pairs the run consumed (made by one end, received by the other).
- Werner pairs of fidelity F: each remote CNOT is followed by the Pauli channel {X_t, Z_c, X_t Z_c: (1 − F)/3
  each} (stack.api.remote; whichever side the compiler copies). For a GHZ state made by k remote CNOTs from one
  control, measured in X, the parity flips when an odd number of Z_c happened: (1 − (1 − 2q)^k)/2 with
  q = 2(1 − F)/3; measured in Z, each target's bit disagrees with the control's with probability q,
  independently. Checked within 4 standard errors.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import stim
from scipy.stats import chisquare

from protocols.apps.dqc import NotExecutable, medium_gates
from protocols.compiler import Circuit, compile_circuit, from_stim
from stack.api.dqc_run import circuit_report, execute_program
from stack.compile import network_model
from stack.scenario import Scenario, load_text

ALPHA = 0.001
SHOTS = 300
"""Shots of each random circuit with measurements. Against an alternative q ≠ p the chi-square statistic's
non-centrality is n·Σ(q − p)²/p for the goodness-of-fit test of n records against the exact p, and
n₁n₂/(n₁ + n₂)·Σ(q − p)²/p for the homogeneity test of n₁ records against n₂ of stim's samples: 300 records
against the exact distribution have the power 600 had against 600 samples (the test before), at every
alternative, and a record outside the support fails at once. Simulated on 32 cells with one bit biased to
0.65 / 0.7 / 0.75: power 0.38 / 0.90 / 0.998 (300, goodness of fit) and 0.39 / 0.89 / 0.999 (600 against 600,
homogeneity). (600 shots cost 13-42 s a circuit.)"""


def scenario(nodes: dict[str, int], links: list[tuple[str, str]], depolarizing: float = 0.0,
             communication: int = 2, length_km: float = 0.1, coupler: bool = False) -> Scenario:
    """QPUs with these data qubits, no memory or gate noise; each link ``length_km`` long (default 100 m)
    heralded at a station, with Werner pairs of fidelity 1 − 3d/4; or, with ``coupler``, a 5 m microwave coupler
    (pairs at ~0.56 per attempt instead of ~0.06 with the defaults: fewer events per pair, where the link is not
    what a test checks)."""
    text = "[run]\nduration_ms = 1e6\nseed = 5\n[network]\nmax_circuits = 255\n"
    for name, data in nodes.items():
        text += (f'[nodes.{name}]\nkind = "qpu"\ndata_qubits = {data}\ncommunication_qubits = {communication}\n'
                 "t1_ms = 1e9\nt2_ms = 1e9\n")
    for a, b in links:
        if coupler:
            text += (f'[links.{a}{b}]\na = "{a}"\nb = "{b}"\nscheme = "coupler"\nlength_km = 0.005\n'
                     f"depolarizing = {depolarizing}\n")
            continue
        text += (f'[nodes.m{a}{b}]\nkind = "station"\n[links.{a}{b}]\na = "{a}"\nb = "{b}"\nstation = "m{a}{b}"\n'
                 f"length_km = {length_km}\ndepolarizing = {depolarizing}\n")
    return load_text(text, "<dqc>")


LINE = scenario({"a": 2, "b": 2, "c": 2}, [("a", "b"), ("b", "c")], coupler=True)
"""The random circuits' line a - b - c: ideal pairs over couplers (the triangle of the GHZ and Werner-pair tests
is heralded at stations)."""
ONE_QUBIT = ("H", "S", "SQRT_X", "SQRT_Y_DAG", "C_XYZ", "H_XY", "X", "Z")
TWO_QUBIT = ("CX", "CZ", "XCZ", "YCX", "SWAP", "ISWAP")


def random_clifford(rng: random.Random, qubits: int, gates: int) -> stim.Circuit:
    circuit = stim.Circuit()
    for _ in range(gates):
        if rng.random() < 0.5:
            circuit.append(rng.choice(ONE_QUBIT), [rng.randrange(qubits)])
        else:
            circuit.append(rng.choice(TWO_QUBIT), rng.sample(range(qubits), 2))
    return circuit


def run(sc: Scenario, circuit: Circuit, shots: int, seed: int = 1) -> dict:
    program = compile_circuit(circuit, network_model(sc), seed=seed)
    report = circuit_report(execute_program(sc, program, shots, seed=seed), circuit, seed=seed)
    assert report["ebits_consumed"] == report["ebits_received"] == report["ebits_predicted"] \
        == program.total_ebits * shots
    assert report["remote_ops_executed"] == {k: v * shots for k, v in report["remote_ops"].items() if v}
    return report


def test_medium_gates_are_the_gate_up_to_global_phase() -> None:
    for name in (*ONE_QUBIT, *TWO_QUBIT, "CY", "YCY", "SQRT_XX", "I"):
        width = stim.gate_data(name).is_two_qubit_gate + 1
        built = stim.Circuit()
        for gate, operands in medium_gates(name):
            built.append(gate, list(operands))
        built.append("I", [width - 1])
        assert built.to_tableau() == stim.Tableau.from_named_gate(name if name != "I" else "I"), name


def test_a_random_clifford_then_its_inverse_measures_zeros_exactly() -> None:
    rng = random.Random(4)
    for trial in range(3):
        u = random_clifford(rng, 6, 14)
        circuit = from_stim(u + u.inverse() + stim.Circuit("M 0 1 2 3 4 5"))
        report = run(LINE, circuit, shots=20, seed=trial)
        assert report["outcomes"] == {"000000": 20}, trial
        assert report["ebits_per_shot"] > 0


def test_ghz_over_three_qpus_is_the_monolithic_ghz() -> None:
    sc = scenario({"a": 1, "b": 1, "c": 1}, [("a", "b"), ("b", "c"), ("a", "c")])
    report = run(sc, from_stim("H 0\nCX 0 1 1 2\nM 0 1 2"), shots=200)           # see SHOTS: 200 exact = 400 v 400
    assert set(report["outcomes"]) == {"000", "111"}
    assert report["homogeneity_p"] > ALPHA
    assert chisquare([report["outcomes"]["000"], report["outcomes"]["111"]]).pvalue > ALPHA


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_circuits_with_measurements_sample_the_monolithic_distribution(seed: int) -> None:
    rng = random.Random(seed)
    u = random_clifford(rng, 5, 12)
    middle = stim.Circuit("MX 0\nMR 1\nR 2") + random_clifford(rng, 5, 6)
    monolithic = u + middle + stim.Circuit("MY 3\nM 0 4")
    report = run(LINE, from_stim(monolithic), shots=SHOTS, seed=seed)
    assert report["homogeneity_p"] > ALPHA, report
    assert report["tvd"] < 4 * report["tvd_expected"]
    assert seed != 1 or report["remote_ops"]["teledata"] > 0           # teledata is exercised too
    support = affine_support(monolithic)
    outcomes = report["outcomes"]
    assert set(outcomes) <= support, sorted(set(outcomes) - support)
    if len(support) > 1:
        assert chisquare([outcomes.get(k, 0) for k in sorted(support)]).pvalue > ALPHA, (outcomes, len(support))


def affine_support(circuit: stim.Circuit, draws: int = 256) -> set[str]:
    """Every record a noiseless Clifford circuit can give, as bit strings: r₀ + V, with r₀ and a basis of V
    from ``draws`` of stim's samples (the chance that they miss a direction of V is below 2^(dim V − draws + 1))."""
    rows = [int("".join("1" if b else "0" for b in row), 2)
            for row in circuit.compile_sampler(seed=7).sample(draws)]
    width, first = circuit.num_measurements, rows[0]
    basis: dict[int, int] = {}                                          # leading bit -> vector
    for row in rows[1:]:
        v = row ^ first
        while v and v.bit_length() in basis:
            v ^= basis[v.bit_length()]
        if v:
            basis[v.bit_length()] = v
    points = {first}
    for v in basis.values():
        points |= {p ^ v for p in points}
    return {format(p, f"0{width}b") for p in points}


def test_the_affine_support_is_the_records_of_small_circuits() -> None:
    """Against the support read off 2,000 samples of circuits whose records are known."""
    assert affine_support(stim.Circuit("H 0\nCX 0 1\nM 0 1")) == {"00", "11"}
    assert affine_support(stim.Circuit("X 1\nH 2\nM 0 1 2")) == {"010", "011"}
    assert affine_support(stim.Circuit("H 0 1\nCX 0 2 1 2\nM 0 1 2")) == {"000", "011", "101", "110"}


def test_non_clifford_programs_are_refused_in_one_line() -> None:
    circuit = from_stim("H 0\nCX 0 1\nM 0 1")
    program = compile_circuit(circuit, network_model(LINE))
    refused = type(program)(program.qpus, program.num_qubits, program.num_measurements, program.placement,
                            program.final_placement, program.instructions, ("T",))
    with pytest.raises(NotExecutable, match=r"^the circuit has non-Clifford operations \(T\)[^\n]*$"):
        execute_program(LINE, refused, 1)


def _werner_ghz(basis: str, shots: int, d: float) -> list[list[int]]:
    sc = scenario({"a": 1, "b": 1, "c": 1}, [("a", "b"), ("b", "c"), ("a", "c")], depolarizing=d)
    circuit = from_stim(f"H 0\nCX 0 1 0 2\n{'MX' if basis == 'X' else 'M'} 0 1 2")
    program = compile_circuit(circuit, network_model(sc))
    assert program.total_ebits == 2
    return execute_program(sc, program, shots, seed=11).records


def _within(count: int, n: int, p: float) -> bool:
    return abs(count / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_werner_pairs_ghz_parity_in_x_follows_the_composed_gate_channel() -> None:
    d, n, k = 0.15, 1500, 2
    q = 2 * (1 - (1 - 3 * d / 4)) / 3
    records = _werner_ghz("X", n, d)
    flips = sum(r[0] ^ r[1] ^ r[2] for r in records)
    predicted = (1 - (1 - 2 * q) ** k) / 2
    assert _within(flips, n, predicted), (flips / n, predicted)
    assert not _within(flips, n, q)                                  # one gate's channel would not do


def test_werner_pairs_ghz_bits_in_z_follow_the_gate_channel() -> None:
    d, n = 0.15, 1500
    q = 2 * (1 - (1 - 3 * d / 4)) / 3
    records = _werner_ghz("Z", n, d)
    first = sum(r[0] ^ r[1] for r in records)
    second = sum(r[0] ^ r[2] for r in records)
    both = sum((r[0] ^ r[1]) & (r[0] ^ r[2]) for r in records)
    assert _within(first, n, q) and _within(second, n, q) and _within(both, n, q * q), (first, second, both)


def test_qnet_run_executes_the_scenario_circuit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stack.cli import main

    sc = tmp_path / "dqc.toml"
    (tmp_path / "ghz.stim").write_text("H 0\nCX 0 1 1 2\nM 0 1 2\n")
    text = Path("examples/compute.toml").read_text().replace('file = "circuits/ghz.stim"\nshots = 200',
                                                              'file = "ghz.stim"\nshots = 40')
    sc.write_text(text.replace("depolarizing = 0.01", "depolarizing = 0.0"))
    out = tmp_path / "report.json"
    assert main(["run", str(sc), "--no-pcap", "--quiet", "--json", str(out)]) == 0
    circuit = json.loads(out.read_text())["circuit"]
    assert circuit["shots"] == 40 and circuit["ebits_consumed"] == circuit["ebits_predicted"]
    assert set(circuit["outcomes"]) <= {"000", "111"} and sum(circuit["outcomes"].values()) == 40
    (tmp_path / "t.qasm").write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\n'
                                     "t q[0];\ncx q[0],q[1];\nmeasure q -> c;\n")
    sc.write_text(text.replace('file = "ghz.stim"', 'file = "t.qasm"'))
    assert main(["run", str(sc), "--no-pcap", "--quiet"]) == 2
    assert "non-Clifford operations (T)" in capsys.readouterr().err
    assert main(["up", str(sc)]) == 2


def test_a_layer_failing_the_execution_is_one_line_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """An ERR for an executing QPU's pairs (here raised inside trio's exception group, as a run raises it)
    ends qnet run with status 1 and one line naming the layer's error."""
    from protocols.common import NETWORK_SERVICE_PORT
    from protocols.packets import linkservice as ll
    from stack.api import dqc_run
    from stack.api.errors import LinkError
    from stack.cli import main

    def failing(*args: object, **kwargs: object) -> None:
        raise ExceptionGroup("run", [ExceptionGroup("apps", [LinkError(ll.ERR_NOPATH, 1, NETWORK_SERVICE_PORT)])])

    monkeypatch.setattr(dqc_run, "execute_program", failing)
    sc = tmp_path / "dqc.toml"
    (tmp_path / "ghz.stim").write_text("H 0\nCX 0 1 1 2\nM 0 1 2\n")
    sc.write_text(Path("examples/compute.toml").read_text().replace('file = "circuits/ghz.stim"', 'file = "ghz.stim"'))
    assert main(["run", str(sc), "--no-pcap", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "execution failed: network layer answered ERR NOPATH" in err, err
