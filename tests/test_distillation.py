"""Entanglement distillation (issue 14): the closed forms of protocols/network/distillation.py and the medium's
``Distill`` command (stack/quantum/distill.py) against independent oracles written out here.

- BBPSSW on Werner inputs (Bennett et al., PRL 76, 722 (1996), as issue 14 gives it):
  p = F1F2 + [F1(1 − F2) + F2(1 − F1)]/3 + 5(1 − F1)(1 − F2)/9 and F' = [F1F2 + (1 − F1)(1 − F2)/9]/p.
- DEJMPS on Bell-diagonal inputs (Deutsch et al., PRL 77, 2818 (1996)) in the issue's (A, B, C, D) = (Φ+, Ψ−,
  Ψ+, Φ−), i.e. our Bell indices (0, 3, 1, 2): N = (A₁+B₁)(A₂+B₂) + (C₁+D₁)(C₂+D₂), A' = (A₁A₂ + B₁B₂)/N,
  B' = (C₁D₂ + D₁C₂)/N, C' = (C₁C₂ + D₁D₂)/N, D' = (A₁B₂ + B₁A₂)/N.
- Depolarising gate noise of fidelity f at both nodes (Dür, Briegel, Cirac, Zoller, PRA 59, 169 (1999)): each
  unnormalised output coefficient f²·(ideal) + (1 − f²)/8, the normalisation f²·N + (1 − f²)/2.
- A 4-qubit density-matrix simulation (numpy): Bell-diagonal pairs, R_x(±π/2), CNOTs, two-qubit
  depolarising channels, Z measurements with readout flips; the survivor's Bell coefficients.
- An enumeration over Bell indices, the 16 gate Paulis of each node and the readout flips (for the medium's
  tracked, absolute distribution).

Sampled checks allow 4 standard errors (two-sided p ≈ 6e-5 each); sample sizes are derived from the smallest
difference the check must resolve. Seeds are fixed.
"""

from __future__ import annotations

import doctest
import itertools
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common import Basis, DistillProtocol
from protocols.network import distillation
from protocols.network.distillation import (
    MAX_ROUNDS,
    RoundNoise,
    Schedule,
    bbpssw_werner,
    bilateral_cnot,
    dejmps,
    levels,
    parity_branches,
    plan,
    tracked_round,
)
from protocols.physical.hardware import BellMeasure, CommandRejected, Discard, Distill, DistillResult, Measure, Move
from stack.core.kernel import Kernel
from stack.multiprocess.medium import Connection, MediumServer
from stack.multiprocess.medium_protocol import decode_hardware, encode_hardware
from stack.quantum.medium import Medium, NodeHardware, Pair, QubitStatus
from stack.quantum.state import frame_of
from stack.scenario import load_text
from tests.mp_util import two_node_toml

SIGMAS = 4
INF = math.inf
BASES = (Basis.Z, Basis.X, Basis.Y)
BBPSSW, DEJMPS = DistillProtocol.BBPSSW, DistillProtocol.DEJMPS
FRAMES = {0: "__", 1: "_X", 2: "_Z", 3: "_Y"}       # (I ⊗ X^x Z^z)|Φ+⟩ for index x | z << 1
ROTATED = (0, 1, 3, 2)                              # R_x(π/2) ⊗ R_x(−π/2): Φ− ↔ Ψ−
PAULI_INDEX = (0, 1, 3, 2)                          # I, X, Y, Z as Bell-index shifts
Dist = tuple[float, float, float, float]


# -- independent oracles ---------------------------------------------------------------------------------
def werner(fidelity: float, at: int = 0) -> Dist:
    other = (1 - fidelity) / 3
    return tuple(fidelity if k == at else other for k in range(4))  # type: ignore[return-value]


def relabel(dist: Dist | list[float], tracked: int) -> list[float]:
    """Entry k is the probability of Bell state k ⊕ tracked."""
    return [dist[k ^ tracked] for k in range(4)]


def xor(a: Dist | list[float], b: Dist | list[float]) -> list[float]:
    out = [0.0] * 4
    for i in range(4):
        for j in range(4):
            out[i ^ j] += a[i] * b[j]
    return out


def memory(age_ns: float, t1_ns: float, t2_ns: float) -> Dist:
    """The T1/T2 Pauli twirl as a Bell-index shift: pX = pY = (1 − e^(−t/T1))/4, pZ = (1 − e^(−t/T2))/2 − pX."""
    damp = 0.0 if math.isinf(t1_ns) else 1 - math.exp(-age_ns / t1_ns)
    px = damp / 4
    pz = (1 - math.exp(-age_ns / t2_ns)) / 2 - px
    return (1 - 2 * px - pz, px, pz, px)


def bbpssw_oracle(f1: float, f2: float) -> tuple[float, float]:
    p = f1 * f2 + (f1 * (1 - f2) + f2 * (1 - f1)) / 3 + 5 * (1 - f1) * (1 - f2) / 9
    return p, (f1 * f2 + (1 - f1) * (1 - f2) / 9) / p


def dejmps_oracle(d1: Dist, d2: Dist, f: float = 1.0) -> tuple[float, Dist]:
    """Issue 14's map with gate noise f at both nodes; returns (N, (A', B', C', D'))."""
    a1, b1, c1, dd1 = d1[0], d1[3], d1[1], d1[2]
    a2, b2, c2, dd2 = d2[0], d2[3], d2[1], d2[2]
    n = f * f * ((a1 + b1) * (a2 + b2) + (c1 + dd1) * (c2 + dd2)) + (1 - f * f) / 2
    new = [f * f * x + (1 - f * f) / 8 for x in (a1 * a2 + b1 * b2, c1 * dd2 + dd1 * c2, c1 * c2 + dd1 * dd2,
                                                 a1 * b2 + b1 * a2)]
    return n, tuple(x / n for x in new)  # type: ignore[return-value]


