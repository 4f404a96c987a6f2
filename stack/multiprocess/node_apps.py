"""The application API under ``qnet up``: a scenario's ``[[application]]`` entries and ``[[circuit]]`` run with each
node process hosting the roles that live on its node.

:func:`api_plan` is what every process of a run works out alone from the scenario, the same in each: which node
runs which coroutine (the same ones ``qnet run`` runs: :func:`stack.api.scenario_apps.application_roles`, or each
QPU's part of the circuit compiled by :func:`stack.compile.compile_circuit`, deterministic for a seed) and the
address of every application (:func:`stack.api.run.directory`, ports with a slot in the port map).
:class:`NodeApps` hosts a node's role over the layers and sockets the node process already runs
(:func:`stack.api.run.attach` and :func:`stack.api.run.serve`, as in virtual time) and puts what it found in the
node's ``result`` message; the medium reads those back (:func:`read_results`) and builds the report's
``applications`` or ``circuit`` section with the functions ``qnet run`` uses.

An application that fails (a layer's ERR, a lost qubit, a refused command) ends its node's part: the node says
``done`` with the failure, the medium ends the run (its peers may wait for it for ever), and the report
carries the failure as one line (``applications[i].error``, ``circuit.error``).
"""

from __future__ import annotations

import hashlib
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from protocols.apps.dqc import ExecutionFailed
from protocols.compiler import Circuit, DistributedProgram
from stack.api.context import AppContext
from stack.api.dqc import QpuRun
from stack.api.dqc_run import active_qpus, assemble, circuit_report, program_roles
from stack.api.errors import ApplicationFailed
from stack.api.results_json import qpu_run_from_json, qpu_run_to_json, result_from_json, result_to_json
from stack.api.run import CUT_OFF, FAILED, FINISHED, App, attach, check_nodes, directory, serve, workload_ports
from stack.api.scenario_apps import application_roles, applications_section
from stack.multiprocess.udp import PortMap, PortMapError
from stack.runtime import Emulation, RunResult
from stack.scenario import Scenario
from stack.scenario.applications import APPLICATION_PURPOSE_ID

PURPOSE_ID = APPLICATION_PURPOSE_ID
"""The Purpose ID the applications' requests carry (as :func:`stack.api.run.run_apps`'s default)."""


@dataclass(slots=True)
class ApiPlan:
    """What a scenario runs through the application API, and where."""

    roles: dict[str, App]
    """Each node's coroutine."""
    results: dict[tuple[int, str], Any] = field(default_factory=dict)
    """``[[application]]`` results by (entry, role), filled by the roles that run in this process."""
    runs: dict[str, QpuRun] = field(default_factory=dict)
    """``[[circuit]]``: each QPU's run, filled by the roles that run in this process."""
    circuit: Circuit | None = None
    program: DistributedProgram | None = None

    @property
    def digest(self) -> str | None:
        """The compiled program's SHA-256 (every process must have compiled the same one)."""
        return None if self.program is None else hashlib.sha256(self.program.to_json().encode()).hexdigest()


def api_plan(scenario: Scenario) -> ApiPlan | None:
    """The scenario's applications or compiled circuit (None: it has neither). Compiling may raise
    :class:`protocols.compiler.CompileError`, :class:`protocols.apps.dqc.NotExecutable` or ScenarioError (one
    line each: :func:`stack.compile.scenario_circuit`)."""
    if scenario.circuits:
        from stack import compile as compiler

        config = scenario.circuits[0]
        circuit, program = compiler.scenario_circuit(scenario)
        plan = ApiPlan({}, circuit=circuit, program=program)
        plan.roles = program_roles(program, config.shots, config.service, plan.runs)
    elif scenario.applications:
        plan = ApiPlan({})
        plan.roles = application_roles(scenario, plan.results)
    else:
        return None
    check_nodes(scenario, plan.roles, PURPOSE_ID)
    return plan


class NodeApps:
    """The application role of node ``name`` (if it has one), hosted on the node process's emulation."""

    def __init__(self, emu: Emulation, name: str, plan: ApiPlan) -> None:
        self.name, self.plan, self.scenario = name, plan, emu.scenario
        addresses = directory(emu.scenario, plan.roles, multi_process=True)
        self.contexts = [(attach(emu, name, PURPOSE_ID, addresses), plan.roles[name])] if name in plan.roles else []
        self.running = len(self.contexts)
        self.failure: str | None = None
        self.completed = 0
        """Roles whose coroutine returned."""

    @property
    def ports(self) -> dict[str, Any]:
        """The applications' ports by name (the medium's answers to their commands come back to them)."""
        return {context.port.name: context.port for context, _ in self.contexts}

    def done(self) -> bool:
        return self.running == 0

    def start(self, nursery: trio.Nursery, finished: Callable[[], None]) -> None:
        """Start the role's task (before the kernel runs); ``finished`` is called once it is over."""
        def over() -> None:
            self.running -= 1
            finished()

        for context, app in self.contexts:
            nursery.start_soon(serve, context, self._guarded(app), over)

    def _guarded(self, app: App) -> App:
        async def run(context: AppContext) -> None:
            try:
                await app(context)
                self.completed += 1
            except ApplicationFailed as error:          # a user's application: already one line
                self.failure = f"{self.name}: {error}"[:300]
                traceback.print_exc(file=sys.stderr)        # with the user's own traceback (its cause)
            except Exception as error:
                self.failure = f"{self.name}: {type(error).__name__}: {error}".splitlines()[0][:300]
                traceback.print_exc(file=sys.stderr)        # the node's log (RUN_DIR/NAME.log) has the details
        return run

    def held(self) -> set[int]:
        """The slots the node claims for its applications at the end: none when they completed, else every slot
        of the node (an interrupted application may hold any, some in answers it never read); the medium
        discards them at the end, as it does the layers'."""
        if self.completed == len(self.contexts):
            return set()
        node = self.scenario.nodes[self.name]
        return set(range(node.communication_qubits + node.storage_qubits + node.data_qubits))

    def outcome(self) -> str | None:
        """The role's outcome for the report's ``app_outcomes`` (None: this node has no role): "finished" (it
        returned), "failed" (it raised) or "cut off" (the run ended first)."""
        if not self.contexts:
            return None
        if self.failure is not None:
            return FAILED
        return FINISHED if self.completed == len(self.contexts) else CUT_OFF

    def result(self) -> dict[str, Any]:
        """This node's part of the ``result`` message: its roles' findings as JSON."""
        kinds = [config.kind for config in self.scenario.applications]
        return {"failure": self.failure, "digest": self.plan.digest, "outcome": self.outcome(),
                "applications": [[index, role, result_to_json(kinds[index], role, value)]
                                 for (index, role), value in sorted(self.plan.results.items())],
                "qpu_runs": {qpu: qpu_run_to_json(run) for qpu, run in sorted(self.plan.runs.items())}}


