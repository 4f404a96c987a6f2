"""What the compiler refuses before it unrolls anything (a few lines can stand for more operations than memory
holds), the seeds it takes, and OpenQASM's measurement targets, includes and messages: one line each."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from protocols.compiler import CompileError, NetworkModel, compile_circuit, from_qasm, from_stim
from protocols.compiler.circuit import MAX_OPERATIONS
from protocols.compiler.partition import MTKAHYPAR_SEEDS, partitioner_seed

H = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'
LIMIT = f"more than the compiler's limit \\({MAX_OPERATIONS:,}\\)"


@pytest.fixture
def bounded_memory() -> Iterator[None]:
    """The address space capped at 2 GB more than in use: an input the compiler unrolled before counting would
    end in MemoryError (or fail the test) instead of taking the machine's memory."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        in_use = int(statm.read().split()[0]) * resource.getpagesize()
    cap = in_use + 2 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize("seed", [2**31 - 1, 2**31, 3_000_000_000, 2**32 - 1, 2**63 - 1, -1])
def test_every_seed_compiles_and_the_same_seed_gives_the_same_program(seed: int) -> None:
    circuit = from_stim("H 0\n" + "".join(f"CX {i} {i + 1}\nCZ {i} {(i + 3) % 8}\n" for i in range(7)))
    network = NetworkModel.uniform([3, 3, 3])
    first = compile_circuit(circuit, network, seed=seed)
    assert compile_circuit(circuit, network, seed=seed).to_json() == first.to_json()


def test_the_partitioner_seed_is_the_seed_when_mtkahypar_takes_it_and_spread_otherwise() -> None:
    assert [partitioner_seed(s) for s in (0, 1, 2**31 - 1)] == [0, 1, 2**31 - 1]
    mapped = {partitioner_seed(s) for s in (2**31, 2**31 + 1, 2**32, 2**63 - 1, -1, -2)}
    assert len(mapped) == 6 and all(0 <= s < MTKAHYPAR_SEEDS for s in mapped)
    assert partitioner_seed(2**40) == partitioner_seed(2**40)


@pytest.mark.parametrize(("text", "count"), [
    ("REPEAT 1000000000 {\nCX 0 1\n}", "1,000,000,000"),
    ("REPEAT 1001 {\nREPEAT 1000 {\nH 0\n}\n}", "1,001,000"),
    ("REPEAT 500001 {\nCX 0 1 2 3\n}", "1,000,002"),
    ("REPEAT 1000001 {\nTICK\n}", "1,000,001"),
])
def test_a_stim_circuit_is_counted_before_it_is_unrolled(text: str, count: str, bounded_memory: None) -> None:
    with pytest.raises(CompileError, match=f"^the stim circuit unrolls to {count} operations: {LIMIT}$"):
        from_stim(text)


