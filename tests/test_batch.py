"""The batched measure-directly sampler (stack/quantum/batch.py) against the closed forms and the per-pair path.

Three views must agree: the closed forms (``protocols.physical.schemes``: success probability, the heralded
pair's Bell-diagonal distribution; ``physics.expected_parity``), a block drawn by :func:`sample_block`, and
the per-pair path of the emulator (a measure-directly workload run through every layer). Tolerances are
``SIGMAS`` standard errors of the difference, from the binomial variance of each sample.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from protocols.common import Basis
from protocols.physical import physics
from stack.quantum.batch import BasisSpec, Block, sample_block
from stack.quantum.budget import LinkPhysics, link_physics
from stack.report import joined
from stack.runtime import run_scenario
from stack.scenario import Scenario
from tests.test_schemes import scenario

SIGMAS = 4.5
READOUT = 0.97
N = 200_000
CASES = {
    "double-click, dark counts": dict(scheme="double-click", dark_hz=2e7, window_ns=1, depolarizing=0.1),
    "double-click, dead time": dict(scheme="double-click", dark_hz=1e7, dead_time_ns=600, depolarizing=0.05),
    "single-click α=0.2": dict(scheme="single-click", alpha=0.2, dark_hz=1e7),
    "source": dict(scheme="source", noise=0.05, multi_pair=0.1),
    "coupler": dict(scheme="coupler", depolarizing=0.2),
}


def _physics(**kwargs: object) -> LinkPhysics:
    scen = scenario(**kwargs)  # type: ignore[arg-type]
    return link_physics(scen.links[0], scen)


def _error_rate(relative: tuple[float, float, float, float], basis: Basis, readout: tuple[float, float]) -> float:
    """Closed form: how often two outcomes in ``basis`` break the heralded state's parity, readout included."""
    flip_pairs = {Basis.Z: (1, 3), Basis.X: (2, 3), Basis.Y: (1, 2)}[basis]    # indices whose parity differs
    state = sum(relative[i] for i in flip_pairs)
    flip = readout[0] * (1 - readout[1]) + readout[1] * (1 - readout[0])
    return state * (1 - flip) + (1 - state) * flip


def _rates(block: Block) -> dict[int, tuple[int, float]]:
    """Per basis both ends used: (pairs, fraction whose outcomes break the heralded state's parity)."""
    a, b = block.outcome_bits(0), block.outcome_bits(1)
    out = {}
    for basis in Basis:
        both = (block.bases[0] == basis) & (block.bases[1] == basis)
        expected = np.array([physics.expected_parity(int(h), int(basis)) for h in range(4)])[block.heralded[both]]
        wrong = (a[both] ^ b[both]) != expected
        out[int(basis)] = (int(both.sum()), float(wrong.mean()) if both.any() else 0.0)
    return out


def _close(measured: float, expected: float, n: int, note: object) -> None:
    spread = math.sqrt(max(expected * (1 - expected), 1e-12) / n)
    assert abs(measured - expected) < SIGMAS * spread + 1e-12, (note, measured, expected, spread)


@pytest.mark.parametrize("case", CASES)
def test_a_block_follows_the_closed_forms(case: str) -> None:
    link = _physics(**CASES[case])
    rng = np.random.default_rng(11)
    choice = ((Basis.Z, 1 / 3), (Basis.X, 1 / 3), (Basis.Y, 1 / 3))
    block = sample_block(link, rng, N, first_seq=5, bases=(BasisSpec(choice=choice), BasisSpec(choice=choice)),
                         readout=(READOUT, 1.0))
    p = link.model.success
    assert block.count == N and block.attempt_seqs()[0] == 5 + int(block.failures[0])
    assert block.attempt_seqs()[-1] == 5 + block.attempts - 1
    _close(N / block.attempts, p, block.attempts, "success probability")
    true_share = sum(c.probability for c in link.model.components if c.name == "true") / p
    _close(block.true_heralds / N, true_share, N, "true heralds")
    relative = block.true_bell() ^ block.heralded             # the true state relative to the heralded one
    for index in range(4):
        _close(float(np.mean(relative == index)), link.model.distribution[index], N, ("relative", index))
    for basis, (n, rate) in _rates(block).items():
        _close(rate, _error_rate(link.model.distribution, Basis(basis), (READOUT, 1.0)), n, Basis(basis))
    mixed = block.bases[0] != block.bases[1]                  # different bases: independent outcomes
    agree = block.outcome_bits(0)[mixed] == block.outcome_bits(1)[mixed]
    _close(float(agree.mean()), 0.5, int(mixed.sum()), "different bases")
    for side in (0, 1):
        _close(float(np.mean(block.bases[side] == Basis.Y)), 1 / 3, N, "basis choice")


