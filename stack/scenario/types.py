"""The parsed form of a scenario file (see :mod:`stack.scenario.parse` for reading and checking it)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RunConfig:
    duration_ns: int
    seed: int
    base_port: int = 40000
    """First UDP port of the multi-process port map (``qnet up``; 0: allocate one)."""


@dataclass(frozen=True, slots=True)
class ClockConfig:
    """A node's oscillator and its PTP role."""

    offset_ns: float = 0.0
    frequency_ppm: float = 0.0
    wander_ppb: float = 0.0
    jitter_ps: float = 0.0
    ptp: str = "off"
    priority1: int = 128

    @property
    def ideal(self) -> bool:
        return self == ClockConfig()


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """PTP settings shared by every node that runs it."""

    log_sync_interval: int = -3
    kp: float = 0.7
    ki: float = 0.3
    sample_interval_ns: int = 10_000_000


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """A node and its hardware; fields that do not apply to its kind keep their defaults."""

    name: str
    node_id: int
    kind: str
    clock: ClockConfig = ClockConfig()
    # qpu: the QPU and its Quantum Networking Unit
    communication_qubits: int = 0
    storage_qubits: int = 0
    data_qubits: int = 0
    t1_ns: float = math.inf
    t2_ns: float = math.inf
    gate_fidelity: float = 1.0
    gate_ns: int = 0
    readout_fidelity: float = 1.0
    readout_ns: int = 0
    move_ns: int = 0
    bsm_success_probability: float = 1.0
    emission_efficiency: float = 1.0
    absorption_efficiency: float = 1.0
    transducer_efficiency: float = 1.0
    transducer_noise_photons: float = 0.0
    transducer_bandwidth_mhz: float = math.inf
    # station: detectors
    detector_efficiency: float = 1.0
    dark_count_rate_hz: float = 0.0
    detection_window_ns: int = 0
    dead_time_ns: int = 0
    # source: entangled-photon-pair source
    pair_rate_mhz: float = 0.0
    multi_pair_probability: float = 0.0
    channels: int = 0
    # switch
    insertion_loss_db: float = 0.0
    reconfiguration_ns: int = 0


@dataclass(frozen=True, slots=True)
class LinkConfig:
    name: str
    link_id: int
    a: str
    b: str
    scheme: str
    mode: str
    station: str | None
    source: str | None
    switch: str | None
    length_a_km: float
    length_b_km: float
    attenuation_db_per_km: float
    refractive_index: float
    attempt_duration_ns: int
    bright_state_population: float
    coupler_efficiency: float
    depolarizing: float
    classical_loss: float
    classical_jitter_ns: int
    classical_duplication: float = 0.0
    queue_quantum: int = 4
    """Pairs per run while requests of the same priority compete (round-robin between streams)."""
    queue_max_run: int = 64
    """Pairs per run of a request served alone (a higher-priority arrival waits at most one run)."""
    queue_max_length: int = 64
    """Open requests per node on this link before a new one is refused with NORES."""
    queue_max_per_source: int = 16
    """Open requests of one source on this link before its new one is refused with NORES."""
    queue_priority_pairs: int = 4096
    """Pairs one source may have outstanding at a Priority above 0 on this link (beyond: NORES)."""
    cutoff_ns: int = 0
    """A pair of an atomic request still kept this long after its emission is discarded (0: never)."""
    batch: int = 0
    """Measure-directly requests of at least this many pairs run in blocks of up to this many (0: never)."""

    @property
    def middle(self) -> str:
        """The node between the ends: station or source (an end itself for a coupler)."""
        return self.station or self.source or self.a


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    node: str
    remote: str
    type: str
    pairs: int
    basis: str
    """Z, X or Y; XZ or XYZ: each end picks one at random per pair (measure only)."""
    start_ns: int
    purpose_id: int
    listen: bool = True
    min_fidelity: float = 0.0
    max_time_ns: int = 0
    priority: int = 0
    """CREATE's Priority, 0-7: higher is served first."""
    atomic: bool = False
    """CREATE's ATO flag: all pairs at the same time (create-and-keep only)."""
    consecutive: bool = True
    """CREATE's CON flag: an OK per pair as it comes (false: all OKs when the request completes)."""
    service: str = "link"
    """Which service serves it (``service = "auto"`` resolved at load): "link" (the two nodes share a link) or
    "network" (a circuit over any route, UDP 7773)."""
    path: tuple[str, ...] | None = None
    """Network only: the route, ``node`` first and ``remote`` last (None: the head chooses)."""
    cutoff_ns: int = 0
    """Network only: the cutoff τ at repeaters instead of the one derived from ``min_fidelity`` (0: derive)."""
    distill: str = "none"
    """Network only: "none", "auto" (the tail picks a hop rule meeting ``min_fidelity``) or "explicit"."""
    distill_rule: tuple[str, str, int] | None = None
    """With "explicit": (protocol, schedule, rounds) of every hop, e.g. ("dejmps", "recurrence", 1)."""
    distill_end: tuple[str, str, int] | None = None
    """With "explicit": (protocol, schedule, rounds) of the end-to-end pairs (the circuit's ends distil them)."""


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """The optional ``[network]`` table: every network layer's protocol settings."""

    window: int = 1
    retries: int = 8
    link_priority: int = 7
    max_circuits: int = 64


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """The optional ``[security]`` table: authenticated classical control (docs/wire.md §10)."""

    authenticate: bool = True
    key_file: str | None = None
    """The key file's path as the scenario names it (relative to the scenario file's folder)."""
    secret: bytes | None = field(default=None, repr=False)
    """The key file's contents (None: no key file; the runtime draws a run secret from the OS)."""
    replay_window: int = 1024


@dataclass(frozen=True, slots=True)
class Scenario:
    source: str
    run: RunConfig
    nodes: dict[str, NodeConfig]
    links: list[LinkConfig]
    workload: list[WorkloadConfig]
    sync: SyncConfig = SyncConfig()
    network: NetworkSettings = NetworkSettings()
    security: SecuritySettings = SecuritySettings()
    applications: tuple[Any, ...] = ()
    """The ``[[application]]`` entries (:class:`stack.scenario.applications.ApplicationConfig`)."""
    circuits: tuple[Any, ...] = ()
    """The ``[[circuit]]`` entries (:class:`stack.scenario.circuits.CircuitConfig`)."""

    @property
    def uses_network(self) -> bool:
        """Some workload entry is served by the network layer (so the QPUs run one)."""
        return any(item.service == "network" for item in self.workload)
