"""Teledata: moving a qubit by teleportation when that costs fewer link-level pairs than cat copies.

Each qubit chooses where it lives during each of its segments. Serving segment s from QPU L costs
Σ_{d ∈ D_s} hops(L, d), D_s being the QPUs of its gates' partners (one cat copy to or from each, an ebit along
the route), and moving from L' to L before the segment costs hops(L', L) (one ebit teleports it). A shortest
path over (segment, location) gives the cheapest plan; it is taken when it beats staying home and fits:
during every stretch the qubit spends away from home, its QPU must have a free data qubit at every step, and
already at the step before it arrives (booked too), so that the moves of one gate's two operands fit in any
order. The occupancy timeline is per QPU; qubits with the largest saving are booked first.

Andrés-Martínez & Heunen (2019) keep every qubit at home (telegate only); choosing per segment between
moving the qubit and cat-entangling it is our addition. Each qubit's plan takes its partners as staying home.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocols.compiler.circuit import Circuit
from protocols.compiler.partition import UNREACHABLE_HOPS, Partition
from protocols.compiler.segments import SegmentTable

SAVING_TOLERANCE = 1e-3
MOVE_TIE_BREAK = 1e-6


@dataclass(slots=True)
class MovePlan:
    moves: dict[int, list[tuple[int, int]]]
    """Per qubit, (operation index, QPU): teleport it there just before that operation."""


def plan_moves(circuit: Circuit, table: SegmentTable, part: Partition, capacities: list[int],
               hops: list[list[float]]) -> MovePlan:
    k = len(capacities)
    distance = np.minimum(np.array(hops, dtype=float), UNREACHABLE_HOPS)
    allowed = np.array([capacities[i] > 0 for i in range(k)])
    steps = len(circuit.ops) + 1
    occupancy = np.zeros((k, steps), dtype=np.int32)
    for home in part.homes:
        occupancy[home] += 1
    candidates = []
    for qubit, ids in enumerate(table.by_qubit):
        if not ids:
            continue
        cost = _segment_costs(circuit, ids, table, part, distance, k)
        home = part.homes[qubit]
        static = float(cost[:, home].sum())
        if static <= SAVING_TOLERANCE:
            continue
        best, path = _shortest_plan(cost, distance, home, allowed)
        if static - best > SAVING_TOLERANCE:
            candidates.append((static - best, qubit, path))
    candidates.sort(key=lambda item: (-item[0], item[1]))
    moves: dict[int, list[tuple[int, int]]] = {}
    for _, qubit, path in candidates:
        starts = [table.segments[s].first_gate for s in table.by_qubit[qubit]] + [steps]
        stretches = [(starts[i], starts[i + 1], path[i]) for i in range(len(path))]
        home = part.homes[qubit]
        away = [(a, b, where) for a, b, where in stretches if where != home]
        # room from the step before: the other operand of the same gate may leave only after this arrives
        if all(occupancy[where, max(a - 1, 0):b].max() < capacities[where] for a, b, where in away):
            for a, b, where in away:
                occupancy[where, max(a - 1, 0):b] += 1      # the step before too: that room stays booked
                occupancy[home, a:b] -= 1
            plan, here = [], home
            for a, _, where in stretches:
                if where != here:
                    plan.append((a, where))
                    here = where
            moves[qubit] = plan
    return MovePlan(moves)


def _segment_costs(circuit: Circuit, ids: list[int], table: SegmentTable, part: Partition, distance: np.ndarray,
                   k: int) -> np.ndarray:
    """cost[s, L]: the hops of the copies segment s needs when its qubit is at L. A gate the partition put
    with one of its operands follows that operand (docs/compiler.md), so each gate of the segment needs the
    qubit and its partner together: a copy between L and the partner's home; a gate on a third QPU needs a
    copy there."""
    touched = np.zeros((len(ids), k))
    for row, segment_id in enumerate(ids):
        qubit = table.segments[segment_id].qubit
        for gate in table.segments[segment_id].gates:
            a, b = circuit.ops[gate].qubits
            partner = b if a == qubit else a
            where = part.gate_qpu[gate]
            touched[row, part.homes[partner] if where in (part.homes[qubit], part.homes[partner]) else where] = 1
    return touched @ distance.T


def _shortest_plan(cost: np.ndarray, distance: np.ndarray, home: int, allowed: np.ndarray) -> tuple[float, list[int]]:
    """The cheapest location per segment, starting at home (Viterbi over segments)."""
    forbidden = np.where(allowed, 0.0, np.inf)
    distance = distance + MOVE_TIE_BREAK * (1 - np.eye(len(distance)))      # equal plans: fewer moves
    value = distance[home] + cost[0] + forbidden
    back = []
    for row in cost[1:]:
        total = value[:, None] + distance
        choice = total.argmin(axis=0)
        back.append(choice)
        value = total[choice, np.arange(len(value))] + row + forbidden
    where = int(value.argmin())
    best = float(value[where])
    path = [where]
    for choice in reversed(back):
        where = int(choice[where])
        path.append(where)
    path.reverse()
    return best, path