@pytest.mark.parametrize(("stim_text", "qasm_body", "read"), [
    ("REPEAT 10 {\nH 0\nX 1\n}", "qubit[2] q;\nbit[2] c;\nfor int i in [0:7] { h q[0]; x q[1]; }", True),
    ("REPEAT 7 {\nH 0 1 2\n}", "qubit[2] q;\nbit[2] c;\nfor int i in [0:7] { h q; }\nx q[0];", False),
])
def test_the_limit_is_exact(stim_text: str, qasm_body: str, read: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """20 operations pass a limit of 20 and 21 do not (OpenQASM counts the 4 declared qubits and bits too)."""
    monkeypatch.setattr("protocols.compiler.circuit.MAX_OPERATIONS", 20)
    for read_circuit, text in ((from_stim, stim_text), (from_qasm, H + qasm_body)):
        if read:
            read_circuit(text)
        else:
            with pytest.raises(CompileError, match=r" 21 operations: more than the compiler's limit \(20\)$"):
                read_circuit(text)


@pytest.mark.parametrize("body", [
    "qubit[1] q;\npow(100000000) @ x q[0];",
    "qubit[100000000] q;",
    "qubit[1] q;\nbit[100000000] c;",
    "qubit[1] q;\narray[int[32], 10000, 10000] a;",
    "qubit[1] q;\nfor int i in [0:100000000] { h q[0]; }",
    "qubit[1] q;\nfor int i in [0:100000000] { }",
    "qubit[2] q;\nconst int n = 1000;\nfor int i in [1:n] { for int j in [0:n] { cx q[0], q[1]; } }",
    "qubit[2] q;\nfor int i in [0:3000] { for int j in [i:3000] { cx q[0], q[1]; } }",
    "qubit[1000] q;\nfor int i in {1, 2, 3, 4, 5, 6, 7, 8, 9, 10} { for int j in [0:99] { h q; } }",
    "gate g0 a { h a; h a; h a; h a; h a; h a; h a; h a; h a; h a; }\n"
    + "".join(f"gate g{k} a {{ {f'g{k - 1} a; ' * 10}}}\n" for k in range(1, 10)) + "qubit[1] q;\ng9 q[0];",
])
def test_an_openqasm_program_is_counted_before_it_is_unrolled(body: str, bounded_memory: None) -> None:
    with pytest.raises(CompileError, match=f"^the OpenQASM program unrolls to at least [0-9,]+ operations: {LIMIT}$"):
        from_qasm(H + body)


@pytest.mark.parametrize(("body", "message"), [
    ("qubit[2] q;\nwhile (true) { h q[0]; }", r"^OpenQASM: line 4: while loops are not supported"),
    ("qubit[2] q;\nint k = 1;\nswitch (k) { case 1 { while (true) { h q[0]; } } default { } }",
     r"^OpenQASM: line 5: while loops are not supported"),
    ("qubit[2] q;\nbox { while (true) { h q[0]; } }", r"^OpenQASM: line 4: while loops are not supported"),
    ("qubit[2] q;\nint n;\nn = 5;\nfor int i in [0:n] { h q[0]; }",
     r"^OpenQASM: line 6: the for loop's range cannot be counted before unrolling"),
    ("int n;\nqubit[n] q;", r"^OpenQASM: line 4: the size of 'q' cannot be counted"),
    ("gate g a { g a; }\nqubit[1] q;\ng q[0];", r"^OpenQASM: gate 'g' calls itself$"),
])
def test_what_cannot_be_counted_is_refused(body: str, message: str) -> None:
    with pytest.raises(CompileError, match=message) as error:
        from_qasm(H + body)
    assert "\n" not in str(error.value)


def test_loops_with_constant_and_nested_ranges_are_counted_and_read() -> None:
    circuit = from_qasm(H + "const int n = 3;\nqubit[n + 1] q;\nbit[n + 1] c;\n"
                        "for int i in [0:n - 1] { for int j in [i + 1:n] { cz q[i], q[j]; } }\n"
                        "for int i in {0, 2} { pow(2) @ s q[i]; }\nc = measure q;\n")
    assert [op.qubits for op in circuit.ops if op.name == "CZ"] == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert circuit.num_measurements == 4


@pytest.mark.parametrize(("program", "message"), [
    ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nx q[0];\nmeasure q[0] -> c[1];\n'
     "measure q[1] -> c[0];\n",
     r"^OpenQASM: measurement 0 writes c\[1\] \(the next bit, c\[0\]\): outcomes are recorded in program order"),
    ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nmeasure q[0] -> c[0];\n'
     "measure q[0] -> c[0];\nmeasure q[1] -> c[1];\n", r"measurement 1 writes c\[0\] \(the next bit, c\[1\]\)"),
    (H + "qubit[2] q;\nbit[2] c;\nc[1] = measure q[0];\n", r"measurement 0 writes c\[1\]"),
    (H + "qubit[2] q;\nbit[1] a;\nbit[2] b;\na = measure q[0];\nb[1] = measure q[1];\n",
     r"measurement 1 writes b\[1\] \(the next bit, b\[0\]\)"),
    (H + "qubit[2] q;\nbit[2] c;\nc = measure q;\nc[0] = measure q[0];\n",
     r"measurement 2 writes c\[0\] \(all 2 bits are written\)"),
    (H + "qubit[1] q;\nmeasure q[0];\n", "measurement 0 writes no bit"),
])
def test_a_measurement_must_write_the_next_declared_bit(program: str, message: str) -> None:
    with pytest.raises(CompileError, match=message) as error:
        from_qasm(program)
    assert "\n" not in str(error.value)


def test_measurements_into_the_bits_in_order_are_read_across_registers() -> None:
    circuit = from_qasm(H + "qubit[3] q;\nbit a;\nbit[2] b;\nx q[1];\na = measure q[2];\nb = measure q[0:1];\n")
    assert [(op.qubits, op.record) for op in circuit.ops if op.kind == "measure"] == [((2,), 0), ((0,), 1),
                                                                                       ((1,), 2)]


