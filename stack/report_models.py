"""The report's closed-form models that need more than a link's configuration: the link as it ran (the bright-state
population α its requests picked), the error rate per basis of a Bell-diagonal pair, and the model of a kept pair
as the workload measures it (each half decayed for its own end's storage time). docs/report.md gives the formulas
and their sources.

>>> basis_errors((0.85, 0.1, 0.05, 0.0))          # X errors flip ZZ, Z errors flip XX, both flip YY
{'Z': 0.1, 'X': 0.05, 'Y': 0.15000000000000002}
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from protocols.link.admission import choose
from protocols.network.model import move_fidelity
from protocols.packets import linkservice as ll
from protocols.physical.hardware import BellDistribution
from protocols.physical.physics import memory_pauli_probabilities, pauli_channel
from stack.quantum.budget import LinkPhysics, link_options, with_alpha


def ran_alphas(emu: Any, link_id: int) -> list[float]:
    """The bright-state populations single-click link ``link_id`` ran with ([]: another scheme, or never armed)."""
    return emu.heralding.alphas(link_id)


def run_physics(emu: Any, link_id: int) -> LinkPhysics:
    """Link ``link_id`` as it ran: with the one α its requests picked (docs/architecture.md, "Minimum fidelity and
    maximum time"); as configured when it ran with none or with several (the report lists them)."""
    physics = emu.link_physics[link_id]
    alphas = ran_alphas(emu, link_id)
    return with_alpha(physics, alphas[0]) if len(alphas) == 1 else physics


def basis_errors(dist: BellDistribution) -> dict[str, float]:
    """Per basis, the probability that both ends' outcomes disagree with the heralded Bell state's correlation,
    for a Bell-diagonal pair whose ``dist`` is relative to that state (index x | z << 1 of the Pauli shift): an
    X shift flips the ZZ parity, a Z shift the XX parity, and either (not both) the YY parity."""
    _, x, z, y = dist
    return {"Z": x + y, "X": z + y, "Y": x + z}


def bell_diagonal_s(dist: BellDistribution) -> float:
    """CHSH S = √2(|1 − 2e_Z| + |1 − 2e_X|) of Bell-diagonal pairs with the settings the chsh application uses
    (Alice Z and X, Bob (Z ± X)/√2: ``protocols/apps/chsh.py``); Werner pairs give 2√2(4F − 1)/3."""
    errors = basis_errors(dist)
    return math.sqrt(2) * (abs(1 - 2 * errors["Z"]) + abs(1 - 2 * errors["X"]))


Memory = tuple[float, float]
"""A memory's (T1, T2) in ns."""


def _decayed(dist: BellDistribution, memories: tuple[Memory, Memory], times: tuple[float, float],
             moves: tuple[float, ...]) -> BellDistribution:
    """``dist`` through each half's memory (T1/T2 Pauli twirl) for its own time and through the moves to storage
    (one-qubit depolarising M(f)): all Pauli channels, so their order does not matter."""
    for (t1, t2), stored in zip(memories, times, strict=True):
        dist = pauli_channel(dist, *memory_pauli_probabilities(stored, t1, t2))
    for fidelity in moves:
        if fidelity < 1:
            dist = pauli_channel(dist, *(((1 - fidelity) / 4,) * 3))
    return dist


def _storage_time(goodness: float, fidelity_at: Callable[[float], float]) -> float:
    """The storage time t at which ``fidelity_at(t)`` (non-increasing) equals ``goodness``, by bisection: 0 when it
    is at least the fidelity at 0, the longest time tried when the fidelity never falls that low."""
    if fidelity_at(0.0) <= goodness:
        return 0.0
    high = 1.0
    while fidelity_at(high) > goodness:
        if high > 1e18:
            return high
        high *= 2
    low = 0.0
    for _ in range(80):
        middle = (low + high) / 2
        if fidelity_at(middle) > goodness:
            low = middle
        else:
            high = middle
    return (low + high) / 2


class MeasuredPairModel:
    """The model fidelity of a kept pair as the workload measures it: each end measures its half at its own OK, so
    each half decays for its own storage time t_A, t_B (the other end's OK comes one end-to-end delay after the
    master's), while each OK's Goodness (draft-dahlberg's estimate at that OK) assumes both halves stored as long
    as that end's. Each end's t is recovered from its Goodness by inverting the link layer's own model
    (``protocols/link/replies.py: stored_distribution``: Goodness_A = F(D through both memories for t_A, and the
    moves)), and the pair's model is F(D, A's half through A's memory for t_A and B's through B's for t_B, and the
    moves). For dephasing alone and a perfect D: F = (1 + e^−(t_A+t_B)/T2)/2, against the Goodness
    (1 + e^−2t_A/T2)/2."""

    def __init__(self, dist: BellDistribution, memories: tuple[Memory, Memory], moves: tuple[float, ...]) -> None:
        self.dist, self.memories, self.moves = dist, memories, moves
        self._times: dict[tuple[int, float], float] = {}

    def storage_time(self, end: int, goodness: float) -> float:
        """End ``end``'s (0: A, 1: B) storage time from its OK's Goodness (remembered: a link's pairs share few)."""
        key = (end, goodness)
        found = self._times.get(key)
        if found is None:
            found = self._times[key] = _storage_time(
                goodness, lambda t: _decayed(self.dist, self.memories, (t, t), self.moves)[0])
        return found

    def fidelity(self, goodness_a: float, goodness_b: float) -> float:
        """The model fidelity of a pair whose OKs carried these Goodness values at A and at B."""
        times = (self.storage_time(0, goodness_a), self.storage_time(1, goodness_b))
        return _decayed(self.dist, self.memories, times, self.moves)[0]


def entry_physics(emu: Any, workload: Any) -> LinkPhysics | None:
    """The link of a link-layer entry as its request ran it: with the option (α) the origin's link layer picks for
    the entry's Minimum Fidelity (``protocols/link/admission.py: choose``, over the options the runtime gives it,
    ``stack/quantum/budget.py: link_options``); None for a network-layer entry, or one that no option serves."""
    if workload.link_id is None:
        return None
    config = workload.config
    physics = emu.link_physics[workload.link_id]
    here, peer = emu.scenario.nodes[config.node], emu.scenario.nodes[config.remote]
    options = link_options(physics, (here.t1_ns, peer.t1_ns), (here.t2_ns, peer.t2_ns))
    option = choose(options, ll.decode_fidelity(ll.encode_fidelity(config.min_fidelity)))
    return None if option is None else with_alpha(physics, option.alpha)


def measured_pair_model(emu: Any, workload: Any) -> MeasuredPairModel | None:
    """:class:`MeasuredPairModel` of a link-layer keep entry (A its origin, B its remote), on the link as the
    entry's request ran it (:func:`entry_physics`); None for another entry."""
    config = workload.config
    physics = entry_physics(emu, workload) if config.type == "keep" else None
    if physics is None:
        return None
    nodes = [emu.scenario.nodes[config.node], emu.scenario.nodes[config.remote]]
    memories = ((nodes[0].t1_ns, nodes[0].t2_ns), (nodes[1].t1_ns, nodes[1].t2_ns))
    moves = tuple(move_fidelity(node.storage_qubits, node.gate_fidelity) for node in nodes)
    return MeasuredPairModel(physics.model.distribution, memories, moves)


def fidelity_model_measured(emu: Any, workload: Any, pairs: list[tuple[Any, Any]]) -> float | None:
    """The mean of :meth:`MeasuredPairModel.fidelity` over the pairs both ends measured (None: no model, no pair)."""
    model = measured_pair_model(emu, workload)
    measured = Counter((a.goodness, b.goodness) for a, b in pairs if a.outcome is not None and b.outcome is not None)
    if model is None or not measured:
        return None           # a link's pairs carry few Goodness values: each pair of them computed once
    return sum(model.fidelity(a, b) * count for (a, b), count in measured.items()) / measured.total()
