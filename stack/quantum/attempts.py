"""One attempt, photon by photon (the *exact* mode), and the herald of a sampled success.

The exact mode does not use the closed forms of :mod:`protocols.physical.schemes`: it draws which
spin branch each end is in, which photons survive, which detector each lands on, dark
clicks and dead time, and lets the station's own rule decide. ``tests/test_schemes.py``
checks that the two modes agree.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from protocols.common import BellState
from protocols.fastinit import fast_init
from protocols.physical import physics as physics_model
from protocols.physical.node import double_click_outcome, single_click_outcome
from stack.quantum import sampling
from stack.quantum.budget import LinkPhysics
from stack.quantum.state import BELL_FRAMES, Pair

_new = object.__new__

Clicks = tuple[tuple[int, int], ...]
"""(round, detector) of every registered click."""


@fast_init
@dataclass(frozen=True, slots=True)
class Attempt:
    """What an attempt produced: the clicks a station sees, or each end's local herald."""

    clicks: Clicks
    heralds: tuple[bool, bool]
    component: str | None
    """Which component of the scheme's herald model the pair belongs to; None: no herald."""


def _round(photons: list[float], p_false: float, dead: int | None, rng: np.random.Generator,
           bit: Callable[[], int]) -> tuple[set[int], int | None]:
    """One detection round with 0, 1 or 2 (bunched) photons; returns registered detectors and the photon's."""
    photon_detector = None
    if photons:
        missed = 1.0
        for eta in photons:
            missed *= 1 - eta
        if rng.random() < 1 - missed:
            photon_detector = bit()
    clicks = {d for d in (0, 1) if rng.random() < p_false}
    if photon_detector is not None:
        clicks.add(photon_detector)
    if dead is not None:
        clicks.discard(dead)
    return clicks, photon_detector


def double_click(physics: LinkPhysics, rng: np.random.Generator, bit: Callable[[], int]) -> Attempt:
    """One Barrett-Kok attempt (``bit``: ``int(rng.integers(2))``, :func:`stack.quantum.sampling.bits`)."""
    eta = (physics.arm_a.efficiency, physics.arm_b.efficiency)
    spins = (bit(), bit())
    clicks: list[tuple[int, int]] = []
    genuine = spins[0] != spins[1]
    dead = None
    for round_no, emitting in ((1, 1), (2, 0)):
        photons = [eta[end] for end in (0, 1) if spins[end] == emitting]
        registered, photon = _round(photons, physics.p_false, dead, rng, bit)
        if len(registered) != 1:
            return Attempt(tuple(clicks), (False, False), None)
        detector = registered.pop()
        clicks.append((round_no, detector))
        genuine = genuine and photon == detector and len(photons) == 1
        dead = None if physics.same_detector else detector
    return Attempt(tuple(clicks), (True, True), "true" if genuine else "false")


def single_click(physics: LinkPhysics, rng: np.random.Generator, bit: Callable[[], int]) -> Attempt:
    """One single-click attempt (``bit`` as for :func:`double_click`)."""
    eta = (physics.arm_a.efficiency, physics.arm_b.efficiency)
    emitted = [end for end in (0, 1) if rng.random() < physics.alpha]
    registered, photon = _round([eta[end] for end in emitted], physics.p_false, None, rng, bit)
    if len(registered) != 1:
        return Attempt(tuple((1, d) for d in sorted(registered)), (False, False), None)
    detector = registered.pop()
    if photon == detector:
        component = "true" if len(emitted) == 1 else "both-emitted"
    else:
        component = ("dark-none", "dark-one", "dark-both")[len(emitted)]
    return Attempt(((1, detector),), (True, True), component)


def source(physics: LinkPhysics, rng: np.random.Generator, bit: Callable[[], int]) -> Attempt:
    """One attempt of a midpoint source (draws no bit)."""
    multi = rng.random() < physics.multi_pair
    absorbed = [rng.random() < arm.efficiency for arm in (physics.arm_a, physics.arm_b)]
    noise = [1 - np.exp(-arm.noise_photons) for arm in (physics.arm_a, physics.arm_b)]
    heralds = (absorbed[0] or rng.random() < noise[0], absorbed[1] or rng.random() < noise[1])
    if not all(heralds):
        return Attempt((), heralds, None)
    return Attempt((), heralds, "true" if all(absorbed) and not multi else "false")


def coupler(physics: LinkPhysics, rng: np.random.Generator, bit: Callable[[], int]) -> Attempt:
    """One attempt of a coupler link (draws no bit)."""
    absorbed = bool(rng.random() < physics.model.success)
    return Attempt((), (True, absorbed), "true" if absorbed else None)


