"""The medium's frames and per-link sampler give what stim and the per-pair code they replace give.

Frames (:data:`stack.quantum.state.Frame`, small ints) are looked up in tables; the tables give what stim gives
for the same Pauli strings (each of the 16 frames, every basis and every Pauli on either side). A link's
:class:`stack.quantum.attempts.LinkSampler` draws a success and a pair's frame with the same draws, in the same
order, as the per-pair code it replaced (written out here as the reference).
"""

from __future__ import annotations

import numpy as np
import pytest
import stim

from protocols.common import Basis, BellState
from protocols.physical import physics
from protocols.physical.node import double_click_outcome, single_click_outcome
from stack.quantum import attempts, sampling
from stack.quantum.budget import link_physics
from stack.quantum.state import (
    FRAME_OF_BELL,
    Pair,
    Qubit,
    anticommutes,
    apply_pauli,
    bell_index,
    frame_of,
    frame_of_bell,
    paulis_of,
    side_pauli,
)
from tests.test_schemes import CASES, scenario


def _stim_index(frame: stim.PauliString) -> int:
    xs, zs = frame.to_numpy()
    return int(xs[0] ^ xs[1]) | int(zs[0] ^ zs[1]) << 1


CORRELATOR = {Basis.Z: stim.PauliString("ZZ"), Basis.X: stim.PauliString("XX"), Basis.Y: stim.PauliString("YY")}


def _stim(frame: int) -> stim.PauliString:
    return stim.PauliString(paulis_of(frame))


@pytest.mark.parametrize("code", range(16))
def test_table_answers_are_stims(code: int) -> None:
    own = _stim(code)
    assert (own[0], own[1]) == (code >> 2, code & 3) == (side_pauli(code, 0), side_pauli(code, 1))
    assert frame_of(str(own)[1:]) == frame_of(str(own)[1:].replace("_", "I")) == code
    assert bell_index(code) == _stim_index(own)
    for basis in Basis:
        assert anticommutes(code, basis) == int(not own.commutes(CORRELATOR[basis]))


@pytest.mark.parametrize("code", range(16))
@pytest.mark.parametrize("side", [0, 1])
@pytest.mark.parametrize("pauli", ["I", "X", "Y", "Z"])
def test_a_pauli_on_a_side_multiplies_the_frame_as_stim_does(code: int, side: int, pauli: str) -> None:
    pair = Pair(code, (1.0, 0.0, 0.0, 0.0))
    apply_pauli(Qubit(1, 1, 0, side, 0.0, pair), pauli)
    expected = _stim(code) * stim.PauliString(pauli + "_" if side == 0 else "_" + pauli)
    assert (side_pauli(pair.frame, 0), side_pauli(pair.frame, 1)) == (expected[0], expected[1])


def test_the_frame_of_each_bell_state() -> None:
    for bell in BellState:
        assert paulis_of(frame_of_bell(bell)) == FRAME_OF_BELL[bell] and bell_index(frame_of_bell(bell)) == bell


def _reference_success(link: object, rng: np.random.Generator) -> tuple[attempts.Attempt, BellState | None]:
    """``sampled_success`` and ``heralded_state`` as the heralding called them per pair before the sampler."""
    model = link.model  # type: ignore[attr-defined]
    component = model.components[sampling.draw(rng, sampling.cumulative(model.weights))].name
    scheme = link.scheme  # type: ignore[attr-defined]
    if scheme == "double-click":
        first = int(rng.integers(2))
        second = int(rng.integers(2)) if link.same_detector else 1 - first  # type: ignore[attr-defined]
        clicks: attempts.Clicks = ((1, first), (2, second))
    elif scheme == "single-click":
        clicks = ((1, int(rng.integers(2))),)
    else:
        clicks = ()
    attempt = attempts.Attempt(clicks, (True, True), component)
    stamped = tuple((round_no, detector, 0) for round_no, detector in clicks)
    bell = (double_click_outcome(stamped) if scheme == "double-click" else
            single_click_outcome(stamped) if scheme == "single-click" else BellState.PHI_PLUS)
    return attempt, bell


def _reference_pair(link: object, rng: np.random.Generator, component: str | None,
                    heralded: int) -> tuple[stim.PauliString, tuple[float, ...]]:
    """The frame (in stim) and distribution of the pair, as the heralding drew them per pair before the sampler."""
    model = link.model  # type: ignore[attr-defined]
    rel_dist = (0.25, 0.25, 0.25, 0.25)
    for candidate in model.components:
        if candidate.name == component:
            rel_dist = candidate.distribution
            break
    rel = sampling.draw(rng, sampling.cumulative(tuple(rel_dist), clip=True))
    frame = stim.PauliString(FRAME_OF_BELL[BellState(heralded)]) * stim.PauliString(FRAME_OF_BELL[BellState(rel)])
    return frame, physics.relabel(model.distribution, heralded)


@pytest.mark.parametrize("case", CASES)
def test_the_sampler_draws_what_the_per_pair_code_drew(case: str) -> None:
    settings = dict(CASES[case], depolarizing=0.05)
    config = scenario(**settings)  # type: ignore[arg-type]
    link = link_physics(config.links[0], config)
    sampler = attempts.LinkSampler(link)
    ours, reference = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(300):
        attempt, bell = sampler.success(ours)
        expected, expected_bell = _reference_success(link, reference)
        assert (attempt, bell) == (expected, expected_bell)
        for component in (attempt.component, "no such component"):
            heralded = 0 if bell is None else int(bell)
            pair = sampler.pair(ours, component, heralded)
            frame, distribution = _reference_pair(link, reference, component, heralded)
            assert bell_index(pair.frame) == _stim_index(frame)
            assert pair.distribution == distribution
            assert pair == Pair(pair.frame, distribution)       # built without the class call: its defaults too
    assert ours.random() == reference.random()          # the same draws were consumed
