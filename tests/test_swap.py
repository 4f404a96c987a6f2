"""Entanglement swapping in the medium (the ``BellMeasure`` hardware command) against independent closed forms.

The oracles are written out here, never computed by the code under test:

- A Bell-diagonal pair is a random Bell index; swapping two of them gives the XOR of their indices and of
  the outcome, so the new pair's distribution relative to the tracked state (the XOR of the inputs' tracked
  indices and of the reported outcome) is the XOR-convolution p(k) = Σ_{i⊕j=k} p1(i)·p2(j) (Bell-diagonal
  states: Bennett, DiVincenzo, Smolin, Wootters, PRA 54, 3824 (1996)). Every noise is a Pauli channel and
  convolves the same way: the memory twirl, the CNOT's depolarising noise f·δ0 + (1 − f)/4, and the two
  readout flips ((1 − ε)², ε(1 − ε), ε(1 − ε), ε²).
- Werner pairs: F = F1·F2 + (1 − F1)(1 − F2)/3, and along a chain F = 1/4 + 3/4·∏ wᵢ, wᵢ = (4Fᵢ − 1)/3
  (Dür, Briegel, Cirac, Zoller, PRA 59, 169 (1999)); a depolarising gate of fidelity f multiplies by f.
- Both halves of Bell state k = x | z << 1 measured in one basis: the parity is x in Z, z in X, 1 ⊕ x ⊕ z in Y.
  So the error rates against the tracked state are e_Z = p1 + p3, e_X = p2 + p3, e_Y = p1 + p2.

Sampled checks allow 4 standard errors (two-sided p ≈ 6e-5 each); each sample size is derived from the
smallest difference the check must resolve. Seeds are fixed.
"""

from __future__ import annotations

import doctest
import importlib
import itertools
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common import Basis
from protocols.physical.hardware import BellMeasure, BellMeasureResult, CommandRejected
from stack.core.kernel import Kernel
from stack.multiprocess.medium import Connection, MediumServer
from stack.multiprocess.medium_protocol import decode_hardware, encode_hardware
from stack.quantum.medium import PRUNE_FLOOR, Medium, NodeHardware, Pair, QubitStatus
from stack.quantum.state import frame_of
from stack.runtime import node_hardware
from stack.scenario import ScenarioError, load_text
from tests.mp_util import two_node_toml

SIGMAS = 4
ALPHA = math.erfc(SIGMAS / math.sqrt(2))            # the two-sided tail of 4 standard errors, for the χ² tests
INF = math.inf
BASES = (Basis.Z, Basis.X, Basis.Y)
FRAMES = {0: "__", 1: "_X", 2: "_Z", 3: "_Y"}       # (I ⊗ X^x Z^z)|Φ+⟩ for index x | z << 1 (Y = XZ up to phase)
PERFECT = (1.0, 0.0, 0.0, 0.0)
Dist = tuple[float, float, float, float]


# -- independent oracles ---------------------------------------------------------------------------
def xor(a: Dist | list[float], b: Dist | list[float]) -> list[float]:
    out = [0.0] * 4
    for i in range(4):
        for j in range(4):
            out[i ^ j] += a[i] * b[j]
    return out


def parity(bell: int, basis: Basis) -> int:
    x, z = bell & 1, bell >> 1
    return {Basis.Z: x, Basis.X: z, Basis.Y: 1 ^ x ^ z}[basis]


def werner(fidelity: float, at: int) -> Dist:
    other = (1 - fidelity) / 3
    return tuple(fidelity if k == at else other for k in range(4))  # type: ignore[return-value]


def gate(f: float) -> Dist:
    return (f + (1 - f) / 4, (1 - f) / 4, (1 - f) / 4, (1 - f) / 4)


def readout(eps: float) -> Dist:
    return ((1 - eps) ** 2, eps * (1 - eps), eps * (1 - eps), eps ** 2)


