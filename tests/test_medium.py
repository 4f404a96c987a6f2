"""The medium's quantum state against stim's tableau simulator, and its accounting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import stim

from protocols import physics
from protocols.common import Basis, BellState
from stack.kernel import Kernel
from stack.medium import FRAME_OF_BELL, AccountingError, Medium, NodeHardware, Pair
from stack.runtime import run_scenario
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


@pytest.mark.parametrize(("bell", "basis"), list(itertools.product(BellState, Basis)))
def test_same_basis_parity_matches_stim_and_closed_form(bell: BellState, basis: Basis) -> None:
    medium = medium_with_nodes()
    parities = set()
    for slot in range(4):
        pair = Pair(stim.PauliString(FRAME_OF_BELL[bell]), physics.werner_distribution(0.0, bell))
        a = medium.create(1, slot, 0, 0, pair)
        b = medium.create(2, slot, 1, 0, pair)
        parities.add(medium.measure(a, basis) ^ medium.measure(b, basis))
    assert parities == {stim_parity(bell, basis)} == {physics.expected_parity(bell, basis)}


def test_different_bases_are_uncorrelated() -> None:
    medium = medium_with_nodes()
    agree, n = 0, 4000
    for i in range(n):
        pair = Pair(stim.PauliString("__"), physics.werner_distribution(0.0, 0))
        a = medium.create(1, i % 4, 0, 0, pair)
        b = medium.create(2, i % 4, 1, 0, pair)
        agree += medium.measure(a, Basis.Z) == medium.measure(b, Basis.X)
        medium.nodes[1].held.clear()
        medium.nodes[2].held.clear()
    assert abs(agree / n - 0.5) < 4 * 0.5 / n**0.5


def test_unclaimed_qubit_fails_loudly_and_claimed_one_is_discarded() -> None:
    medium = medium_with_nodes()
    pair = Pair(stim.PauliString("__"), physics.werner_distribution(0.0, 0))
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
    assert ledger["created"] == ledger["measured"] + ledger["discarded"] + ledger["discarded_at_end"]
