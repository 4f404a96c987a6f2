"""Closed forms for one heralded-entanglement attempt, per scheme.

A :class:`HeraldModel` lists the ways an attempt can be heralded as a success, each with
its probability and the Bell-diagonal distribution of the pair *relative to the heralded
state* (index ``r`` means the pair is the heralded state XOR ``r``; index 0 is fidelity).
The medium samples from it (sampled mode) and the tests compare the per-round simulation
of the exact mode with it.

Notation: η is the probability that a photon emitted at an end clicks a detector (emission
× transducer × fibre × switch × detector efficiency); ``p`` is the probability that one
detector clicks falsely in one detection window (dark counts and transducer noise).

>>> m = double_click(0.5, 0.5, p_false=0.0, depolarizing=0.0)
>>> m.success, m.fidelity
(0.125, 1.0)
>>> round(single_click(0.1, 0.1, 0.2, 0.2, 0.0, 0.0).fidelity, 4)    # 2(1-α)/(2-αη)
0.9091
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from protocols.physical.hardware import BellDistribution

MAXIMALLY_MIXED: BellDistribution = (0.25, 0.25, 0.25, 0.25)
PRODUCT_STATE: BellDistribution = (0.0, 0.5, 0.0, 0.5)
"""|00⟩ or |11⟩ (both or neither end emitted) seen from a heralded Ψ±: Φ+ and Φ- in equal parts."""


@dataclass(frozen=True, slots=True)
class Component:
    """One way to herald: its probability per attempt and the pair it leaves."""

    name: str
    probability: float
    distribution: BellDistribution


@dataclass(frozen=True, slots=True)
class HeraldModel:
    components: tuple[Component, ...]
    weights: tuple[float, ...] = field(init=False, repr=False, compare=False)
    """Each component's probability, in order."""
    success: float = field(init=False, repr=False, compare=False)
    """Probability an attempt is heralded as a success."""
    distribution: BellDistribution = field(init=False, repr=False, compare=False)
    """Bell-diagonal distribution of a heralded pair, relative to the heralded state."""

    def __post_init__(self) -> None:
        # computed once, and kept as fields (not properties: a slot is read without a call): the medium asks for
        # them at every attempt run and every pair
        total = sum(c.probability for c in self.components)
        object.__setattr__(self, "weights", tuple(c.probability for c in self.components))
        object.__setattr__(self, "success", total)
        if total == 0:
            distribution = MAXIMALLY_MIXED
        else:
            mix = [sum(c.probability * c.distribution[i] for c in self.components) / total for i in range(4)]
            distribution = (mix[0], mix[1], mix[2], mix[3])
        object.__setattr__(self, "distribution", distribution)

    @property
    def fidelity(self) -> float:
        return self.distribution[0]


def depolarized(dist: BellDistribution, depolarizing: float) -> BellDistribution:
    """Replace the state by the maximally mixed one with probability ``depolarizing``."""
    keep = 1 - depolarizing
    return (keep * dist[0] + depolarizing / 4, keep * dist[1] + depolarizing / 4,
            keep * dist[2] + depolarizing / 4, keep * dist[3] + depolarizing / 4)


def false_click_probability(dark_count_rate_hz: float, window_ns: float, noise_photons: float = 0.0) -> float:
    """Probability a detector clicks without a signal photon in one window.

    Dark counts are Poisson with the given rate; ``noise_photons`` is the mean number of
    noise photons reaching this detector in the window.
    """
    return 1 - math.exp(-dark_count_rate_hz * window_ns * 1e-9 - noise_photons)


def _one_photon(eta: float, p: float) -> float:
    """A round with one photon: exactly one detector clicks."""
    return eta * (1 - p) + (1 - eta) * 2 * p * (1 - p)


def _two_photons(eta_a: float, eta_b: float, p: float) -> float:
    """A round with two indistinguishable photons (they bunch): exactly one detector clicks."""
    none = (1 - eta_a) * (1 - eta_b)
    return (1 - none) * (1 - p) + none * 2 * p * (1 - p)


