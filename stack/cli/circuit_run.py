"""``qnet run`` with a ``[[circuit]]`` entry: compile the circuit for the scenario's QPUs (stack.compile) and
execute it through the application API (stack.api.dqc_run); the report's ``circuit`` section."""

from __future__ import annotations

from typing import Any, BinaryIO

from stack.runtime import RunResult
from stack.scenario import Scenario


def run_circuit(scenario: Scenario, seed: int | None, stream: BinaryIO | None) -> tuple[RunResult, dict[str, Any]]:
    """Compile and execute the scenario's circuit. Raises :class:`protocols.compiler.CompileError` or
    :class:`protocols.apps.dqc.NotExecutable` (both one line) when it cannot."""
    from stack import compile as compiler
    from stack.api.dqc_run import circuit_report, execute_program

    config = scenario.circuits[0]
    circuit = compiler.read_circuit(config.file)
    program = compiler.compile_circuit(circuit, compiler.network_model(scenario), seed=config.seed,
                                       teledata=config.teledata)
    execution = execute_program(scenario, program, config.shots, seed, stream, config.service)
    return execution.run, circuit_report(execution, circuit, config.seed, config.file)
