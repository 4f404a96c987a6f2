"""Clocks and time synchronisation at run time: a clock per node, PTP layers, offset sampling.

Every node whose scenario entry sets a clock parameter or a PTP role gets a
:class:`stack.timing.clocks.Clock` seeded from the run's root seed (spawn key ``(3, node_id)``);
all of its layers then see its local time. Nodes with ``ptp`` other than ``"off"`` run a
:class:`protocols.sync.ptp.PtpClock` on UDP 319/320, unicast to every other PTP node; the best
master clock algorithm elects the grandmaster (``ptp = "grandmaster"`` makes a node a
class-6 clock, ``"slave"`` a slave-only one, ``"auto"`` a default-class candidate).

A kernel callback samples every clocked node's true offset from the reference (the
grandmaster, else true time) every ``sync.sample_interval_ms``; the report carries the
samples, the RMS offset after convergence and the convergence time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from protocols.packets.ptp import EVENT_PORT, GENERAL_PORT, eui64
from protocols.sync.ptp import ClockQuality, PtpClock
from stack.core.capture import node_ip, node_mac
from stack.core.kernel import Kernel, VirtualPort
from stack.core.layer import Hardware, Layer
from stack.core.network import Network
from stack.scenario import Scenario
from stack.timing.clocks import Clock

SEED_CLOCK = 3
CONVERGED_NS = 0.1
"""An offset counts as converged below 100 ps (the White Rabbit class of the issue)."""


class Emulation(Protocol):
    """What clock synchronisation needs of a built run (:class:`stack.runtime.Emulation`)."""

    scenario: Scenario
    kernel: Kernel
    network: Network
    layers: list[Layer]
    clocks: dict[int, Clock]
    draining: bool

    @property
    def medium(self) -> Hardware: ...

    def runs(self, name: str) -> bool: ...


def build_clocks(scenario: Scenario, seed: int) -> dict[int, Clock]:
    clocks = {}
    for node in scenario.nodes.values():
        config = node.clock
        if config.ideal:
            continue
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SEED_CLOCK, node.node_id)))
        clocks[node.node_id] = Clock(rng, offset_ns=config.offset_ns, frequency_ppm=config.frequency_ppm,
                                     wander_ppb=config.wander_ppb, jitter_ps=config.jitter_ps)
    return clocks


def _quality(role: str, priority1: int) -> ClockQuality:
    if role == "grandmaster":
        return ClockQuality(priority1=priority1, clock_class=6, clock_accuracy=0x21)
    if role == "slave":
        return ClockQuality(priority1=255, clock_class=255)
    return ClockQuality(priority1=priority1)


def build_ptp_layers(emu: Emulation) -> None:
    scenario = emu.scenario
    members = [node for node in scenario.nodes.values() if node.clock.ptp != "off"]
    for node in members:
        if not emu.runs(node.name):
            continue
        peers = [node_ip(other.node_id) for other in members if other is not node]
        engine = PtpClock(eui64(node_mac(node.node_id)), peers=peers,
                          quality=_quality(node.clock.ptp, node.clock.priority1),
                          log_sync_interval=scenario.sync.log_sync_interval,
                          listen_first=node.clock.ptp != "grandmaster", kp=scenario.sync.kp, ki=scenario.sync.ki)
        name = f"{node.name}/ptp"
        emu.layers.append(Layer(name, node.node_id, engine, VirtualPort(emu.kernel, name), emu.network, emu.medium,
                                [EVENT_PORT, GENERAL_PORT], clock=emu.clocks[node.node_id], precise=True))


@dataclass(slots=True)
class SyncSampler:
    """Samples every clocked node's offset from the reference on the kernel's queue."""

    emu: Emulation
    reference: int | None
    interval_ns: int
    samples: dict[int, list[tuple[int, float]]] = field(default_factory=dict)

    def start(self) -> None:
        if self.emu.clocks:
            self.emu.kernel.call_at(0, self._sample)

    def _sample(self, _: object = None) -> None:
        kernel = self.emu.kernel
        now = kernel.now
        reference = self.emu.clocks[self.reference].local_ns(now) if self.reference in self.emu.clocks else now
        for node_id, clock in self.emu.clocks.items():
            if node_id != self.reference:
                self.samples.setdefault(node_id, []).append((now, clock.local_ns(now) - reference))
        if not self.emu.draining:
            kernel.call_at(now + self.interval_ns, self._sample)


def reference_node(scenario: Scenario) -> int | None:
    """The configured grandmaster with the best priority1 (the one the algorithm elects), if any."""
    masters = [n for n in scenario.nodes.values() if n.clock.ptp == "grandmaster"]
    if not masters:
        return None
    return min(masters, key=lambda n: (n.clock.priority1, n.node_id)).node_id


def convergence(samples: list[tuple[int, float]], threshold_ns: float = CONVERGED_NS) -> int | None:
    """The first sample time after which |offset| stays below the threshold (None: never)."""
    converged_at = None
    for time_ns, offset in samples:
        if abs(offset) >= threshold_ns:
            converged_at = None
        elif converged_at is None:
            converged_at = time_ns
    return converged_at


def sync_report(emu: Emulation, sampler: SyncSampler) -> dict[str, Any]:
    nodes = {node.node_id: node for node in emu.scenario.nodes.values()}
    out: dict[str, Any] = {"reference": nodes[sampler.reference].name if sampler.reference else None,
                           "sample_interval_ns": sampler.interval_ns, "nodes": {}}
    ptp_layers = {layer.node_id: layer.engine for layer in emu.layers if isinstance(layer.engine, PtpClock)}
    for node_id, samples in sampler.samples.items():
        converged = convergence(samples)
        after = [offset for time_ns, offset in samples if converged is not None and time_ns >= converged]
        engine = ptp_layers.get(node_id)
        out["nodes"][nodes[node_id].name] = {
            "role": nodes[node_id].clock.ptp,
            "ptp_state": engine.state.value if engine is not None else None,
            "converged_at_ns": converged,
            "rms_offset_after_convergence_ns": math.sqrt(sum(x * x for x in after) / len(after)) if after else None,
            "offset_ns": [[t, x] for t, x in samples],
        }
    return out