def double_click(eta_a: float, eta_b: float, p_false: float, depolarizing: float,
                 same_detector: bool = True) -> HeraldModel:
    """Barrett-Kok: two rounds with a π flip between; exactly one click in each round.

    The four spin branches |01⟩, |10⟩, |00⟩, |11⟩ are equally likely: the first two put one
    photon in each round, the last two both photons (bunched) in one round and none in the
    other. ``same_detector`` False means the detector that clicked in round 1 is still dead
    in round 2, so only the other detector can herald (only Ψ- is ever heralded).
    With no false clicks and no dead time this is p = ηA·ηB/2 and a perfect Ψ±.
    """
    p = p_false

    def second_one(eta: float) -> float:
        return _one_photon(eta, p) if same_detector else eta / 2 + (1 - eta / 2) * p

    def second_true(eta: float) -> float:
        return eta * (1 - p) if same_detector else eta / 2

    none_bunched = (1 - eta_a) * (1 - eta_b)
    second_two = (_two_photons(eta_a, eta_b, p) if same_detector
                  else 1 - (1 - (1 - none_bunched) / 2) * (1 - p))
    second_zero = 2 * p * (1 - p) if same_detector else p
    true = 0.25 * (eta_a * (1 - p) * second_true(eta_b) + eta_b * (1 - p) * second_true(eta_a))
    success = (0.25 * (_one_photon(eta_a, p) * second_one(eta_b) + _one_photon(eta_b, p) * second_one(eta_a))
               + 0.25 * (2 * p * (1 - p) * second_two + _two_photons(eta_a, eta_b, p) * second_zero))
    return HeraldModel((
        Component("true", true, depolarized((1.0, 0.0, 0.0, 0.0), depolarizing)),
        Component("false", max(0.0, success - true), MAXIMALLY_MIXED),
    ))


def single_click(alpha_a: float, alpha_b: float, eta_a: float, eta_b: float, p_false: float,
                 depolarizing: float) -> HeraldModel:
    """Single-click: each end emits with bright-state population α; exactly one click.

    True heralds come from one emitted photon; when both ends emitted, the photons bunch and
    one click heralds the product state |11⟩. A false click leaves the state of its branch:
    no emission |00⟩, one emitted photon lost an equal mixture of |01⟩ and |10⟩ (Ψ+ and Ψ-
    in equal parts), both lost |11⟩. For equal ends and no false clicks,
    p = αη(2 − αη) and F = 2(1 − α)/(2 − αη) ≈ 1 − α.
    """
    p = p_false
    dark = 2 * p * (1 - p)
    a = alpha_a * (1 - alpha_b) * eta_a
    b = alpha_b * (1 - alpha_a) * eta_b
    balance = min(1.0, (math.sqrt(a) + math.sqrt(b)) ** 2 / (2 * (a + b))) if a + b else 1.0
    one_lost = alpha_a * (1 - alpha_b) * (1 - eta_a) + alpha_b * (1 - alpha_a) * (1 - eta_b)
    return HeraldModel((
        Component("true", (a + b) * (1 - p), depolarized((balance, 0.0, 1 - balance, 0.0), depolarizing)),
        Component("both-emitted", alpha_a * alpha_b * (1 - (1 - eta_a) * (1 - eta_b)) * (1 - p), PRODUCT_STATE),
        Component("dark-none", (1 - alpha_a) * (1 - alpha_b) * dark, PRODUCT_STATE),
        Component("dark-one", one_lost * dark, (0.5, 0.0, 0.5, 0.0)),
        Component("dark-both", alpha_a * alpha_b * (1 - eta_a) * (1 - eta_b) * dark, PRODUCT_STATE),
    ))


def source_in_the_middle(h_a: float, h_b: float, noise_a: float, noise_b: float, multi_pair: float,
                         depolarizing: float) -> HeraldModel:
    """A pair source between the ends; each end heralds its absorption locally.

    ``h`` is the probability an end absorbs (and heralds) its photon, ``noise`` the
    probability of a false absorption herald when it did not, ``multi_pair`` the
    probability the source emitted more than one pair in the slot (the pair is then
    maximally mixed).
    """
    herald_a = h_a + (1 - h_a) * noise_a
    herald_b = h_b + (1 - h_b) * noise_b
    true = h_a * h_b * (1 - multi_pair)
    return HeraldModel((
        Component("true", true, depolarized((1.0, 0.0, 0.0, 0.0), depolarizing)),
        Component("false", max(0.0, herald_a * herald_b - true), MAXIMALLY_MIXED),
    ))


def direct(eta: float, depolarizing: float) -> HeraldModel:
    """A photon sent from one end and absorbed (and heralded) at the other: a short-range coupler."""
    return HeraldModel((Component("true", eta, depolarized((1.0, 0.0, 0.0, 0.0), depolarizing)),))
