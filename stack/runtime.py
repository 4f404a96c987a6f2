"""Build a scenario into kernel, network, medium and layer tasks, run it, collect results.

>>> from stack.scenario import load
>>> result = run_scenario(load("examples/default.toml"), seed=7)   # doctest: +SKIP
>>> result.report["links"][0]["pairs_delivered"]                   # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import trio

from protocols.common import EGP_PORT, HERALD_PORT, LINK_SERVICE_PORT, NETWORK_SERVICE_PORT, QNCP_PORT, QNP_PORT
from protocols.link.layer import LinkConfig as EngineLink
from protocols.link.layer import LinkLayer, Memory, QueuePolicy
from protocols.network.model import move_fidelity
from protocols.packets.heralding import SCHEME_COUPLER, SCHEME_DOUBLE_CLICK, SCHEME_SINGLE_CLICK, SCHEME_SOURCE
from protocols.physical.node import NodePhysical, ReportingLink, Station
from stack.core.capture import PcapWriter, node_ip
from stack.core.kernel import Kernel, VirtualPort
from stack.core.layer import Layer
from stack.core.network import Fibre, Network, authenticator
from stack.emulation import (
    Emulation,
    RunResult,
    Workload,
    check_after_each_event,
    end_generation,
    settle_bound_ns,
    stop_when_done,
)
from stack.quantum.budget import LinkPhysics, link_options, link_physics
from stack.quantum.heralding import Heralding
from stack.quantum.medium import Medium, NodeHardware
from stack.quantum.topology import LINK_RETRIES, build_topology, link_retransmit_ns, longest_exchange_ns
from stack.scenario import LinkConfig, NodeConfig, Scenario
from stack.timing.sync import SyncSampler, build_clocks, build_ptp_layers, reference_node
from stack.workloads import APP_PORT_BASE, ROTATIONS, build_apps, max_time_field

# The network layer's engine is imported by the runs that build one: a run without it would pay ~10 % of its
# start-up for it otherwise.
if TYPE_CHECKING:
    from protocols.network.routing import Router

__all__ = ["APP_PORT_BASE", "ROTATIONS", "Emulation", "RunResult", "Workload", "build", "end_generation",
           "max_time_field", "node_hardware", "run_async", "run_scenario", "settle_bound_ns", "stop_when_done"]

SEED_MEDIUM, SEED_LINK, SEED_NETWORK, SEED_NETWORK_LAYER = 0, 1, 2, 4
SCHEME_CODES = {"double-click": SCHEME_DOUBLE_CLICK, "single-click": SCHEME_SINGLE_CLICK, "source": SCHEME_SOURCE,
                "coupler": SCHEME_COUPLER}


def build(scenario: Scenario, seed: int | None = None, pcap: BinaryIO | None = None, *,
          kernel: Kernel | None = None, network_factory: Callable[..., Network] = Network,
          medium: Medium | None = None, local: set[str] | None = None, network_layers: bool = False,
          secret: bytes | None = None) -> Emulation:
    """Wire up a scenario for an in-process, virtual-time run.

    The multi-process mode (:mod:`stack.multiprocess.node`, :mod:`stack.multiprocess.medium`) passes its own
    real-time kernel, a factory for its socket-backed network (called like
    ``Network(kernel, seed_sequence, pcap_writer)``) and its medium, and ``local``: the nodes
    whose layers this process runs. Every QPU runs a network layer when a workload entry needs one, or
    with ``network_layers``. ``secret`` keys authenticated classical control instead of the scenario's key file
    or a fresh random secret (:func:`stack.core.network.authenticator`).
    """
    seed = scenario.run.seed if seed is None else seed
    kernel = Kernel() if kernel is None else kernel
    writer = PcapWriter(pcap) if pcap is not None else None
    network = network_factory(kernel, np.random.SeedSequence(seed, spawn_key=(SEED_NETWORK,)), writer)
    network.auth = authenticator(scenario.security, secret)
    if medium is None:
        medium = Medium(kernel, np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SEED_MEDIUM,))),
                        network.capture_quantum if writer is not None else None)    # no photon frame made to drop
    clocks = build_clocks(scenario, seed)
    emu = Emulation(scenario, seed, kernel, network, medium, Heralding(medium, {}, clocks), clocks=clocks,
                    local=local)
    for node in scenario.nodes.values():
        network.add_node(node.node_id)
    for link in scenario.links:
        lp = link_physics(link, scenario)
        emu.link_physics[link.link_id] = lp
        _add_fibres(network, link, lp)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SEED_LINK, link.link_id)))
        emu.heralding.add_link(lp, rng)
    longest = max((lp.cycle_ns for lp in emu.link_physics.values()), default=0)
    emu.drain_ns = 4 * longest + 1_000_000
    if network_layers or scenario.uses_network:
        emu.topology = build_topology(scenario, emu.link_physics)
    _build_stations(emu)
    _build_qpus(emu)
    build_ptp_layers(emu)
    for layer in emu.layers:
        layer.clock = clocks.get(layer.node_id)
    emu.sampler = SyncSampler(emu, reference_node(scenario), scenario.sync.sample_interval_ns)
    return emu


def _add_fibres(network: Network, link: LinkConfig, lp: LinkPhysics) -> None:
    """Classical messages follow the link's fibre (through its station or source)."""
    faults = (link.classical_loss, link.classical_jitter_ns, link.classical_duplication)
    if link.scheme == "coupler":
        network.add_fibre(lp.node_a, lp.node_b, Fibre(link.length_a_km + link.length_b_km, lp.delay_a_ns, *faults))
        return
    network.add_fibre(lp.node_a, lp.middle, Fibre(link.length_a_km, lp.delay_a_ns, *faults))
    network.add_fibre(lp.middle, lp.node_b, Fibre(link.length_b_km, lp.delay_b_ns, *faults))


