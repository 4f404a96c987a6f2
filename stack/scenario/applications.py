"""The scenario's ``[[application]]`` entries (docs/scenario.md): applications of the transport layer and above
that both ends run through the application API (stack.api.apps): in virtual time (``qnet run``), or with every
node its own process (``qnet up``, stack/multiprocess/node_apps.py).

An entry names its ``kind`` ("teleport", "qkd", "chsh" or "ghz"), the creating end ``node`` and the other end
``remote`` (any QPU: the link layer serves a neighbour, the network layer any other, as ``service`` says),
and how much to do (``pairs``; for teleport, ``per_state`` qubits of each of the six stabiliser states). A
GHZ entry names its center ``node``, its other parties ``remotes`` and its ``shots``. A node runs at most one
application.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stack.scenario.table import ScenarioError, Table
from stack.scenario.types import NodeConfig

KINDS = ("teleport", "qkd", "chsh", "ghz")
SERVICES = ("auto", "link", "network")


@dataclass(frozen=True, slots=True)
class ApplicationConfig:
    kind: str
    node: str
    remote: str
    pairs: int = 0
    """qkd, chsh: measure-directly pairs; teleport: qubits per stabiliser state."""
    block: int = 512
    """qkd: pairs per request (0: automatic, stack.api.qkd.request_sizes); chsh: pairs per sifting block."""
    sample_fraction: float = 0.5
    service: str = "auto"
    seed: int = 0
    leaves: tuple[str, ...] = ()
    """ghz: the QPUs the center ``node`` shares the state with (``remote`` is the first)."""


def _entry(t: Table, nodes: dict[str, NodeConfig], node_ref: Any) -> ApplicationConfig:
    kind = t.text("kind", choices=KINDS)
    if kind == "ghz":
        return _ghz(t, nodes, node_ref)
    node, remote = node_ref(t, "node", nodes, "qpu"), node_ref(t, "remote", nodes, "qpu")
    if node == remote:
        raise t.error("remote", f"is the node itself ({node!r})")
    service = t.text("service", "auto", SERVICES)
    if kind == "teleport":
        if nodes[node].data_qubits < 1:
            raise ScenarioError(t.source, f"nodes.{node}.data_qubits",
                                f"must be at least 1: {t.key('kind')} = \"teleport\" sends data qubits from {node!r}")
        for key in ("pairs", "block", "sample_fraction"):
            if t.has(key):
                raise t.error(key, "applies to qkd and chsh (teleport counts per_state)")
        config = ApplicationConfig(kind, node, remote, t.number("per_state", 100, low=1, high=100_000, integer=True),
                                   service=service)
    else:
        if t.has("per_state"):
            raise t.error("per_state", "applies to teleport (qkd and chsh count pairs)")
        if kind == "chsh" and t.has("sample_fraction"):
            raise t.error("sample_fraction", "applies to qkd")
        config = ApplicationConfig(kind, node, remote, t.number("pairs", 2000, low=1, high=10_000_000, integer=True),
                                   t.number("block", 0, low=0, high=0xFFFF, integer=True) if kind == "qkd"
                                   else t.number("block", 512, low=1, high=512, integer=True),
                                   t.number("sample_fraction", 0.5, low=0.001, high=0.999),
                                   service, t.number("seed", 0, low=0, high=2**63 - 1, integer=True))
    t.finish()
    return config


def _ghz(t: Table, nodes: dict[str, NodeConfig], node_ref: Any) -> ApplicationConfig:
    """A GHZ entry: ``node`` the center, ``remotes`` the leaves (1 to 7 other QPUs), ``shots``."""
    node = node_ref(t, "node", nodes, "qpu")
    value = t.get("remotes", None)
    if not isinstance(value, list) or not 1 <= len(value) <= 7 or not all(isinstance(v, str) for v in value):
        raise t.error("remotes", "expected a list of 1 to 7 QPU names (the GHZ state's other parties)")
    for index, name in enumerate(value):
        if name not in nodes or nodes[name].kind != "qpu" or name == node or value.index(name) != index:
            raise ScenarioError(t.source, f"{t.key('remotes')}[{index}]",
                                f"{name!r} is not another QPU of the scenario, once")
    config = ApplicationConfig("ghz", node, value[0], t.number("shots", 300, low=1, high=1_000_000, integer=True),
                               service=t.text("service", "auto", SERVICES), leaves=tuple(value))
    t.finish()
    return config


def applications(source: str, data: Any, nodes: dict[str, NodeConfig], node_ref: Any) -> tuple[ApplicationConfig, ...]:
    """The ``[[application]]`` entries; ``node_ref`` reads a node name that must be of a kind."""
    if not isinstance(data, list):
        raise ScenarioError(source, "application", "expected an array of tables ([[application]])")
    found: list[ApplicationConfig] = []
    runs: dict[str, int] = {}
    for index, entry in enumerate(data):
        t = Table(source, f"application[{index}]", entry)
        config = _entry(t, nodes, node_ref)
        others = [("remotes", name) for name in config.leaves] if config.leaves else [("remote", config.remote)]
        for key, name in [("node", config.node), *others]:
            if name in runs:
                raise t.error(key, f"{name!r} already runs application[{runs[name]}] (one application per node)")
            runs[name] = index
        found.append(config)
    return tuple(found)