def twirl(age_ns: float, t1_ns: float, t2_ns: float) -> Dist:
    """The T1/T2 Pauli twirl as a Bell-index shift: pX = pY = (1 − e^(−t/T1))/4, pZ = (1 − e^(−t/T2))/2 − pX."""
    damp = 0.0 if math.isinf(t1_ns) else 1 - math.exp(-age_ns / t1_ns)
    px = damp / 4
    pz = (1 - math.exp(-age_ns / t2_ns)) / 2 - px
    return (1 - 2 * px - pz, px, pz, px)


def error_rates(dist: Dist | list[float]) -> dict[Basis, float]:
    return {Basis.Z: dist[1] + dist[3], Basis.X: dist[2] + dist[3], Basis.Y: dist[1] + dist[2]}


def relabel(dist: Dist | list[float], tracked: int) -> list[float]:
    """The distribution relative to ``tracked``: entry k is the probability of Bell state k ⊕ tracked."""
    return [dist[k ^ tracked] for k in range(4)]


def chi2_sf(x: float, dof: int) -> float:
    """P(χ²_dof > x): the regularised upper incomplete gamma Q(dof/2, x/2), from Q(1, y) = e^(−y) or
    Q(1/2, y) = erfc(√y) and Q(a + 1, y) = Q(a, y) + y^a e^(−y) / Γ(a + 1)."""
    y = x / 2
    a, q = (1.0, math.exp(-y)) if dof % 2 == 0 else (0.5, math.erfc(math.sqrt(y)))
    while a < dof / 2:
        q += y ** a * math.exp(-y) / math.gamma(a + 1)
        a += 1
    return q


def run_due(kernel: Kernel) -> None:
    """Run every queued entry in time order (no layer tasks are involved)."""
    while (entry := kernel.pop_entry()) is not None:
        at, callback, arg = entry
        kernel.now = max(kernel.now, at)
        callback(arg)


def test_the_chi_square_tail_matches_published_quantiles() -> None:
    # 95th percentiles of χ² with 1, 2, 7 and 31 degrees of freedom (NIST/SEMATECH e-Handbook, table 1.3.6.7.4)
    for x, dof in ((3.841, 1), (5.991, 2), (14.067, 7), (44.985, 31)):
        assert chi2_sf(x, dof) == pytest.approx(0.05, abs=1e-4)


# -- a medium with nodes in a line -------------------------------------------------------------------
class Lab:
    """Nodes 1..n on one medium, hardware parameters per node (``n2={"gate_fidelity": 0.9}``), perfect and
    without memory noise by default; the results of Bell measurements are recorded."""

    def __init__(self, nodes: int = 3, seed: int = 1, **hardware: dict[str, Any]) -> None:
        self.kernel = Kernel()
        self.medium = Medium(self.kernel, np.random.default_rng(seed))
        for node_id in range(1, nodes + 1):
            params: dict[str, Any] = {"t2_ns": INF, "readout_ns": 0} | hardware.get(f"n{node_id}", {})
            self.medium.add_node(NodeHardware(node_id, 4, **params))
        self.results: list[tuple[int, Any]] = []

    def deliver(self, event: Any) -> None:                         # the reply_to port
        self.results.append((self.kernel.now, event))

    def pair(self, a: int, slot_a: int, b: int, slot_b: int, index: int, dist: Dist | list[float],
             created: float = 0.0) -> Pair:
        pair = Pair(frame_of(FRAMES[index]), tuple(dist))  # type: ignore[arg-type]
        self.medium.create(a, slot_a, 0, created, pair)
        self.medium.create(b, slot_b, 1, created, pair)
        return pair

    def swap(self, node: int, slot_a: int = 0, slot_b: int = 1) -> BellMeasureResult:
        self.medium.command(node, BellMeasure(slot_a, slot_b), self)  # type: ignore[arg-type]
        run_due(self.kernel)
        return self.results[-1][1]

    def measure(self, node: int, slot: int, basis: Basis) -> int:
        return self.medium.measure(self.medium.take(node, slot), basis)

    def held_pair(self, node: int, slot: int) -> Pair:
        return self.medium.nodes[node].held[slot].pair


