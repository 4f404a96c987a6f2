"""The network layer's closed forms (protocols/network/model.py, physics.xor_convolve) against independent
oracles written here: brute-force enumeration, density matrices of a real swap, and the Werner formulas of
Dür, Briegel, Cirac, Zoller (1999)."""

from __future__ import annotations

import importlib
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.network.model import (
    Chain,
    Memory,
    Repeater,
    chain_distribution,
    characters,
    from_characters,
    gate_channel,
    goodness,
    memory_channel,
    move_channel,
    move_fidelity,
    move_wait_ns,
    move_waited,
    moved,
    readout_channel,
    solve_cutoff,
    swap_noise,
    werner,
    werner_chain_fidelity,
    worst_case_distribution,
    worst_case_fidelity,
    worst_case_storage,
)
from protocols.physical.physics import pauli_channel, pauli_distribution, xor_convolve

probability = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
fidelity = st.floats(min_value=0.25, max_value=1.0, allow_nan=False)


@st.composite
def distributions(draw: st.DrawFn) -> tuple[float, float, float, float]:
    weights = [draw(st.floats(min_value=0.0, max_value=1.0)) for _ in range(4)]
    total = sum(weights)
    if total == 0:
        return (1.0, 0.0, 0.0, 0.0)
    return (weights[0] / total, weights[1] / total, weights[2] / total, weights[3] / total)


def brute_xor(a: tuple[float, ...], b: tuple[float, ...]) -> list[float]:
    out = [0.0] * 4
    for i, j in itertools.product(range(4), repeat=2):
        out[i ^ j] += a[i] * b[j]
    return out


def brute_chain(*dists: tuple[float, ...]) -> list[float]:
    result: list[float] = [1.0, 0.0, 0.0, 0.0]
    for dist in dists:
        result = brute_xor(tuple(result), dist)
    return result


def close(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float], tol: float = 1e-12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def dephasing(t: float, t2: float) -> tuple[float, float, float, float]:
    """The memory channel with T1 = ∞, written out: a Z flip with probability (1 − e^(−t/T2))/2."""
    pz = (1 - math.exp(-t / t2)) / 2
    return (1 - pz, 0.0, pz, 0.0)


# ---- XOR-convolution and Pauli channels ----------------------------------------------------------------

@given(distributions(), distributions())
def test_xor_convolve_is_the_enumerated_sum(a: tuple[float, ...], b: tuple[float, ...]) -> None:
    assert close(xor_convolve(a, b), brute_xor(a, b))               # type: ignore[arg-type]
    assert close(xor_convolve(a, b), xor_convolve(b, a))            # type: ignore[arg-type]


@given(distributions(), st.floats(0, 0.3), st.floats(0, 0.3), st.floats(0, 0.3))
def test_pauli_distribution_composes_like_the_pauli_channel(d: tuple[float, ...], px: float, py: float,
                                                            pz: float) -> None:
    channel = pauli_distribution(px, py, pz)
    assert channel == (1 - px - py - pz, px, pz, py)
    assert close(xor_convolve(d, channel), pauli_channel(d, px, py, pz))   # type: ignore[arg-type]


@given(distributions())
def test_characters_invert(d: tuple[float, float, float, float]) -> None:
    assert close(from_characters(characters(d)), d)


@given(distributions(), distributions())
def test_characters_multiply_under_convolution(a: tuple[float, float, float, float],
                                               b: tuple[float, float, float, float]) -> None:
    product = [x * y for x, y in zip(characters(a), characters(b), strict=True)]
    assert close(characters(xor_convolve(a, b)), product)


# ---- a real swap, with density matrices -----------------------------------------------------------------

PAULI = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Z": np.diag([1.0, -1.0]),
         "Y": np.array([[0, -1j], [1j, 0]])}


