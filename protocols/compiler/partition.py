"""Partitioning the segment hypergraph over the QPUs with Mt-KaHyPar (Gottesbüren et al., "Scalable
High-Quality Hypergraph Partitioning", ACM TALG 2024), the multi-threaded successor of KaHyPar that
Andrés-Martínez & Heunen used, minimising the connectivity − 1 metric: the number of ebits.

Each QPU is one block whose largest weight is its data-qubit capacity (qubit vertices weigh 1, gate vertices
0). Mt-KaHyPar's DETERMINISTIC preset with one thread and a fixed seed makes the result reproducible (its
faster presets are not, even on one thread; nor is its Steiner-tree mapping onto a target graph, which is also
ten times slower). Hops are weighed afterwards: the blocks are assigned to QPUs so that the traffic between
blocks (one ebit from a segment's home block to each other block it touches) times the hops between their QPUs
is least, by exhaustive search over the assignments that respect the capacities (up to 8 QPUs; above, by
pairwise swaps from the identity). QPUs without data qubits take no part. When fewer QPUs than all can hold
the circuit, the fewest that can (the largest, most central) are partitioned too, and the cheaper result by
hop-weighted connectivity − 1 is kept (ties: fewer QPUs).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

from protocols.compiler.circuit import Circuit
from protocols.compiler.segments import SegmentTable

UNREACHABLE_HOPS = 1000
"""The weight of a pair of QPUs the network cannot entangle: far above any route, so it is used only if
nothing else fits (and the scheduler then refuses the result)."""
EPSILON = 0.03
MTKAHYPAR_SEEDS = 2**31
"""Mt-KaHyPar's seed is a C int: seeds 0 .. 2^31 − 1 are passed as they are, any other is mapped into that range
(:func:`partitioner_seed`)."""


@dataclass(slots=True)
class Partition:
    blocks: list[int]
    """The QPUs (indices into the network model) that take part, in order: block b is QPU blocks[b]."""
    homes: list[int]
    """Each qubit's QPU (network index)."""
    gate_qpu: dict[int, int]
    """Each two-qubit gate's QPU (network index), by operation index."""


@cache
def _initializer():
    import mtkahypar

    return mtkahypar.initialize(1, False)


def partition(circuit: Circuit, table: SegmentTable, capacities: list[int], hops: list[list[float]],
              seed: int = 0) -> Partition:
    """Qubits and gates onto the QPUs whose capacity is positive; ``hops`` between QPUs by network index."""
    blocks = [index for index, capacity in enumerate(capacities) if capacity > 0]
    gates = sorted(table.of_gate)
    if len(blocks) == 1 or not table.segments:
        homes = _fill(circuit.num_qubits, blocks, capacities)
        return Partition(blocks, homes, {g: _gate_home(circuit, g, homes) for g in gates})
    n = circuit.num_qubits
    vertex = {g: n + i for i, g in enumerate(gates)}
    edges = [[segment.qubit, *(vertex[g] for g in segment.gates)] for segment in table.segments]
    best: tuple[float, int, list[int]] | None = None
    for chosen in _candidate_sets(n, blocks, capacities, hops):
        if len(chosen) == 1:
            locations = [chosen[0]] * (n + len(gates))
        else:
            assignment = _mtkahypar(n + len(gates), edges, [1] * n + [0] * len(gates),
                                    [capacities[b] for b in chosen], seed)
            qpu_of = _assign_blocks(assignment, n, edges, chosen, capacities, hops)
            locations = [qpu_of[block] for block in assignment]
            _repair(locations, n, chosen, capacities, hops)
        cost = _cost(edges, locations, hops)
        if best is None or (cost, len(chosen)) < best[:2]:
            best = (cost, len(chosen), locations)
    assert best is not None
    locations = best[2]
    return Partition(blocks, locations[:n], {g: locations[vertex[g]] for g in gates})


def _candidate_sets(n: int, blocks: list[int], capacities: list[int], hops: list[list[float]]) -> list[list[int]]:
    """Every QPU, and, when fewer can hold the circuit, the fewest that can: the largest, the most central
    first (the partitioner fills the blocks it is given, even when fewer would do)."""
    ranked = sorted(blocks, key=lambda b: (-capacities[b], sum(min(hops[b][o], UNREACHABLE_HOPS) for o in blocks), b))
    fewest, room = 0, 0
    while room < n:
        room += capacities[ranked[fewest]]
        fewest += 1
    fewest = max(fewest, 1)
    return [blocks] if fewest == len(blocks) else [sorted(ranked[:fewest]), blocks]


