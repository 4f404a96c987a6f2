"""The ``[nodes]`` tables of a scenario: QPUs, stations, sources and switches, and references to them by name.

Node ids follow the table's order, from 1. :func:`node_ref` checks a key naming a node of a given kind (the
links, the workload and the applications name their nodes this way).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import stack.scenario.checks as checks
from stack.scenario.table import REQUIRED, ScenarioError, Table
from stack.scenario.types import ClockConfig, NodeConfig

NODE_KINDS = ("qpu", "station", "source", "switch")
PTP_ROLES = ("off", "grandmaster", "slave", "auto")
NODE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
"""A node name: letters, digits, ``_`` and ``-`` (not first), at most 64. ``qnet up`` makes ``RUN_DIR/NAME.pcap``
and ``NAME.log`` of it and runs ``qnet node NAME``; ``qnet sweep --vary nodes.NAME.KEY`` names it in a dotted key."""
RESERVED_NODE_NAMES = ("medium", "merged", "launcher")
"""Names ``qnet up`` uses for its own files in the run directory (``medium.pcap``, ``merged.pcap``) and in
``pids.json``."""
MAX_DATA_QUBITS = 4096
"""Data qubits per QPU (``data_qubits``): a bound on memory, not on physics (they share no LQID)."""


def _clock(t: Table) -> ClockConfig:
    return ClockConfig(
        offset_ns=t.number("clock_offset_ns", 0.0, low=-1e12, high=1e12),
        frequency_ppm=t.number("clock_frequency_ppm", 0.0, low=-1e3, high=1e3),
        wander_ppb=t.number("clock_wander_ppb", 0.0, low=0.0, high=1e6),
        jitter_ps=t.number("timestamp_jitter_ps", 0.0, low=0.0, high=1e9),
        ptp=t.text("ptp", "off", PTP_ROLES),
        priority1=t.number("ptp_priority1", 128, low=0, high=255, integer=True),
    )


def ns(t: Table, name: str, default: float) -> int:
    """A duration key in ns, rounded (0 to 10¹⁵)."""
    return round(t.number(name, default, low=0.0, high=1e15))


def cutoff_ns(t: Table) -> int:
    """The ``cutoff_us`` key in ns: 0 (the default) for none, else at least 1 ns (a smaller one would round to
    0, no cutoff, silently: refused, naming the key)."""
    value = t.number("cutoff_us", 0.0, low=0.0, high=1e12)
    if 0 < value < 0.001:
        raise t.error("cutoff_us", f"must be 0 (none) or at least 0.001 (1 ns), got {value!r}")
    return round(value * 1000)


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
        gate_fidelity=t.probability("gate_fidelity", 1.0), gate_ns=ns(t, "gate_ns", 100),
        readout_fidelity=t.number("readout_fidelity", 1.0, low=0.5, high=1.0),
        readout_ns=ns(t, "readout_ns", 1000), move_ns=ns(t, "move_ns", 500),
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
        detection_window_ns=ns(t, "detection_window_ns", 1),
        dead_time_ns=ns(t, "dead_time_ns", 0),
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
        reconfiguration_ns=ns(t, "reconfiguration_ns", 10_000),
    )


_NODE_READERS = {"qpu": _qpu, "station": _station, "source": _source, "switch": _switch}


def nodes(source: str, data: Any) -> dict[str, NodeConfig]:
    """The ``[nodes]`` table, by name (in the file's order)."""
    table = Table(source, "nodes", data)
    checks.check_count(source, "nodes", data, checks.MAX_NODES, "nodes", "node ids are 16 bits in IPv4 and MAC "
                       "addresses")
    nodes: dict[str, NodeConfig] = {}
    for index, name in enumerate(data, start=1):
        _check_name(source, table.key(name), name)
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


def _check_name(source: str, key: str, name: str) -> None:
    if NODE_NAME.fullmatch(name) is None:
        raise ScenarioError(source, key, "a node name is 1 to 64 letters, digits, '_' or '-' (not first): it names "
                                         "files under qnet up and keys in qnet sweep --vary")
    if name.lower() in RESERVED_NODE_NAMES:
        raise ScenarioError(source, key, f"{name!r} is reserved (qnet up's own files and processes: "
                                         f"{', '.join(RESERVED_NODE_NAMES)}); rename the node")


def node_ref(t: Table, name: str, nodes: dict[str, NodeConfig], kind: str, default: Any = REQUIRED) -> str:
    """The node key ``name`` of ``t`` names: it must exist and be a ``kind``."""
    ref = t.text(name, default)
    if ref not in nodes:
        raise t.error(name, f"no node named {ref!r}")
    if nodes[ref].kind != kind:
        raise t.error(name, f"node {ref!r} is a {nodes[ref].kind}, not a {kind}")
    return ref


def optional_ref(t: Table, name: str, nodes: dict[str, NodeConfig], kind: str) -> str | None:
    """As :func:`node_ref`, for a key that may be absent (None)."""
    return node_ref(t, name, nodes, kind) if t.has(name) else None