def bell(index: int) -> np.ndarray:
    """|B_k⟩ = (X^x Z^z ⊗ I)|Φ+⟩ with k = x | z << 1 (0 Φ+, 1 Ψ+, 2 Φ−, 3 Ψ−)."""
    phi = np.array([1, 0, 0, 1]) / math.sqrt(2)
    op = np.linalg.matrix_power(PAULI["X"], index & 1) @ np.linalg.matrix_power(PAULI["Z"], index >> 1)
    return np.kron(op, np.eye(2)) @ phi


def bell_diagonal(dist: tuple[float, ...]) -> np.ndarray:
    return sum(p * np.outer(bell(k), bell(k).conj()) for k, p in enumerate(dist))  # type: ignore[return-value]


def swapped(d1: tuple[float, ...], d2: tuple[float, ...], gate_fidelity: float = 1.0) -> dict[int, list[float]]:
    """Qubits 1-2 hold pair 1, 3-4 pair 2; the middle qubits 2, 3 go through a two-qubit depolarising channel
    (a uniformly random Pauli of the 16 with probability 1 − f) and are projected on each Bell state m. Per m:
    its probability and the Bell-diagonal distribution of qubits 1-4."""
    rho = np.kron(bell_diagonal(d1), bell_diagonal(d2))
    paulis = [np.kron(np.kron(np.eye(2), np.kron(PAULI[a], PAULI[b])), np.eye(2)) for a in "IXYZ" for b in "IXYZ"]
    rho = gate_fidelity * rho + (1 - gate_fidelity) / 16 * sum(p @ rho @ p.conj().T for p in paulis)
    out = {}
    for m in range(4):
        projector = np.kron(np.kron(np.eye(2), np.outer(bell(m), bell(m).conj())), np.eye(2))
        post = projector @ rho @ projector
        prob = float(np.trace(post).real)
        reduced = np.einsum("abcdebcf->adef", post.reshape([2] * 8)).reshape(4, 4) / prob
        out[m] = [prob] + [float((bell(k).conj() @ reduced @ bell(k)).real) for k in range(4)]
    return out


@settings(max_examples=20, deadline=None)
@given(distributions(), distributions())
def test_a_perfect_swap_leaves_the_xor_convolution_shifted_by_the_outcome(d1: tuple[float, ...],
                                                                           d2: tuple[float, ...]) -> None:
    expected = xor_convolve(d1, d2)                                  # type: ignore[arg-type]
    for m, (prob, *dist) in swapped(d1, d2).items():
        assert prob == pytest.approx(0.25, abs=1e-12)
        assert close(dist, [expected[k ^ m] for k in range(4)], 1e-9)


@pytest.mark.parametrize("f", [1.0, 0.9, 0.5, 0.0])
def test_gate_noise_is_g_of_f(f: float) -> None:
    d1, d2 = (0.85, 0.05, 0.07, 0.03), (0.9, 0.02, 0.03, 0.05)
    expected = chain_distribution([d1, d2], [gate_channel(f)])
    for m, (_, *dist) in swapped(d1, d2, f).items():
        assert close(dist, [expected[k ^ m] for k in range(4)], 1e-9)


def test_werner_gate_noise_multiplies_the_werner_parameter() -> None:
    for f1, f2, f in [(0.9, 0.95, 0.97), (0.7, 0.99, 0.8)]:
        w1, w2 = (4 * f1 - 1) / 3, (4 * f2 - 1) / 3
        got = chain_distribution([werner(f1), werner(f2)], [gate_channel(f)])[0]
        assert got == pytest.approx(0.25 + 0.75 * f * w1 * w2, abs=1e-12)


def depolarised_half(dist: tuple[float, ...], f: float, half: int) -> list[float]:
    """The Bell-diagonal pair after the medium's move of one half (stack/quantum/medium.py ``_move``): with
    probability 1 − f a uniformly random one-qubit Pauli of the four (identity included) on that half, as a
    density matrix; its overlaps with the four Bell states."""
    rho = bell_diagonal(dist)
    paulis = [np.kron(PAULI[p], np.eye(2)) if half == 0 else np.kron(np.eye(2), PAULI[p]) for p in "IXYZ"]
    rho = f * rho + (1 - f) / 4 * sum(p @ rho @ p.conj().T for p in paulis)
    return [float((bell(k).conj() @ rho @ bell(k)).real) for k in range(4)]


