"""Single-click heralding's states, each component's, from a density-matrix calculation of its optics.

The oracle knows nothing of :mod:`protocols.physical.schemes`: each end's spin is √(1 − α)|0⟩ + √α|1⟩ and
|1⟩ emits a photon, which reaches the station with probability η (else it goes into a loss mode of its own);
there the photons of a and b meet on a beam splitter, c0 = (a + b)/√2 and c1 = (a − b)/√2 (two photons bunch:
a†b† = (c0†² − c1†²)/2), and each threshold detector also clicks falsely with probability p. A herald is
exactly one click; the station calls detector 0 Ψ+ and detector 1 Ψ- (:func:`single_click_outcome`). Each
photon-number pattern is orthogonal to the others, so the spins' state given a pattern and a click pattern is
a pure state, and a component (how many ends emitted, whether a photon made the click) the sum over its
patterns. Its probability and its Bell-diagonal part relative to the heralded state must equal the closed
form's component (depolarizing 0), and the pairs the sampled mode makes (:meth:`LinkSampler.pair`) must be
drawn from that part.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from protocols.physical import schemes
from protocols.physical.station import single_click_outcome
from stack.quantum.attempts import LinkSampler
from stack.quantum.budget import link_physics
from stack.quantum.state import bell_index
from tests.test_schemes import scenario

S = 1 / math.sqrt(2)
BELL = {0: np.array([S, 0, 0, S]), 1: np.array([0, S, S, 0]), 2: np.array([S, 0, 0, -S]), 3: np.array([0, S, -S, 0])}
"""Bell index x | z << 1 → state over |s_a s_b⟩ (index 2·s_a + s_b): (I ⊗ X^x Z^z)|Φ+⟩ (up to a sign)."""

Modes = tuple[int, int, int, int]
"""Photons in (c0, c1, loss mode of a, loss mode of b)."""


def _end(alpha: float, eta: float, sign: float, loss: int) -> list[tuple[int, float, Modes]]:
    """(spin, amplitude, creation operators) of one end: √(1 − α)|0⟩ + √α|1⟩(√η (c0† ± c1†)/√2 + √(1 − η) l†)."""
    bright = math.sqrt(alpha)
    lost: Modes = (0, 0, 1, 0) if loss == 0 else (0, 0, 0, 1)
    return [(0, math.sqrt(1 - alpha), (0, 0, 0, 0)), (1, bright * math.sqrt(eta) * S, (1, 0, 0, 0)),
            (1, sign * bright * math.sqrt(eta) * S, (0, 1, 0, 0)), (1, bright * math.sqrt(1 - eta), lost)]


def spins_by_photons(alpha_a: float, alpha_b: float, eta_a: float, eta_b: float) -> dict[Modes, np.ndarray]:
    """The joint state Σ_modes |spins(modes)⟩|modes⟩ as the (unnormalised) spin vector of each photon pattern;
    a monomial Π(c†)^k|vac⟩ is Π√(k!)|k⟩."""
    state: dict[Modes, np.ndarray] = {}
    for (sa, amp_a, ops_a), (sb, amp_b, ops_b) in itertools.product(_end(alpha_a, eta_a, 1, 0),
                                                                     _end(alpha_b, eta_b, -1, 1)):
        modes: Modes = tuple(x + y for x, y in zip(ops_a, ops_b, strict=True))  # type: ignore[assignment]
        norm = math.prod(math.sqrt(math.factorial(k)) for k in modes)
        spins = state.setdefault(modes, np.zeros(4))
        spins[2 * sa + sb] += amp_a * amp_b * norm
    return state


def _component(modes: Modes, detector: int) -> str:
    """Which way of heralding a click pattern of ``detector`` alone with these photons is."""
    emitted = sum(modes)
    return ("true" if emitted == 1 else "both-emitted") if modes[detector] else \
        ("dark-none", "dark-one", "dark-both")[emitted]


def derived(alpha_a: float, alpha_b: float, eta_a: float, eta_b: float,
            p: float) -> dict[str, tuple[float, list[tuple[float, ...]]]]:
    """Per component: its probability per attempt (both detectors) and, per detector, the Bell-diagonal
    distribution of the spins relative to the state the station heralds for that detector."""
    rho: dict[tuple[str, int], np.ndarray] = {}
    for modes, spins in spins_by_photons(alpha_a, alpha_b, eta_a, eta_b).items():
        for detector in (0, 1):
            if modes[1 - detector]:
                continue                             # a photon at the other detector: two clicks or none alone
            weight = (1 - p) * (1.0 if modes[detector] else p)   # the other stays dark; this one clicks
            key = (_component(modes, detector), detector)
            rho[key] = rho.get(key, np.zeros((4, 4))) + weight * np.outer(spins, spins)
    out: dict[str, tuple[float, list[tuple[float, ...]]]] = {}
    for name in ("true", "both-emitted", "dark-none", "dark-one", "dark-both"):
        total, dists = 0.0, []
        for detector in (0, 1):
            matrix = rho.get((name, detector), np.zeros((4, 4)))
            trace = float(np.trace(matrix))
            heralded = single_click_outcome(((1, detector, 0),))
            assert heralded is not None
            total += trace
            dists.append(tuple(float(BELL[heralded ^ r] @ matrix @ BELL[heralded ^ r]) / trace if trace else 0.0
                               for r in range(4)))
        out[name] = (total, dists)
    return out


CASES = [(0.1, 0.1, 0.3, 0.3, 0.0), (0.2, 0.2, 0.05, 0.05, 0.01), (0.3, 0.1, 0.4, 0.02, 0.03)]


@pytest.mark.parametrize(("alpha_a", "alpha_b", "eta_a", "eta_b", "p"), CASES)
def test_each_component_is_the_state_the_optics_leave(alpha_a: float, alpha_b: float, eta_a: float, eta_b: float,
                                                      p: float) -> None:
    oracle = derived(alpha_a, alpha_b, eta_a, eta_b, p)
    model = schemes.single_click(alpha_a, alpha_b, eta_a, eta_b, p, 0.0)
    assert [c.name for c in model.components] == list(oracle)
    for component in model.components:
        probability, dists = oracle[component.name]
        assert component.probability == pytest.approx(probability, rel=1e-12, abs=1e-15), component.name
        if probability:
            for dist in dists:                        # the same state relative to Ψ+ (detector 0) and Ψ- (1)
                assert component.distribution == pytest.approx(dist, abs=1e-12), component.name


def test_the_oracle_s_landmarks() -> None:
    """Hand-checkable numbers: no false clicks, α = 0.1 and η = 0.3 at both ends: p = αη(2 − αη) = 0.0591,
    F = 2(1 − α)/(2 − αη) = 0.913706; a lost photon with a false click leaves |01⟩ or |10⟩, half Ψ+ half Ψ-;
    |00⟩ and |11⟩ are half Φ+ half Φ-."""
    oracle = derived(0.1, 0.1, 0.3, 0.3, 0.0)
    success = sum(probability for probability, _ in oracle.values())
    assert success == pytest.approx(0.0591, abs=1e-12)
    fidelity = sum(probability * dists[0][0] for probability, dists in oracle.values()) / success
    assert fidelity == pytest.approx(1.8 / 1.97, abs=1e-12)
    assert derived(0.1, 0.1, 0.3, 0.3, 0.01)["dark-one"][1] == [pytest.approx((0.5, 0.0, 0.5, 0.0), abs=1e-12)] * 2
    for name in ("both-emitted", "dark-none", "dark-both"):
        assert derived(0.3, 0.2, 0.3, 0.1, 0.01)[name][1] == [pytest.approx((0.0, 0.5, 0.0, 0.5), abs=1e-12)] * 2


def test_sampled_pairs_of_each_component_are_drawn_from_its_derived_state() -> None:
    """4 standard errors of 4,000 draws per component and detector (binomial per Bell index)."""
    config = scenario(scheme="single-click", alpha=0.2, dark_hz=1e7, noise=0.02, length_km=2.0, depolarizing=0.0)
    physics = link_physics(config.links[0], config)
    oracle = derived(physics.alpha, physics.alpha, physics.arm_a.efficiency, physics.arm_b.efficiency,
                     physics.p_false)
    sampler, rng, n = LinkSampler(physics), np.random.default_rng(5), 4_000
    for name, (_, dists) in oracle.items():
        for detector, dist in enumerate(dists):
            heralded = int(single_click_outcome(((1, detector, 0),)))  # type: ignore[arg-type]
            counts = np.bincount([bell_index(sampler.pair(rng, name, heralded).frame) ^ heralded for _ in range(n)],
                                 minlength=4)
            for share, count in zip(dist, counts, strict=True):
                assert abs(count / n - share) <= 4 * math.sqrt(share * (1 - share) / n), (name, detector, counts)
