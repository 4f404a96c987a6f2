"""One attempt, photon by photon (the *exact* mode), and the herald of a sampled success.

The exact mode does not use the closed forms of :mod:`protocols.physical.schemes`: it draws which
spin branch each end is in, which photons survive, which detector each lands on, dark
clicks and dead time, and lets the station's own rule decide. ``tests/test_schemes.py``
checks that the two modes agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocols.common import BellState
from protocols.fastinit import fast_init
from protocols.physical.node import double_click_outcome, single_click_outcome
from stack.quantum import sampling
from stack.quantum.budget import LinkPhysics

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


def _round(photons: list[float], p_false: float, dead: int | None,
           rng: np.random.Generator) -> tuple[set[int], int | None]:
    """One detection round with 0, 1 or 2 (bunched) photons; returns registered detectors and the photon's."""
    photon_detector = None
    if photons:
        missed = 1.0
        for eta in photons:
            missed *= 1 - eta
        if rng.random() < 1 - missed:
            photon_detector = int(rng.integers(2))
    clicks = {d for d in (0, 1) if rng.random() < p_false}
    if photon_detector is not None:
        clicks.add(photon_detector)
    if dead is not None:
        clicks.discard(dead)
    return clicks, photon_detector


def double_click(physics: LinkPhysics, rng: np.random.Generator) -> Attempt:
    eta = (physics.arm_a.efficiency, physics.arm_b.efficiency)
    spins = (int(rng.integers(2)), int(rng.integers(2)))
    clicks: list[tuple[int, int]] = []
    genuine = spins[0] != spins[1]
    dead = None
    for round_no, emitting in ((1, 1), (2, 0)):
        photons = [eta[end] for end in (0, 1) if spins[end] == emitting]
        registered, photon = _round(photons, physics.p_false, dead, rng)
        if len(registered) != 1:
            return Attempt(tuple(clicks), (False, False), None)
        detector = registered.pop()
        clicks.append((round_no, detector))
        genuine = genuine and photon == detector and len(photons) == 1
        dead = None if physics.same_detector else detector
    return Attempt(tuple(clicks), (True, True), "true" if genuine else "false")


def single_click(physics: LinkPhysics, rng: np.random.Generator) -> Attempt:
    eta = (physics.arm_a.efficiency, physics.arm_b.efficiency)
    emitted = [end for end in (0, 1) if rng.random() < physics.alpha]
    registered, photon = _round([eta[end] for end in emitted], physics.p_false, None, rng)
    if len(registered) != 1:
        return Attempt(tuple((1, d) for d in sorted(registered)), (False, False), None)
    detector = registered.pop()
    if photon == detector:
        component = "true" if len(emitted) == 1 else "both-emitted"
    else:
        component = ("dark-none", "dark-one", "dark-both")[len(emitted)]
    return Attempt(((1, detector),), (True, True), component)


def source(physics: LinkPhysics, rng: np.random.Generator) -> Attempt:
    multi = rng.random() < physics.multi_pair
    absorbed = [rng.random() < arm.efficiency for arm in (physics.arm_a, physics.arm_b)]
    noise = [1 - np.exp(-arm.noise_photons) for arm in (physics.arm_a, physics.arm_b)]
    heralds = (absorbed[0] or rng.random() < noise[0], absorbed[1] or rng.random() < noise[1])
    if not all(heralds):
        return Attempt((), heralds, None)
    return Attempt((), heralds, "true" if all(absorbed) and not multi else "false")


def coupler(physics: LinkPhysics, rng: np.random.Generator) -> Attempt:
    absorbed = bool(rng.random() < physics.model.success)
    return Attempt((), (True, absorbed), "true" if absorbed else None)


EXACT = {"double-click": double_click, "single-click": single_click, "source": source, "coupler": coupler}


def sampled_success(physics: LinkPhysics, rng: np.random.Generator) -> Attempt:
    """A success drawn from the closed-form model: its component and a click pattern."""
    components = physics.model.components
    cdf = sampling.cumulative(physics.model.weights)
    component = components[sampling.draw(rng, cdf)].name
    if physics.scheme == "double-click":
        first = int(rng.integers(2))
        second = int(rng.integers(2)) if physics.same_detector else 1 - first
        return Attempt(((1, first), (2, second)), (True, True), component)
    if physics.scheme == "single-click":
        return Attempt(((1, int(rng.integers(2))),), (True, True), component)
    return Attempt((), (True, True), component)


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