def sample_errors(lab: Lab, inputs: tuple[Dist, Dist], heralded: tuple[int, int], n: int, rng: np.random.Generator,
                  expected: list[float]) -> dict[Basis, int]:
    """Swap ``3n`` pairs of frames drawn from ``inputs`` at node 2; measure the far halves in Z, X, Y in turn.

    Returns the number of parity errors per basis against the tracked state (heralded indices ⊕ reported),
    and checks on every swap that the medium's distribution relative to it is ``expected``.
    """
    errors = dict.fromkeys(BASES, 0)
    frames = [rng.choice(4, size=3 * n, p=np.array(d) / sum(d)) for d in inputs]
    for trial in range(3 * n):
        basis = BASES[trial % 3]
        lab.pair(1, 0, 2, 0, int(frames[0][trial]), inputs[0])
        lab.pair(2, 1, 3, 0, int(frames[1][trial]), inputs[1])
        result = lab.swap(2)
        assert result.success
        tracked = heralded[0] ^ heralded[1] ^ result.bell_index
        assert relabel(lab.held_pair(1, 0).distribution, tracked) == pytest.approx(expected, abs=1e-12)
        errors[basis] += (lab.measure(1, 0, basis) ^ lab.measure(3, 0, basis)) != parity(tracked, basis)
    return errors


def assert_rates(errors: dict[Basis, int], n: int, expected: dict[Basis, float]) -> None:
    for basis in BASES:
        e = expected[basis]
        assert abs(errors[basis] / n - e) < SIGMAS * math.sqrt(e * (1 - e) / n), (basis, errors[basis] / n, e)


def sample_size(rates: dict[Basis, float], delta: float) -> int:
    """Trials per basis so that a rate ``delta`` away from the prediction is 8 standard errors away: it then
    fails the 4σ check with probability above 1 − 3e-5, while the right rate passes with 1 − 6e-5."""
    return math.ceil(64 * max(e * (1 - e) for e in rates.values()) / delta ** 2)


# -- deterministic: the tracked distribution and frame ------------------------------------------------
distributions = st.tuples(*[st.floats(0.01, 1.0)] * 4).map(lambda v: tuple(x / sum(v) for x in v))


@settings(max_examples=60, deadline=None)
@given(d1=distributions, d2=distributions, f=st.floats(0.5, 1.0), r=st.floats(0.5, 1.0),
       t1_ns=st.sampled_from([INF, 2e6]), ages=st.tuples(st.integers(0, 3_000_000), st.integers(0, 3_000_000)),
       frames=st.tuples(st.integers(0, 3), st.integers(0, 3)), seed=st.integers(0, 2**32))
def test_tracked_distribution_is_the_xor_convolution_of_inputs_memory_gate_and_readout(
        d1: Dist, d2: Dist, f: float, r: float, t1_ns: float, ages: tuple[int, int], frames: tuple[int, int],
        seed: int) -> None:
    t2_ns, now = 1e6, 3_000_000
    lab = Lab(seed=seed, n2={"t2_ns": t2_ns, "t1_ns": t1_ns, "gate_fidelity": f, "readout_fidelity": r})
    lab.kernel.now = now
    lab.pair(1, 0, 2, 0, frames[0], d1, created=now - ages[0])
    lab.pair(2, 1, 3, 0, frames[1], d2, created=now - ages[1])
    result = lab.swap(2)
    memory = [twirl(age, t1_ns, t2_ns) for age in ages]
    closed_form = xor(xor(xor(d1, memory[0]), xor(d2, memory[1])), xor(gate(f), readout(1 - r)))
    new = lab.held_pair(1, 0)
    assert new is lab.held_pair(3, 0)
    # the absolute distribution of the new frame: closed_form[k ⊕ reported]
    assert relabel(new.distribution, result.bell_index) == pytest.approx(closed_form, abs=1e-12)


