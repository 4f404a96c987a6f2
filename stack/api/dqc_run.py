"""Run a compiled distributed program on a scenario's QPUs and compare it with the monolithic circuit (the
report's ``circuit`` section, docs/report.md).

    >>> from stack.compile import compile_files, read_circuit
    >>> from stack.scenario import load
    >>> scenario = load("examples/compute.toml")
    >>> program = compile_files("examples/circuits/ghz.stim", scenario)
    >>> execution = execute_program(scenario, program, shots=100, seed=1)
    >>> report = circuit_report(execution, read_circuit("examples/circuits/ghz.stim"))
    >>> report["shots"], report["tvd"] < 0.2
    (100, True)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, BinaryIO

from protocols.apps.dqc import (
    ExecutionFailed,
    check_executable,
    distribution,
    expected_total_variation,
    homogeneity_p_value,
    total_variation,
)
from protocols.compiler import CatDisentangle, CatEntangle, Circuit, DistributedProgram, Teledata
from stack.api.context import AppContext
from stack.api.dqc import QpuRun, run_program
from stack.api.run import run_roles
from stack.runtime import RunResult
from stack.scenario import Scenario


@dataclass(frozen=True)
class Execution:
    """A program run ``shots`` times: each QPU's :class:`QpuRun`, the merged measurement records per shot."""

    program: DistributedProgram
    shots: int
    qpus: dict[str, QpuRun]
    records: list[list[int]]
    run: RunResult

    @property
    def pairs_created(self) -> int:
        return sum(r.pairs_created for r in self.qpus.values())

    @property
    def pairs_received(self) -> int:
        return sum(r.pairs_received for r in self.qpus.values())

    @property
    def pairs_retried(self) -> int:
        """Pairs retracted (ERR EXPIRE) and asked for again: counted in pairs_created and pairs_received too."""
        return sum(r.pairs_retried for r in self.qpus.values())

    @property
    def emulated_ns(self) -> int:
        return max((r.finished_ns for r in self.qpus.values()), default=0)


def execute_program(scenario: Scenario, program: DistributedProgram, shots: int, seed: int | None = None,
                    pcap: BinaryIO | None = None, service: str = "auto") -> Execution:
    """Run ``program`` ``shots`` times on the scenario's QPUs (virtual time, packets and all). Raises
    :class:`protocols.apps.dqc.NotExecutable` for a non-Clifford program, ValueError when a QPU of the program
    is not a QPU of the scenario."""
    runs: dict[str, QpuRun] = {}
    result = run_roles(scenario, program_roles(program, shots, service, runs), seed=seed, pcap=pcap)
    return assemble(program, shots, runs, result)


def program_roles(program: DistributedProgram, shots: int, service: str, runs: dict[str, QpuRun]) -> dict[str, Any]:
    """Each QPU's application running its part of ``program`` (both modes run these); each puts its
    :class:`QpuRun` in ``runs``. Raises NotExecutable or ValueError as :func:`execute_program`."""
    check_executable(program.non_clifford)
    if shots < 1:
        raise ValueError(f"shots must be at least 1, got {shots}")

    def app(qpu: str) -> Any:
        async def run(ctx: AppContext) -> None:
            runs[qpu] = await run_program(ctx, program, qpu, shots, service)
        return run

    return {qpu: app(qpu) for qpu in active_qpus(program)}


def active_qpus(program: DistributedProgram) -> list[str]:
    """The QPUs that run a part of ``program`` (a qubit starts there or an instruction involves it), in the
    program's order: the report's ``qpus``. A QPU the compiler was given but left unused is not one."""
    return [qpu for qpu in program.qpus if program.program(qpu) or qpu in program.placement]


