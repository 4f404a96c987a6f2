"""``compile_circuit``: a circuit and a network model in, a :class:`DistributedProgram` out.

Steps (docs/compiler.md): cut every qubit's wire into segments; partition the segment hypergraph over the
QPUs with Mt-KaHyPar under the data-qubit capacities, hop-weighted; plan teledata moves where they are
cheaper than cat copies; schedule the per-QPU programs under the link-memory limits, twice (copies chosen for a
short life in link memory, or for the most gates served) and keep the cheaper. Deterministic: the same
circuit, network and seed give the same program.
"""

from __future__ import annotations

from protocols.compiler.circuit import Circuit
from protocols.compiler.gates import CompileError
from protocols.compiler.network import NetworkModel
from protocols.compiler.partition import partition
from protocols.compiler.program import CatEntangle, DistributedProgram, Instruction, Teledata
from protocols.compiler.schedule import Scheduler
from protocols.compiler.segments import find_segments
from protocols.compiler.teledata import MovePlan, plan_moves


def _cost(instructions: list[Instruction]) -> tuple[int, int]:
    """Link pairs, then ebits: what a schedule consumes."""
    remote = [i for i in instructions if isinstance(i, CatEntangle | Teledata)]
    return sum(i.hops for i in remote), len(remote)


def check_fits(circuit: Circuit, network: NetworkModel) -> None:
    """One-line :class:`CompileError` when the network cannot hold the circuit's qubits."""
    total = sum(qpu.data_qubits for qpu in network.qpus)
    if circuit.num_qubits > total:
        holds = ", ".join(f"{qpu.name} {qpu.data_qubits}" for qpu in network.qpus)
        raise CompileError(f"the circuit has {circuit.num_qubits} qubits but the network's QPUs hold only "
                           f"{total} data qubits ({holds}; scenario key nodes.NAME.data_qubits)")
    users = [qpu for qpu in network.qpus if qpu.data_qubits > 0]
    if len(users) > 1:
        for qpu in users:
            if qpu.link_qubits < 1:
                raise CompileError(f"{qpu.name} has data qubits but no communication qubit")


def compile_circuit(circuit: Circuit, network: NetworkModel, seed: int = 0, teledata: bool = True
                    ) -> DistributedProgram:
    """Distribute ``circuit`` over ``network``. ``teledata=False`` keeps every qubit on its first QPU (only
    cat-entanglement, as in Andrés-Martínez & Heunen 2019)."""
    check_fits(circuit, network)
    table = find_segments(circuit)
    capacities = [qpu.data_qubits for qpu in network.qpus]
    hops = network.hop_matrix()
    part = partition(circuit, table, capacities, hops, seed)
    plan = plan_moves(circuit, table, part, capacities, hops) if teledata else MovePlan({})
    instructions, final = min((Scheduler(circuit, table, part, plan, network, short_lived).run()
                               for short_lived in (True, False)), key=lambda result: _cost(result[0]))
    names = network.names
    return DistributedProgram(names, circuit.num_qubits, circuit.num_measurements,
                              tuple(names[h] for h in part.homes), tuple(names[h] for h in final),
                              tuple(instructions), circuit.non_clifford)