EXACT = {"double-click": double_click, "single-click": single_click, "source": source, "coupler": coupler}
"""Each scheme's attempt, photon by photon: ``EXACT[scheme](physics, rng, bit)``, ``bit`` the link's
:meth:`LinkSampler.bits` of ``rng``."""


class LinkSampler:
    """The per-pair draws of one link's sampled successes, with the link's constants worked out once.

    :meth:`success` is :func:`sampled_success` and :func:`heralded_state` together, and :meth:`pair` the
    frame and distribution of the pair an attempt makes: the same random draws in the same order, without
    the cumulative weights' look-up, the component loop or a new :class:`Attempt` per pair (attempts are
    frozen: one per component and click pattern is made, then shared).
    """

    __slots__ = ("_bit", "_cdf", "_double", "_made", "_names", "_rel", "_relabelled", "_rng", "_same", "_single",
                 "_uniform", "physics")

    def __init__(self, physics: LinkPhysics) -> None:
        model = physics.model
        self.physics = physics
        self._cdf = sampling.cumulative(model.weights)
        self._names = tuple(component.name for component in model.components)
        self._double, self._single = physics.scheme == "double-click", physics.scheme == "single-click"
        self._same = physics.same_detector
        self._made: dict[tuple[str, int, int], tuple[Attempt, BellState | None]] = {}
        self._rel: dict[str | None, tuple[float, ...]] = {}
        for component in reversed(model.components):        # the first component of a name wins, as in a scan
            self._rel[component.name] = sampling.cumulative(tuple(component.distribution), clip=True)
        self._uniform = sampling.cumulative((0.25, 0.25, 0.25, 0.25), clip=True)
        self._relabelled = tuple(physics_model.relabel(model.distribution, index) for index in range(4))
        self._rng: np.random.Generator | None = None
        self._bit: Callable[[], int] = int          # sampling.bits(self._rng), made by the first success

    def bits(self, rng: np.random.Generator) -> Callable[[], int]:
        """``int(rng.integers(2))``, cheaply (:func:`stack.quantum.sampling.bits`), made once per generator."""
        if rng is not self._rng:
            self._rng, self._bit = rng, sampling.bits(rng)
        return self._bit

    def success(self, rng: np.random.Generator) -> tuple[Attempt, BellState | None]:
        """A success drawn from the closed-form model, and the Bell state it heralds."""
        component = self._names[bisect_right(self._cdf, rng.random())]
        if rng is not self._rng:                    # self.bits(rng), inline
            self._rng, self._bit = rng, sampling.bits(rng)
        bit = self._bit
        if self._double:
            first = bit()
            key = (component, first, bit() if self._same else 1 - first)
        elif self._single:
            key = (component, bit(), -1)
        else:
            key = (component, -1, -1)
        made = self._made.get(key)
        if made is None:
            _, first, second = key
            clicks: Clicks = ((1, first), (2, second)) if self._double else ((1, first),) if self._single else ()
            attempt = Attempt(clicks, (True, True), component)
            made = self._made[key] = (attempt, heralded_state(self.physics, attempt))
        return made

    def pair(self, rng: np.random.Generator, component: str | None, heralded: int) -> Pair:
        """The pair a success of ``component`` heralded as ``heralded`` holds: its frame drawn relative to the
        heralded state from the component's distribution (uniform if the model has no such component)."""
        rel = bisect_right(self._rel.get(component, self._uniform), rng.random())
        pair = _new(Pair)       # Pair(frame_of_bell(heralded ^ rel), ...) without the class call or the function's
        pair.frame = BELL_FRAMES[heralded ^ rel]
        pair.distribution = self._relabelled[heralded]
        pair.first = None
        pair.members = [0, 0]
        return pair


def sampled_success(physics: LinkPhysics, rng: np.random.Generator) -> Attempt:
    """A success drawn from the closed-form model: its component and a click pattern."""
    return LinkSampler(physics).success(rng)[0]


def heralded_state(physics: LinkPhysics, attempt: Attempt) -> BellState | None:
    """The Bell state the attempt heralds, by the station's own rule (None: failure)."""
    if attempt.component is None:
        return None
    clicks = tuple((round_no, detector, 0) for round_no, detector in attempt.clicks)
    if physics.scheme == "double-click":
        return double_click_outcome(clicks)
    if physics.scheme == "single-click":
        return single_click_outcome(clicks)
    return BellState.PHI_PLUS
