"""Scenario files: a network, its hardware and its workload, in TOML.

Every key is checked: a wrong type, a value out of range or an unknown key raises
:class:`ScenarioError` naming the file and the dotted key. See ``docs/scenario.md``.

>>> try:
...     load_text('[run]\\nduration_ms = "long"\\n', "x.toml")
... except ScenarioError as error:
...     print(error)
x.toml: run.duration_ms: expected a number, got 'long'
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

import stack.scenario.checks as checks
from stack.scenario.applications import applications as read_applications
from stack.scenario.circuits import circuits as read_circuits
from stack.scenario.security import security_settings
from stack.scenario.table import REQUIRED, ScenarioError, Table
from stack.scenario.types import (
    ClockConfig,
    LinkConfig,
    NetworkSettings,
    NodeConfig,
    RunConfig,
    Scenario,
    SecuritySettings,
    SyncConfig,
    WorkloadConfig,
)
from stack.scenario.workload import network_settings
from stack.scenario.workload import workload as read_workload

NODE_KINDS = ("qpu", "station", "source", "switch")
PTP_ROLES = ("off", "grandmaster", "slave", "auto")
SCHEMES = ("double-click", "single-click", "source", "coupler")
MODES = ("sampled", "exact")
MAX_DATA_QUBITS = 4096
"""Data qubits per QPU (``data_qubits``): a bound on memory, not on physics (they share no LQID)."""
WORKLOAD_TYPES = ("keep", "measure")
TOP_LEVEL = ("run", "sync", "nodes", "links", "workload", "network", "security", "application", "circuit")

__all__ = [
    "ClockConfig",
    "LinkConfig",
    "NetworkSettings",
    "NodeConfig",
    "RunConfig",
    "Scenario",
    "ScenarioError",
    "SecuritySettings",
    "SyncConfig",
    "WorkloadConfig",
    "load",
    "load_data",
    "load_text",
    "parse_toml",
]


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file (TOML, so UTF-8 text)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(str(path), "(file)", exc.strerror or str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(str(path), "(file)", f"not UTF-8 text (TOML must be): byte 0x{raw[exc.start]:02x} "
                                                 f"on line {line}") from None
    return load_text(text, str(path))


def load_text(text: str, source: str) -> Scenario:
    return load_data(parse_toml(text, source), source)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """The TOML document, unchecked; a syntax error is a :class:`ScenarioError`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, "(syntax)", str(exc)) from None
    except RecursionError:
        raise ScenarioError(source, "(syntax)", "arrays or inline tables nested too deeply to read") from None


def load_data(data: dict[str, Any], source: str) -> Scenario:
    """Check a parsed TOML document (e.g. one a sweep has edited) exactly as :func:`load` checks a file.
    ``data`` is not modified."""
    top = Table(source, "", data)
    top.only(TOP_LEVEL)                    # a misspelt table first: what follows from it would mislead
    run = _run(Table(source, "run", top.get("run", {})))
    sync = _sync(Table(source, "sync", top.get("sync", {})))
    nodes = _nodes(source, top.get("nodes", REQUIRED))
    links = _links(source, top.get("links", REQUIRED), nodes)
    workload = read_workload(source, top.get("workload", []), nodes, links, _node_ref)
    network = network_settings(Table(source, "network", top.get("network", {})))
    security = security_settings(Table(source, "security", top.get("security", {})))
    apps = read_applications(source, top.get("application", []), nodes, _node_ref)
    circuits = read_circuits(source, top.get("circuit", []), bool(apps))
    top.finish()
    return Scenario(source, run, nodes, links, workload, sync, network, security, apps, circuits)


def _sync(t: Table) -> SyncConfig:
    config = SyncConfig(
        log_sync_interval=t.number("log_sync_interval", -3, low=-7, high=4, integer=True),
        kp=t.number("kp", 0.7, low=0.0, high=2.0), ki=t.number("ki", 0.3, low=0.0, high=2.0),
        sample_interval_ns=round(t.number("sample_interval_ms", 10.0, low=0.001, high=1e6) * 1e6),
    )
    t.finish()
    return config


def _clock(t: Table) -> ClockConfig:
    return ClockConfig(
        offset_ns=t.number("clock_offset_ns", 0.0, low=-1e12, high=1e12),
        frequency_ppm=t.number("clock_frequency_ppm", 0.0, low=-1e3, high=1e3),
        wander_ppb=t.number("clock_wander_ppb", 0.0, low=0.0, high=1e6),
        jitter_ps=t.number("timestamp_jitter_ps", 0.0, low=0.0, high=1e9),
        ptp=t.text("ptp", "off", PTP_ROLES),
        priority1=t.number("ptp_priority1", 128, low=0, high=255, integer=True),
    )