@pytest.mark.parametrize(("f1", "f2", "h1", "h2"), [(0.9, 0.8, 0, 0), (0.95, 0.7, 1, 2), (0.6, 0.99, 3, 3),
                                                    (0.25, 0.9, 2, 1), (1.0, 1.0, 1, 3)])
def test_werner_pairs_swap_to_f1f2_plus_the_cross_term(f1: float, f2: float, h1: int, h2: int) -> None:
    lab = Lab()
    for trial in range(8):
        lab.pair(1, 0, 2, 0, h1, werner(f1, h1))
        lab.pair(2, 1, 3, 0, h2, werner(f2, h2))
        result = lab.swap(2)
        tracked = h1 ^ h2 ^ result.bell_index
        new = lab.held_pair(1, 0)
        assert new.distribution[tracked] == pytest.approx(f1 * f2 + (1 - f1) * (1 - f2) / 3, abs=1e-12)
        basis = BASES[trial % 3]
        assert lab.measure(1, 0, basis) ^ lab.measure(3, 0, basis) == parity(tracked, basis)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), swaps=st.integers(1, 8))
def test_a_chain_of_werner_swaps_in_any_order_gives_the_product_of_werner_parameters(
        data: st.DataObject, swaps: int) -> None:
    links = swaps + 1
    fidelities = data.draw(st.lists(st.floats(0.25, 1.0), min_size=links, max_size=links))
    heralded = data.draw(st.lists(st.integers(0, 3), min_size=links, max_size=links))
    order = data.draw(st.permutations(range(2, links + 1)))     # repeaters are nodes 2..links
    lab = Lab(nodes=links + 1, seed=data.draw(st.integers(0, 1000)))
    for i, (fidelity, bell) in enumerate(zip(fidelities, heralded, strict=True), start=1):
        lab.pair(i, 1, i + 1, 0, bell, werner(fidelity, bell))   # node i: slot 0 left link, slot 1 right link
    tracked = 0
    for bell in heralded:
        tracked ^= bell
    for repeater in order:
        tracked ^= lab.swap(repeater, 0, 1).bell_index
    end = lab.held_pair(1, 1)
    assert end is lab.held_pair(links + 1, 0)
    assert end.members == [lab.medium.nodes[1].held[1].qubit_id, lab.medium.nodes[links + 1].held[0].qubit_id]
    product = math.prod((4 * f - 1) / 3 for f in fidelities)
    assert end.distribution[tracked] == pytest.approx(0.25 + 0.75 * product, abs=1e-12)
    assert lab.measure(1, 1, Basis.Z) ^ lab.measure(links + 1, 0, Basis.Z) == parity(tracked, Basis.Z)


def test_pure_pairs_are_tracked_exactly_for_every_pair_of_bell_states_and_basis() -> None:
    lab = Lab(seed=7)
    outcomes: Counter[int] = Counter()
    for h1, h2, basis, _ in itertools.product(range(4), range(4), BASES, range(8)):
        lab.pair(1, 0, 2, 0, h1, werner(1.0, h1))
        lab.pair(2, 1, 3, 0, h2, werner(1.0, h2))
        result = lab.swap(2)
        outcomes[result.bell_index] += 1
        assert lab.measure(1, 0, basis) ^ lab.measure(3, 0, basis) == parity(h1 ^ h2 ^ result.bell_index, basis)
    assert set(outcomes) == {0, 1, 2, 3}