def _cost(edges: list[list[int]], locations: list[int], hops: list[list[float]]) -> float:
    """Hop-weighted connectivity − 1: each segment's ebits from its qubit's QPU to every other QPU of its gates."""
    total = 0.0
    for edge in edges:
        home = locations[edge[0]]
        total += sum(min(hops[home][b], UNREACHABLE_HOPS) for b in {locations[v] for v in edge[1:]} if b != home)
    return total


def _fill(num_qubits: int, blocks: list[int], capacities: list[int]) -> list[int]:
    homes: list[int] = []
    for block in blocks:
        homes.extend([block] * min(capacities[block], num_qubits - len(homes)))
    return homes


def _gate_home(circuit: Circuit, gate: int, homes: list[int]) -> int:
    return homes[circuit.ops[gate].qubits[0]]


def _mtkahypar(num_vertices: int, edges: list[list[int]], weights: list[int], capacities: list[int],
               seed: int) -> list[int]:
    import mtkahypar

    initializer = _initializer()
    mtkahypar.set_seed(partitioner_seed(seed))
    context = initializer.context_from_preset(mtkahypar.PresetType.DETERMINISTIC)
    context.logging = False
    context.set_partitioning_parameters(len(capacities), EPSILON, mtkahypar.Objective.KM1)
    context.set_individual_target_block_weights(capacities)
    hypergraph = initializer.create_hypergraph(context, num_vertices, len(edges), edges, weights, [1] * len(edges))
    return list(hypergraph.partition(context).get_partition())


def partitioner_seed(seed: int) -> int:
    """The compiler's seed as Mt-KaHyPar's (a C int): itself when it is one, otherwise drawn from numpy's
    SeedSequence of the seed (of ``seed mod 2^64`` when it is negative), so every seed works and gives the same
    partition every time.

    >>> partitioner_seed(7), 0 <= partitioner_seed(2**63 - 1) < 2**31
    (7, True)
    """
    if 0 <= seed < MTKAHYPAR_SEEDS:
        return seed
    state = np.random.SeedSequence(seed % 2**64).generate_state(1, np.uint32)
    return int(state[0]) % MTKAHYPAR_SEEDS


EXHAUSTIVE_BLOCKS = 8


def _assign_blocks(assignment: list[int], n: int, edges: list[list[int]], blocks: list[int], capacities: list[int],
                   hops: list[list[float]]) -> list[int]:
    """The QPU (network index) of each partition block: least hop-weighted traffic within the capacities."""
    k = len(blocks)
    distance = np.array([[min(hops[a][b], UNREACHABLE_HOPS) for b in blocks] for a in blocks])
    traffic = np.zeros((k, k))
    for edge in edges:
        home = assignment[edge[0]]
        for block in {assignment[v] for v in edge[1:]} - {home}:
            traffic[home, block] += 1
    load = np.bincount(np.array(assignment[:n]), minlength=k)
    room = np.array([capacities[b] for b in blocks])
    if k <= EXHAUSTIVE_BLOCKS:
        perms = np.array(list(itertools.permutations(range(k))))
        fits = (load[None, :] <= room[perms]).all(axis=1)
        cost = np.zeros(len(perms))
        for a, b in zip(*np.nonzero(traffic), strict=True):
            cost += traffic[a, b] * distance[perms[:, a], perms[:, b]]
        cost[~fits] = np.inf
        best = perms[int(np.argmin(cost))]
    else:
        best = _swap_search(traffic, distance, load, room)
    return [blocks[int(q)] for q in best]


def _swap_search(traffic: np.ndarray, distance: np.ndarray, load: np.ndarray, room: np.ndarray) -> np.ndarray:
    perm = np.arange(len(load))

    def cost(p: np.ndarray) -> float:
        return float((traffic * distance[np.ix_(p, p)]).sum())

    improved = True
    while improved:
        improved = False
        for a, b in itertools.combinations(range(len(perm)), 2):
            trial = perm.copy()
            trial[a], trial[b] = trial[b], trial[a]
            if (load <= room[trial]).all() and cost(trial) < cost(perm) - 1e-9:
                perm, improved = trial, True
    return perm


def _repair(locations: list[int], n: int, blocks: list[int], capacities: list[int], hops: list[list[float]]) -> None:
    """Move qubits (the first ``n`` locations) out of any QPU over its capacity (the partitioner's balance is a
    target, not a promise), highest-numbered first, to the nearest QPU with room."""
    load = dict.fromkeys(blocks, 0)
    for home in locations[:n]:
        load[home] += 1
    for qubit in range(n - 1, -1, -1):
        home = locations[qubit]
        if load[home] <= capacities[home]:
            continue
        room = [b for b in blocks if load[b] < capacities[b]]
        target = min(room, key=lambda b: (hops[home][b], b))
        locations[qubit] = target
        load[home] -= 1
        load[target] += 1
