"""The law by which a block of measure-directly pairs (:mod:`stack.quantum.batch`) draws each heralded pair's
component and true Bell state relative to the heralded one: the joint (component, relative Bell index) weights of a
scheme's :class:`~protocols.physical.schemes.HeraldModel` (:func:`joint_cdf`), and how a block draws from them
(:class:`RelativeLaw`: the dominant entry everywhere, the others at their positions only).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from protocols.physical.schemes import HeraldModel
from stack.quantum import bulk


@functools.lru_cache(maxsize=256)
def joint_cdf(model: HeraldModel) -> tuple[np.ndarray, np.ndarray]:
    """The cumulative weights of (component, relative Bell index) of a heralded pair, component-major,
    and whether each entry is a true herald. One draw per pair picks both. Cached (read-only arrays)."""
    weights, true = [], []
    for component in model.components:
        dist = np.clip(np.array(component.distribution, dtype=np.float64), 0.0, None)
        weights.extend(component.probability * dist / dist.sum())
        true.extend([component.name == "true"] * 4)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    genuine = np.array(true)
    cdf.flags.writeable = genuine.flags.writeable = False
    return cdf, genuine


@functools.lru_cache(maxsize=256)
def only_true(model: HeraldModel) -> bool:
    """Whether every heralded pair of ``model`` is a true herald (no false click or two-photon component has
    any weight). Cached: a block would otherwise spend more on it than on a pass over its pairs."""
    cdf, true = joint_cdf(model)
    return bool((np.diff(cdf, prepend=0.0)[~true] <= 0).all())


class RelativeLaw(NamedTuple):
    """The joint (component, relative Bell index) law of a heralded pair (:func:`joint_cdf`) as a block draws
    it (:func:`stack.quantum.bulk.categories`' method, on planes)."""

    common: int
    """The dominant entry (component-major index)."""
    rest: float
    """The probability of any other entry: those are drawn at their positions only."""
    conditional: np.ndarray
    """The other entries' cumulative weights, given that the entry is not the dominant one."""
    true: np.ndarray
    """Whether each entry is a true herald."""
    only_true: bool
    offset: int
    """``conditional.searchsorted(u, "right")`` for ``u`` in [0, 1) counts the entries at or below ``u``: those
    at 0 always (the offset), those at 1 never, and each of ``between`` that ``u`` reaches."""
    between: tuple[float, ...] | None
    """The cumulative weights strictly between 0 and 1 (None: a draw could reach the last entry, which
    ``searchsorted`` caps)."""

    def draw_others(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` draws of the non-dominant entries, by their weights: the index ``searchsorted`` of one
        uniform each gives, as a sum of comparisons when they are few (a quarter of its cost)."""
        u = rng.random(count)
        if self.between is None or len(self.between) * 300 > count:     # a comparison costs ~300 keys' search
            return np.minimum(self.conditional.searchsorted(u, side="right"), len(self.conditional) - 1)
        drawn = np.full(count, self.offset, dtype=np.uint8)
        for edge in self.between:
            drawn += u >= edge
        return drawn


@functools.lru_cache(maxsize=256)
def relative_law(model: HeraldModel) -> RelativeLaw:
    """:class:`RelativeLaw` of ``model`` (cached)."""
    cdf, true = joint_cdf(model)
    return law_of(cdf, true)


def law_of(cdf: np.ndarray, true: np.ndarray) -> RelativeLaw:
    """:class:`RelativeLaw` of the entries with cumulative weights ``cdf`` (last 1), ``true`` telling which are
    true heralds."""
    common, rest, conditional = bulk.split(tuple(np.asarray(cdf, dtype=np.float64).tolist()))
    offset = int(np.count_nonzero(conditional <= 0))
    between = conditional[(conditional > 0) & (conditional < 1)]
    uncapped = offset + len(between) <= len(conditional) - 1
    only = bool((np.diff(cdf, prepend=0.0)[~true] <= 0).all())
    return RelativeLaw(common, rest, conditional, true, only, offset, tuple(between.tolist()) if uncapped else None)
