"""How many operations an OpenQASM program unrolls to, counted on its parsed AST before pyqasm unrolls it: a
few lines (a ``for`` over a large range, a large ``pow`` modifier, gates that call gates, a huge register)
can stand for more operations than memory holds, and pyqasm unrolls them all before it returns.

A lower bound on what pyqasm makes of the program: each gate application (a gate defined in the program counts
its body's operations, ``pow(k) @`` k times, a gate on a whole register once per qubit), measurement, reset and
barrier, each declared qubit and bit. The standard libraries' gates count one each. ``while`` loops are refused
(nothing bounds them before they run); a ``for`` loop's range must be integer expressions of literals, other
constants and enclosing loop variables.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import protocols.compiler.circuit as circuit
from protocols.compiler.circuit import check_operations
from protocols.compiler.gates import CompileError

LIBRARIES = ("qelib1.inc", "stdgates.inc")
RANGE = "the for loop's range"


class _Unknown(Exception):
    """An expression the counter cannot evaluate (a loop variable it has not bound, a function call ...)."""


def check_qasm_size(ast: Any, statements: list[Any]) -> None:
    """One-line :class:`CompileError` for a program whose operations cannot be counted or are more than
    :data:`protocols.compiler.circuit.MAX_OPERATIONS`, and for an include other than the standard libraries."""
    check_operations(_Counter(ast).block(statements, {}), "the OpenQASM program unrolls to at least")


class _Counter:
    def __init__(self, ast: Any) -> None:
        self.ast = ast
        self.sizes: dict[str, int] = {}
        """Declared registers' sizes (qubits and bits), by name."""
        self.gates: dict[str, Any] = {}
        self.gate_costs: dict[str, int] = {}
        self.subroutines: dict[str, Any] = {}
        self.open: set[str] = set()
        """Gates and subroutines being counted (a call of one of them is recursion)."""
        self.unbound: set[str] = set()
        """Loop variables left unbound while their loop's body is counted once for all its iterations."""

    def block(self, statements: Iterable[Any], env: dict[str, int]) -> int:
        total = 0
        for statement in statements:
            total += self.statement(statement, env)
            if total > circuit.MAX_OPERATIONS:
                break
        return total

    def statement(self, s: Any, env: dict[str, int]) -> int:
        ast = self.ast
        if isinstance(s, ast.Include):
            if s.filename not in LIBRARIES:
                raise CompileError(f"OpenQASM: line {_line(s)}: include {s.filename!r}: only "
                                   f"{' and '.join(LIBRARIES)} can be included (no other file is read)")
            return 0
        if isinstance(s, ast.WhileLoop):
            raise CompileError(f"OpenQASM: line {_line(s)}: while loops are not supported (their operations "
                               "cannot be counted before they run; use a for loop over a constant range)")
        if isinstance(s, ast.ForInLoop):
            return self.loop(s, env)
        if isinstance(s, ast.QubitDeclaration):
            return self.declare(s.qubit.name, [s.size], env, s)
        if isinstance(s, ast.ClassicalDeclaration | ast.ConstantDeclaration):
            return self.classical(s, env)
        if isinstance(s, ast.QuantumGateDefinition):
            self.gates[s.name.name] = s
            return 0
        if isinstance(s, ast.SubroutineDefinition):
            self.subroutines[s.name.name] = s
            return 0
        if isinstance(s, ast.QuantumGate):
            return self.gate(s, env)
        if isinstance(s, ast.QuantumMeasurementStatement):
            return self.width([s.measure.qubit], env)
        if isinstance(s, ast.QuantumReset | ast.QuantumBarrier):
            return self.width(s.qubits if isinstance(s.qubits, list) else [s.qubits], env)
        if isinstance(s, ast.BranchingStatement):
            return self.block(s.if_block, env) + self.block(s.else_block, env) + self.calls(s.condition)
        if isinstance(s, ast.SwitchStatement):
            bodies = [body for _, body in s.cases] + ([s.default] if s.default is not None else [])
            return sum(self.block(body.statements, env) for body in bodies)
        if isinstance(s, ast.CompoundStatement):
            return self.block(s.statements, env)
        if isinstance(s, ast.Box):
            return self.block(s.body, env)
        if isinstance(s, ast.AliasStatement):          # as large as what it names
            self.sizes[s.target.name] = self.size(s.value, env)
            return 1
        calls = self.calls(s)                           # a subroutine called anywhere in the statement's expressions
        if isinstance(s, ast.ClassicalAssignment) and isinstance(s.lvalue, ast.Identifier):
            env.pop(s.lvalue.name, None)
        return max(1, calls)

    def loop(self, s: Any, env: dict[str, int]) -> int:
        try:
            return self._loop(s, env)
        finally:
            for name in self.assigned(s.block):         # the body's copies of env kept its assignments
                env.pop(name, None)

    def _loop(self, s: Any, env: dict[str, int]) -> int:
        values = self.iterations(s, env)
        name = s.identifier.name
        changing = self.assigned(s.block)               # unknown in the body: an iteration may have changed them
        env = {key: value for key, value in env.items() if key not in changing}
        self.unbound.add(name)
        try:
            return len(values) * max(1, self.block(s.block, {k: v for k, v in env.items() if k != name}))
        except _Unknown:
            pass        # the body depends on the loop variable (a triangular loop): count it value by value
        finally:
            self.unbound.discard(name)
        total = 0
        for value in values:
            total += max(1, self.block(s.block, {**env, name: value}))
            if total > circuit.MAX_OPERATIONS:
                break
        return total

    def iterations(self, s: Any, env: dict[str, int]) -> range | list[int]:
        ast = self.ast
        domain = s.set_declaration
        if isinstance(domain, ast.RangeDefinition):
            start, end = self.known(domain.start, env, s, RANGE), self.known(domain.end, env, s, RANGE)
            step = 1 if domain.step is None else self.known(domain.step, env, s, RANGE)
            return range(start, end + (1 if step > 0 else -1), step or 1)
        if isinstance(domain, ast.DiscreteSet):
            return [self.known(value, env, s, RANGE) for value in domain.values]
        raise CompileError(f"OpenQASM: line {_line(s)}: a for loop over {type(domain).__name__} is not supported "
                           "(loop over a range or a set of integers)")

    def known(self, expression: Any, env: dict[str, int], s: Any, what: str) -> int:
        """The expression's value, or a one-line error (an :class:`_Unknown` while an enclosing loop's variable
        is unbound: that loop is then counted value by value)."""
        try:
            return self.value(expression, env)
        except _Unknown:
            if self.unbound:
                raise
        raise CompileError(f"OpenQASM: line {_line(s)}: {what} cannot be counted before unrolling (use integer "
                           "expressions of literals and constants)")

    def declare(self, name: str, dimensions: list[Any], env: dict[str, int], s: Any) -> int:
        count = 1
        for dimension in dimensions:
            count *= 1 if dimension is None else self.known(dimension, env, s, f"the size of {name!r}")
        self.sizes[name] = count
        return max(1, count)

    def classical(self, s: Any, env: dict[str, int]) -> int:
        ast = self.ast
        name = s.identifier.name
        env.pop(name, None)
        if s.init_expression is not None and (calls := self.calls(s.init_expression)):
            return calls                                # its value is not known before the call runs
        if isinstance(s.type, ast.BitType):
            return self.declare(name, [s.type.size], env, s)
        if isinstance(s.type, ast.ArrayType):
            return self.declare(name, list(s.type.dimensions), env, s)
        if isinstance(s.type, ast.IntType | ast.UintType) and s.init_expression is not None:
            with contextlib.suppress(_Unknown):
                env[name] = self.value(s.init_expression, env)
        return 1

    def gate(self, s: Any, env: dict[str, int]) -> int:
        ast = self.ast
        repeats = 1
        for modifier in s.modifiers:
            argument = modifier.argument
            if modifier.modifier == ast.GateModifierName.pow and not isinstance(argument, ast.FloatLiteral):
                repeats *= abs(self.known(argument, env, s, "a pow modifier's power"))   # pyqasm refuses floats
        return repeats * self.width(s.qubits, env) * self.gate_cost(s.name.name)

    def gate_cost(self, name: str) -> int:
        if name not in self.gates:
            return 1
        if name not in self.gate_costs:
            if name in self.open:
                raise CompileError(f"OpenQASM: gate {name!r} calls itself")
            self.open.add(name)
            outer, self.sizes = self.sizes, {}        # its operands are its parameters, one qubit each
            try:
                self.gate_costs[name] = max(1, self.block(self.gates[name].body, {}))
            finally:
                self.sizes = outer
                self.open.discard(name)
        return self.gate_costs[name]

    def call(self, name: str, s: Any) -> int:
        if name not in self.subroutines:
            return 1
        if name in self.open:
            raise CompileError(f"OpenQASM: line {_line(s)}: subroutine {name!r} calls itself")
        self.open.add(name)
        outer, self.sizes = self.sizes, {}              # its register parameters at their declared sizes
        try:
            for argument in self.subroutines[name].arguments:
                if isinstance(argument, self.ast.QuantumArgument):
                    size = argument.size
                    self.sizes[argument.name.name] = 1 if size is None else self.known(
                        size, {}, s, f"the size of parameter {argument.name.name!r}")
            return max(1, self.block(self.subroutines[name].body, {}))
        finally:
            self.sizes = outer
            self.open.discard(name)

    def width(self, operands: list[Any], env: dict[str, int]) -> int:
        """How many times a statement on these operands applies: a whole register's size, or once."""
        return max((self.size(q, env) for q in operands), default=1)

    def size(self, operand: Any, env: dict[str, int]) -> int:
        """How many qubits (or bits) an operand names: one for a single index, a slice's length when its bounds
        can be evaluated, else the whole register (an upper bound); a concatenation, the sum."""
        ast = self.ast
        if isinstance(operand, ast.Concatenation):
            return self.size(operand.lhs, env) + self.size(operand.rhs, env)
        if self.single(operand):
            return 1
        whole = sum(self.sizes.get(name, 1) for name in self.names(operand))
        indices = getattr(operand, "indices", None) or ([operand.index] if hasattr(operand, "index") else [])
        if len(indices) == 1 and (isinstance(indices[0], ast.DiscreteSet) or len(indices[0]) == 1):
            index = indices[0] if isinstance(indices[0], ast.DiscreteSet) else indices[0][0]
            with contextlib.suppress(_Unknown):
                if isinstance(index, ast.DiscreteSet):
                    return len(index.values)
                if isinstance(index, ast.RangeDefinition) and index.start is not None and index.end is not None:
                    step = 1 if index.step is None else self.value(index.step, env)
                    start, end = self.value(index.start, env), self.value(index.end, env)
                    return min(whole, len(range(start, end + (1 if step > 0 else -1), step or 1)))
        return whole

    def single(self, operand: Any) -> bool:
        """An operand that is one qubit: a register indexed by single values (no range or set among them)."""
        ast = self.ast
        return isinstance(operand, ast.IndexedIdentifier | ast.IndexExpression) and not any(
            isinstance(node, ast.RangeDefinition | ast.DiscreteSet) for node in _walk(operand))

    def names(self, node: Any) -> list[str]:
        """The registers an operand or expression names (an index or slice's register too, not its bounds')."""
        ast = self.ast
        if isinstance(node, ast.Identifier):
            return [node.name]
        if isinstance(node, ast.IndexedIdentifier):
            return [node.name.name]
        if isinstance(node, ast.IndexExpression):
            return self.names(node.collection)
        if isinstance(node, ast.Concatenation):
            return self.names(node.lhs) + self.names(node.rhs)
        return []

    def calls(self, node: Any) -> int:
        """The operations of every subroutine called in ``node``'s expressions."""
        return sum(self.call(call.name.name, call) for call in _walk(node) if isinstance(call, self.ast.FunctionCall))

    def assigned(self, statements: Iterable[Any]) -> set[str]:
        """Names assigned or declared anywhere in ``statements``."""
        ast = self.ast
        found = set()
        for node in _walk(list(statements)):
            if isinstance(node, ast.ClassicalAssignment) and isinstance(node.lvalue, ast.Identifier):
                found.add(node.lvalue.name)
            elif isinstance(node, ast.ClassicalDeclaration | ast.ConstantDeclaration):
                found.add(node.identifier.name)
        return found

    def value(self, expression: Any, env: dict[str, int]) -> int:
        ast = self.ast
        if isinstance(expression, ast.IntegerLiteral):
            return int(expression.value)
        if isinstance(expression, ast.Identifier) and expression.name in env:
            return env[expression.name]
        if isinstance(expression, ast.UnaryExpression) and expression.op.name == "-":
            return -self.value(expression.expression, env)
        if isinstance(expression, ast.BinaryExpression):
            left, right = self.value(expression.lhs, env), self.value(expression.rhs, env)
            operation = _ARITHMETIC.get(expression.op.name)
            if operation is not None and not (expression.op.name in ("/", "%") and right == 0):
                result = operation(left, right)
                if abs(result) <= LARGEST:
                    return result
        raise _Unknown


_ARITHMETIC = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
               "/": lambda a, b: int(a / b), "%": lambda a, b: a % b,
               "**": lambda a, b: a**b if b >= 0 and abs(a).bit_length() * b <= 2 * LARGEST.bit_length()
               else _too_large()}
LARGEST = 2**64
"""A value past this is unknown (nothing that large can be counted, and computing it could take the memory)."""


def _too_large() -> int:
    raise _Unknown


def _walk(node: Any) -> Iterator[Any]:
    """``node`` and every AST node inside it (lists and dataclass fields, depth first)."""
    if isinstance(node, list):
        for item in node:
            yield from _walk(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        yield node
        for field in dataclasses.fields(node):
            if field.name != "span":
                yield from _walk(getattr(node, field.name))


def _line(statement: Any) -> str:
    span = getattr(statement, "span", None)
    return str(span.start_line) if span is not None else "?"