def test_heralded_bell_states_follow_the_station_rule() -> None:
    rng = np.random.default_rng(3)
    spec = (BasisSpec(Basis.Z), BasisSpec(Basis.Z))
    double = sample_block(_physics(**CASES["double-click, dark counts"]), rng, N, 0, spec)
    _close(float(np.mean(double.heralded == 1)), 0.5, N, "Ψ+")
    assert set(np.unique(double.heralded).tolist()) == {1, 3}
    dead = sample_block(_physics(**CASES["double-click, dead time"]), rng, 1000, 0, spec)
    assert set(np.unique(dead.heralded).tolist()) == {3}            # only Ψ- with the first detector dead
    source = sample_block(_physics(**CASES["source"]), rng, 1000, 0, spec)
    assert not source.heralded.any()


def test_planes_are_packed_with_zero_padding() -> None:
    block = sample_block(_physics(scheme="coupler"), np.random.default_rng(1), 13, 0,
                         (BasisSpec(Basis.X), BasisSpec(Basis.X)))
    assert [len(plane) for plane in (*block.outcomes, *block.frame)] == [2, 2, 2, 2]
    assert all(int(plane[-1]) & 0b111 == 0 for plane in block.outcomes)


def _per_pair(basis: str, pairs: int, **kwargs: object) -> tuple[Scenario, dict[str, float]]:
    """A measure-directly workload through every layer: (scenario, its heralding and outcome statistics)."""
    scen = scenario(kind="measure", pairs=pairs, **kwargs)  # type: ignore[arg-type]
    scen = dataclasses.replace(scen, workload=[dataclasses.replace(scen.workload[0], basis=basis)])
    result = run_scenario(scen)
    state = result.emulation.heralding.links[1]
    both = joined(result.emulation.workloads[0])
    assert all(a.basis == b.basis == int(Basis[basis]) for a, b in both)
    wrong = [(int(a.outcome or 0) ^ int(b.outcome or 0)) != physics.expected_parity(a.bell_state, int(Basis[basis]))
             for a, b in both]
    return scen, {"p": state.successes / state.attempts, "attempts": state.attempts,
                  "psi_plus": float(np.mean([a.bell_state == 1 for a, _ in both])),
                  "error": float(np.mean(wrong)), "n": len(both)}


@pytest.mark.parametrize("basis", ["Z", "X", "Y"])
def test_batched_against_per_pair(basis: str) -> None:
    """The per-pair path (every layer, 1,500 pairs) and a block agree on the heralding rate, the heralded
    Bell states' frequencies and the outcome error rate in each basis."""
    kwargs = dict(scheme="double-click", dark_hz=2e7, window_ns=1, depolarizing=0.1)
    scen, per_pair = _per_pair(basis, 1500, **kwargs)
    assert per_pair["n"] >= 1400
    link = link_physics(scen.links[0], scen)
    block = sample_block(link, np.random.default_rng(5), N, 0, (BasisSpec(Basis[basis]), BasisSpec(Basis[basis])))
    n = per_pair["n"]
    for name, batched, count in (("p", N / block.attempts, per_pair["attempts"]),
                                 ("psi_plus", float(np.mean(block.heralded == 1)), n),
                                 ("error", _rates(block)[int(Basis[basis])][1], n)):
        var = batched * (1 - batched)
        spread = math.sqrt(var / count + var / N)
        assert abs(per_pair[name] - batched) < SIGMAS * spread, (name, per_pair[name], batched, spread)