# -- sampled: correlations of the far halves -------------------------------------------------------
def test_sampled_correlations_agree_with_the_tracked_state_and_the_xor_convolution() -> None:
    base1, base2 = (0.80, 0.12, 0.05, 0.03), (0.86, 0.09, 0.02, 0.03)
    h1, h2 = 1, 2
    expected = xor(base1, base2)
    rates = error_rates(expected)
    # The rates of plausible wrong answers: x and z swapped, Y's parity inverted, one input ignored.
    wrong = [{Basis.Z: rates[Basis.X], Basis.X: rates[Basis.Z], Basis.Y: rates[Basis.Y]},
             {**rates, Basis.Y: 1 - rates[Basis.Y]}, error_rates(base1), error_rates(base2)]
    delta = min(max(abs(w[b] - rates[b]) for b in BASES) for w in wrong)
    n = sample_size(rates, delta)
    assert n <= 3000, n                                          # the choice of inputs keeps this test fast
    lab = Lab(seed=11)
    errors = sample_errors(lab, (tuple(relabel(base1, h1)), tuple(relabel(base2, h2))),  # type: ignore[arg-type]
                           (h1, h2), n, np.random.default_rng(12), expected)
    assert_rates(errors, n, rates)
    # p1, p2, p3 solved from the three rates (independent samples), against the convolution
    e = {b: errors[b] / n for b in BASES}
    solved = [(e[Basis.Z] + e[Basis.Y] - e[Basis.X]) / 2, (e[Basis.X] + e[Basis.Y] - e[Basis.Z]) / 2,
              (e[Basis.Z] + e[Basis.X] - e[Basis.Y]) / 2]
    stderr = math.sqrt(sum(r * (1 - r) / n for r in rates.values()) / 4)
    for k, p in enumerate(solved, start=1):
        assert abs(p - expected[k]) < SIGMAS * stderr, (k, p, expected[k])


def test_gate_noise_multiplies_the_werner_parameter_by_the_gate_fidelity() -> None:
    f1, f2, f, h1, h2 = 0.95, 0.9, 0.8, 3, 1
    w1, w2 = (4 * f1 - 1) / 3, (4 * f2 - 1) / 3
    fidelity = 0.25 + 0.75 * f * w1 * w2
    rates = dict.fromkeys(BASES, 2 * (1 - fidelity) / 3)        # a Werner output errs alike in every basis
    delta = 0.75 * (1 - f) * w1 * w2                              # what the gate costs: F without it minus F
    # F̂ = 1 − (e_Z + e_X + e_Y)/2 has variance Σ e(1 − e)/(4n); ask δ ≥ 8 standard errors
    n = math.ceil(16 * sum(e * (1 - e) for e in rates.values()) / delta ** 2)
    lab = Lab(seed=21, n2={"gate_fidelity": f})
    expected = [fidelity] + [(1 - fidelity) / 3] * 3
    errors = sample_errors(lab, (werner(f1, h1), werner(f2, h2)), (h1, h2), n, np.random.default_rng(22), expected)
    measured = 1 - sum(errors.values()) / n / 2
    stderr = math.sqrt(sum(e * (1 - e) for e in rates.values()) / n / 4)
    assert abs(measured - fidelity) < SIGMAS * stderr, (measured, fidelity, stderr)


def test_readout_errors_flip_the_reported_index_as_predicted() -> None:
    eps = 0.1
    rates = {Basis.Z: eps, Basis.X: eps, Basis.Y: 2 * eps * (1 - eps)}   # x flips, z flips, exactly one flips
    n = sample_size(rates, eps / 2)                               # resolve half the flip rate
    lab = Lab(seed=31, n2={"readout_fidelity": 1 - eps})
    errors = sample_errors(lab, (PERFECT, PERFECT), (0, 0), n, np.random.default_rng(32), list(readout(eps)))
    assert_rates(errors, n, rates)


