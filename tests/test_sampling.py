"""Cached cumulative weights draw exactly what ``Generator.choice(n, p=p)`` draws, from the same uniform."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.quantum.sampling import bits, cumulative, draw, top_bits

weights = st.lists(st.floats(min_value=0.0, max_value=1.0, allow_subnormal=False), min_size=1, max_size=8).filter(
    lambda w: sum(w) > 1e-9)


@settings(max_examples=300, deadline=None)
@given(weights=weights, seed=st.integers(0, 2**32 - 1))
def test_the_same_index_and_the_same_generator_state_as_choice(weights: list[float], seed: int) -> None:
    reference, ours = np.random.default_rng(seed), np.random.default_rng(seed)
    array = np.array(weights)
    cdf = cumulative(tuple(weights))
    for _ in range(20):
        assert draw(ours, cdf) == int(reference.choice(len(weights), p=array / array.sum()))
    assert ours.random() == reference.random()          # the same draws were consumed


def test_clip_treats_negative_weights_as_zero_like_the_heralding_did() -> None:
    weights = (0.7, -1e-18, 0.2, 0.1)
    reference, ours = np.random.default_rng(5), np.random.default_rng(5)
    clipped = np.clip(np.array(weights), 0.0, None)
    expected = [int(reference.choice(4, p=clipped / clipped.sum())) for _ in range(1_000)]
    assert [draw(ours, cumulative(weights, clip=True)) for _ in range(1_000)] == expected


def test_uniforms_on_the_boundaries_of_the_cumulative_weights() -> None:
    """``searchsorted(side='right')``: a uniform equal to a cumulative weight goes to the next index."""
    cdf = cumulative((0.25, 0.25, 0.5))

    class Fixed:
        def __init__(self, value: float) -> None:
            self.value = value

        def random(self) -> float:
            return self.value

    assert [draw(Fixed(u), cdf) for u in (0.0, 0.25, 0.4999999, 0.5, 0.9999999)] == [0, 1, 1, 2, 2]  # type: ignore[arg-type]
    assert [int(np.searchsorted(np.array(cdf), u, side="right")) for u in (0.0, 0.25, 0.4999999, 0.5, 0.9999999)] \
        == [0, 1, 1, 2, 2]


def test_not_a_distribution_is_refused() -> None:
    with pytest.raises(ValueError, match="not a probability distribution"):
        cumulative((0.5, -0.5, 1.0))


@pytest.mark.parametrize("module", ["stack.quantum.sampling", "stack.core.kernel", "stack.core.calendar",
                                    "stack.core.capture", "stack.multiprocess.ports"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("seed", range(20))
def test_bits_are_the_bits_integers_2_draws_and_leave_the_generator_as_it_does(seed: int) -> None:
    """Interleaved with the generator's other draws (uniforms, 64-bit and 32-bit bounded integers, the
    geometric), which share the half-used 32-bit word the bit generator buffers."""
    plan, reference, ours = np.random.default_rng(1000 + seed), np.random.default_rng(seed), np.random.default_rng(seed)
    bit = bits(ours)
    for step in plan.integers(6, size=400):
        if step == 0:
            assert bit() == int(reference.integers(2))
        elif step == 1:
            assert ours.random() == reference.random()
        elif step == 2:
            assert ours.integers(4) == reference.integers(4)
        elif step == 3:
            assert ours.integers(2**40) == reference.integers(2**40)
        elif step == 4:
            assert ours.geometric(0.01) == reference.geometric(0.01)
        else:
            assert [bit() for _ in range(3)] == [int(reference.integers(2)) for _ in range(3)]
    assert ours.bit_generator.state == reference.bit_generator.state


def test_bits_are_fair() -> None:
    n, bit = 10_000, bits(np.random.default_rng(3))
    ones = sum(bit() for _ in range(n))
    assert abs(ones - n / 2) < 4 * math.sqrt(n / 4), ones          # binomial(n, 1/2): 4 sigma = 200


@pytest.mark.parametrize("width", [1, 2, 3, 4, 6, 16, 31, 32])
@pytest.mark.parametrize("seed", range(12))
def test_top_bits_are_what_integers_of_a_power_of_two_draws_and_leave_the_generator_as_it_does(
        seed: int, width: int) -> None:
    """``bits(rng, width)`` and ``top_bits(rng, width)`` against ``integers(2 ** width)``, interleaved with the
    generator's other draws (uniforms, bits, other bounded integers, the geometric)."""
    plan, reference, ours = np.random.default_rng(2000 + seed), np.random.default_rng(seed), np.random.default_rng(seed)
    other = np.random.default_rng(seed + 1)             # top_bits switching generators keeps each one's draws
    draws, bit = bits(ours, width), bits(ours)
    for step in plan.integers(7, size=300):
        if step == 0:
            assert draws() == int(reference.integers(2**width))
        elif step == 1:
            assert top_bits(ours, width) == int(reference.integers(2**width))
        elif step == 2:
            assert ours.random() == reference.random()
        elif step == 3:
            assert bit() == int(reference.integers(2))
        elif step == 4:
            assert ours.integers(5) == reference.integers(5)
        elif step == 5:
            assert ours.geometric(0.01) == reference.geometric(0.01)
        else:
            assert 0 <= top_bits(other, width) < 2**width
    assert ours.bit_generator.state == reference.bit_generator.state


def test_a_width_out_of_range_is_refused() -> None:
    rng = np.random.default_rng(0)
    for width in (0, 33):
        with pytest.raises(ValueError, match="not from 1 to 32"):
            bits(rng, width)
        with pytest.raises(ValueError, match="not from 1 to 32"):
            top_bits(rng, width)