def as_abcd(dist: Dist | list[float]) -> Dist:
    """Our index order (Φ+, Ψ+, Φ−, Ψ−) as the issue's (A, B, C, D) = (Φ+, Ψ−, Ψ+, Φ−)."""
    return (dist[0], dist[3], dist[1], dist[2])


_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Z = np.diag([1, -1]).astype(complex)
_CNOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex)


def _bell_vector(k: int) -> np.ndarray:
    flip = np.linalg.matrix_power(_X, k & 1) @ np.linalg.matrix_power(_Z, k >> 1)
    return np.kron(np.eye(2), flip) @ (np.array([1, 0, 0, 1], dtype=complex) / math.sqrt(2))


def _rx(angle: float) -> np.ndarray:
    return math.cos(angle / 2) * np.eye(2) - 1j * math.sin(angle / 2) * _X


def density_matrix_round(keep: Dist, sacrifice: Dist, protocol: DistillProtocol, gate: tuple[float, float],
                         readout_error: tuple[float, float], parity: int, sign: int = 1) -> tuple[float, list[float]]:
    """(P(reported parity), the kept pair's Bell coefficients given it) by simulating the four qubits in the
    order (A1, B1, A2, B2): node 1 holds A1, B1 and node 2 A2, B2. ``sign``: node 1 rotates by sign·π/2."""
    def pair(p: Dist) -> np.ndarray:
        return sum(p[k] * np.outer(_bell_vector(k), _bell_vector(k).conj()) for k in range(4))  # type: ignore
    rho = np.kron(pair(keep), pair(sacrifice)).reshape((2,) * 8)        # (A1, A2, B1, B2 | ...)
    rho = rho.transpose(0, 2, 1, 3, 4, 6, 5, 7).reshape(16, 16)         # (A1, B1, A2, B2 | ...)
    local = [np.eye(4, dtype=complex), np.eye(4, dtype=complex)]
    if protocol == DEJMPS:
        local = [np.kron(_rx(s * math.pi / 2), _rx(s * math.pi / 2)) for s in (sign, -sign)]
    u = np.kron(_CNOT @ local[0], _CNOT @ local[1])
    rho = u @ rho @ u.conj().T
    tensor = rho.reshape(4, 4, 4, 4)
    rho = gate[0] * rho + (1 - gate[0]) * np.kron(np.eye(4) / 4, np.einsum("iaib->ab", tensor))
    tensor = rho.reshape(4, 4, 4, 4)
    rho = gate[1] * rho + (1 - gate[1]) * np.kron(np.einsum("aibi->ab", tensor), np.eye(4) / 4)
    flip = readout_error[0] * (1 - readout_error[1]) + readout_error[1] * (1 - readout_error[0])
    tensor = rho.reshape((2,) * 8)
    kept = np.zeros((4, 4), dtype=complex)
    for o1, o2 in itertools.product((0, 1), (0, 1)):
        weight = 1 - flip if (o1 ^ o2) == parity else flip
        kept += weight * tensor[:, o1, :, o2, :, o1, :, o2].reshape(4, 4)
    probability = float(np.trace(kept).real)
    in_bell_basis = np.array([[_bell_vector(i).conj() @ kept @ _bell_vector(j) for j in range(4)] for i in range(4)])
    assert np.allclose(in_bell_basis, np.diag(np.diag(in_bell_basis)), atol=1e-12)    # Bell-diagonal
    return probability, [float(in_bell_basis[k, k].real) / probability for k in range(4)]


def enumerated_round(keep: Dist | list[float], sacrifice: Dist | list[float], protocol: DistillProtocol,
                     gate: tuple[float, float], readout_error: tuple[float, float], parity: int) -> list[float]:
    """The kept pair's absolute distribution given the reported parity, by enumerating the input Bell indices,
    each node's gate event (none w.p. f, else each of the 16 Pauli pairs w.p. (1 − f)/16) and the two
    readout flips."""
    events = [[((0, 0), f)] + [((PAULI_INDEX[i >> 2], PAULI_INDEX[i & 3]), (1 - f) / 16) for i in range(16)]
              for f in gate]
    joint = [0.0] * 4
    for a, b in itertools.product(range(4), range(4)):
        ra, rb = (ROTATED[a], ROTATED[b]) if protocol == DEJMPS else (a, b)
        na, nb = (ra & 1) | ((ra ^ rb) & 2), ((ra ^ rb) & 1) | (rb & 2)
        for ((s1a, s1b), w1), ((s2a, s2b), w2) in itertools.product(*events):
            out_a, out_b = na ^ s1a ^ s2a, nb ^ s1b ^ s2b
            for f1, f2 in itertools.product((0, 1), (0, 1)):
                wf = (readout_error[0] if f1 else 1 - readout_error[0]) * (readout_error[1] if f2 else
                                                                           1 - readout_error[1])
                if (out_b & 1) ^ f1 ^ f2 == parity:
                    joint[out_a] += keep[a] * sacrifice[b] * w1 * w2 * wf
    total = sum(joint)
    return [x / total for x in joint]


def parity(bell: int, basis: Basis) -> int:
    x, z = bell & 1, bell >> 1
    return {Basis.Z: x, Basis.X: z, Basis.Y: 1 ^ x ^ z}[basis]


