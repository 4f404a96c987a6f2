"""The medium's quantum state against stim's tableau simulator, and its accounting."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import stim

from protocols.common import Basis, BellState
from protocols.physical import physics
from protocols.physical.hardware import Measure, Move, MoveResult
from stack.core.kernel import Kernel
from stack.quantum.medium import FRAME_OF_BELL, AccountingError, Medium, NodeHardware, Pair, Qubit
from stack.quantum.state import frame_of
from stack.report import disagreement, joined
from stack.runtime import run_scenario
from tests.consistency import heralded_qubits
from tests.fidelity_util import fidelity_and_sigma
from tests.scenarios import two_qpus, workload


def stim_parity(bell: BellState, basis: Basis) -> int:
    """Prepare |Φ+⟩, apply the Bell state's Pauli on qubit 1, measure both in ``basis``."""
    sim = stim.TableauSimulator(seed=5)
    sim.h(0)
    sim.cnot(0, 1)
    pauli = FRAME_OF_BELL[bell][1]
    if pauli != "_":
        getattr(sim, pauli.lower())(1)
    for q in (0, 1):
        if basis == Basis.X:
            sim.h(q)
        elif basis == Basis.Y:
            sim.h_yz(q)
    a, b = sim.measure(0), sim.measure(1)
    return int(a) ^ int(b)


def medium_with_nodes(t2_ns: float = float("inf")) -> Medium:
    medium = Medium(Kernel(), np.random.default_rng(3))
    for node_id in (1, 2):
        medium.add_node(NodeHardware(node_id, 4, t2_ns, 0))
    return medium


def test_a_created_qubit_has_every_field_the_class_call_gives() -> None:
    """``Medium.create`` builds its qubit without calling :class:`Qubit`: every field, defaults included, is the
    class call's (a field added to the class and not to ``create`` fails here)."""
    medium = medium_with_nodes()
    pair = Pair(frame_of("_X"), (0.0, 1.0, 0.0, 0.0))
    qubit = medium.create(2, 3, 1, 17.5, pair)
    expected = Qubit(qubit.qubit_id, 2, 3, 1, 17.5, pair)
    assert [getattr(qubit, f.name) for f in dataclasses.fields(Qubit)] == [
        getattr(expected, f.name) for f in dataclasses.fields(Qubit)]
    assert type(qubit) is Qubit and pair.members == [0, qubit.qubit_id] and medium.nodes[2].held[3] is qubit


@pytest.mark.parametrize(("bell", "basis"), list(itertools.product(BellState, Basis)))
def test_same_basis_parity_matches_stim_and_closed_form(bell: BellState, basis: Basis) -> None:
    medium = medium_with_nodes()
    parities = set()
    for slot in range(4):
        pair = Pair(frame_of(FRAME_OF_BELL[bell]), physics.werner_distribution(0.0, bell))
        a = medium.create(1, slot, 0, 0, pair)
        b = medium.create(2, slot, 1, 0, pair)
        parities.add(medium.measure(a, basis) ^ medium.measure(b, basis))
    assert parities == {stim_parity(bell, basis)} == {physics.expected_parity(bell, basis)}


def test_different_bases_are_uncorrelated() -> None:
    medium = medium_with_nodes()
    agree, n = 0, 4000
    for i in range(n):
        pair = Pair(frame_of("__"), physics.werner_distribution(0.0, 0))
        a = medium.create(1, i % 4, 0, 0, pair)
        b = medium.create(2, i % 4, 1, 0, pair)
        agree += medium.measure(a, Basis.Z) == medium.measure(b, Basis.X)
        medium.nodes[1].held.clear()
        medium.nodes[2].held.clear()
    assert abs(agree / n - 0.5) < 4 * 0.5 / n**0.5


def test_unclaimed_qubit_fails_loudly_and_claimed_one_is_discarded() -> None:
    medium = medium_with_nodes()
    pair = Pair(frame_of("__"), physics.werner_distribution(0.0, 0))
    medium.create(1, 2, 0, 0, pair)
    with pytest.raises(AccountingError, match="node 1 slot 2"):
        medium.finish({})
    ledger = medium.finish({1: {2}})
    assert ledger == {"created": 1, "measured": 0, "discarded": 0, "discarded_at_end": 1}


def test_lossy_classical_channel_loses_heralds_but_no_qubit() -> None:
    # Lost heralds leave qubits waiting; the physical layer discards them after its timeout.
    scenario = two_qpus(length_km=2.0, duration_ms=100.0, workload=workload("keep", 5000),
                        extra_link="classical_loss = 0.2")
    result = run_scenario(scenario)
    ledger = result.ledger
    assert ledger["discarded"] > 0
    assert ledger["created"] == heralded_qubits(result) > 0      # not the ledger's sum: true by construction


def test_readout_errors_raise_disagreement_as_predicted() -> None:
    # Each end flips its outcome w.p. r; the parity is wrong when exactly one flips.
    p, r, pairs = 0.1, 0.05, 4000
    scenario = two_qpus(length_km=1.0, depolarizing=p, workload=workload("measure", pairs),
                        extra_qpu=f"readout_fidelity = {1 - r}")
    rates = disagreement(joined(run_scenario(scenario).emulation.workloads[0]))
    e, q = p / 2, 2 * r * (1 - r)
    expected = e * (1 - q) + (1 - e) * q
    assert abs(rates["Z"]["rate"] - expected) < 4 * (expected * (1 - expected) / pairs) ** 0.5