def _build_stations(emu: Emulation) -> None:
    scenario = emu.scenario
    for node in scenario.nodes.values():
        if node.kind != "station" or not emu.runs(node.name):
            continue
        served = [link for link in scenario.links if link.station == node.name]
        ends = {link.link_id: ((node_ip(scenario.nodes[link.a].node_id), HERALD_PORT),
                               (node_ip(scenario.nodes[link.b].node_id), HERALD_PORT)) for link in served}
        schemes = {link.link_id: SCHEME_CODES[link.scheme] for link in served}
        port = VirtualPort(emu.kernel, f"{node.name}/physical")
        engine = Station(ends, node.detection_window_ns, schemes)
        emu.layers.append(Layer(f"{node.name}/physical", node.node_id, engine, port, emu.network,
                                emu.medium, [HERALD_PORT]))
        emu.heralding.middles[node.node_id] = port


def _build_qpus(emu: Emulation) -> None:
    scenario, kernel = emu.scenario, emu.kernel
    app_ports: dict[str, int] = {}
    responders: dict[str, dict[int, tuple[str, int]]] = {}
    listeners: dict[str, dict[str, dict[int, tuple[str, int]]]] = {"link": {}, "network": {}}
    for item in scenario.workload:
        if not item.listen:
            continue
        port = APP_PORT_BASE + app_ports.get(item.remote, 0)
        app_ports[item.remote] = app_ports.get(item.remote, 0) + 1
        address = (node_ip(scenario.nodes[item.remote].node_id), port)
        responders.setdefault(item.remote, {})[item.purpose_id] = address
        listeners[item.service].setdefault(item.remote, {})[item.purpose_id] = address
    router = None
    if emu.topology is not None:
        from protocols.network.routing import Router
        router = Router(emu.topology)
    links_of = {name: [link for link in scenario.links if name in (link.a, link.b)]
                for name in scenario.nodes}
    for node in scenario.nodes.values():
        if node.kind != "qpu" or not emu.runs(node.name):
            continue
        longest = longest_exchange_ns(scenario, node, emu.link_physics)
        reporting, heralders = {}, {}
        for link in links_of[node.name]:
            peer = scenario.nodes[link.b if link.a == node.name else link.a]
            if link.scheme in ("source", "coupler"):
                reporting[link.link_id] = ReportingLink(SCHEME_CODES[link.scheme], (node_ip(peer.node_id), HERALD_PORT))
            heralder = peer if link.station is None else scenario.nodes[link.station]
            heralders[link.link_id] = (node_ip(heralder.node_id), HERALD_PORT)
        physical = Layer(f"{node.name}/physical", node.node_id,
                         NodePhysical(2 * longest + 100_000, reporting, heralders),
                         VirtualPort(kernel, f"{node.name}/physical"), emu.network, emu.medium, [HERALD_PORT])
        engine_links = []
        for link in links_of[node.name]:
            peer = scenario.nodes[link.b if link.a == node.name else link.a]
            lp = emu.link_physics[link.link_id]
            options = link_options(lp, (node.t1_ns, peer.t1_ns), (node.t2_ns, peer.t2_ns))
            policy = QueuePolicy(link.queue_quantum, link.queue_max_run, link.queue_max_length,
                                 link.queue_max_per_source, link.queue_priority_pairs)
            engine_links.append(EngineLink(link.link_id, peer.node_id, (node_ip(peer.node_id), EGP_PORT),
                                           node.t2_ns, peer.t2_ns, node.t1_ns, peer.t1_ns, options, lp.cycle_ns,
                                           policy, link.cutoff_ns or None, link.batch,
                                           move_fidelity(node.storage_qubits, node.gate_fidelity),
                                           move_fidelity(peer.storage_qubits, peer.gate_fidelity),
                                           peer_retransmit_ns=link_retransmit_ns(
                                               longest_exchange_ns(scenario, peer, emu.link_physics))))
        engine = LinkLayer(node.node_id, engine_links, listeners["link"].get(node.name, {}),
                           retransmit_ns=link_retransmit_ns(longest), retries=LINK_RETRIES,
                           memory=Memory(node.communication_qubits, node.storage_qubits),
                           network=None if router is None else (node_ip(node.node_id), NETWORK_SERVICE_PORT),
                           clients={(node_ip(node.node_id), NETWORK_SERVICE_PORT)})   # + apps (build_apps)
        link_layer = Layer(f"{node.name}/link", node.node_id, engine, VirtualPort(kernel, f"{node.name}/link"),
                           emu.network, emu.medium, [LINK_SERVICE_PORT, EGP_PORT])
        check_after_each_event(emu, link_layer)
        emu.link_layers.append(engine)
        physical.above, link_layer.below = link_layer, physical
        emu.layers += [physical, link_layer]
        emu.medium.add_node(node_hardware(node, physical.port))
        if router is not None:
            _build_network_layer(emu, node, router, listeners["network"].get(node.name, {}))
    build_apps(emu, responders)


