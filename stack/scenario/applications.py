"""The scenario's ``[[application]]`` entries (docs/scenario.md): applications of the transport layer and above
that both ends run through the application API (stack.api.apps): in virtual time (``qnet run``), or with every
node its own process (``qnet up``, stack/multiprocess/node_apps.py).

An entry names its ``kind`` ("teleport", "qkd", "chsh" or "ghz"), the creating end ``node`` and the other end
``remote`` (any QPU a path of links reaches: the link layer serves a neighbour, the network layer any other,
as ``service`` says), and how much to do (``pairs``; for teleport, ``per_state`` qubits of each of the six
stabiliser states). A GHZ entry names its center ``node``, its other parties ``remotes`` and its ``shots``. A
"python" entry runs the user's own coroutines: ``file`` (a Python file, relative to the scenario file),
``functions`` (a table of node = coroutine function name) and ``args`` (keyword arguments every function is
called with); the file is imported when the run starts (stack/api/user_apps.py), here only the keys are
checked. A node runs at most one application.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.scenario.table import REQUIRED, ScenarioError, Table, shown
from stack.scenario.types import LinkConfig, NodeConfig, WorkloadConfig
from stack.scenario.workload import _connected, _neighbours

KINDS = ("teleport", "qkd", "chsh", "ghz", "python")
APPLICATION_PURPOSE_ID = 100
"""The Purpose ID the applications and the circuit serve at the nodes that run them (``stack.api.run.run_apps``'
default): their link and network layers send that Purpose ID's pairs to the application."""
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
    """qkd: the share of each window's sifted bits revealed to estimate the QBER."""
    service: str = "auto"
    seed: int = 0
    """qkd: seeds the choice of the revealed sample (with the window's number); 0 for every other kind."""
    leaves: tuple[str, ...] = ()
    """ghz: the QPUs the center ``node`` shares the state with (``remote`` is the first)."""
    file: str = ""
    """python: the user's Python file, resolved against the scenario file's folder."""
    functions: tuple[tuple[str, str], ...] = ()
    """python: (node, coroutine function name) for every node the application runs on, in the file's order."""
    args: str = "{}"
    """python: the keyword arguments every function is called with, as JSON text (the config stays hashable)."""

    @property
    def parties(self) -> tuple[str, ...]:
        """Every node that runs a part of this application."""
        if self.kind == "python":
            return tuple(node for node, _ in self.functions)
        return (self.node, *(self.leaves or (self.remote,)))


def _reachable(t: Table, key: str, node: str, remote: str, service: str, graph: dict[str, set[str]]) -> None:
    """``remote`` can be served from ``node`` as ``service`` says (as for a ``[[workload]]`` entry): a link
    between them for "link", a path of links for "network" or "auto". ScenarioError naming ``key`` otherwise:
    the application's pairs and its messages both need one."""
    if service == "link" and remote not in graph.get(node, set()):
        raise ScenarioError(t.source, key, f"no link between {node!r} and {remote!r} "
                                           f"(service = \"network\" crosses repeaters)")
    if not _connected(graph, node, remote):
        raise ScenarioError(t.source, key, f"no path between {node!r} and {remote!r}")


