"""The compiler on a scenario: the network model from the scenario's QPUs and the network layer's topology,
circuits read from files, and the summary ``qnet compile`` prints (docs/compiler.md).

    >>> from stack.compile import compile_files
    >>> program = compile_files("examples/circuits/ghz.stim", "examples/compute.toml")   # doctest: +SKIP

Imports nothing heavy: the partitioner and the QASM parser load when a circuit is compiled.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from protocols.compiler import (
    CatDisentangle,
    CatEntangle,
    Circuit,
    CompileError,
    DistributedProgram,
    Local,
    NetworkModel,
    Teledata,
    compile_circuit,
    from_qasm,
    from_stim,
)
from stack.quantum.topology import build_topology
from stack.scenario import Scenario, load


def network_model(scenario: Scenario) -> NetworkModel:
    """The scenario's QPUs (data qubits: ``nodes.NAME.data_qubits``; link memory: communication + storage
    qubits) and every pair the network layer's router can connect (hops, rate, best-case fidelity)."""
    topology = build_topology(scenario)
    return NetworkModel.from_topology(topology, {node.node_id: node.data_qubits for node in scenario.nodes.values()})


def read_circuit(path: str | Path) -> Circuit:
    """A circuit file: OpenQASM (``.qasm``, or text starting with OPENQASM) or stim (anything else)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise CompileError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CompileError(f"{path}: not a text file") from None
    if not text.strip():
        raise CompileError(f"{path}: the file is empty: no circuit to compile")
    try:
        if path.suffix.lower() == ".qasm" or text.lstrip().upper().startswith("OPENQASM"):
            circuit = from_qasm(text)
        else:
            circuit = from_stim(text)
    except CompileError as error:
        raise CompileError(f"{path}: {error}") from None
    if not circuit.ops:
        raise CompileError(f"{path}: the circuit has no operation (no gate, measurement or reset): nothing to "
                           "compile or run")
    return circuit


def compile_files(circuit: str | Path, scenario: str | Path | Scenario, seed: int = 0,
                  teledata: bool = True) -> DistributedProgram:
    """Compile a circuit file for a scenario (a path or a loaded :class:`Scenario`)."""
    loaded = scenario if isinstance(scenario, Scenario) else load(Path(scenario))
    return compile_circuit(read_circuit(circuit), network_model(loaded), seed=seed, teledata=teledata)


def scenario_circuit(scenario: Scenario) -> tuple[Circuit, DistributedProgram]:
    """The scenario's ``[[circuit]]``, read and compiled for its QPUs, checked to run before anything starts:
    Clifford operations only (:class:`protocols.apps.dqc.NotExecutable`), and with ``service = "link"`` ebits
    between neighbours only (ScenarioError naming ``circuit[0].service``). A CompileError or NotExecutable names
    the scenario and ``circuit[0].file``."""
    from protocols.apps.dqc import NotExecutable, check_executable
    from stack.scenario.circuits import check_service

    config = scenario.circuits[0]
    try:
        circuit = read_circuit(config.file)
        program = compile_circuit(circuit, network_model(scenario), seed=config.seed, teledata=config.teledata)
        check_executable(program.non_clifford)
    except (CompileError, NotExecutable) as error:
        raise type(error)(f"{scenario.source}: circuit[0].file: {error}") from None
    check_service(scenario.source, 0, config.service, ((link.a, link.b) for link in scenario.links), program.ebits)
    return circuit, program


def budget(program: DistributedProgram, network: NetworkModel) -> list[dict[str, Any]]:
    """Ebits per QPU pair, with the route's hops and the link-level pairs they consume."""
    rows = []
    for (a, b), ebits in sorted(program.ebits.items()):
        pair = network.pair(a, b)
        hops = pair.hops if pair else 0
        rate = pair.rate_per_s if pair and math.isfinite(pair.rate_per_s) else None
        rows.append({"qpus": [a, b], "ebits": ebits, "hops": hops, "link_pairs": ebits * hops,
                     "rate_per_s": rate, "fidelity": pair.fidelity if pair else None})
    return rows


def naive_ebits(circuit: Circuit, program: DistributedProgram) -> int:
    """The baseline: one ebit per two-qubit gate whose qubits start on different QPUs."""
    return sum(1 for op in circuit.ops if op.is_two_qubit
               and program.placement[op.qubits[0]] != program.placement[op.qubits[1]])


def document(circuit: Circuit, program: DistributedProgram, network: NetworkModel) -> dict[str, Any]:
    """The JSON of ``qnet compile --json``: the summary and the program itself."""
    return {
        "qubits": program.num_qubits,
        "partition": {str(q): qpu for q, qpu in enumerate(program.placement)},
        "final_partition": {str(q): qpu for q, qpu in enumerate(program.final_placement)},
        "remote_operations": _remote_counts(program),
        "ebits": program.total_ebits,
        "link_pairs": program.link_pairs,
        "naive_ebits": naive_ebits(circuit, program),
        "budget": budget(program, network),
        "executable": program.executable,
        "non_clifford": list(program.non_clifford),
        "program": program.to_dict(),
    }


