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

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.common import Basis

NODE_KINDS = ("qpu", "station")
WORKLOAD_TYPES = ("keep", "measure")


class ScenarioError(ValueError):
    """A scenario file the user must fix: names the file, the key and what is wrong."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source, self.key, self.problem = source, key, problem


@dataclass(frozen=True, slots=True)
class RunConfig:
    duration_ns: int
    seed: int


@dataclass(frozen=True, slots=True)
class NodeConfig:
    name: str
    node_id: int
    kind: str
    communication_qubits: int = 0
    t2_ns: float = math.inf
    readout_ns: int = 0
    detector_efficiency: float = 1.0
    detection_window_ns: int = 0


@dataclass(frozen=True, slots=True)
class LinkConfig:
    name: str
    link_id: int
    a: str
    b: str
    station: str
    length_a_km: float
    length_b_km: float
    attenuation_db_per_km: float
    refractive_index: float
    emission_efficiency: float
    attempt_duration_ns: int
    depolarizing: float
    classical_loss: float
    classical_jitter_ns: int


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    node: str
    remote: str
    type: str
    pairs: int
    basis: Basis
    start_ns: int
    purpose_id: int
    listen: bool = True


@dataclass(frozen=True, slots=True)
class Scenario:
    source: str
    run: RunConfig
    nodes: dict[str, NodeConfig]
    links: list[LinkConfig]
    workload: list[WorkloadConfig]


class _Table:
    """One TOML table being read: typed getters that name the key on error."""

    def __init__(self, source: str, prefix: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(source, prefix, f"expected a table, got {data!r}")
        self.source, self.prefix, self.data = source, prefix, data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _get(self, name: str, default: Any) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is _REQUIRED:
                raise ScenarioError(self.source, self.key(name), "is required")
            return default
        return self.data[name]

    def number(self, name: str, default: Any = None, low: float = -math.inf,
               high: float = math.inf, integer: bool = False, finite: bool = True) -> Any:
        value = self._get(name, default)
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            kind = "an integer" if integer else "a number"
            raise ScenarioError(self.source, self.key(name), f"expected {kind}, got {value!r}")
        if finite and isinstance(value, float) and math.isinf(value):
            raise ScenarioError(self.source, self.key(name), f"must be finite, got {value!r}")
        if not low <= value <= high or (isinstance(value, float) and math.isnan(value)):
            raise ScenarioError(self.source, self.key(name), f"must be in [{low}, {high}], got {value!r}")
        return value

    def text(self, name: str, default: Any = None, choices: tuple[str, ...] | None = None) -> str:
        value = self._get(name, default)
        if not isinstance(value, str):
            raise ScenarioError(self.source, self.key(name), f"expected a string, got {value!r}")
        if choices is not None and value not in choices:
            raise ScenarioError(self.source, self.key(name), f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise ScenarioError(self.source, self.key(name), f"expected true or false, got {value!r}")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ScenarioError(self.source, self.key(unknown[0]), "unknown key")


_REQUIRED = object()


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(str(path), "(file)", exc.strerror or str(exc)) from None
    return load_text(text, str(path))


def load_text(text: str, source: str) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, "(syntax)", str(exc)) from None
    top = _Table(source, "", data)
    run = _run(_Table(source, "run", top._get("run", {})))
    nodes = _nodes(source, top._get("nodes", _REQUIRED))
    links = _links(source, top._get("links", _REQUIRED), nodes)
    workload = _workload(source, top._get("workload", []), nodes, links)
    top.finish()
    return Scenario(source, run, nodes, links, workload)


def _run(t: _Table) -> RunConfig:
    duration_ms = t.number("duration_ms", 1000.0, low=0.0, high=1e9)
    seed = t.number("seed", 1, low=0, high=2**63 - 1, integer=True)
    t.finish()
    return RunConfig(round(duration_ms * 1e6), seed)


def _nodes(source: str, data: Any) -> dict[str, NodeConfig]:
    table = _Table(source, "nodes", data)
    nodes: dict[str, NodeConfig] = {}
    for index, name in enumerate(data, start=1):
        t = _Table(source, table.key(name), table._get(name, None))
        kind = t.text("kind", _REQUIRED, NODE_KINDS)
        if kind == "qpu":
            node = NodeConfig(
                name, index, kind,
                communication_qubits=t.number("communication_qubits", 2, low=1, high=15, integer=True),
                t2_ns=t.number("t2_ms", 1.0, low=1e-6, finite=False) * 1e6,  # inf: no dephasing
                readout_ns=round(t.number("readout_ns", 1000, low=0)),
            )
        else:
            node = NodeConfig(
                name, index, kind,
                detector_efficiency=t.number("detector_efficiency", 0.9, low=0.0, high=1.0),
                detection_window_ns=round(t.number("detection_window_ns", 1.0, low=0.0)),
            )
        t.finish()
        nodes[name] = node
    if not nodes:
        raise ScenarioError(source, "nodes", "needs at least one node")
    return nodes


def _node_ref(t: _Table, name: str, nodes: dict[str, NodeConfig], kind: str) -> str:
    ref = t.text(name, _REQUIRED)
    if ref not in nodes:
        raise ScenarioError(t.source, t.key(name), f"no node named {ref!r}")
    if nodes[ref].kind != kind:
        raise ScenarioError(t.source, t.key(name), f"node {ref!r} is a {nodes[ref].kind}, not a {kind}")
    return ref


def _links(source: str, data: Any, nodes: dict[str, NodeConfig]) -> list[LinkConfig]:
    table = _Table(source, "links", data)
    links = []
    for index, name in enumerate(data, start=1):
        t = _Table(source, table.key(name), table._get(name, None))
        a, b = _node_ref(t, "a", nodes, "qpu"), _node_ref(t, "b", nodes, "qpu")
        if a == b:
            raise ScenarioError(source, t.key("b"), "a link needs two different nodes")
        station = _node_ref(t, "station", nodes, "station")
        length = t.number("length_km", 10.0, low=0.0, high=1e5)
        links.append(LinkConfig(
            name, index, a, b, station,
            length_a_km=t.number("length_a_km", length / 2, low=0.0, high=1e5),
            length_b_km=t.number("length_b_km", length / 2, low=0.0, high=1e5),
            attenuation_db_per_km=t.number("attenuation_db_per_km", 0.2, low=0.0, high=100.0),
            refractive_index=t.number("refractive_index", 1.468, low=1.0, high=4.0),
            emission_efficiency=t.number("emission_efficiency", 0.3, low=0.0, high=1.0),
            attempt_duration_ns=round(t.number("attempt_duration_ns", 1000, low=1)),
            depolarizing=t.number("depolarizing", 0.05, low=0.0, high=1.0),
            classical_loss=t.number("classical_loss", 0.0, low=0.0, high=1.0),
            classical_jitter_ns=round(t.number("classical_jitter_ns", 0, low=0)),
        ))
        t.finish()
    return links


def _workload(source: str, data: Any, nodes: dict[str, NodeConfig],
              links: list[LinkConfig]) -> list[WorkloadConfig]:
    if not isinstance(data, list):
        raise ScenarioError(source, "workload", "expected an array of tables ([[workload]])")
    linked = {frozenset((link.a, link.b)) for link in links}
    items: list[WorkloadConfig] = []
    for index, entry in enumerate(data):
        t = _Table(source, f"workload[{index}]", entry)
        node, remote = _node_ref(t, "node", nodes, "qpu"), _node_ref(t, "remote", nodes, "qpu")
        if frozenset((node, remote)) not in linked:
            raise ScenarioError(source, t.key("remote"), f"no link between {node!r} and {remote!r}")
        items.append(WorkloadConfig(
            node, remote,
            type=t.text("type", "keep", WORKLOAD_TYPES),
            pairs=t.number("pairs", 100, low=1, high=0xFFFF, integer=True),
            basis=Basis[t.text("basis", "Z", ("Z", "X", "Y"))],
            start_ns=round(t.number("start_us", 0.0, low=0.0) * 1000),
            purpose_id=t.number("purpose_id", index + 1, low=0, high=0xFFFF, integer=True),
            listen=t.flag("listen", True),
        ))
        t.finish()
        clash = [w for w in items[:-1] if w.listen and items[-1].listen and w.remote == remote
                 and w.purpose_id == items[-1].purpose_id]
        if clash:
            raise ScenarioError(source, t.key("purpose_id"),
                                f"{remote!r} already listens on purpose id {clash[0].purpose_id}")
    return items
