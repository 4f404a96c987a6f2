"""``qnet run`` with a ``[[circuit]]`` entry: compile the circuit for the scenario's QPUs (stack.compile) and
execute it through the application API (stack.api.dqc_run); the report's ``circuit`` section."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO

from protocols.apps.dqc import ExecutionFailed
from stack.runtime import RunResult
from stack.scenario import Scenario

if TYPE_CHECKING:               # the compiler (and json) only when a run has a circuit: tests/test_startup.py
    from protocols.compiler import Circuit, DistributedProgram


def run_circuit(scenario: Scenario, compiled: tuple[Circuit, DistributedProgram], seed: int | None,
                stream: BinaryIO | None) -> tuple[RunResult, dict[str, Any]]:
    """Execute the scenario's circuit, ``compiled`` by :func:`stack.compile.scenario_circuit` (which raises the
    errors of a circuit that cannot run, before any output is opened). Raises
    :class:`protocols.apps.dqc.ExecutionFailed` (one line) when a layer fails the execution."""
    from stack.api.dqc_run import circuit_report, execute_program

    config = scenario.circuits[0]
    circuit, program = compiled
    try:
        execution = execute_program(scenario, program, config.shots, seed, stream, config.service)
    except BaseException as error:
        failure = layer_failure(error)
        if failure is None:
            raise
        raise ExecutionFailed(f"the circuit's execution failed: {failure}") from error
    return execution.run, circuit_report(execution, circuit, config.seed, config.file)


def layer_failure(error: BaseException) -> BaseException | None:
    """The error a layer answered an executing QPU with (an ERR for its pairs, a lost teleported qubit, a
    refused command, an exchange the partner never answered, a partner's answer this end cannot use, a user's
    application that failed), also inside
    trio's exception groups; None for anything else."""
    from stack.api.errors import ApplicationFailed, ExchangeError, LinkError, PeerMismatch, QuantumError, TransportError

    if isinstance(error, LinkError | TransportError | QuantumError | ExchangeError | ApplicationFailed
                  | PeerMismatch):
        return error
    if isinstance(error, BaseExceptionGroup):
        found = (layer_failure(inner) for inner in error.exceptions)
        return next((failure for failure in found if failure is not None), None)
    return None


def ledger_failure(error: BaseException) -> BaseException | None:
    """The :class:`stack.quantum.accounting.AccountingError` that ended a run (the qubit ledger did not balance:
    e.g. an application left a qubit in memory), also inside trio's exception groups; None for anything else."""
    from stack.quantum.accounting import AccountingError

    if isinstance(error, AccountingError):
        return error
    if isinstance(error, BaseExceptionGroup):
        found = (ledger_failure(inner) for inner in error.exceptions)
        return next((failure for failure in found if failure is not None), None)
    return None