@pytest.mark.parametrize(("text", "message"), [
    (H.replace("stdgates", "nonexist") + "qubit[2] q;\nh q[0];\n",
     r"^OpenQASM: line 2: include 'nonexist.inc': only qelib1.inc and stdgates.inc can be included"),
    (H + "qubit[2] q;\nh q[0] $$;\n", r"^OpenQASM: Failed to parse OpenQASM string: L4:C7: token recognition error"),
    (H + "qubit[2] q;\npow(0.5) @ x q[0];\n",
     r"^OpenQASM: Power modifier argument must be an integer in gate operation \(line 4\)$"),
])
def test_includes_lexer_errors_and_pyqasm_s_errors_are_one_short_line(text: str, message: str,
                                                                       capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CompileError, match=message) as error:
        from_qasm(text)
    assert "\n" not in str(error.value) and len(str(error.value)) < 200
    assert capfd.readouterr().err == ""         # ANTLR's console listener printed the lexer's error here


@pytest.mark.parametrize("body", [
    "qubit[400] q;\nbit[1] c;\nfor int i in [0:2] { h q[0:399]; }",                       # a slice: its register
    "qubit[400] q;\nbit[1] c;\nlet r = q;\nfor int i in [0:2] { h r; }",                    # an alias: as large
    "qubit[1] q;\nint n = 1;\nfor int i in [0:0] { n = 1500; }\nfor int j in [0:n] { h q[0]; }",   # a loop's assignment
    "qubit[1] q;\ndef f(qubit a) -> int[32] { for int i in [0:1100] { h a; } return 1; }\nint[32] x = f(q[0]);",
    "qubit[1] q;\nfor int i in [1:2**66/2**45] { h q[0]; }",                                 # a power past 64 bits
])
def test_what_the_count_once_missed_is_refused_before_unrolling(body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review 9e: each of these counted far below what pyqasm unrolls (a slice or alias as one operation, an
    assignment in a loop body lost to the copy of the environment, a subroutine called in a declaration not
    looked into, 2**66 evaluated as 0); at the real limit each was 10^6 operations and tens of seconds and GB.
    Scaled to a limit of 1,000, each is refused before anything is unrolled."""
    monkeypatch.setattr("protocols.compiler.circuit.MAX_OPERATIONS", 1_000)
    with pytest.raises(CompileError, match=r"more than the compiler's limit \(1,000\)|cannot be counted"):
        from_qasm(H + body)


def _counted(body: str) -> None:
    """The size check alone (no unrolling), as from_qasm runs it first."""
    import openqasm3

    from protocols.compiler.qasm_bounds import check_qasm_size

    check_qasm_size(openqasm3.ast, openqasm3.parse(H + body).statements)


@pytest.mark.parametrize("body", [
    "qubit[1000] q;\nlet anc = q[999];\nfor int i in [0:998] { cx q[i], anc; }",             # an alias of one qubit
    "qubit[1000] q;\nfor int layer in [0:999] { cx q[0:2:998], q[1:2:999]; }",             # slices of 500
    "qubit[1] q;\nconst int n = ((((2**64)**64)**64)**64)**64;\nh q[0];",                   # never computed
])
def test_ordinary_programs_are_not_overcounted(body: str) -> None:
    """Review 9f: an alias of one qubit counted its whole register on every use, a slice its whole register
    (a 1,000-qubit ladder or brickwork circuit was refused); a huge constant was computed (GB) though unused."""
    _counted(body)


@pytest.mark.parametrize("body", [
    "qubit[1] q;\nint n = 1;\nfor int i in [0:2] { for int j in [1:n] { h q[0]; } n = n * 1000; }",
    "qubit[1000] q;\ndef f(qubit[1000] a) { h a; }\nfor int i in [0:999] { f(q); }",
])
def test_a_loop_that_changes_its_ranges_and_register_parameters_are_counted(body: str) -> None:
    """Review 9f: a variable the loop body assigns kept its value from before the loop inside the body (10^6
    operations counted as 8); a subroutine's register parameter counted as one qubit (10^6 counted as 2,000)."""
    with pytest.raises(CompileError, match=r"more than the compiler's limit|cannot be counted"):
        _counted(body)