def _entry(t: Table, nodes: dict[str, NodeConfig], graph: dict[str, set[str]], node_ref: Any) -> ApplicationConfig:
    kind = t.text("kind", choices=KINDS)
    if kind == "ghz":
        return _ghz(t, nodes, graph, node_ref)
    if kind == "python":
        return _python(t, nodes)
    node, remote = node_ref(t, "node", nodes, "qpu"), node_ref(t, "remote", nodes, "qpu")
    if node == remote:
        raise t.error("remote", f"is the node itself ({node!r})")
    service = t.text("service", "auto", SERVICES)
    _reachable(t, t.key("remote"), node, remote, service, graph)
    if kind == "teleport":
        if nodes[node].data_qubits < 1:
            raise ScenarioError(t.source, f"nodes.{node}.data_qubits",
                                f"must be at least 1: {t.key('kind')} = \"teleport\" sends data qubits from {node!r}")
        for key in ("pairs", "block", "sample_fraction"):
            if t.has(key):
                raise t.error(key, "applies to qkd and chsh (teleport counts per_state)")
        if t.has("seed"):
            raise t.error("seed", "applies to qkd (it seeds the choice of the revealed sample)")
        config = ApplicationConfig(kind, node, remote, t.number("per_state", 100, low=1, high=100_000, integer=True),
                                   service=service)
    else:
        if t.has("per_state"):
            raise t.error("per_state", "applies to teleport (qkd and chsh count pairs)")
        for key in ("sample_fraction", "seed"):
            if kind == "chsh" and t.has(key):
                raise t.error(key, "applies to qkd")
        config = ApplicationConfig(kind, node, remote, t.number("pairs", 2000, low=1, high=10_000_000, integer=True),
                                   t.number("block", 0, low=0, high=0xFFFF, integer=True) if kind == "qkd"
                                   else t.number("block", 512, low=1, high=512, integer=True),
                                   t.number("sample_fraction", 0.5, low=0.001, high=0.999),
                                   service, t.number("seed", 0, low=0, high=2**63 - 1, integer=True) if kind == "qkd"
                                   else 0)
    t.finish()
    return config


def _ghz(t: Table, nodes: dict[str, NodeConfig], graph: dict[str, set[str]], node_ref: Any) -> ApplicationConfig:
    """A GHZ entry: ``node`` the center, ``remotes`` the leaves (1 to 7 other QPUs), ``shots``."""
    node = node_ref(t, "node", nodes, "qpu")
    value = t.get("remotes", None)
    if not isinstance(value, list) or not 1 <= len(value) <= 7 or not all(isinstance(v, str) for v in value):
        raise t.error("remotes", "expected a list of 1 to 7 QPU names (the GHZ state's other parties)")
    for index, name in enumerate(value):
        if name not in nodes or nodes[name].kind != "qpu" or name == node or value.index(name) != index:
            raise ScenarioError(t.source, f"{t.key('remotes')}[{index}]",
                                f"{name!r} is not another QPU of the scenario, once")
    service = t.text("service", "auto", SERVICES)
    for index, name in enumerate(value):
        _reachable(t, f"{t.key('remotes')}[{index}]", node, name, service, graph)
    settings = 1 + 2 ** len(value)         # all Z, then each X/Y pattern with an even number of Y (stack/api/ghz.py)
    shots = t.number("shots", 300, low=1, high=1_000_000, integer=True)
    if shots < settings:
        raise t.error("shots", f"{shots} shots cannot measure each of the {settings} settings of a "
                               f"{len(value) + 1}-party GHZ state once (the fidelity needs each); at least {settings}")
    config = ApplicationConfig("ghz", node, value[0], shots, service=service, leaves=tuple(value))
    t.finish()
    return config