@pytest.mark.parametrize("f", [1.0, 0.99, 0.93, 0.5, 0.0])
@pytest.mark.parametrize("half", [0, 1])
def test_a_move_to_storage_is_the_one_qubit_depolarising_channel(f: float, half: int) -> None:
    d = (0.85, 0.05, 0.07, 0.03)
    assert close(moved(d, f), depolarised_half(d, f, half), 1e-12)
    assert close(xor_convolve(d, move_channel(f)), depolarised_half(d, f, half), 1e-12)   # type: ignore[arg-type]
    assert close(characters(move_channel(f)), (1.0, f, f, f))


def test_moves_multiply_the_werner_parameter_once_per_moved_half() -> None:
    """Per link pair the ends with storage each move their half; per swap the repeater's two halves were
    moved (one per hop) before the CNOT: F = ¼ + ¾·w₁w₂·f_a·f_r²·f_b·f_r for a — r — b, storage everywhere."""
    f1, f2, f_a, f_r, f_b = 0.98, 0.96, 0.99, 0.93, 0.97
    w1, w2 = (4 * f1 - 1) / 3, (4 * f2 - 1) / 3
    links = [moved(werner(f1), f_a, f_r), moved(werner(f2), f_r, f_b)]
    got = chain_distribution(links, [gate_channel(f_r)])
    assert got[0] == pytest.approx(0.25 + 0.75 * w1 * w2 * f_a * f_r**3 * f_b, abs=1e-12)
    assert close(got, werner(0.25 + 0.75 * w1 * w2 * f_a * f_r**3 * f_b))
    assert moved(werner(f1)) == werner(f1) and moved(werner(f1), 1.0, 1.0) == werner(f1)   # no move: untouched
    assert (move_fidelity(0, 0.93), move_fidelity(1, 0.93), move_fidelity(4, 1.0)) == (1.0, 0.93, 1.0)


def test_each_moved_half_dephases_for_the_moves_duration() -> None:
    """Dephasing only (T1 = ∞): a half stored t keeps the X character and multiplies the Z and Y characters by
    e^(−t/T2), so a Werner pair whose halves move for t_a and t_b has
    F = ¼(1 + w + 2w·e^(−t_a/T2_a − t_b/T2_b)); a node without storage does not move (0 ns)."""
    f, t_a, t_b, t2_a, t2_b = 0.95, 20_000, 5_000, 200_000.0, 50_000.0
    w = (4 * f - 1) / 3
    got = move_waited(werner(f), (Memory(math.inf, t2_a), t_a), (Memory(math.inf, t2_b), t_b))
    assert got[0] == pytest.approx(0.25 * (1 + w + 2 * w * math.exp(-t_a / t2_a - t_b / t2_b)), abs=1e-12)
    assert move_waited(werner(f), (Memory(math.inf, t2_a), 0)) == werner(f)
    assert (move_wait_ns(0, 500), move_wait_ns(2, 500)) == (0, 500)


@given(st.floats(0, 0.5))
def test_readout_channel_is_two_independent_bit_flips(eps: float) -> None:
    out = [0.0] * 4
    for flip_x, flip_z in itertools.product((0, 1), repeat=2):
        out[flip_x | flip_z << 1] += (eps if flip_x else 1 - eps) * (eps if flip_z else 1 - eps)
    assert close(readout_channel(eps), out)
    assert close(swap_noise(0.9, eps), brute_xor(gate_channel(0.9), out))


# ---- Werner chains (Dür, Briegel, Cirac, Zoller 1999) ---------------------------------------------------

