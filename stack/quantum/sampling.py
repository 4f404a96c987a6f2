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
gives the same bit from the same 32-bit draw for ~3,700, and the same for any power-of-two range,
``integers(2 ** width)``; :func:`top_bits` does it for a caller that holds only the generator
(``tests/test_sampling.py`` holds them against ``integers``, interleaved with the generator's other draws).
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

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


def bits(rng: np.random.Generator, width: int = 1) -> Callable[[], int]:
    """A function drawing the ``int(rng.integers(2 ** width))`` would draw (``width`` from 1 to 32), leaving
    ``rng`` in the same state.

    ``integers(0, 2 ** width)`` (numpy/random/_bounded_integers.pyx, ``_rand_int64``, to
    numpy/random/src/distributions/distributions.c, ``random_bounded_uint64_fill``: a range that fits 32 bits,
    Lemire's method, ``use_masked`` false for a ``Generator``) draws one ``next_uint32`` of the bit generator
    (the half-used 64-bit word it buffers in its state, shared with every other draw of ``rng``) and maps it to
    ``(u * 2 ** width) >> 32``; its rejection threshold, ``(2 ** 32 - 2 ** width) % 2 ** width``, is 0 for a
    power of two, so nothing is ever drawn again: the value is ``u``'s top ``width`` bits (a range of 2 ** 32
    returns ``u`` itself). Here ``next_uint32`` is called directly through the bit generator's ctypes
    interface.
    """
    if not 1 <= width <= 32:
        raise ValueError(f"width {width} is not from 1 to 32")
    interface = rng.bit_generator.ctypes
    next_uint32, state, shift = interface.next_uint32, interface.state, 32 - width

    def bit() -> int:
        return next_uint32(state) >> shift

    bit.generator = rng.bit_generator            # type: ignore[attr-defined]  # its state lives as long as bit
    return bit


_last: tuple[np.random.Generator | None, Any, Any] = (None, None, None)
"""The generator :func:`top_bits` drew from last, its ``next_uint32`` and its state (it keeps ``rng`` alive)."""


def top_bits(rng: np.random.Generator, width: int) -> int:
    """``int(rng.integers(2 ** width))`` (``width`` from 1 to 32) from the same 32-bit draw, as :func:`bits` makes
    it, for a caller that has ``rng`` but no function of its own: the ctypes interface of the last generator
    asked is kept (one swap or gate after another draws from the medium's one generator)."""
    global _last
    if not 1 <= width <= 32:
        raise ValueError(f"width {width} is not from 1 to 32")
    last = _last
    if last[0] is not rng:
        interface = rng.bit_generator.ctypes
        last = _last = (rng, interface.next_uint32, interface.state)
    return last[1](last[2]) >> (32 - width)
