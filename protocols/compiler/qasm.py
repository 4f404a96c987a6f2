"""OpenQASM 2 and 3 input through pyqasm (qBraid's semantic analyser on the reference ``openqasm3`` ANTLR
parser): it validates the program and unrolls gate definitions, loops and the standard libraries
(qelib1.inc, stdgates.inc) to h, x, y, z, s, sdg, sx, t, tdg, rx, ry, rz, cx, cz, swap and ccx, which
this module maps onto the compiler's gate set. Rotations by multiples of π/2 are the Cliffords they equal (up
to global phase); other rotations and T are non-Clifford operations that the stabiliser medium cannot
execute; ccx is written out in H, T and CX (Nielsen & Chuang, Fig. 4.9). Classically controlled operations
(``if``) and ``while`` loops are refused, and so is a program of more operations than the compiler takes,
counted before pyqasm unrolls it (:mod:`protocols.compiler.qasm_bounds`). Measurements are recorded in the
order they occur, and the k-th must write the k-th classical bit (bits numbered across the registers in the
order they are declared), so that outcome bit k is bit k of the program's bits; any other target is refused.

Imported lazily: only ``qnet compile`` on a .qasm file loads the parser.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
from typing import Any

from protocols.compiler.circuit import Circuit, CircuitBuilder
from protocols.compiler.gates import CompileError, clifford_ops, non_clifford_phase, rotation_ops
from protocols.compiler.qasm_bounds import check_qasm_size

CLIFFORDS = {"id": "I", "x": "X", "y": "Y", "z": "Z", "h": "H", "s": "S", "sdg": "S_DAG", "sx": "SQRT_X",
             "sxdg": "SQRT_X_DAG", "cx": "CX", "cnot": "CX", "cy": "CY", "cz": "CZ", "swap": "SWAP"}
ROTATIONS = {"rx": "X", "ry": "Y", "rz": "Z", "p": "Z", "u1": "Z", "phase": "Z"}
TOFFOLI = (("H", (2,)), ("CX", (1, 2)), ("TDG", (2,)), ("CX", (0, 2)), ("T", (2,)), ("CX", (1, 2)),
           ("TDG", (2,)), ("CX", (0, 2)), ("T", (1,)), ("T", (2,)), ("H", (2,)), ("CX", (0, 1)), ("T", (0,)),
           ("TDG", (1,)), ("CX", (0, 1)))
"""ccx(a, b, c) in the Clifford + T gate set (Nielsen & Chuang, Quantum Computation and Quantum Information,
Fig. 4.9)."""


def from_qasm(text: str) -> Circuit:
    """An OpenQASM 2 or 3 program as a compiler :class:`Circuit`; :class:`CompileError` on any problem."""
    import pyqasm
    from openqasm3 import ast

    if not re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.DOTALL).strip():
        raise CompileError("OpenQASM: the program is empty (nothing but comments): no circuit")
    logger = logging.getLogger("pyqasm")
    level, logger.level = logger.level, logging.CRITICAL + 1     # its errors come back as exceptions
    limit = getattr(sys, "tracebacklimit", None)   # pyqasm sets it to 0 for the whole process on an error
    try:
        with contextlib.redirect_stderr(io.StringIO()):        # ANTLR prints lexer errors; they come back raised
            module = pyqasm.loads(text)
        check_qasm_size(ast, module.original_program.statements)
        module.unroll()
        statements = module.unrolled_ast.statements
    except CompileError:
        raise
    except pyqasm.exceptions.PyQasmError as error:
        where = _syntax_error(text) if str(error).rstrip().endswith(":") else None
        raise CompileError(f"OpenQASM: {_first_line(error)}{' ' + where if where else ''}") from None
    except Exception as error:      # the ANTLR parser raises its own types on malformed text
        raise CompileError(f"OpenQASM: cannot parse: {_first_line(error)}") from None
    finally:
        logger.level = level
        _restore_traceback_limit(limit)
    return _Reader(ast).read(statements)


def _restore_traceback_limit(limit: int | None) -> None:
    if limit is None:
        if hasattr(sys, "tracebacklimit"):
            del sys.tracebacklimit
    else:
        sys.tracebacklimit = limit


def _syntax_error(text: str) -> str | None:
    """Where the OpenQASM 3 parser first trips over ``text`` ("line 4:0 missing ';' at 'cx'"): pyqasm's
    "Failed to parse OpenQASM string:" names nothing, and its parser bails out without a message, so the text
    is parsed again in the parser's permissive mode, whose syntax errors ANTLR prints to stderr."""
    import openqasm3

    printed = io.StringIO()
    with contextlib.redirect_stderr(printed), contextlib.suppress(Exception):
        openqasm3.parse(text, permissive=True)
    lines = printed.getvalue().splitlines()
    return lines[0][:160] if lines else None