@given(fidelity, fidelity)
def test_two_werner_links(f1: float, f2: float) -> None:
    expected = f1 * f2 + (1 - f1) * (1 - f2) / 3
    assert chain_distribution([werner(f1), werner(f2)])[0] == pytest.approx(expected, abs=1e-12)
    assert werner_chain_fidelity([f1, f2]) == pytest.approx(expected, abs=1e-12)


@given(st.lists(fidelity, min_size=2, max_size=8))
def test_werner_chain_against_repeated_convolution(fidelities: list[float]) -> None:
    repeated = brute_chain(*(werner(f) for f in fidelities))
    product = math.prod((4 * f - 1) / 3 for f in fidelities)
    assert repeated[0] == pytest.approx(0.25 + 0.75 * product, abs=1e-12)
    assert werner_chain_fidelity(fidelities) == pytest.approx(repeated[0], abs=1e-12)
    assert close(chain_distribution([werner(f) for f in fidelities]), repeated)


# ---- memories ---------------------------------------------------------------------------------------------

@given(st.floats(0, 1e7), st.floats(1e3, 1e7), st.floats(0.1, 2.0))
def test_memory_channel_and_its_characters(t: float, t1: float, ratio: float) -> None:
    t2 = ratio * t1
    damp, dephase = 1 - math.exp(-t / t1), (1 - math.exp(-t / t2)) / 2
    px = py = damp / 4
    pz = dephase - damp / 4
    assert close(memory_channel(t, t1, t2), (1 - px - py - pz, px, pz, py))
    assert close(characters(memory_channel(t, t1, t2)), (1, math.exp(-t / t1), math.exp(-t / t2),
                                                         math.exp(-t / t2)))
    assert close(memory_channel(t, math.inf, t2), dephasing(t, t2))


# ---- worst case and cutoffs ---------------------------------------------------------------------------------

T2 = 1e6
CHAIN = Chain(links=(werner(0.97), (0.95, 0.02, 0.02, 0.01), werner(0.96)),
              repeaters=(Repeater(Memory(2e6, 1.5e6), 0.99, 0.995, 2_000),
                         Repeater(Memory(math.inf, T2), 0.98, 1.0, 500)),
              head=Memory(3e6, 1e6), tail=Memory(math.inf, 8e5), latency_ns=40_000)


def test_worst_case_storage_follows_the_cutoff_rules() -> None:
    tau = 50_000
    storage = worst_case_storage(CHAIN, tau)
    assert storage == [(CHAIN.head, tau + 40_000), (CHAIN.tail, tau + 40_000),
                       (CHAIN.repeaters[0].memory, tau + 2_000), (CHAIN.repeaters[0].memory, 2_000),
                       (CHAIN.repeaters[1].memory, tau + 500), (CHAIN.repeaters[1].memory, 500)]


@pytest.mark.parametrize("tau", [0, 1_000, 120_000, 3e6])
def test_worst_case_fidelity_is_the_convolution_of_every_channel(tau: float) -> None:
    channels = [r.noise for r in CHAIN.repeaters]
    for memory, t in [(CHAIN.head, tau + 40_000), (CHAIN.tail, tau + 40_000)]:
        channels.append(memory_channel(t, memory.t1_ns, memory.t2_ns))
    for r in CHAIN.repeaters:
        channels += [memory_channel(tau + r.bsm_ns, r.memory.t1_ns, r.memory.t2_ns),
                     memory_channel(r.bsm_ns, r.memory.t1_ns, r.memory.t2_ns)]
    expected = brute_chain(*CHAIN.links, *channels)
    assert close(worst_case_distribution(CHAIN, tau), expected)
    assert worst_case_fidelity(CHAIN, tau) == pytest.approx(expected[0], abs=1e-12)


