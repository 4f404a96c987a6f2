"""Reading circuits: stim natively, OpenQASM 2 and 3 through pyqasm; what is refused, in one line."""

from __future__ import annotations

import math

import pytest
import stim

from protocols.compiler import CompileError, from_qasm, from_stim
from protocols.compiler.gates import X, Z, clifford_ops, rotation_ops


@pytest.mark.parametrize("name", ["SWAP", "ISWAP", "ISWAP_DAG", "SQRT_XX", "SQRT_ZZ_DAG", "CXSWAP", "SWAPCZ"])
def test_two_qubit_cliffords_are_decomposed_exactly(name: str) -> None:
    ops = clifford_ops(name, (0, 1))
    assert all(len(op.qubits) == 1 or len(op.name) in (2, 3) for op in ops)
    decomposed = stim.Circuit()
    for op in ops:
        decomposed.append(op.name, list(op.qubits))
    assert decomposed.to_tableau() == stim.Tableau.from_named_gate(name)


def test_a_stim_circuit_is_read_with_repeat_annotations_and_records() -> None:
    circuit = from_stim("QUBIT_COORDS(0, 0) 0\nREPEAT 3 {\n  H 0\n  CX 0 1\n  TICK\n}\nM 0 1\nDETECTOR rec[-1]\nMR 1")
    assert circuit.num_qubits == 2 and circuit.num_measurements == 3
    assert [op.name for op in circuit.ops] == ["H", "CX"] * 3 + ["M", "M", "MR"]
    assert [op.record for op in circuit.ops if op.kind == "measure"] == [0, 1, 2]
    cx = circuit.ops[1]
    assert cx.keeps == (Z, X)                   # control side in Z, target side in X


@pytest.mark.parametrize(("text", "message"), [
    ("DEPOLARIZE1(0.1) 0", "unsupported stim instruction DEPOLARIZE1"),
    ("M 0\nCX rec[-1] 1", r"CX rec\[-1\] 1: a classically controlled gate"),
    ("MPP X0*X1", r"MPP X0\*X1: MPP \(a Pauli-product measurement"),
    ("MXX 0 1", "unsupported stim instruction MXX"),
    ("M(0.1) 0", "M: noisy measurements are not supported"),
    ("H 0\nFOO 1", "not a stim circuit"),
])
def test_what_stim_input_is_refused(text: str, message: str) -> None:
    with pytest.raises(CompileError, match=message) as error:
        from_stim(text)
    assert "\n" not in str(error.value)


def test_rotations_by_quarter_turns_are_cliffords() -> None:
    assert [op.name for op in rotation_ops("Z", math.pi / 2, 0)] == ["S"]
    assert [op.name for op in rotation_ops("X", -math.pi / 2, 0)] == ["SQRT_X_DAG"]
    assert rotation_ops("Y", 2 * math.pi, 0) == []
    (t,) = rotation_ops("Z", math.pi / 4, 0)
    assert not t.clifford and t.keeps == (Z,)


QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg a[2];
qreg b[1];
creg c[3];
h a[0];
cx a[0],b[0];
s a[1]; sdg b[0]; sx a[1];
cz a[1],b[0];
swap a[0],a[1];
rz(pi/2) a[0];
u3(pi/2,0,pi) b[0];
barrier a;
measure a[0] -> c[0];
reset a[1];
"""


def test_openqasm2_is_the_same_circuit() -> None:
    circuit = from_qasm(QASM2)
    assert circuit.num_qubits == 3 and circuit.num_measurements == 1 and not circuit.non_clifford
    expected = stim.Circuit("H 0\nCX 0 2\nS 1\nS_DAG 2\nSQRT_X 1\nCZ 1 2\nSWAP 0 1\nS 0\nH 2")
    unitary = stim.Circuit()
    for op in circuit.ops:
        if op.kind == "gate":
            unitary.append(op.name, list(op.qubits))
    assert unitary.to_tableau() == expected.to_tableau()
    assert [op.kind for op in circuit.ops[-2:]] == ["measure", "reset"]


def test_openqasm3_loops_and_gates_are_unrolled() -> None:
    circuit = from_qasm('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[4] q;\nbit[4] c;\nh q[0];\n'
                        'for int i in [0:2] { cx q[i], q[i+1]; }\nc = measure q;\n')
    assert [op.name for op in circuit.ops if op.kind == "gate"] == ["H", "CX", "CX", "CX"]
    assert circuit.num_measurements == 4


@pytest.mark.parametrize(("text", "message"), [
    ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nfoo q[0];', "OpenQASM: .*foo"),
    ("OPENQASM 2.0;\nqreg q[2];\nh q[5];", "OpenQASM: .*"),
    ("not qasm at all;", "OpenQASM: "),
    ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit c;\nc = measure q[0];\nif (c == 1) x q[1];',
     "classically controlled"),
])
def test_what_openqasm_input_is_refused(text: str, message: str, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CompileError, match=message) as error:
        from_qasm(text)
    assert "\n" not in str(error.value)
    assert capfd.readouterr().err == ""         # the parser's own logging is silenced


@pytest.mark.parametrize(("text", "where"), [
    ("this is not qasm", "line 1:8 missing ';' at 'not'"),
    ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0]\ncx q[0], q[1];', "line 5:0 missing ';' at 'cx'"),
])
def test_a_syntax_error_says_where(text: str, where: str, capfd: pytest.CaptureFixture[str]) -> None:
    """pyqasm's parse error is "Failed to parse OpenQASM string: " and nothing more: the line and column are
    added (it was a user's only clue)."""
    with pytest.raises(CompileError) as error:
        from_qasm(text)
    assert str(error.value).endswith(where) and "\n" not in str(error.value)
    assert capfd.readouterr().err == ""


def test_toffoli_is_written_out_in_clifford_and_t() -> None:
    circuit = from_qasm('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\nccx q[0],q[1],q[2];')
    assert circuit.non_clifford == ("T", "TDG") and circuit.two_qubit_gates == 6


def test_the_package_example_runs() -> None:
    import doctest

    import protocols.compiler

    assert doctest.testmod(protocols.compiler).failed == 0


def test_a_refused_program_leaves_the_process_s_tracebacks_alone() -> None:
    """pyqasm sets ``sys.tracebacklimit = 0`` for the whole process when it rejects a program; the reader puts the
    old value back (else every later traceback in the process, and tools that read them, would be empty)."""
    import sys

    had = hasattr(sys, "tracebacklimit")
    with pytest.raises(CompileError):
        from_qasm('OPENQASM 3.0;\nqubit[1] q;\nnot_a_gate q[0];\n')
    assert hasattr(sys, "tracebacklimit") == had


def test_qiskits_measure_all_export_reads_with_its_unused_register() -> None:
    """Qiskit's ``measure_all`` exports ``creg c[2]; creg meas[2];`` and measures into ``meas`` only: bits are
    numbered across the registers measurements write, so the unused ``c`` does not make the first measurement
    "write the wrong bit" (review 9e: it was refused)."""
    from protocols.compiler import from_qasm

    circuit = from_qasm('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\ncreg meas[2];\nh q[0];\n'
                        'cx q[0],q[1];\nbarrier q[0],q[1];\nmeasure q[0] -> meas[0];\nmeasure q[1] -> meas[1];\n')
    assert circuit.num_measurements == 2 and [op.record for op in circuit.ops if op.kind == "measure"] == [0, 1]