def _pair_error(first: tuple[float, float], second: tuple[float, float]) -> float:
    """Probability the product of two independent one-qubit Pauli channels (pX = pY = a, pZ = b) is not I."""
    one, two = ({"I": 1 - 2 * a - b, "X": a, "Y": a, "Z": b} for a, b in (first, second))
    return 1 - sum(one[p] * two[p] for p in "IXYZ")


def test_kept_pairs_decay_with_t1_and_t2_as_the_pauli_twirl_says() -> None:
    p, length_km, t1_ms, t2_ms = 0.05, 20.0, 0.3, 0.2
    scenario = two_qpus(length_km=length_km, depolarizing=p, t2_ms=t2_ms, workload=workload("keep", 3000),
                        extra_qpu=f"t1_ms = {t1_ms}")
    result = run_scenario(scenario)
    one_way = length_km * 1.468 / 299_792.458e-9
    stored_alice = one_way + 1000 / 2                    # the herald follows round 2
    stored_bob = stored_alice + one_way                  # bob's OK waits for alice's CONFIRM

    def twirl(stored: float) -> tuple[float, float]:
        damp = 1 - np.exp(-stored / (t1_ms * 1e6))
        return damp / 4, (1 - np.exp(-stored / (t2_ms * 1e6))) / 2 - damp / 4

    error = _pair_error(twirl(stored_alice), twirl(stored_bob))
    f0 = 1 - 3 * p / 4
    expected = f0 * (1 - error) + (1 - f0) / 3 * error
    fidelity, sigma = fidelity_and_sigma(result.emulation.workloads[0], expected)    # 3,000 pairs in 3 bases
    assert abs(fidelity - expected) < 4 * sigma, (fidelity, expected, sigma)


def test_move_to_storage_applies_gate_noise_and_reports_the_slot() -> None:
    from stack.core.kernel import VirtualPort
    kernel = Kernel()
    medium = Medium(kernel, np.random.default_rng(9))
    medium.add_node(NodeHardware(1, 1, float("inf"), 0, storage=2, gate_fidelity=0.8, move_ns=300))
    medium.add_node(NodeHardware(2, 1, float("inf"), 0))
    port = VirtualPort(kernel, "test")
    wrong, n = 0, 4000
    for _ in range(n):
        pair = Pair(frame_of("__"), physics.werner_distribution(0.0, 0))
        medium.create(1, 0, 0, 0, pair)
        medium.create(2, 0, 1, 0, pair)
        medium.command(1, Move(0), port)
        moved = medium.nodes[1].held.pop(1)
        assert moved.slot == 1
        wrong += medium.measure(moved, Basis.Z) != medium.measure(medium.take(2, 0), Basis.Z)
    # A depolarising gate error (w.p. 1 − F, uniform over I, X, Y, Z) flips Z outcomes half the time.
    expected = (1 - 0.8) / 2
    assert abs(wrong / n - expected) < 4 * (expected * (1 - expected) / n) ** 0.5
    medium.create(1, 0, 0, 0, Pair(frame_of("__"), physics.werner_distribution(0.0, 0)))
    medium.nodes[1].held[1] = medium.nodes[1].held[0]
    medium.nodes[1].held[2] = medium.nodes[1].held[0]
    kernel.clear()
    medium.command(1, Move(0), port)
    assert [entry[2] for entry in kernel.pending()] == [MoveResult(0, None)]
    assert 0 in medium.nodes[1].held                      # nothing moved


def test_a_move_never_lands_in_a_storage_slot_still_reading_out() -> None:
    """A storage qubit just measured keeps its slot busy for the readout: a move must take another slot
    (or none), not the busy one (the network layer's Bell measurements reuse storage slots quickly)."""
    from stack.core.kernel import VirtualPort
    kernel = Kernel()
    medium = Medium(kernel, np.random.default_rng(3))
    medium.add_node(NodeHardware(1, 1, float("inf"), readout_ns=500, storage=2))
    medium.add_node(NodeHardware(2, 3, float("inf"), 0))
    port = VirtualPort(kernel, "test")
    for slot, far in ((1, 0), (2, 1)):
        pair = Pair(frame_of("__"), physics.werner_distribution(0.0, 0))
        medium.create(1, slot, 0, 0, pair)
        medium.create(2, far, 1, 0, pair)
    medium.command(1, Measure(1, Basis.Z), port)                # slot 1 reads out until t = 500
    pair = Pair(frame_of("__"), physics.werner_distribution(0.0, 0))
    medium.create(1, 0, 0, 0, pair)
    medium.create(2, 2, 1, 0, pair)
    kernel.clear()
    medium.command(1, Move(0), port)                            # slot 2 is held, slot 1 busy: nowhere to go
    assert [entry[2] for entry in kernel.pending()] == [MoveResult(0, None)]