def werner_dephasing_cutoff(fidelities: list[float], f_min: float, t2: float, latency: float, bsm: float) -> float:
    """τ* for Werner links, T1 = ∞ and a common T2, perfect operations, in closed form:
    F = ¼ + (∏w/4)(1 + 2e^(−S/T2)) with S = 2(τ + L) + Σ_r (τ + 2·bsm)."""
    product = math.prod((4 * f - 1) / 3 for f in fidelities)
    total = -t2 * math.log((4 * (f_min - 0.25) / product - 1) / 2)
    repeaters = len(fidelities) - 1
    return (total - 2 * latency - 2 * repeaters * bsm) / (repeaters + 2)


@pytest.mark.parametrize("fidelities", [[0.97, 0.97], [0.99, 0.95, 0.97], [0.98] * 5])
@pytest.mark.parametrize("f_min", [0.7, 0.8])
def test_solved_cutoff_matches_the_closed_form(fidelities: list[float], f_min: float) -> None:
    chain = Chain(tuple(werner(f) for f in fidelities), tuple(Repeater(Memory(math.inf, T2), bsm_ns=1_000)
                                                              for _ in fidelities[1:]),
                  Memory(math.inf, T2), Memory(math.inf, T2), 20_000)
    exact = werner_dephasing_cutoff(fidelities, f_min, T2, 20_000, 1_000)
    assert exact > 0
    tau = solve_cutoff(f_min, chain, upper_ns=1e9)
    assert tau is not None
    assert 0.99 * exact - 1 <= tau <= exact
    assert worst_case_fidelity(chain, tau) >= f_min


def test_cutoff_edge_cases() -> None:
    assert solve_cutoff(0.99, CHAIN, 1e9) is None                        # even τ = 0 misses
    assert solve_cutoff(0.2, CHAIN, 1e9) == math.inf                     # never below the minimum
    ideal = Chain((werner(0.95),), (), Memory(), Memory(), 0)
    assert solve_cutoff(0.9, ideal, 1e9) == math.inf
    short = solve_cutoff(0.7, CHAIN, upper_ns=10.0)
    assert short == 10.0                                                 # feasible at the top of the range


@settings(max_examples=50, deadline=None)
@given(st.floats(0.3, 0.9), st.floats(0.3, 0.9))
def test_cutoff_shrinks_as_the_minimum_grows(f_a: float, f_b: float) -> None:
    low, high = sorted((f_a, f_b))
    tau_low, tau_high = solve_cutoff(low, CHAIN, 1e10, relative=1e-6), solve_cutoff(high, CHAIN, 1e10, relative=1e-6)
    if tau_high is None:
        return
    assert tau_low is not None and tau_low >= tau_high * (1 - 1e-5)
    assert worst_case_fidelity(CHAIN, tau_high) >= high


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 1e7), st.floats(0, 1e7))
def test_worst_case_fidelity_falls_with_the_cutoff(tau_a: float, tau_b: float) -> None:
    low, high = sorted((tau_a, tau_b))
    assert worst_case_fidelity(CHAIN, low) >= worst_case_fidelity(CHAIN, high) - 1e-15


def test_goodness_adds_both_end_memories() -> None:
    d_mid = (0.9, 0.04, 0.04, 0.02)
    own, peer = Memory(2e6, 1e6), Memory(math.inf, 5e5)
    expected = brute_chain(d_mid, memory_channel(3e5, 2e6, 1e6), dephasing(3e5, 5e5))[0]
    assert goodness(d_mid, 3e5, own, peer) == pytest.approx(expected, abs=1e-12)


def test_a_chain_needs_one_repeater_fewer_than_links() -> None:
    with pytest.raises(ValueError, match="needs 1 repeaters"):
        Chain((werner(0.9), werner(0.9)), ())


@pytest.mark.parametrize("module", ["protocols.physical.physics", "protocols.network.model",
                                    "protocols.network.waiting", "protocols.network.topology",
                                    "protocols.network.hop_flow"])
def test_docstring_examples(module: str) -> None:
    import doctest
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