def _remote_counts(program: DistributedProgram) -> dict[str, int]:
    remote_gates = sum(1 for i in program.instructions if isinstance(i, Local) and any(i.copy))
    return {"cat_entangle": program.count(CatEntangle), "cat_disentangle": program.count(CatDisentangle),
            "teledata": program.count(Teledata), "gates_on_copies": remote_gates}


def summary(circuit: Circuit, program: DistributedProgram, network: NetworkModel, name: str) -> str:
    """The text ``qnet compile`` prints."""
    lines = [f"qnet compile: {name}: {program.num_qubits} qubits, {len(circuit.ops)} operations "
             f"({circuit.two_qubit_gates} two-qubit) over {len(set(program.placement))} of "
             f"{len(network.qpus)} QPUs", ""]
    by_qpu: dict[str, list[int]] = {}
    for qubit, qpu in enumerate(program.placement):
        by_qpu.setdefault(qpu, []).append(qubit)
    lines.append("qpu         data  qubits")
    for spec in network.qpus:
        qubits = by_qpu.get(spec.name, [])
        lines.append(f"{spec.name:<10} {len(qubits):>2}/{spec.data_qubits:<3} {_ranges(qubits)}")
    moved = [q for q in range(program.num_qubits) if program.placement[q] != program.final_placement[q]]
    if moved:
        lines.append("end: moved by teledata: " + ", ".join(f"{q}→{program.final_placement[q]}" for q in moved))
    counts = _remote_counts(program)
    lines += ["", f"remote operations: {counts['cat_entangle']} cat-entangle, {counts['cat_disentangle']} "
              f"cat-disentangle, {counts['teledata']} teledata; {counts['gates_on_copies']} gates on cat copies",
              "", "pair          ebits  hops  link pairs     pairs/s  F best"]
    for row in budget(program, network):
        rate = f"{row['rate_per_s']:.1f}" if row["rate_per_s"] is not None else "-"
        fidelity = f"{row['fidelity']:.4f}" if row["fidelity"] is not None else "-"
        lines.append(f"{'-'.join(row['qpus']):<13} {row['ebits']:>5}  {row['hops']:>4}  {row['link_pairs']:>10}  "
                     f"{rate:>10}  {fidelity}")
    lines.append(f"total: {program.total_ebits} ebits ({program.link_pairs} link pairs); naive baseline "
                 f"(one ebit per cut two-qubit gate): {naive_ebits(circuit, program)}")
    if not program.executable:
        lines.append(f"warning: non-Clifford operations ({', '.join(program.non_clifford)}): partitioned and "
                     "scheduled, but the stabiliser medium cannot execute this program")
    return "\n".join(lines)


def listing(program: DistributedProgram) -> str:
    """Every QPU's program, one instruction a line (``qnet compile --program``); ``q3*`` is the copy of q3."""
    lines = []
    for qpu in program.qpus:
        lines.append(f"{qpu}:")
        for instruction in program.program(qpu):
            lines.append(f"  {instruction.step:>6}  {describe(instruction)}")
    return "\n".join(lines)


def describe(instruction: object) -> str:
    if isinstance(instruction, Local):
        operands = " ".join(f"q{q}{'*' if copy else ''}" for q, copy in zip(instruction.qubits, instruction.copy,
                                                                            strict=True))
        params = f"({', '.join(f'{p:g}' for p in instruction.params)})" if instruction.params else ""
        record = f" -> rec[{instruction.record}]" if instruction.kind == "measure" else ""
        return f"{instruction.name}{params} {operands}{record}"
    if isinstance(instruction, CatEntangle):
        origin = "copy at " if instruction.from_copy else ""
        return (f"cat-entangle q{instruction.qubit} ({instruction.basis}) {origin}{instruction.source} -> "
                f"{instruction.target}  [ebit, {instruction.hops} hop{'s' if instruction.hops != 1 else ''}]")
    if isinstance(instruction, CatDisentangle):
        return (f"cat-disentangle q{instruction.qubit} at {instruction.qpu}, correction {instruction.basis} at "
                f"{instruction.home}")
    if isinstance(instruction, Teledata):
        return (f"teledata q{instruction.qubit} {instruction.source} -> {instruction.target}  "
                f"[ebit, {instruction.hops} hop{'s' if instruction.hops != 1 else ''}]")
    raise TypeError(f"not an instruction: {instruction!r}")


def _ranges(qubits: list[int]) -> str:
    parts, start = [], None
    for i, q in enumerate(qubits):
        if start is None:
            start = q
        if i + 1 == len(qubits) or qubits[i + 1] != q + 1:
            parts.append(str(start) if start == q else f"{start}-{q}")
            start = None
    return " ".join(parts)