def test_failed_bell_measurements_leave_the_far_halves_uncorrelated() -> None:
    q, trials = 0.7, 1400           # 4σ of the failure frequency: 4·sqrt(0.21/1400) ≈ 0.05
    lab = Lab(seed=41, n2={"bsm_success": q})
    failed, correlation = 0, 0
    for trial in range(trials):
        h1, h2 = trial % 4, (trial // 4) % 4
        lab.pair(1, 0, 2, 0, h1, werner(1.0, h1))
        lab.pair(2, 1, 3, 0, h2, werner(1.0, h2))
        result = lab.swap(2)
        basis = (Basis.Z, Basis.X)[trial % 2]
        outcomes = lab.measure(1, 0, basis) ^ lab.measure(3, 0, basis)
        if result.success:
            assert outcomes == parity(h1 ^ h2 ^ result.bell_index, basis)
            continue
        failed += 1
        correlation += 1 - 2 * outcomes
        assert result.bell_index == 0
    assert abs(failed / trials - (1 - q)) < SIGMAS * math.sqrt(q * (1 - q) / trials)
    assert abs(correlation / failed) < SIGMAS / math.sqrt(failed)     # a pair kept entangled would give ±1
    assert lab.medium.ledger == {"created": 4 * trials, "measured": 4 * trials, "discarded": 0,
                                 "discarded_at_end": 0}


def test_a_failed_bell_measurement_gives_each_far_half_its_own_maximally_mixed_pair() -> None:
    lab = Lab(seed=1, n2={"bsm_success": 1e-9})
    lab.pair(1, 0, 2, 0, 0, PERFECT)
    lab.pair(2, 1, 3, 0, 0, PERFECT)
    far = lab.medium.nodes[1].held[0], lab.medium.nodes[3].held[0]
    assert lab.swap(2) == BellMeasureResult(0, 1, 0, False)
    assert far[0].pair is not far[1].pair
    for half in far:
        assert half.pair.members == [half.qubit_id, 0] and half.side == 0
        assert half.pair.distribution == (0.25, 0.25, 0.25, 0.25)


# -- far halves measured before the swap: the joint statistics of swapping first ----------------------
@pytest.mark.parametrize("bases", [(Basis.Z, Basis.Z), (Basis.X, Basis.X), (Basis.Y, Basis.Y), (Basis.Z, Basis.Y)],
                         ids=["ZZ", "XX", "YY", "ZY"])
@pytest.mark.parametrize("order", ["swap-first", "a-first", "b-first", "both-first"])
def test_measuring_far_halves_before_the_swap_gives_the_statistics_of_swapping_first(
        order: str, bases: tuple[Basis, Basis]) -> None:
    """χ² over the table (oa, ob, k) with k = index(A) ⊕ index(B) ⊕ m. Swapping first (m uniform, then the
    new pair Bell state k measured): oa uniform, and ob = oa ⊕ parity(k) in one basis (8 cells of 1/8, the
    other 24 exactly empty) or uniform across bases (32 cells of 1/32)."""
    n = 800                                            # ≥ 25 expected per cell, so χ² is accurate
    lab, rng = Lab(seed=51), np.random.default_rng(52)
    table: Counter[tuple[int, int, int]] = Counter()
    for _ in range(n):
        ia, ib = (int(v) for v in rng.integers(4, size=2))
        lab.pair(1, 0, 2, 0, ia, werner(1.0, ia))
        lab.pair(2, 1, 3, 0, ib, werner(1.0, ib))
        outcome: dict[str, int] = {}
        if order in ("a-first", "both-first"):
            outcome["a"] = lab.measure(1, 0, bases[0])
        if order in ("b-first", "both-first"):
            outcome["b"] = lab.measure(3, 0, bases[1])
        m = lab.swap(2).bell_index
        outcome.setdefault("a", 0)
        outcome.setdefault("b", 0)
        if order in ("swap-first", "b-first"):
            outcome["a"] = lab.measure(1, 0, bases[0])
        if order in ("swap-first", "a-first"):
            outcome["b"] = lab.measure(3, 0, bases[1])
        table[(outcome["a"], outcome["b"], ia ^ ib ^ m)] += 1
    cells = list(itertools.product((0, 1), (0, 1), range(4)))
    if bases[0] == bases[1]:
        allowed = {(oa, oa ^ parity(k, bases[0]), k) for oa in (0, 1) for k in range(4)}
        assert sum(table[c] for c in cells if c not in allowed) == 0
        cells = sorted(allowed)
    expected = n / len(cells)
    chi2 = sum((table[c] - expected) ** 2 / expected for c in cells)
    assert chi2_sf(chi2, len(cells) - 1) > ALPHA, (chi2, table)


# -- accounting, timing, bad commands, edge cases -------------------------------------------------------
def test_timing_accounting_and_the_new_pairs_members() -> None:
    lab = Lab(n2={"gate_ns": 300, "readout_ns": 700})
    lab.pair(1, 0, 2, 0, 0, PERFECT)
    lab.pair(2, 1, 3, 2, 0, PERFECT)
    far, near = (lab.medium.nodes[1].held[0], lab.medium.nodes[3].held[2]), lab.medium.nodes[2].held.copy()
    lab.kernel.now = 1000
    lab.medium.command(2, BellMeasure(0, 1), lab)  # type: ignore[arg-type]
    node = lab.medium.nodes[2]
    assert not node.is_free(0, 1999) and not node.is_free(1, 1999) and node.is_free(0, 2000)
    run_due(lab.kernel)
    assert lab.results == [(2000, BellMeasureResult(0, 1, lab.results[0][1].bell_index, True))]
    assert all(q.status == QubitStatus.MEASURED for q in near.values())
    new = far[0].pair
    assert new is far[1].pair and new.members == [far[0].qubit_id, far[1].qubit_id]
    assert (far[0].side, far[1].side) == (0, 1)
    assert lab.medium.ledger["measured"] == 2
    assert lab.medium.finish({1: {0}, 3: {2}}) == {"created": 4, "measured": 2, "discarded": 0,
                                                   "discarded_at_end": 2}


@pytest.mark.parametrize("slots", [(0, 0), (0, 3)])
def test_a_bell_measurement_of_a_missing_or_repeated_slot_is_refused_and_takes_nothing(
        slots: tuple[int, int]) -> None:
    lab = Lab()
    lab.pair(1, 0, 2, 0, 0, PERFECT)
    lab.pair(2, 1, 3, 0, 0, PERFECT)
    lab.medium.command(2, BellMeasure(*slots), lab)  # type: ignore[arg-type]
    run_due(lab.kernel)
    (_, answer), = lab.results
    assert isinstance(answer, CommandRejected) and answer.command == "BellMeasure" and answer.slot == slots[0]
    assert "node 2" in answer.reason and "not two distinct held qubits" in answer.reason
    assert set(lab.medium.nodes[2].held) == {0, 1} and lab.medium.ledger["measured"] == 0
    assert lab.medium.rejected_commands == 1


@pytest.mark.parametrize("bell", range(4))
def test_bell_measuring_both_halves_of_one_pair_reads_its_bell_state(bell: int) -> None:
    lab = Lab()
    lab.pair(2, 0, 2, 1, bell, werner(1.0, bell))
    assert lab.swap(2) == BellMeasureResult(0, 1, bell, True)
    assert lab.medium.ledger["measured"] == 2 and not lab.medium.nodes[2].held


def test_swapping_with_a_half_that_has_no_partner_leaves_the_far_half_unentangled() -> None:
    lab = Lab()
    lonely = Pair(frame_of("__"), PERFECT)
    lab.medium.create(2, 0, 1, 0, lonely)                       # its side 0 was never heralded
    lab.pair(2, 1, 3, 0, 0, PERFECT)
    lab.swap(2)
    new = lab.held_pair(3, 0)
    assert new.members == [0, lab.medium.nodes[3].held[0].qubit_id]
    assert new.distribution == (0.25, 0.25, 0.25, 0.25)


def test_the_multi_process_medium_executes_bell_measure_and_sends_the_result(tmp_path: Path) -> None:
    """The medium process dispatches a node's BellMeasure command to the same Medium and sends the result
    back as an ``event`` (wire.md §8.3)."""
    scenario = load_text(two_node_toml(pairs=1), "two.toml")
    server = MediumServer(scenario, 3, tmp_path, dilation=0.01, tolerance_ns=10_000)
    try:
        server.kernel.epoch_ns = time.time_ns() + 10**15        # the wall clock never moves emulated time here
        medium = server.emu.medium
        for slot, created in ((0, 0), (1, 0)):
            pair = Pair(frame_of("__"), PERFECT)
            medium.create(1, slot, 0, created, pair)
            medium.create(2, slot, 1, created, pair)
        bob = Connection(None, "bob")  # type: ignore[arg-type]
        server.connections["bob"] = bob
        server._dispatch(bob, {"op": "command", "at": 0, "node_id": 2, "reply_to": "bob/network",
                               "command": encode_hardware(BellMeasure(0, 1))})
        run_due(server.kernel)
        message = bob.inbox.receive_nowait()
    finally:
        server._pcap.close()
    hardware = scenario.nodes["bob"]
    assert message["op"] == "event" and message["reply_to"] == "bob/network"
    assert message["at"] == hardware.gate_ns + hardware.readout_ns
    result = decode_hardware(message["event"])
    assert isinstance(result, BellMeasureResult) and result.success
    alice = medium.nodes[1].held
    assert alice[0].pair is alice[1].pair
    assert medium.measure(medium.take(1, 0), Basis.Z) ^ medium.measure(medium.take(1, 1), Basis.Z) == \
        parity(result.bell_index, Basis.Z)
    with pytest.raises(trio.WouldBlock):
        bob.inbox.receive_nowait()


# -- scenario keys and docs ---------------------------------------------------------------------------------
def test_bsm_success_probability_and_gate_ns_reach_the_medium() -> None:
    text = two_node_toml(pairs=1).replace('kind = "qpu"\nt2_ms = 1000.0',
                                          'kind = "qpu"\nt2_ms = 1000.0\nbsm_success_probability = 0.5\ngate_ns = 250',
                                          1)
    scenario = load_text(text, "two.toml")
    hardware = node_hardware(scenario.nodes["alice"], None)
    assert (hardware.bsm_success, hardware.gate_ns) == (0.5, 250)
    default = node_hardware(scenario.nodes["bob"], None)
    assert (default.bsm_success, default.gate_ns) == (1.0, 100)


@pytest.mark.parametrize("value", ["0", "0.0", "1.5", "-0.1", '"half"'])
def test_bad_bsm_success_probability_names_the_key(value: str) -> None:
    text = two_node_toml(pairs=1).replace('kind = "qpu"\nt2_ms = 1000.0',
                                          f'kind = "qpu"\nt2_ms = 1000.0\nbsm_success_probability = {value}', 1)
    with pytest.raises(ScenarioError, match=r"two.toml: nodes.alice.bsm_success_probability: "):
        load_text(text, "two.toml")


@pytest.mark.parametrize("module", ["protocols.physical.physics", "stack.quantum.swap", "stack.quantum.state"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_the_medium_forgets_qubits_no_lookup_can_reach_and_keeps_the_ones_it_needs() -> None:
    """A long run's qubit table stays bounded: measured pairs and swapped-away halves are pruned, while a
    held qubit's far half (even a measured one) stays reachable, and pruning changes no outcome."""
    lab = Lab(nodes=3)
    kept = lab.pair(1, 3, 3, 3, 0, [1.0, 0, 0, 0])
    first = lab.measure(3, 3, Basis.Z)                         # node 1 still holds side 0 of ``kept``
    for _ in range(5_000):
        lab.pair(1, 0, 2, 0, 0, [1.0, 0, 0, 0])
        lab.pair(2, 1, 3, 0, 0, [1.0, 0, 0, 0])
        result = lab.swap(2)
        assert result.success
        assert lab.measure(1, 0, Basis.Z) ^ lab.measure(3, 0, Basis.Z) == parity(result.bell_index, Basis.Z)
    assert len(lab.medium.qubits) < 2 * PRUNE_FLOOR
    held = lab.medium.nodes[1].held[3]
    assert held.pair is kept and lab.medium.far_half(held) is not None
    assert lab.measure(1, 3, Basis.Z) == first
