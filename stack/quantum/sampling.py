"""Draws from a fixed discrete distribution, exactly as ``Generator.choice(n, p=p)`` makes them, and fair bits,
exactly as ``Generator.integers(2)`` makes them, cheaply.

numpy's ``Generator.choice(n, p=p)`` (numpy/random/_generator.pyx, sampling with replacement) checks
``p``, then takes ``cdf = p.cumsum(); cdf /= cdf[-1]``, draws one ``self.random()`` and returns
``cdf.searchsorted(u, side='right')``. Its checks and array set-up cost ~15 µs a call. Here the
cumulative weights are computed once per distribution, by the same numpy operations, and each draw is
the same single ``rng.random()`` inverted with :func:`bisect.bisect_right` (the same comparisons as
``searchsorted(side='right')``): the same index from the same uniform, and the generator left in the
same state, so a run's bytes do not change (``tests/test_sampling.py`` holds the two against each other).

>>> import numpy as np
>>> cdf = cumulative((0.5, 0.25, 0.25))
>>> [draw(np.random.default_rng(seed), cdf) for seed in range(6)] == [
...     int(np.random.default_rng(seed).choice(3, p=[0.5, 0.25, 0.25])) for seed in range(6)]
True

``Generator.integers(2)`` costs ~11,000 instructions a call (its argument and dtype handling); :func:`bits`
gives the same bit from the same 32-bit draw for ~3,700 (``tests/test_sampling.py`` holds the two against
each other, interleaved with the generator's other draws).
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Callable

import numpy as np


@functools.lru_cache(maxsize=4096)
def cumulative(weights: tuple[float, ...], clip: bool = False) -> tuple[float, ...]:
    """The cumulative weights ``choice`` inverts for ``p = weights / weights.sum()``.

    ``clip``: negative weights count as zero (``np.clip(weights, 0, None)`` first).
    """
    array = np.array(weights, dtype=np.float64)
    if clip:
        array = np.clip(array, 0.0, None)
    p = array / array.sum()
    if not np.all(p >= 0) or abs(float(p.sum()) - 1.0) > np.sqrt(np.finfo(np.float64).eps):
        raise ValueError(f"not a probability distribution: {weights}")
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return tuple(cdf.tolist())


def draw(rng: np.random.Generator, cdf: tuple[float, ...]) -> int:
    """The index ``rng.choice(len(cdf), p=p)`` would return, drawing the same single uniform."""
    return bisect_right(cdf, rng.random())


def bits(rng: np.random.Generator) -> Callable[[], int]:
    """A function drawing the bit ``int(rng.integers(2))`` would draw, leaving ``rng`` in the same state.

    ``integers(0, 2)`` (numpy/random/src/distributions/distributions.c, ``random_bounded_uint64_fill``) draws
    one ``next_uint32`` of the bit generator (the half-used 64-bit word it buffers in its state, shared with
    every other draw of ``rng``) and maps it by Lemire's method: ``(u * 2) >> 32``, with no rejection for a range
    of 2, i.e. ``u``'s top bit. Here ``next_uint32`` is called directly through the bit generator's ctypes
    interface.
    """
    interface = rng.bit_generator.ctypes
    next_uint32, state = interface.next_uint32, interface.state

    def bit() -> int:
        return next_uint32(state) >> 31

    bit.generator = rng.bit_generator            # type: ignore[attr-defined]  # its state lives as long as bit
    return bit