def _python(t: Table, nodes: dict[str, NodeConfig]) -> ApplicationConfig:
    """A user's application: ``file``, ``functions`` (node = function name, QPUs), ``args`` (a table)."""
    name = t.text("file")
    if not name.endswith(".py"):
        raise t.error("file", f"expected a Python file (.py), got {name!r}")
    folder = Path(t.source).parent if not t.source.startswith("<") else Path(".")
    table = t.get("functions", REQUIRED)
    if not isinstance(table, dict) or not table:
        raise t.error("functions", "expected a table of node = \"coroutine function name\" (at least one node)")
    functions = []
    for node, function in table.items():
        key = f"{t.key('functions')}.{node}"
        if node not in nodes or nodes[node].kind != "qpu":
            raise ScenarioError(t.source, key, f"{node!r} is not a QPU of the scenario")
        if not isinstance(function, str) or not function.isidentifier():
            raise ScenarioError(t.source, key, f"expected the name of a coroutine function in {name}, got "
                                               f"{shown(function)}")
        functions.append((node, function))
    args = t.get("args", {})
    if not isinstance(args, dict) or not all(isinstance(k, str) and k.isidentifier() for k in args):
        raise t.error("args", "expected a table of keyword arguments (name = value)")
    if "ctx" in args:
        raise ScenarioError(t.source, f"{t.prefix}.args.ctx",
                            "is the AppContext every function gets first: name the argument otherwise")
    import json  # only a "python" entry needs it, not every run's start-up

    try:
        text = json.dumps(args, allow_nan=False, default=_no_json)
    except ValueError as error:
        raise t.error("args", f"its values must be JSON ({error})") from None
    t.finish()
    return ApplicationConfig("python", functions[0][0], functions[-1][0] if len(functions) > 1 else "",
                             file=str(folder / name), functions=tuple(functions), args=text)


def _no_json(value: Any) -> Any:
    """TOML's dates and times are not JSON."""
    raise ValueError(f"{shown(value)} is not")


def applications(source: str, data: Any, nodes: dict[str, NodeConfig], node_ref: Any,
                 links: Sequence[LinkConfig]) -> tuple[ApplicationConfig, ...]:
    """The ``[[application]]`` entries; ``node_ref`` reads a node name that must be of a kind. Every built-in
    kind needs its ends joined by ``links`` (a "python" entry's functions talk to whom they choose)."""
    if not isinstance(data, list):
        raise ScenarioError(source, "application", "expected an array of tables ([[application]])")
    found: list[ApplicationConfig] = []
    runs: dict[str, int] = {}
    graph = _neighbours(list(links))
    for index, entry in enumerate(data):
        t = Table(source, f"application[{index}]", entry)
        config = _entry(t, nodes, graph, node_ref)
        if config.kind == "python":
            keys = [(f"functions.{name}", name) for name in config.parties]
        else:
            others = [("remotes", n) for n in config.leaves] if config.leaves else [("remote", config.remote)]
            keys = [("node", config.node), *others]
        for key, name in keys:
            if name in runs:
                raise ScenarioError(source, f"{t.prefix}.{key}",
                                    f"{name!r} already runs application[{runs[name]}] (one application per node)")
            runs[name] = index
        found.append(config)
    return tuple(found)


def check_purpose(source: str, workload: Sequence[WorkloadConfig], apps: Sequence[ApplicationConfig], has_circuit: bool,
                  nodes: dict[str, NodeConfig]) -> None:
    """No ``[[workload]]`` entry listens on :data:`APPLICATION_PURPOSE_ID` at a node that runs an application
    (its pairs would reach the application instead of the entry); with a ``[[circuit]]``, any QPU may run a part
    of it. ScenarioError naming the entry's ``purpose_id`` otherwise."""
    hosts = {name for app in apps for name in (app.node, app.remote, *app.leaves, *(n for n, _ in app.functions))}
    if has_circuit:
        hosts.update(name for name, node in nodes.items() if node.kind == "qpu")
    index = listener_on(workload, APPLICATION_PURPOSE_ID, hosts)
    if index is not None:
        raise ScenarioError(source, f"workload[{index}].purpose_id",
                            f"{APPLICATION_PURPOSE_ID} is the Purpose ID of the applications, and "
                            f"{workload[index].remote!r} runs one: choose another")


def listener_on(workload: Sequence[WorkloadConfig], purpose_id: int, hosts: Container[str]) -> int | None:
    """The index of the first workload entry that listens on ``purpose_id`` at one of ``hosts`` (None: none): its
    pairs would reach the application that serves that Purpose ID there instead of the entry's listener."""
    for index, item in enumerate(workload):
        if item.listen and item.purpose_id == purpose_id and item.remote in hosts:
            return index
    return None
