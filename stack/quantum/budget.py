"""Link budgets: from a scenario's hardware to what the medium emulates on each link.

Per arm (end → station, or source → end) the photon survives emission or absorption,
the microwave-optical transducer, the fibre 10^(−αL/10), the switch's insertion loss and
the detector. Transducer noise photons and dark counts become false clicks. The result
is a :class:`LinkPhysics`: delays, attempt timing and the closed-form
:class:`protocols.physical.schemes.HeraldModel` the sampled mode draws from.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from protocols.link.admission import LinkOption
from protocols.physical import physics, schemes
from protocols.physical.physics import memory_pauli_probabilities, pauli_channel
from stack.scenario import LinkConfig, NodeConfig, Scenario

ROUNDS = {"double-click": 2, "single-click": 1, "source": 1, "coupler": 1}


@dataclass(frozen=True, slots=True)
class Arm:
    """One photon path with its efficiency factors (for the report) and delay."""

    factors: dict[str, float]
    delay_ns: int
    noise_photons: float = 0.0

    @property
    def efficiency(self) -> float:
        return math.prod(self.factors.values())


@dataclass(frozen=True, slots=True)
class LinkPhysics:
    """Everything the medium needs to emulate one link."""

    link_id: int
    scheme: str
    mode: str
    node_a: int
    node_b: int
    middle: int
    arm_a: Arm
    arm_b: Arm
    attempt_ns: int
    cycle_ns: int
    model: schemes.HeraldModel
    depolarizing: float
    p_false: float = 0.0
    same_detector: bool = True
    alpha: float = 0.0
    multi_pair: float = 0.0
    reconfiguration_ns: int = 0
    transducer_rate_factor: float = 1.0
    detection_window_ns: float = math.inf

    @property
    def delay_a_ns(self) -> int:
        return self.arm_a.delay_ns

    @property
    def delay_b_ns(self) -> int:
        return self.arm_b.delay_ns

    @property
    def success_probability(self) -> float:
        return self.model.success


def _fibre(link: LinkConfig, length_km: float) -> float:
    return physics.fibre_transmittance(length_km, link.attenuation_db_per_km)


def _switch(link: LinkConfig, nodes: dict[str, NodeConfig]) -> float:
    return 10 ** (-nodes[link.switch].insertion_loss_db / 10) if link.switch else 1.0


def _attempt_ns(link: LinkConfig, ends: list[NodeConfig]) -> int:
    bandwidth = min(end.transducer_bandwidth_mhz for end in ends) if link.scheme != "coupler" else math.inf
    per_round = 1e3 / bandwidth if math.isfinite(bandwidth) else 0.0
    return max(link.attempt_duration_ns, math.ceil(ROUNDS[link.scheme] * per_round))


def link_physics(link: LinkConfig, scenario: Scenario) -> LinkPhysics:
    """Delays, efficiencies, attempt timing and heralding model of a link."""
    nodes = scenario.nodes
    ends = [nodes[link.a], nodes[link.b]]
    lengths = [link.length_a_km, link.length_b_km]
    delays = [physics.fibre_delay_ns(length, link.refractive_index) for length in lengths]
    attempt = _attempt_ns(link, ends)
    switch = _switch(link, nodes)
    reconfiguration = nodes[link.switch].reconfiguration_ns if link.switch else 0
    ids = (ends[0].node_id, ends[1].node_id)
    if link.scheme in ("double-click", "single-click"):
        assert link.station is not None
        station = nodes[link.station]
        arms = [Arm({"emission": end.emission_efficiency, "transducer": end.transducer_efficiency,
                     "fibre": _fibre(link, length), "switch": switch, "detector": station.detector_efficiency},
                    delay, end.transducer_noise_photons)
                for end, length, delay in zip(ends, lengths, delays, strict=True)]
        # Noise photons leave the transducer; half of those that survive reach a given detector.
        noise = sum(arm.noise_photons * arm.factors["fibre"] * arm.factors["switch"] * arm.factors["detector"] / 2
                    for arm in arms)
        p_false = schemes.false_click_probability(station.dark_count_rate_hz, station.detection_window_ns, noise)
        etas = [arm.efficiency for arm in arms]
        if link.scheme == "double-click":
            same_detector = station.dead_time_ns < attempt / 2
            model = schemes.double_click(etas[0], etas[1], p_false, link.depolarizing, same_detector)
            rate_factor = ends[0].transducer_efficiency * ends[1].transducer_efficiency
        else:
            same_detector = True
            alpha = link.bright_state_population
            model = schemes.single_click(alpha, alpha, etas[0], etas[1], p_false, link.depolarizing)
            rate_factor = (ends[0].transducer_efficiency + ends[1].transducer_efficiency) / 2
        return LinkPhysics(link.link_id, link.scheme, link.mode, *ids, station.node_id, arms[0], arms[1], attempt,
                           attempt + 2 * max(delays), model, link.depolarizing, p_false, same_detector,
                           link.bright_state_population, reconfiguration_ns=reconfiguration,
                           transducer_rate_factor=rate_factor, detection_window_ns=station.detection_window_ns)
    if link.scheme == "source":
        assert link.source is not None
        source = nodes[link.source]
        arms = [Arm({"fibre": _fibre(link, length), "switch": switch, "transducer": end.transducer_efficiency,
                     "absorption": end.absorption_efficiency}, delay, end.transducer_noise_photons)
                for end, length, delay in zip(ends, lengths, delays, strict=True)]
        false_heralds = [1 - math.exp(-arm.noise_photons) for arm in arms]
        model = schemes.source_in_the_middle(arms[0].efficiency, arms[1].efficiency, false_heralds[0],
                                             false_heralds[1], source.multi_pair_probability, link.depolarizing)
        attempt = max(attempt, math.ceil(1e3 / source.pair_rate_mhz))
        return LinkPhysics(link.link_id, link.scheme, link.mode, *ids, source.node_id, arms[0], arms[1], attempt,
                           attempt + 2 * max(delays), model, link.depolarizing,
                           multi_pair=source.multi_pair_probability, reconfiguration_ns=reconfiguration,
                           transducer_rate_factor=ends[0].transducer_efficiency * ends[1].transducer_efficiency)
    delay = sum(delays)
    arm_a = Arm({"emission": ends[0].emission_efficiency, "coupler": link.coupler_efficiency}, delay)
    arm_b = Arm({"absorption": ends[1].absorption_efficiency}, 0)
    model = schemes.direct(arm_a.efficiency * arm_b.efficiency, link.depolarizing)
    return LinkPhysics(link.link_id, link.scheme, link.mode, *ids, ids[1], arm_a, arm_b, attempt,
                       attempt + 2 * delay, model, link.depolarizing)


def with_alpha(physics: LinkPhysics | None, alpha: float | None) -> LinkPhysics:
    """The same single-click link run with bright-state population ``alpha`` (other links: unchanged)."""
    assert physics is not None
    if alpha is None or physics.scheme != "single-click" or alpha == physics.alpha:
        return physics
    model = schemes.single_click(alpha, alpha, physics.arm_a.efficiency, physics.arm_b.efficiency, physics.p_false,
                                 physics.depolarizing)
    return dataclasses.replace(physics, alpha=alpha, model=model)


ALPHAS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
"""The bright-state populations a single-click link offers the link layer."""


def link_options(physics: LinkPhysics, t1_ns: tuple[float, float],
                 t2_ns: tuple[float, float]) -> tuple[LinkOption, ...]:
    """What the link layer may choose from: per α (single-click) or the one setting, with the
    fidelity and the Bell-diagonal distribution expected at the OK (after both qubits wait one herald
    round trip in memory)."""
    wait = physics.cycle_ns - physics.attempt_ns / 2
    if physics.scheme == "single-click":      # the configured α is the brightest the link may use
        alphas = sorted({a for a in ALPHAS if a < physics.alpha} | {physics.alpha})
        candidates = [with_alpha(physics, alpha) for alpha in alphas]
    else:
        candidates = [physics]
    options = []
    for variant in candidates:
        dist = variant.model.distribution
        for t1, t2 in zip(t1_ns, t2_ns, strict=True):
            dist = pauli_channel(dist, *memory_pauli_probabilities(wait, t1, t2))
        options.append(LinkOption(variant.alpha if physics.scheme == "single-click" else None, dist[0],
                                  variant.model.success, dist))
    return tuple(options)
