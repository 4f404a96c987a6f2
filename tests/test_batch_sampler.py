"""The pieces of the block sampler (stack/quantum/batch.py) that replace a numpy routine with a cheaper exact form.

:meth:`RelativeLaw.draw_others` picks a non-dominant (component, relative Bell index) entry from one uniform as a
sum of comparisons instead of ``searchsorted``: it must give the same index for the same uniform, whatever the
weights (zeros, equal cumulative weights, many entries). The frame and outcome planes of a block are packed with
zero padding.
"""

from __future__ import annotations

import numpy as np
import pytest

from protocols.common import Basis
from stack.quantum.batch import BasisSpec, sample_block
from stack.quantum.batch_law import RelativeLaw, law_of, relative_law
from stack.quantum.budget import link_physics
from tests.test_batch import CASES
from tests.test_schemes import scenario


def _searchsorted(law: RelativeLaw, u: np.ndarray) -> np.ndarray:
    return np.minimum(law.conditional.searchsorted(u, side="right"), len(law.conditional) - 1)


def _law(weights: list[float]) -> RelativeLaw:
    cdf = np.cumsum(weights) / np.sum(weights)
    return law_of(cdf, np.ones(len(weights), dtype=bool))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("count", [7, 5000, 60000])
def test_the_other_entries_are_drawn_as_searchsorted_draws_them(case: str, count: int) -> None:
    scen = scenario(**CASES[case])  # type: ignore[arg-type]
    law = relative_law(link_physics(scen.links[0], scen).model)
    drawn = law.draw_others(np.random.default_rng(2), count)
    assert np.array_equal(drawn, _searchsorted(law, np.random.default_rng(2).random(count)))


@pytest.mark.parametrize("weights", [[0.9, 0.0, 0.05, 0.05], [0.7, 0.1, 0.1, 0.0, 0.0, 0.1], [0.5, 0.2, 0.3],
                                     [0.1, 0.0, 0.8, 0.1, 0.0], [0.96] + [0.005] * 8])
def test_sums_of_comparisons_match_searchsorted_on_any_weights(weights: list[float]) -> None:
    law = _law(weights)
    for count in (3, 40_000):
        drawn = law.draw_others(np.random.default_rng(4), count)
        expected = _searchsorted(law, np.random.default_rng(4).random(count))
        assert np.array_equal(drawn, expected)
        assert law.between is not None or count == 3                  # the comparisons were tried
        assert set(np.unique(drawn).tolist()) <= set(np.flatnonzero(np.array(weights) > 0).tolist())


def test_frame_and_outcome_planes_have_zero_padding() -> None:
    scen = scenario(scheme="double-click", dark_hz=2e7, window_ns=1, depolarizing=0.1)
    link = link_physics(scen.links[0], scen)
    for count in (1, 13, 1001):
        block = sample_block(link, np.random.default_rng(count), count, 0, (BasisSpec(Basis.Y), BasisSpec(Basis.Y)),
                             readout=(0.9, 0.6))
        for plane in (*block.frame, *block.outcomes):
            assert len(plane) == -(-count // 8)
            assert not np.unpackbits(plane)[count:].any()