def _first_line(error: BaseException) -> str:
    """The error's first line, an AST node's repr in it replaced by its line number."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    node = re.search(r"\s*\b[A-Z]\w*\(span=(?:Span\(start_line=(\d+))?.*$", lines[0])
    if node is None:
        return lines[0][:300]
    return lines[0][:node.start()][:300] + (f" (line {node.group(1)})" if node.group(1) else "")


class _Reader:
    def __init__(self, ast: Any) -> None:
        self.ast = ast
        self.builder = CircuitBuilder()
        self.offsets: dict[str, int] = {}
        self.declared = 0
        self.bits: dict[str, int] = {}
        """Each written bit register's first bit, numbered across the registers measurements write, in the order
        they are declared (a register no measurement writes, e.g. Qiskit's unused ``c`` beside ``meas``, has
        none)."""
        self.declared_bits = 0
        self.written: set[str] = set()

    def read(self, statements: list[Any]) -> Circuit:
        ast = self.ast
        self.written = {target.name.name if isinstance(target, ast.IndexedIdentifier) else target.name
                        for statement in statements if isinstance(statement, ast.QuantumMeasurementStatement)
                        and (target := statement.target) is not None}
        for statement in statements:
            self.statement(statement)
        return self.builder.build(self.declared)

    def statement(self, statement: Any) -> None:
        ast = self.ast
        if isinstance(statement, ast.QubitDeclaration):
            size = statement.size.value if statement.size is not None else 1
            self.offsets[statement.qubit.name] = self.declared
            self.declared += size
        elif isinstance(statement, ast.QuantumGate):
            self.gate(statement)
        elif isinstance(statement, ast.ClassicalDeclaration) and isinstance(statement.type, ast.BitType):
            if statement.identifier.name in self.written:
                size = statement.type.size.value if statement.type.size is not None else 1
                self.bits[statement.identifier.name] = self.declared_bits
                self.declared_bits += size
        elif isinstance(statement, ast.QuantumMeasurementStatement):
            self.check_target(statement.target)
            self.builder.measure("M", self.qubit(statement.measure.qubit))
        elif isinstance(statement, ast.QuantumReset):
            targets = statement.qubits if isinstance(statement.qubits, list) else [statement.qubits]
            for target in targets:
                self.builder.reset("R", self.qubit(target))
        elif isinstance(statement, ast.BranchingStatement):
            raise CompileError("OpenQASM: classically controlled operations (if) are not supported")
        elif not isinstance(statement, (ast.Include, ast.ClassicalDeclaration, ast.QuantumBarrier,
                                        ast.QuantumPhase)):
            raise CompileError(f"OpenQASM: unsupported statement {type(statement).__name__}")

    def check_target(self, target: Any) -> None:
        """The k-th measurement must write the k-th bit declared among the registers measurements write:
        outcomes are recorded in program order."""
        k = self.builder.num_measurements
        if target is None:
            raise CompileError(f"OpenQASM: measurement {k} writes no bit: write each outcome to a bit (the k-th "
                               "measurement to the k-th declared bit; outcome bit k is that bit)")
        name = target.name.name if isinstance(target, self.ast.IndexedIdentifier) else target.name
        index = int(target.indices[0][0].value) if getattr(target, "indices", None) else 0
        if name not in self.bits or self.bits[name] + index != k:
            expected = next((f"{r}[{k - first}]" for r, first in reversed(self.bits.items()) if first <= k), "")
            left = (f"the next bit, {expected}" if k < self.declared_bits
                    else f"all {self.declared_bits} bits are written")
            raise CompileError(f"OpenQASM: measurement {k} writes {name}[{index}] ({left}): outcomes are recorded "
                               "in program order, so the k-th measurement must write the k-th bit declared among the "
                               "registers measurements write, each bit once")

    def qubit(self, target: Any) -> int:
        name = target.name.name
        if name not in self.offsets:
            raise CompileError(f"OpenQASM: unknown qubit register {name!r}")
        index = target.indices[0][0].value if target.indices else 0
        return self.offsets[name] + int(index)

    def gate(self, gate: Any) -> None:
        name = gate.name.name.lower()
        qubits = tuple(self.qubit(q) for q in gate.qubits)
        params = [float(argument.value) for argument in gate.arguments]
        if name in CLIFFORDS:
            self.builder.add(clifford_ops(CLIFFORDS[name], qubits) if CLIFFORDS[name] != "I" else [])
        elif name in ROTATIONS:
            self.builder.add(rotation_ops(ROTATIONS[name], params[0], qubits[0]))
        elif name in ("t", "tdg"):
            self.builder.add([non_clifford_phase(name.upper(), qubits[0])])
        elif name in ("ccx", "toffoli"):
            for step, operands in TOFFOLI:
                picked = tuple(qubits[i] for i in operands)
                self.builder.add([non_clifford_phase(step, picked[0])] if step in ("T", "TDG")
                                 else clifford_ops(step, picked))
        else:
            raise CompileError(f"OpenQASM: unknown gate {name!r}")