def _run(t: Table) -> RunConfig:
    duration_ms = t.number("duration_ms", 1000.0, low=0.0, high=1e9)
    seed = t.number("seed", 1, low=0, high=2**63 - 1, integer=True)
    base_port = t.number("base_port", 40000, low=0, high=65535, integer=True)
    t.finish()
    return RunConfig(round(duration_ms * 1e6), seed, base_port)


def _ns(t: Table, name: str, default: float) -> int:
    return round(t.number(name, default, low=0.0, high=1e15))


def _positive_probability(t: Table, name: str, default: float) -> float:
    value = t.probability(name, default)
    if value <= 0:
        raise t.error(name, f"must be in (0, 1], got {value!r}")
    return value


def _qpu(t: Table, name: str, node_id: int) -> NodeConfig:
    t1_ns = t.number("t1_ms", math.inf, low=1e-6, finite=False) * 1e6
    t2_ns = t.number("t2_ms", 1.0, low=1e-6, finite=False) * 1e6
    if t2_ns > 2 * t1_ns:
        raise t.error("t2_ms", f"must be at most 2 × t1_ms ({2 * t1_ns / 1e6} ms)")
    communication = t.number("communication_qubits", 2, low=1, high=15, integer=True)
    storage = t.number("storage_qubits", 0, low=0, high=15, integer=True)
    if communication + storage > 16:               # an OK's LQID (4 bits) names every qubit
        raise t.error("storage_qubits", f"at most {16 - communication} beside {communication} communication qubits "
                                        "(an OK's 4-bit LQID names every qubit)")
    return NodeConfig(
        name, node_id, "qpu",
        communication_qubits=communication,
        storage_qubits=storage,
        data_qubits=t.number("data_qubits", 0, low=0, high=MAX_DATA_QUBITS, integer=True),
        t1_ns=t1_ns, t2_ns=t2_ns,
        gate_fidelity=t.probability("gate_fidelity", 1.0), gate_ns=_ns(t, "gate_ns", 100),
        readout_fidelity=t.number("readout_fidelity", 1.0, low=0.5, high=1.0),
        readout_ns=_ns(t, "readout_ns", 1000), move_ns=_ns(t, "move_ns", 500),
        bsm_success_probability=_positive_probability(t, "bsm_success_probability", 1.0),
        emission_efficiency=t.probability("emission_efficiency", 0.8),
        absorption_efficiency=t.probability("absorption_efficiency", 0.8),
        transducer_efficiency=t.probability("transducer_efficiency", 0.5),
        transducer_noise_photons=t.number("transducer_noise_photons", 0.0, low=0.0, high=100.0),
        transducer_bandwidth_mhz=t.number("transducer_bandwidth_mhz", 10.0, low=1e-6, finite=False),
    )


def _station(t: Table, name: str, node_id: int) -> NodeConfig:
    return NodeConfig(
        name, node_id, "station",
        detector_efficiency=t.probability("detector_efficiency", 0.9),
        dark_count_rate_hz=t.number("dark_count_rate_hz", 0.0, low=0.0, high=1e12),
        detection_window_ns=_ns(t, "detection_window_ns", 1),
        dead_time_ns=_ns(t, "dead_time_ns", 0),
    )


def _source(t: Table, name: str, node_id: int) -> NodeConfig:
    return NodeConfig(
        name, node_id, "source",
        pair_rate_mhz=t.number("pair_rate_mhz", 200.0, low=1e-6, high=1e6),
        multi_pair_probability=t.probability("multi_pair_probability", 0.0),
        channels=t.number("channels", 2, low=2, high=1024, integer=True),
    )


def _switch(t: Table, name: str, node_id: int) -> NodeConfig:
    return NodeConfig(
        name, node_id, "switch",
        insertion_loss_db=t.number("insertion_loss_db", 1.0, low=0.0, high=100.0),
        reconfiguration_ns=_ns(t, "reconfiguration_ns", 10_000),
    )


_NODE_READERS = {"qpu": _qpu, "station": _station, "source": _source, "switch": _switch}


def _nodes(source: str, data: Any) -> dict[str, NodeConfig]:
    table = Table(source, "nodes", data)
    checks.check_count(source, "nodes", data, checks.MAX_NODES, "nodes", "node ids are 16 bits in IPv4 and MAC "
                       "addresses")
    nodes: dict[str, NodeConfig] = {}
    for index, name in enumerate(data, start=1):
        t = Table(source, table.key(name), table.get(name, None))
        kind = t.text("kind", REQUIRED, NODE_KINDS)
        node = _NODE_READERS[kind](t, name, index)
        if kind in ("qpu", "station"):
            node = dataclasses.replace(node, clock=_clock(t))
        nodes[name] = node
        t.finish()
    if not nodes:
        raise ScenarioError(source, "nodes", "needs at least one node")
    return nodes