def assemble(program: DistributedProgram, shots: int, runs: dict[str, QpuRun], result: RunResult) -> Execution:
    """The execution from every active QPU's run: the measurement records merged shot by shot. Raises
    :class:`protocols.apps.dqc.ExecutionFailed` when a QPU did not finish or a record was not filled."""
    missing = [qpu for qpu in active_qpus(program) if qpu not in runs]
    if missing:
        raise ExecutionFailed(f"the program did not finish on {', '.join(missing)} (emulated time ran out: raise "
                              "run.duration_ms)")
    records = [[-1] * program.num_measurements for _ in range(shots)]
    for qpu, run in runs.items():
        if len(run.records) != shots or any(not 0 <= i < program.num_measurements for o in run.records for i in o):
            raise ExecutionFailed(f"{qpu} reported {len(run.records)} shots' records, not {shots} of "
                                  f"{program.num_measurements} measurements")
        for shot, outcomes in enumerate(run.records):
            for index, bit in outcomes.items():
                records[shot][index] = bit
    if any(-1 in shot for shot in records):
        raise ExecutionFailed("a measurement record was not filled by any QPU")
    return Execution(program, shots, runs, records, result)


def monolithic_records(circuit: Circuit, shots: int, seed: int) -> list[list[int]]:
    """``shots`` measurement records of the circuit on one ideal machine (stim's sampler)."""
    import stim

    compiled = circuit.to_stim()
    assert isinstance(compiled, stim.Circuit)
    return [[int(b) for b in row] for row in compiled.compile_sampler(seed=seed).sample(shots)]


def remote_ops(program: DistributedProgram) -> dict[str, int]:
    """The program's remote operations by kind."""
    return {"cat_entangle": program.count(CatEntangle), "cat_disentangle": program.count(CatDisentangle),
            "teledata": program.count(Teledata)}


def circuit_report(execution: Execution, circuit: Circuit, seed: int = 0, file: str | None = None
                   ) -> dict[str, Any]:
    """The report's ``circuit`` section: cost (ebits predicted and consumed, remote operations, emulated time)
    and the outcome distribution against ``shots`` samples of the monolithic circuit."""
    program, shots = execution.program, execution.shots
    executed_ops: Counter[str] = Counter()
    for run in execution.qpus.values():
        executed_ops.update(run.remote_ops)
    entry: dict[str, Any] = {
        "file": file, "shots": shots, "qpus": active_qpus(program), "placement": list(program.placement),
        "ebits_predicted": program.total_ebits * shots, "ebits_consumed": execution.pairs_created,
        "ebits_received": execution.pairs_received, "ebits_retried": execution.pairs_retried,
        "ebits_per_shot": program.total_ebits,
        "link_pairs_predicted": program.link_pairs * shots,
        "remote_ops": remote_ops(program),
        "remote_ops_executed": {kind: count // 2 for kind, count in sorted(executed_ops.items())},
        "emulated_s": execution.emulated_ns * 1e-9,
        "measurements": program.num_measurements,
    }
    if program.num_measurements:
        mine = distribution(execution.records)
        reference = distribution(monolithic_records(circuit, shots, seed))
        entry |= {"outcomes": dict(sorted(mine.items())), "outcomes_monolithic": dict(sorted(reference.items())),
                  "tvd": total_variation(mine, reference),
                  "tvd_expected": expected_total_variation(mine, reference),
                  "homogeneity_p": homogeneity_p_value(mine, reference)}
    return entry


def circuit_table(entry: dict[str, Any]) -> list[str]:
    """Summary lines for ``qnet run`` (and ``qnet up``, whose entry may carry only an ``error``)."""
    if "error" in entry:
        return ["", f"circuit {entry['file'] or ''}: {entry['shots']} shots: FAILED ({entry['error']})"]
    ops = ", ".join(f"{count} {kind}" for kind, count in entry["remote_ops"].items() if count)
    retried = f", {entry['ebits_retried']} retried after ERR EXPIRE" if entry.get("ebits_retried") else ""
    lines = ["", f"circuit {entry['file'] or ''}: {entry['shots']} shots on {len(entry['qpus'])} QPUs, "
                 f"{entry['emulated_s'] * 1e3:.3f} ms emulated",
             f"  ebits: {entry['ebits_consumed']} consumed, {entry['ebits_predicted']} predicted "
             f"({entry['ebits_per_shot']} per shot{retried}); remote operations per shot: {ops or 'none'}"]
    if "tvd" in entry:
        lines.append(f"  outcomes vs monolithic (stim): TVD {entry['tvd']:.4f} (expected {entry['tvd_expected']:.4f} "
                     f"if equal), chi-square homogeneity p = {entry['homogeneity_p']:.3g}")
    return lines