def _build_network_layer(emu: Emulation, node: NodeConfig, router: Router,
                         purposes: dict[int, tuple[str, int]]) -> None:
    """The QPU's network layer (UDP 7773, 7774, 7775): the scenario's ``[network]`` settings, the explicit
    routes of the entries it heads and the cutoffs of the entries it is the tail of."""
    from protocols.network.layer import NetworkLayer
    from protocols.network.types import NetworkConfig
    scenario = emu.scenario
    assert emu.topology is not None
    ids = {name: nd.node_id for name, nd in scenario.nodes.items()}
    settings = scenario.network
    config = NetworkConfig(window=settings.window, retries=settings.retries, link_priority=settings.link_priority,
                           max_circuits=settings.max_circuits)
    paths = {(ids[w.remote], w.purpose_id): tuple(ids[name] for name in w.path) for w in scenario.workload
             if w.node == node.name and w.path is not None}
    cutoffs = {w.purpose_id: w.cutoff_ns for w in scenario.workload
               if w.remote == node.name and w.service == "network" and w.cutoff_ns}
    rng = np.random.default_rng(np.random.SeedSequence(emu.seed, spawn_key=(SEED_NETWORK_LAYER, node.node_id)))
    engine = NetworkLayer(node.node_id, emu.topology, dict(purposes), rng, config, paths, cutoffs, router)
    layer = Layer(f"{node.name}/network", node.node_id, engine, VirtualPort(emu.kernel, f"{node.name}/network"),
                  emu.network, emu.medium, [NETWORK_SERVICE_PORT, QNP_PORT, QNCP_PORT])
    check_after_each_event(emu, layer)
    emu.network_layers.append(engine)
    emu.layers.append(layer)


def node_hardware(node: NodeConfig, physical_port: Any) -> NodeHardware:
    """The medium's model of a QPU's memory, delivering its hardware events to ``physical_port``."""
    return NodeHardware(node.node_id, node.communication_qubits, node.t2_ns, node.readout_ns, physical_port,
                        t1_ns=node.t1_ns, storage=node.storage_qubits, readout_fidelity=node.readout_fidelity,
                        gate_fidelity=node.gate_fidelity, move_ns=node.move_ns, gate_ns=node.gate_ns,
                        bsm_success=node.bsm_success_probability, data=node.data_qubits)


async def run_async(emu: Emulation) -> RunResult:
    """Run a built emulation: generation until done or the duration, then a drain."""
    started = time.perf_counter()
    kernel = emu.kernel
    if emu.sampler is not None:
        emu.sampler.start()
    async with trio.open_nursery() as nursery:
        for layer in emu.layers:
            nursery.start_soon(layer.run)
        await kernel.run(until=emu.scenario.run.duration_ns)
        generation_end = kernel.now
        end_generation(emu)
        await kernel.run(until=kernel.now + emu.drain_ns)
        if not emu.settled():
            emu.settling = True           # pairs still being confirmed: until they settle, within a bound
            await kernel.run(until=kernel.now + settle_bound_ns(emu))
        nursery.cancel_scope.cancel()
    claimed: dict[int, set[int]] = {}
    for layer in emu.layers:
        claimed.setdefault(layer.node_id, set()).update(layer.engine.held_slots())
    for claim in emu.claims:
        for node_id, slots in claim().items():
            claimed.setdefault(node_id, set()).update(slots)
    ledger = emu.medium.finish(claimed)
    return RunResult(emu, ledger, time.perf_counter() - started, generation_end)


def run_scenario(scenario: Scenario, seed: int | None = None, pcap: BinaryIO | None = None,
                 secret: bytes | None = None) -> RunResult:
    """Build and run a scenario in virtual time (blocking); ``secret``: as :func:`build`."""
    emu = build(scenario, seed, pcap, secret=secret)
    return trio.run(run_async, emu)
