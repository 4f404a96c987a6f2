"""What the heralding (:mod:`stack.quantum.heralding`) keeps per link and per shared station.

A :class:`LinkState` holds one link's physics (the variant its ends' ``alpha`` asked for), its random
generator, each end's request (:class:`ArmRequest`), the attempt run under way (token, reserved slots, next
slot) and its counters; a :class:`Station` says which link a station shared through a switch serves now.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocols.common import Basis
from stack.quantum import attempts as attempt_models
from stack.quantum.budget import LinkPhysics

STATION_SCHEMES = ("double-click", "single-click")
"""The schemes whose photons meet at a station in the middle."""


@dataclass(slots=True)
class ArmRequest:
    """One end's request on a link: pairs still wanted, how to measure them, whether in blocks."""

    remaining: int = 0
    basis: Basis | None = None
    choice: tuple[tuple[Basis, float], ...] = ()
    block: int = 0


@dataclass(slots=True)
class LinkState:
    """One link's generation: its physics, requests, the run under way and its counters."""

    physics: LinkPhysics
    rng: np.random.Generator
    armed: dict[int, ArmRequest]
    next_slot: int = 0
    token: int = 0
    scheduled: bool = False
    reserved: tuple[int, int] | None = None
    attempts: int = 0
    successes: int = 0
    true_heralds: int = 0
    window_failures: int = 0
    photons_until: int = 0
    base: LinkPhysics | None = None
    sampler: attempt_models.LinkSampler | None = None
    """The per-pair draws of ``physics`` (:func:`sampler_of`: made again when ``physics`` changes)."""


@dataclass(slots=True)
class Station:
    """A station that may serve several links (through a switch), one at a time."""

    busy: int | None = None
    last: int | None = None


def sampler_of(state: LinkState) -> attempt_models.LinkSampler:
    """The per-pair draws of ``state.physics``, made once per physics variant."""
    sampler = state.sampler
    if sampler is None or sampler.physics is not state.physics:
        sampler = state.sampler = attempt_models.LinkSampler(state.physics)
    return sampler
