"""Plots: ``qnet plot rate-vs-distance [SCENARIO]``.

For the first link of the scenario (its end nodes' hardware, its station or source), every
fibre scheme is swept over distance: the analytic curves (rate = p / attempt cycle, and the
heralded fidelity) and emulated points (short create-and-keep runs, measured in Z, X, Y, with
memories that do not decay so the points compare with the heralded fidelity).

Each point runs that link alone: its two ends, the station or source it needs (the scenario's
own, else a default one) and its switch; the rest of the network is left out and every clock is
ideal, since the closed forms assume ends that agree on time. A point that gets no pair within the
run's horizon (10^15 ns: double-click beyond a few hundred km) is left out; its curve is still drawn.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from stack.quantum.budget import link_physics
from stack.report import disagreement, fidelity_figures, joined
from stack.runtime import run_scenario
from stack.scenario import ClockConfig, NodeConfig, Scenario, WorkloadConfig

FIBRE_SCHEMES = ("double-click", "single-click", "source")


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    length_km: float
    rate: float
    fidelity: float
    fidelity_stderr: float


def _middle(scenario: Scenario, kind: str, own: str | None) -> NodeConfig:
    """The link's own station (source), else the scenario's first, else a default one."""
    name = own or next((n.name for n in scenario.nodes.values() if n.kind == kind), None)
    if name is not None:
        return scenario.nodes[name]
    if kind == "station":
        return NodeConfig("plot-station", 0, "station", detector_efficiency=0.9, detection_window_ns=1)
    return NodeConfig("plot-source", 0, "source", pair_rate_mhz=200.0, channels=2)


def _variant(scenario: Scenario, scheme: str, length_km: float, pairs: int) -> Scenario:
    """The scenario's first link alone, with ``scheme``, ``length_km``, non-decaying memories and ideal clocks."""
    link = scenario.links[0]
    middle = _middle(scenario, "source" if scheme == "source" else "station",
                     link.source if scheme == "source" else link.station)
    kept = [scenario.nodes[link.a], scenario.nodes[link.b], middle]
    if link.switch is not None:
        kept.append(scenario.nodes[link.switch])
    nodes = {node.name: dataclasses.replace(node, node_id=index, clock=ClockConfig())
             for index, node in enumerate(kept, start=1)}
    for end in (link.a, link.b):
        nodes[end] = dataclasses.replace(nodes[end], t1_ns=math.inf, t2_ns=math.inf, readout_fidelity=1.0)
    variant = dataclasses.replace(link, link_id=1, scheme=scheme, mode="sampled",
                                  station=middle.name if scheme != "source" else None,
                                  source=middle.name if scheme == "source" else None,
                                  length_a_km=length_km / 2, length_b_km=length_km / 2)
    work = WorkloadConfig(link.a, link.b, "keep", pairs, "Z", 0, 1) if pairs else None
    run = dataclasses.replace(scenario.run, duration_ns=10**15)
    return Scenario(scenario.source, run, nodes, [variant], [work] if work else [])


def analytic(scenario: Scenario, scheme: str, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rates, fidelities = [], []
    for length in lengths:
        variant = _variant(scenario, scheme, float(length), 0)
        physics = link_physics(variant.links[0], variant)
        rates.append(physics.model.success / physics.cycle_ns * 1e9)
        fidelities.append(physics.model.fidelity)
    return np.array(rates), np.array(fidelities)


def emulated(scenario: Scenario, scheme: str, length_km: float, pairs: int, seed: int) -> Point | None:
    """One emulated point; None if no pair came within the run's horizon (too far for the link to herald)."""
    result = run_scenario(_variant(scenario, scheme, length_km, pairs), seed=seed)
    state = result.emulation.heralding.links[1]
    if state.successes == 0:
        return None
    cycle = result.emulation.link_physics[1].cycle_ns
    figures = fidelity_figures(disagreement(joined(result.emulation.workloads[0])))   # the report's ±, too
    fidelity, stderr = figures["fidelity_measured"], figures["fidelity_stderr"]
    return Point(length_km, state.successes / state.attempts / cycle * 1e9,
                 math.nan if fidelity is None else fidelity, math.nan if stderr is None else stderr)


def rate_vs_distance(scenario: Scenario, output: Path, max_km: float = 100.0, points: int = 6,
                     pairs: int = 300, seed: int = 1) -> Path:
    """Draw the sweep and write it to ``output`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = np.linspace(0.0, max_km, 101)
    samples = np.linspace(0.0, max_km, points)
    figure, (rate_axes, fidelity_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    for index, scheme in enumerate(FIBRE_SCHEMES):
        colour = f"C{index}"
        rates, fidelities = analytic(scenario, scheme, lengths)
        rate_axes.semilogy(lengths, rates, color=colour, label=f"{scheme} (analytic)")
        fidelity_axes.plot(lengths, fidelities, color=colour, label=f"{scheme} (analytic)")
        runs = [emulated(scenario, scheme, float(length), pairs, seed + i) for i, length in enumerate(samples)]
        dots = [point for point in runs if point is not None]
        rate_axes.semilogy([d.length_km for d in dots], [d.rate for d in dots], "o", color=colour,
                           label=f"{scheme} (emulated)")
        fidelity_axes.errorbar([d.length_km for d in dots], [d.fidelity for d in dots],
                               yerr=[d.fidelity_stderr for d in dots], fmt="o", color=colour, capsize=2)
    rate_axes.set(xlabel="link length (km)", ylabel="pairs per second", title="Rate")
    fidelity_axes.set(xlabel="link length (km)", ylabel="fidelity", title="Heralded fidelity", ylim=(0.4, 1.02))
    rate_axes.legend(fontsize=7)
    rate_axes.grid(alpha=0.3)
    fidelity_axes.grid(alpha=0.3)
    figure.suptitle(f"{scenario.source}: link {scenario.links[0].name}, hardware of its ends")
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output


def sync_offsets(report: dict[str, object], output: Path) -> Path:
    """Each node's clock offset from the reference over time (log scale), from a run's report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sync = report.get("sync")
    if not isinstance(sync, dict) or not sync.get("nodes"):
        raise ValueError("the run has no clocks: set clock parameters or ptp roles on its nodes")
    figure, axes = plt.subplots(figsize=(8, 4.2))
    for name, node in sync["nodes"].items():
        times = np.array([t for t, _ in node["offset_ns"]]) / 1e6
        offsets = np.abs(np.array([x for _, x in node["offset_ns"]])) + 1e-6
        axes.semilogy(times, offsets, label=f"{name} ({node['role']})")
    axes.axhline(0.1, color="grey", linestyle=":", label="100 ps")
    axes.set(xlabel="time (ms)", ylabel="|offset| (ns)",
             title=f"clock offsets from {sync['reference'] or 'true time'}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output