def _node_ref(t: Table, name: str, nodes: dict[str, NodeConfig], kind: str, default: Any = REQUIRED) -> str:
    ref = t.text(name, default)
    if ref not in nodes:
        raise t.error(name, f"no node named {ref!r}")
    if nodes[ref].kind != kind:
        raise t.error(name, f"node {ref!r} is a {nodes[ref].kind}, not a {kind}")
    return ref


def _optional_ref(t: Table, name: str, nodes: dict[str, NodeConfig], kind: str) -> str | None:
    return _node_ref(t, name, nodes, kind) if t.has(name) else None


def _link(t: Table, name: str, link_id: int, nodes: dict[str, NodeConfig]) -> LinkConfig:
    a, b = _node_ref(t, "a", nodes, "qpu"), _node_ref(t, "b", nodes, "qpu")
    if a == b:
        raise t.error("b", "a link needs two different nodes")
    scheme = t.text("scheme", "double-click", SCHEMES)
    station = _optional_ref(t, "station", nodes, "station")
    source = _optional_ref(t, "source", nodes, "source")
    needs = {"double-click": "station", "single-click": "station", "source": "source"}.get(scheme)
    for role, ref in (("station", station), ("source", source)):
        if role == needs and ref is None:
            raise t.error(role, f"is required for scheme {scheme!r}")
        if role != needs and ref is not None:
            raise t.error(role, f"does not apply to scheme {scheme!r}")
    length = t.number("length_km", 10.0 if needs else 0.01, low=0.0, high=1e5)
    mode = t.text("mode", "sampled", MODES)
    batch = t.number("batch", 0, low=0, high=0xFFFF, integer=True)
    if batch and (needs != "station" or mode != "sampled"):
        raise t.error("batch", f"blocks of measure-directly pairs need a station and mode \"sampled\" "
                               f"(this link: scheme {scheme!r}, mode {mode!r})")
    return LinkConfig(
        name, link_id, a, b, scheme, mode, station, source,
        switch=_optional_ref(t, "switch", nodes, "switch"),
        length_a_km=t.number("length_a_km", length / 2, low=0.0, high=1e5),
        length_b_km=t.number("length_b_km", length / 2, low=0.0, high=1e5),
        attenuation_db_per_km=t.number("attenuation_db_per_km", 0.2, low=0.0, high=100.0),
        refractive_index=t.number("refractive_index", 1.468, low=1.0, high=4.0),
        attempt_duration_ns=max(1, _ns(t, "attempt_duration_ns", 1000)),
        bright_state_population=t.number("bright_state_population", 0.1, low=1e-6, high=0.5),
        coupler_efficiency=t.probability("coupler_efficiency", 0.9),
        depolarizing=t.probability("depolarizing", 0.05),
        classical_loss=t.probability("classical_loss", 0.0),
        classical_jitter_ns=_ns(t, "classical_jitter_ns", 0),
        classical_duplication=t.probability("classical_duplication", 0.0),
        queue_quantum=t.number("queue_quantum", 4, low=1, high=0xFFFF, integer=True),
        queue_max_run=t.number("queue_max_run", 64, low=1, high=0xFFFF, integer=True),
        queue_max_length=t.number("queue_max_length", 64, low=1, high=1_000_000, integer=True),
        queue_max_per_source=t.number("queue_max_per_source", 16, low=1, high=1_000_000, integer=True),
        queue_priority_pairs=t.number("queue_priority_pairs", 4096, low=0, high=1 << 30, integer=True),
        cutoff_ns=round(t.number("cutoff_us", 0.0, low=0.0, high=1e12) * 1000),
        batch=batch,
    )


def _links(source: str, data: Any, nodes: dict[str, NodeConfig]) -> list[LinkConfig]:
    table = Table(source, "links", data)
    checks.check_count(source, "links", data, checks.MAX_LINKS, "links", "the Link ID is 16 bits on the wire")
    links = []
    for index, name in enumerate(data, start=1):
        t = Table(source, table.key(name), table.get(name, None))
        links.append(_link(t, name, index, nodes))
        t.finish()
    checks.check_one_link_per_pair(source, links)
    _check_fibres(source, links)
    checks.check_source_channels(source, nodes, links)
    checks.check_ptp_reachable(source, nodes, links)
    return links


def _check_fibres(source: str, links: list[LinkConfig]) -> None:
    """Two links over the same stretch of fibre (an end to the same station or source) must agree on its length."""
    seen: dict[frozenset[str], tuple[float, str]] = {}
    for link in links:
        if link.scheme == "coupler":
            continue
        for end, length, key in ((link.a, link.length_a_km, "length_a_km"), (link.b, link.length_b_km, "length_b_km")):
            stretch = frozenset((end, link.middle))
            known = seen.setdefault(stretch, (length, link.name))
            if not math.isclose(known[0], length, rel_tol=1e-9, abs_tol=1e-12):
                raise ScenarioError(source, f"links.{link.name}.{key}",
                                    f"{end!r} to {link.middle!r} is {known[0]} km in link {known[1]!r}, not {length}")