def read_results(scenario: Scenario, plan: ApiPlan, messages: dict[str, Any]) -> list[str]:
    """Put the nodes' ``api`` results into ``plan`` (as if its roles had run in this process); returns the
    failures they report, one line each. ValueError for a malformed one (from the node that sent it)."""
    failures = []
    kinds = [config.kind for config in scenario.applications]
    for node, message in messages.items():
        if message is None:
            continue
        if not isinstance(message, dict) or message.get("digest") != plan.digest:
            raise ValueError(f"{node}: its application results are malformed or for another compiled program")
        if message.get("failure") is not None:
            failures.append(str(message["failure"])[:300])
        for item in message.get("applications", []):
            index, role, value = item
            if not (type(index) is int and 0 <= index < len(kinds) and role in _roles(scenario.applications[index])):
                raise ValueError(f"{node}: no application {str(index)[:20]} {str(role)[:20]}")
            plan.results[(index, role)] = result_from_json(kinds[index], role, value)
        for qpu, run in message.get("qpu_runs", {}).items():
            if qpu != node:
                raise ValueError(f"{node}: it reports the run of {str(qpu)[:40]}")
            plan.runs[qpu] = qpu_run_from_json(run)
    return failures


def _roles(config: Any) -> tuple[str, ...]:
    """The roles an application's results come under: its nodes for a user's application, else create/recv."""
    return config.parties if config.kind == "python" else ("create", "recv")


def report_sections(plan: ApiPlan, run: RunResult, messages: dict[str, Any], failures: list[str]) -> dict[str, Any]:
    """The report's ``applications`` or ``circuit`` section from the nodes' ``api`` results (``messages``, by
    node) and the failures the nodes said ``done`` with, built as ``qnet run`` builds it. A failure (or a
    malformed result) is the entry's ``error``, one line."""
    scenario = run.emulation.scenario
    outcomes = {"app_outcomes": app_outcomes(plan, messages)}
    failures = list(failures)
    try:
        failures += [f for f in read_results(scenario, plan, messages) if f not in failures]
    except ValueError as error:
        failures.append(f"malformed application results: {error}")
    if plan.program is not None:
        assert plan.circuit is not None
        config = scenario.circuits[0]
        try:
            if failures:
                raise ExecutionFailed(failures[0])
            execution = assemble(plan.program, config.shots, plan.runs, run)
        except ExecutionFailed as error:
            return outcomes | {"circuit": {"file": config.file, "shots": config.shots,
                                           "qpus": active_qpus(plan.program),
                                           "error": f"the circuit's execution failed: {error}"}}
        return outcomes | {"circuit": circuit_report(execution, plan.circuit, config.seed, config.file)}
    entries = applications_section(run, plan.results)
    for entry, config in zip(entries, scenario.applications, strict=True):
        entry["error"] = next((f for f in failures if f.split(":", 1)[0] in config.parties), None)
    return outcomes | {"applications": entries}


def app_outcomes(plan: ApiPlan, messages: dict[str, Any]) -> dict[str, str]:
    """Each role's outcome by node, as its node said in its result; "failed" for a node that sent none (its
    process died) or a malformed one."""
    said = {node: message.get("outcome") if isinstance(message, dict) else None for node, message in messages.items()}
    return {node: outcome if (outcome := said.get(node)) in (FINISHED, CUT_OFF, FAILED) else FAILED
            for node in plan.roles}


def api_failure(document: dict[str, Any]) -> str | None:
    """The first error of a report's ``applications`` or ``circuit`` section (None: they all ran)."""
    entries = [*document.get("applications", []), *([document["circuit"]] if "circuit" in document else [])]
    return next((entry["error"] for entry in entries if entry.get("error")), None)


def plan_problem(scenario: Scenario, plan: ApiPlan) -> str | None:
    """What keeps ``plan`` from running under ``qnet up`` (None: nothing): an application's port without a slot
    in the port map (its node's workload binds too many)."""
    for node, (_, port) in directory(scenario, plan.roles, multi_process=True).items():
        try:
            PortMap().slot(port)
        except PortMapError:
            return (f"node {node}: its application needs UDP port {port}, beyond the port map's application slots "
                    f"(the workload binds {workload_ports(scenario, node)} ports there): move workload entries "
                    "to other nodes or run it with qnet run")
    return None