def error_rates(dist: Dist | list[float]) -> dict[Basis, float]:
    return {Basis.Z: dist[1] + dist[3], Basis.X: dist[2] + dist[3], Basis.Y: dist[1] + dist[2]}


distributions = st.tuples(*[st.floats(0.01, 1.0)] * 4).map(lambda v: tuple(x / sum(v) for x in v))


# -- closed forms ----------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(f1=st.floats(0.0, 1.0), f2=st.floats(0.0, 1.0))
def test_bbpssw_on_werner_pairs_is_the_issue_formula_and_stays_werner(f1: float, f2: float) -> None:
    p, fidelity = bbpssw_oracle(f1, f2)
    result = bbpssw_werner(f1, f2)
    assert result.success_probability == pytest.approx(p, abs=1e-12)
    assert result.output == pytest.approx(werner(fidelity), abs=1e-12)
    # the twirl changes nothing but the split of the error: the untwirled round has the same p and F'
    plain = bilateral_cnot(werner(f1), werner(f2))
    assert (plain.success_probability, plain.fidelity) == pytest.approx((p, fidelity), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(d1=distributions, d2=distributions, f=st.floats(0.5, 1.0))
def test_dejmps_is_the_issue_map_in_our_bell_order_with_gate_noise(d1: Dist, d2: Dist, f: float) -> None:
    n, expected = dejmps_oracle(d1, d2)
    result = dejmps(d1, d2)
    assert result.success_probability == pytest.approx(n, abs=1e-12)
    assert as_abcd(result.output) == pytest.approx(expected, abs=1e-12)
    n, expected = dejmps_oracle(d1, d2, f)
    noisy = dejmps(d1, d2, RoundNoise.symmetric(gate_fidelity=f))
    assert noisy.success_probability == pytest.approx(n, abs=1e-12)
    assert as_abcd(noisy.output) == pytest.approx(expected, abs=1e-12)


CASES = [((0.8, 0.05, 0.1, 0.05), (0.7, 0.1, 0.15, 0.05)), ((0.6, 0.0, 0.4, 0.0), (0.9, 0.05, 0.0, 0.05)),
         (werner(0.85), werner(0.7)), ((0.1, 0.2, 0.3, 0.4), (0.4, 0.3, 0.2, 0.1))]


@pytest.mark.parametrize("protocol", [BBPSSW, DEJMPS])
@pytest.mark.parametrize(("keep", "sacrifice"), CASES)
@pytest.mark.parametrize(("gate", "readout"), [((1.0, 1.0), (0.0, 0.0)), ((0.9, 0.8), (0.0, 0.0)),
                                               ((1.0, 1.0), (0.05, 0.2)), ((0.95, 0.85), (0.1, 0.03))])
def test_both_parity_branches_equal_a_density_matrix_simulation(
        protocol: DistillProtocol, keep: Dist, sacrifice: Dist, gate: tuple[float, float],
        readout: tuple[float, float]) -> None:
    noise = RoundNoise(gate, (1 - readout[0], 1 - readout[1]))
    inputs = (distillation.rotate(keep), distillation.rotate(sacrifice)) if protocol == DEJMPS else (keep, sacrifice)
    branches = parity_branches(*inputs, noise)
    for reported in (0, 1):
        probability, coefficients = density_matrix_round(keep, sacrifice, protocol, gate, readout, reported)
        assert branches[reported].success_probability == pytest.approx(probability, abs=1e-12)
        assert branches[reported].output == pytest.approx(coefficients, abs=1e-12)
    if protocol == DEJMPS:      # which end turns by +π/2 does not matter
        assert density_matrix_round(keep, sacrifice, protocol, gate, readout, 0, sign=-1)[1] == \
            pytest.approx(density_matrix_round(keep, sacrifice, protocol, gate, readout, 0)[1], abs=1e-12)


@pytest.mark.parametrize("protocol", [BBPSSW, DEJMPS])
def test_tracked_round_gives_the_parity_and_survivor_of_pure_pairs(protocol: DistillProtocol) -> None:
    for keep, sacrifice in itertools.product(range(4), range(4)):
        expected_parity, survivor = tracked_round(protocol, keep, sacrifice)
        point = [werner(1.0, keep), werner(1.0, sacrifice)]
        probability, coefficients = density_matrix_round(*point, protocol, (1, 1), (0, 0), expected_parity)
        assert probability == pytest.approx(1, abs=1e-12)
        assert coefficients == pytest.approx(werner(1.0, survivor), abs=1e-12)


def test_dejmps_converges_where_bbpssw_without_twirl_does_not() -> None:
    """Recurrence on pairs with only phase (Φ−) errors: the bare bilateral CNOT never sees them (its parity
    checks x only) and drives F to ½; DEJMPS's rotation turns them into detectable Ψ− errors."""
    start: Dist = (0.75, 0.0, 0.25, 0.0)
    bare, rotated = start, start
    for _ in range(8):
        bare = bilateral_cnot(bare, bare).output
        rotated = dejmps(rotated, rotated).output
    assert bare[0] == pytest.approx(0.5, abs=1e-3) and rotated[0] > 1 - 1e-9
    assert [round(level.fidelity, 12) for level in levels(start, DEJMPS, Schedule.RECURRENCE, 8)][-1] == \
        pytest.approx(rotated[0], abs=1e-12)
    # BBPSSW's twirl rescues it too (Werner pairs above ½ converge), but far more slowly than DEJMPS: its
    # first round cannot see the phase errors either (F 0.75 → 0.625), then the Werner pairs climb
    twirled = [level.fidelity for level in levels(start, BBPSSW, Schedule.RECURRENCE, 20)]
    assert twirled[1] == pytest.approx(0.625, abs=1e-12)
    assert all(b > a for a, b in itertools.pairwise(twirled[1:])) and twirled[-1] > 0.99 and twirled[8] < 0.9


def test_gate_noise_bounds_what_recurrence_reaches() -> None:
    """With gate noise the map has a fixed point below 1 (Dür et al. 1999, Fig. 2): F_∞ < 1 and decreasing
    in the noise; with no noise it is 1."""
    start = werner(0.8)
    final = [levels(start, DEJMPS, Schedule.RECURRENCE, 12, RoundNoise.symmetric(f)).pop().fidelity
             for f in (1.0, 0.99, 0.97)]
    assert final[0] > 1 - 1e-9 and 1 > final[1] > final[2] > start[0]


@pytest.mark.parametrize("schedule", list(Schedule))
def test_expected_pairs_follow_the_renewal_counts(schedule: Schedule) -> None:
    """E_k = 2^k / ∏ p_i (recurrence); E_k = 1/∏_{i=1..k} p_i + Σ_{j=1..k} 1/∏_{i=j..k} p_i (pumping: the
    starting pair and round j's fresh pair are used once per attempt of round j, which starts again whenever a
    later round fails); and a Monte Carlo of the schedule agrees within 4σ."""
    out = levels((0.8, 0.1, 0.05, 0.05), DEJMPS, schedule, 4, RoundNoise.symmetric(0.97, 0.98))
    p = [level.success_probability for level in out]
    for k in range(5):
        if schedule == Schedule.RECURRENCE:
            expected = 2 ** k / math.prod(p[1:k + 1])
        else:
            expected = 1 / math.prod(p[1:k + 1]) + sum(1 / math.prod(p[j:k + 1]) for j in range(1, k + 1))
        assert out[k].expected_pairs == pytest.approx(expected, rel=1e-12)
    rng, k, runs = np.random.default_rng(5), 3, 4000

    def cost(level: int) -> int:
        """Elementary pairs used to make one pair of ``level``, drawing each round's success."""
        if level == 0:
            return 1
        while True:
            used = cost(level - 1) + (cost(level - 1) if schedule == Schedule.RECURRENCE else 1)
            if rng.random() < p[level]:
                return used
            total[0] += used

    samples = []
    for _ in range(runs):
        total = [0]
        samples.append(cost(k) + total[0])
    mean, sd = float(np.mean(samples)), float(np.std(samples))
    assert abs(mean - out[k].expected_pairs) < SIGMAS * sd / math.sqrt(runs), (mean, out[k].expected_pairs)


def test_the_planner_picks_the_cheapest_policy_that_reaches_the_target() -> None:
    link, noise = (0.82, 0.04, 0.1, 0.04), RoundNoise.symmetric(0.995, 0.998)
    for target in (0.85, 0.9, 0.95, 0.97):
        policy = plan(link, target, noise)
        assert policy is not None and policy.fidelity >= target and policy.protocol is not None
        assert policy.schedule is not None
        reached = levels(link, policy.protocol, policy.schedule, policy.rounds, noise)[-1]
        assert (reached.fidelity, reached.expected_pairs) == (policy.fidelity, policy.expected_pairs)
        for protocol, schedule, rounds in itertools.product(DistillProtocol, Schedule, range(1, MAX_ROUNDS + 1)):
            other = levels(link, protocol, schedule, rounds, noise)[-1]
            if other.fidelity >= target:
                assert other.expected_pairs >= policy.expected_pairs - 1e-9, (protocol, schedule, rounds)
    assert plan(link, 0.8) == distillation.Policy(None, None, 0, 0.82, 1.0)
    assert plan(link, 0.999, RoundNoise.symmetric(0.95)) is None                # beyond the noisy fixed point
    assert plan(werner(0.5), 0.6) is None                                       # Werner ½ is separable
    assert plan(link, 0.999, max_pairs=8) is None                               # too dear


def test_distillation_docstring_examples() -> None:
    result = doctest.testmod(distillation)
    assert result.attempted > 0 and result.failed == 0


# -- the medium ------------------------------------------------------------------------------------------
def run_due(kernel: Kernel) -> None:
    while (entry := kernel.pop_entry()) is not None:
        at, callback, arg = entry
        kernel.now = max(kernel.now, at)
        callback(arg)


class Recorder:
    """A reply port: the events it gets, with their times."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.events: list[tuple[int, Any]] = []

    def deliver(self, event: Any) -> None:
        self.events.append((self.kernel.now, event))


class Lab:
    """Nodes 1..n on one medium (4 slots each, perfect and without memory noise unless given)."""

    def __init__(self, nodes: int = 2, seed: int = 1, **hardware: dict[str, Any]) -> None:
        self.kernel = Kernel()
        self.medium = Medium(self.kernel, np.random.default_rng(seed))
        self.ports = {}
        for node_id in range(1, nodes + 1):
            params: dict[str, Any] = {"t2_ns": INF, "readout_ns": 0} | hardware.get(f"n{node_id}", {})
            self.medium.add_node(NodeHardware(node_id, 4, **params))
            self.ports[node_id] = Recorder(self.kernel)

    def pair(self, a: int, slot_a: int, b: int, slot_b: int, index: int, dist: Dist | list[float],
             created: float = 0.0) -> Pair:
        pair = Pair(frame_of(FRAMES[index]), tuple(dist))  # type: ignore[arg-type]
        self.medium.create(a, slot_a, 0, created, pair)
        self.medium.create(b, slot_b, 1, created, pair)
        return pair

    def distil(self, node: int, protocol: DistillProtocol = DEJMPS, keep: int = 0, sacrifice: int = 1,
               twirl_about: int | None = None) -> None:
        self.medium.command(node, Distill(keep, sacrifice, protocol, twirl_about), self.ports[node])  # type: ignore

    def outcome(self, node: int) -> int:
        run_due(self.kernel)
        event = next(e for _, e in reversed(self.ports[node].events) if not isinstance(e, CommandRejected))
        assert isinstance(event, DistillResult)
        return event.outcome

    def measure(self, node: int, slot: int, basis: Basis) -> int:
        return self.medium.measure(self.medium.take(node, slot), basis)


@settings(max_examples=60, deadline=None)
@given(d1=distributions, d2=distributions, frames=st.tuples(st.integers(0, 3), st.integers(0, 3)),
       protocol=st.sampled_from(list(DistillProtocol)), twirl_about=st.none() | st.integers(0, 3),
       gate=st.tuples(st.floats(0.5, 1.0), st.floats(0.5, 1.0)),
       readout=st.tuples(st.floats(0.7, 1.0), st.floats(0.7, 1.0)), t1_ns=st.sampled_from([INF, 2e6]),
       ages=st.tuples(*[st.integers(0, 2_000_000)] * 4), second_after=st.integers(0, 1_000_000),
       first=st.sampled_from([1, 2]), seed=st.integers(0, 2**32))
def test_the_tracked_distribution_is_the_closed_form_given_the_reported_parity(
        d1: Dist, d2: Dist, frames: tuple[int, int], protocol: DistillProtocol, twirl_about: int | None,
        gate: tuple[float, float], readout: tuple[float, float], t1_ns: float, ages: tuple[int, ...],
        second_after: int, first: int, seed: int) -> None:
    """Each end's memory noise up to its own command, both gates, both readouts, either end first."""
    t2_ns, now = 1e6, 3_000_000
    lab = Lab(seed=seed, **{f"n{n}": {"t2_ns": t2_ns, "t1_ns": t1_ns, "gate_fidelity": gate[n - 1],
                                      "readout_fidelity": readout[n - 1]} for n in (1, 2)})
    a = lab.pair(1, 0, 2, 0, frames[0], d1)
    b = lab.pair(1, 1, 2, 1, frames[1], d2)
    for node, (age_a, age_b) in ((1, ages[:2]), (2, ages[2:])):     # each end's qubits stored since its own time
        held = lab.medium.nodes[node].held
        held[0].created, held[1].created = now - age_a, now - age_b
    second = 3 - first
    lab.kernel.now = now
    lab.distil(first, protocol, twirl_about=twirl_about)
    reported_first = lab.outcome(first)
    lab.kernel.now = now + second_after
    lab.distil(second, protocol, twirl_about=twirl_about)
    reported = reported_first ^ lab.outcome(second)
    channels = {first: ages[2 * first - 2:2 * first], second: [age + second_after for age in ages[2 * second - 2:
                                                                                                  2 * second]]}
    keep_in = xor(xor(d1, memory(channels[1][0], t1_ns, t2_ns)), memory(channels[2][0], t1_ns, t2_ns))
    sac_in = xor(xor(d2, memory(channels[1][1], t1_ns, t2_ns)), memory(channels[2][1], t1_ns, t2_ns))
    expected = enumerated_round(keep_in, sac_in, protocol, gate, (1 - readout[0], 1 - readout[1]), reported)
    if twirl_about is not None:
        expected = list(werner(expected[twirl_about], twirl_about))
    kept = lab.medium.nodes[1].held[0].pair
    assert kept is a and kept is lab.medium.nodes[2].held[0].pair
    assert kept.distribution == pytest.approx(expected, abs=1e-12)
    assert b.first is not None and lab.medium.ledger["measured"] == 2


def test_pure_pairs_give_the_tracked_parity_and_survivor_in_either_order() -> None:
    lab = Lab(seed=3)
    first_outcomes = []
    for protocol, keep, sacrifice, first, basis in itertools.product(DistillProtocol, range(4), range(4), (1, 2),
                                                                     BASES):
        lab.pair(1, 0, 2, 0, keep, werner(1.0, keep))
        lab.pair(1, 1, 2, 1, sacrifice, werner(1.0, sacrifice))
        lab.distil(first, protocol)
        lab.distil(3 - first, protocol)
        outcomes = lab.outcome(first), lab.outcome(3 - first)
        first_outcomes.append(outcomes[0])
        expected_parity, survivor = tracked_round(protocol, keep, sacrifice)
        assert outcomes[0] ^ outcomes[1] == expected_parity
        assert lab.measure(1, 0, basis) ^ lab.measure(2, 0, basis) == parity(survivor, basis)
    # the first end's outcome is a fair coin: 192 rounds, 4σ = 4·sqrt(192/4) ≈ 28
    assert abs(sum(first_outcomes) - 96) < SIGMAS * math.sqrt(192 / 4)
    assert lab.medium.ledger == {"created": 768, "measured": 768, "discarded": 0, "discarded_at_end": 0}


def run_rounds(lab: Lab, protocol: DistillProtocol, inputs: tuple[Dist, Dist], noise: RoundNoise, trials: int,
               rng: np.random.Generator, twirl: bool) -> tuple[dict[int, list[int]], dict[Basis, list[int]]]:
    """``trials`` rounds on pairs with random tracked states and frames drawn from ``inputs`` (relative);
    alternately node 1 and node 2 first. Returns per first node [successes, rounds], and per basis [errors of
    the survivor measured at both ends against its tracked state, survivors measured]. Checks every
    survivor's tracked distribution against the closed form."""
    expected = distillation.distill(protocol, *inputs, noise) if twirl else (
        dejmps(*inputs, noise) if protocol == DEJMPS else bilateral_cnot(*inputs, noise))
    counts = {1: [0, 0], 2: [0, 0]}
    errors = {basis: [0, 0] for basis in BASES}
    tracked = rng.integers(4, size=(trials, 2))
    drawn = [rng.choice(4, size=trials, p=np.array(d) / sum(d)) for d in inputs]
    for trial in range(trials):
        t_keep, t_sac = int(tracked[trial, 0]), int(tracked[trial, 1])
        lab.pair(1, 0, 2, 0, t_keep ^ int(drawn[0][trial]), relabel(inputs[0], t_keep))
        lab.pair(1, 1, 2, 1, t_sac ^ int(drawn[1][trial]), relabel(inputs[1], t_sac))
        want, survivor = tracked_round(protocol, t_keep, t_sac)
        first = 1 + trial % 2
        lab.distil(first, protocol, twirl_about=survivor if twirl else None)
        lab.distil(3 - first, protocol, twirl_about=survivor if twirl else None)
        success = lab.outcome(1) ^ lab.outcome(2) == want
        counts[first][0] += success
        counts[first][1] += 1
        if not success:
            lab.measure(1, 0, Basis.Z)
            lab.measure(2, 0, Basis.Z)
            continue
        kept = lab.medium.nodes[1].held[0].pair
        assert relabel(kept.distribution, survivor) == pytest.approx(expected.output, abs=1e-12)
        basis = BASES[sum(e[1] for e in errors.values()) % 3]
        errors[basis][0] += lab.measure(1, 0, basis) ^ lab.measure(2, 0, basis) != parity(survivor, basis)
        errors[basis][1] += 1
    return counts, errors


SAMPLED = [
    pytest.param(BBPSSW, (werner(0.9), werner(0.8)), (0.9, 0.85), (0.97, 0.95), True, id="bbpssw-werner-noisy"),
    pytest.param(DEJMPS, ((0.75, 0.02, 0.2, 0.03), (0.75, 0.02, 0.2, 0.03)), (0.85, 0.8), (0.97, 0.95), False,
                 id="dejmps-noisy"),
    pytest.param(DEJMPS, ((0.7, 0.02, 0.25, 0.03), (0.7, 0.02, 0.25, 0.03)), (1.0, 1.0), (1.0, 1.0), False,
                 id="dejmps-ideal"),
]


@pytest.mark.parametrize(("protocol", "inputs", "gate", "readout", "twirl"), SAMPLED)
def test_sampled_rounds_agree_with_the_closed_form(protocol: DistillProtocol, inputs: tuple[Dist, Dist],
                                                   gate: tuple[float, float], readout: tuple[float, float],
                                                   twirl: bool) -> None:
    """Success probability (each order of the two ends separately) and the survivor's error rates in Z, X, Y
    and fidelity, measured at both ends, within 4σ of the closed form. The sample resolves each figure from
    the closest plausible wrong answer (noise ignored, the other protocol, no distillation) by 8σ."""
    noise = RoundNoise(gate, readout)
    right = distillation.distill(protocol, *inputs, noise)
    other = DEJMPS if protocol == BBPSSW else BBPSSW
    wrong = [distillation.distill(other, *inputs, noise), distillation.distill(protocol, *inputs)]
    q = noise.parity_flip                       # the final measurement's readout flips the observed parity too
    observed = {b: e * (1 - q) + (1 - e) * q for b, e in error_rates(right.output).items()}
    p = right.success_probability
    delta_p = min(abs(w.success_probability - p) for w in wrong if abs(w.success_probability - p) > 1e-9)
    delta_f = min([abs(w.fidelity - right.fidelity) for w in wrong if abs(w.fidelity - right.fidelity) > 1e-9]
                  + [abs(inputs[0][0] - right.fidelity)])
    spread = sum(e * (1 - e) for e in observed.values()) * 3 / (4 * (1 - 2 * q) ** 2)   # n_s · Var(F̂)
    trials = math.ceil(max(2 * 64 * p * (1 - p) / delta_p ** 2, 64 * spread / delta_f ** 2 / p))
    assert trials <= 12_000, trials                     # about 0.1 ms each
    lab = Lab(seed=61, **{f"n{n}": {"gate_fidelity": gate[n - 1], "readout_fidelity": readout[n - 1]}
                          for n in (1, 2)})
    counts, errors = run_rounds(lab, protocol, inputs, noise, trials, np.random.default_rng(62), twirl)
    for successes, rounds in counts.values():
        assert abs(successes / rounds - p) < SIGMAS * math.sqrt(p * (1 - p) / rounds), (successes / rounds, p)
    rates = {}
    for basis, (wrong_parities, measured) in errors.items():
        e = observed[basis]
        assert abs(wrong_parities / measured - e) < SIGMAS * math.sqrt(e * (1 - e) / measured), basis
        rates[basis] = (wrong_parities / measured - q) / (1 - 2 * q)
    fidelity = 1 - sum(rates.values()) / 2
    stderr = math.sqrt(sum(observed[b] * (1 - observed[b]) / errors[b][1] for b in BASES) / 4) / (1 - 2 * q)
    assert abs(fidelity - right.fidelity) < SIGMAS * stderr, (fidelity, right.fidelity, stderr)
    assert lab.medium.ledger["measured"] == lab.medium.ledger["created"]


def test_the_twirl_spreads_the_survivors_error_over_x_y_and_z() -> None:
    """Phase errors only: untwirled, the survivor (F' = 0.68) errs in X only (e_Z = e_Y = 0); twirled, each
    basis errs with 2(1 − F')/3. The sample resolves 2(1 − F')/3 from 0 by 8σ in every basis."""
    start: Dist = (0.8, 0.0, 0.2, 0.0)
    fidelity = 0.8 ** 2 + 0.2 ** 2
    e = 2 * (1 - fidelity) / 3
    per_basis = math.ceil(64 * e * (1 - e) / e ** 2)
    lab = Lab(seed=81)
    counts, errors = run_rounds(lab, BBPSSW, (start, start), distillation.NO_NOISE, 3 * per_basis,
                                np.random.default_rng(82), twirl=True)
    assert counts[1][0] + counts[2][0] == 3 * per_basis          # phase errors never fail the parity check
    for basis, (wrong, measured) in errors.items():
        assert abs(wrong / measured - e) < SIGMAS * math.sqrt(e * (1 - e) / measured), (basis, wrong / measured)


def test_recurrence_in_the_medium_follows_the_closed_form_levels() -> None:
    """Two rounds of DEJMPS recurrence done in the medium: every level-2 survivor's tracked distribution is
    the closed form's level 2 (the convergence of test_dejmps_converges_... in the medium)."""
    start: Dist = (0.75, 0.0, 0.25, 0.0)
    want = levels(start, DEJMPS, Schedule.RECURRENCE, 2)
    lab, rng = Lab(seed=71), np.random.default_rng(72)
    made = 0
    while made < 20:
        level1 = []
        for slots in ((0, 1), (2, 3)):
            while True:
                for slot in slots:
                    lab.pair(1, slot, 2, slot, int(rng.choice(4, p=start)), start)
                lab.distil(1, DEJMPS, *slots)
                lab.distil(2, DEJMPS, *slots)
                if lab.outcome(1) ^ lab.outcome(2) == 0:      # tracked Φ+ pairs: keep on even parity
                    break
                for node in (1, 2):
                    lab.measure(node, slots[0], Basis.Z)
            level1.append(lab.medium.nodes[1].held[slots[0]].pair)
            assert level1[-1].distribution == pytest.approx(want[1].output, abs=1e-12)
        lab.distil(1, DEJMPS, 0, 2)
        lab.distil(2, DEJMPS, 0, 2)
        if lab.outcome(1) ^ lab.outcome(2) == 0:
            assert lab.medium.nodes[1].held[0].pair.distribution == pytest.approx(want[2].output, abs=1e-12)
            made += 1
        for node in (1, 2):
            lab.measure(node, 0, Basis.Z)
    assert want[2].fidelity > want[1].fidelity > start[0]


# -- timing, accounting, the pending round's rules, bad commands -------------------------------------------
def test_timing_and_accounting() -> None:
    lab = Lab(n1={"gate_ns": 300, "readout_ns": 700}, n2={"gate_ns": 50, "readout_ns": 100})
    lab.pair(1, 0, 2, 0, 0, werner(1.0))
    lab.pair(1, 1, 2, 1, 0, werner(1.0))
    lab.kernel.now = 1000
    lab.distil(1)
    assert not lab.medium.nodes[1].is_free(1, 1999) and lab.medium.nodes[1].is_free(1, 2000)
    lab.kernel.now = 1500
    lab.distil(2)
    run_due(lab.kernel)
    assert [t for t, _ in lab.ports[1].events] == [2000] and [t for t, _ in lab.ports[2].events] == [1650]
    assert set(lab.medium.nodes[1].held) == {0} and set(lab.medium.nodes[2].held) == {0}
    assert lab.medium.finish({1: {0}, 2: {0}}) == {"created": 4, "measured": 2, "discarded": 0,
                                                  "discarded_at_end": 2}


def pending_lab() -> Lab:
    """Node 1 has done its part of a DEJMPS round on pairs (slot 0, slot 1); node 2 has not."""
    lab = Lab(seed=5)
    lab.pair(1, 0, 2, 0, 0, werner(1.0))
    lab.pair(1, 1, 2, 1, 0, werner(1.0))
    lab.pair(1, 2, 2, 2, 0, werner(1.0))
    lab.distil(1)
    run_due(lab.kernel)
    return lab


@pytest.mark.parametrize(("node", "command"), [
    (1, Measure(0, Basis.Z)), (1, Move(0)), (1, BellMeasure(0, 2)), (1, Distill(0, 2, DEJMPS)),
    (2, Measure(0, Basis.X)), (2, Measure(1, Basis.Z)), (2, BellMeasure(2, 1)), (2, Distill(1, 0, DEJMPS)),
    (2, Distill(0, 1, BBPSSW)), (2, Distill(0, 1, DEJMPS, twirl_about=0)), (2, Distill(0, 2, DEJMPS)),
])
def test_a_pending_round_holds_its_qubits(node: int, command: Any) -> None:
    lab = pending_lab()
    lab.medium.nodes[1].storage = 1
    held = {n: dict(lab.medium.nodes[n].held) for n in (1, 2)}
    lab.medium.command(node, command, lab.ports[node])  # type: ignore[arg-type]
    assert lab.medium.rejected_commands == 1                        # refused, counted, nothing taken
    assert re.search(r"distillation round node 1 started|does not match the round node 1",
                     lab.medium.last_rejection or "")
    assert {n: lab.medium.nodes[n].held for n in (1, 2)} == held
    lab.distil(2)                                                   # the matching part still completes it
    assert lab.outcome(1) ^ lab.outcome(2) == 0


def test_discarding_the_first_ends_kept_qubit_leaves_the_round_going() -> None:
    lab = pending_lab()
    lab.medium.command(1, Discard(0), lab.ports[1])  # type: ignore[arg-type]
    lab.distil(2)
    assert lab.outcome(1) ^ lab.outcome(2) == 0
    assert lab.medium.ledger == {"created": 6, "measured": 2, "discarded": 1, "discarded_at_end": 0}


@pytest.mark.parametrize("slot", [0, 1])
def test_discarding_one_of_the_second_ends_qubits_abandons_the_round(slot: int) -> None:
    lab = pending_lab()
    lab.medium.command(2, Discard(slot), lab.ports[2])  # type: ignore[arg-type]
    alone = [lab.medium.nodes[1].held[0], lab.medium.nodes[2].held[1 - slot]]
    for qubit in alone:                                             # unentangled, and free to use again
        assert qubit.pair.members == [qubit.qubit_id, 0] and qubit.pair.distribution == (0.25,) * 4
    assert lab.measure(1, 0, Basis.Z) in (0, 1) and lab.measure(2, 1 - slot, Basis.X) in (0, 1)
    assert not lab.medium.distillation.pending


def test_a_round_whose_far_half_is_gone_measures_and_leaves_the_kept_qubit_alone() -> None:
    lab = Lab()
    lab.pair(1, 0, 2, 0, 0, werner(1.0))
    lab.pair(1, 1, 2, 1, 0, werner(1.0))
    lab.medium.command(2, Discard(1), lab.ports[2])  # type: ignore[arg-type]  # e.g. its cutoff
    lab.distil(1)
    assert lab.outcome(1) in (0, 1) and not lab.medium.distillation.pending
    for node in (1, 2):
        qubit = lab.medium.nodes[node].held[0]
        assert qubit.pair.members == [qubit.qubit_id, 0] and qubit.pair.distribution == (0.25,) * 4


@pytest.mark.parametrize(("setup", "slots", "message"), [
    ("two", (0, 0), "it needs two distinct held qubits"), ("two", (0, 3), "it needs two distinct held qubits"),
    ("one-pair", (0, 1), "they hold the two halves of one pair"),
    ("three", (0, 1), "the two pairs do not join it to one other node"),
    ("local", (0, 1), "the two pairs do not join it to one other node"),
    ("measured", (0, 1), "a far half was measured"),
])
def test_bad_distill_commands_are_clear_errors_and_take_nothing(setup: str, slots: tuple[int, int],
                                                                message: str) -> None:
    lab = Lab(nodes=3)
    if setup == "one-pair":
        lab.pair(1, 0, 1, 1, 0, werner(1.0))
    elif setup == "local":
        lab.pair(1, 0, 1, 2, 0, werner(1.0))
        lab.pair(1, 1, 1, 3, 0, werner(1.0))
    else:
        lab.pair(1, 0, 2, 0, 0, werner(1.0))
        lab.pair(1, 1, 3 if setup == "three" else 2, 1, 0, werner(1.0))
    if setup == "measured":
        lab.measure(2, 1, Basis.Z)
    held = dict(lab.medium.nodes[1].held)
    lab.distil(1, keep=slots[0], sacrifice=slots[1])
    assert lab.medium.rejected_commands == 1
    assert re.search(rf"node 1 cannot distil slots \({slots[0]}, {slots[1]}\): {message}",
                     lab.medium.last_rejection or "")
    assert lab.medium.nodes[1].held == held and not lab.medium.distillation.pending


def test_the_multi_process_medium_executes_distill_from_both_nodes(tmp_path: Path) -> None:
    """The medium process dispatches each node's Distill to the same Medium and sends each its result as an
    ``event`` (wire.md §8.3)."""
    scenario = load_text(two_node_toml(pairs=1), "two.toml")
    server = MediumServer(scenario, 3, tmp_path, dilation=0.01, tolerance_ns=10_000)
    try:
        server.kernel.epoch_ns = time.time_ns() + 10**15
        medium = server.emu.medium
        for slot in (0, 1):
            pair = Pair(frame_of("__"), (1.0, 0.0, 0.0, 0.0))
            medium.create(1, slot, 0, 0, pair)
            medium.create(2, slot, 1, 0, pair)
        outcomes = []
        for name, node_id in (("bob", 2), ("alice", 1)):
            connection = Connection(None, name)  # type: ignore[arg-type]
            server.connections[name] = connection
            start = server.kernel.now
            server._dispatch(connection, {"op": "command", "at": start, "node_id": node_id,
                                          "reply_to": f"{name}/network",
                                          "command": encode_hardware(Distill(0, 1, DEJMPS))})
            run_due(server.kernel)
            message = connection.inbox.receive_nowait()
            hardware = scenario.nodes[name]
            assert message["op"] == "event" and message["reply_to"] == f"{name}/network"
            assert message["at"] == start + hardware.gate_ns + hardware.readout_ns
            result = decode_hardware(message["event"])
            assert isinstance(result, DistillResult)
            outcomes.append(result.outcome)
    finally:
        server._pcap.close()
    assert outcomes[0] ^ outcomes[1] == 0 and medium.ledger["measured"] == 2
    assert medium.nodes[1].held[0].pair is medium.nodes[2].held[0].pair
    assert all(q.status == QubitStatus.IN_MEMORY for q in (medium.nodes[1].held[0], medium.nodes[2].held[0]))
