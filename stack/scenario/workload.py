"""The scenario's ``[[workload]]`` entries and its ``[network]`` table (docs/scenario.md).

An entry asks for pairs between ``node`` and ``remote``. ``service`` says who serves it: the link layer
("link": the two share a link), the network layer ("network": a circuit over any route of links), or
"auto": the link layer when they share a link, else the network layer. A network entry may name its
route (``path``), a cutoff (``cutoff_us``) and distillation (``distill``: "auto" or a rule for every
hop); it cannot be atomic (ATO, or CON clear with create-and-keep:
not supported across repeaters). Purpose IDs are below 0x8000: 0x8000–0xFFFF are link labels.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import stack.scenario.checks as checks
from stack.scenario.nodes import cutoff_ns
from stack.scenario.table import ScenarioError, Table, shown
from stack.scenario.types import LinkConfig, NetworkSettings, NodeConfig, WorkloadConfig

WORKLOAD_TYPES = ("keep", "measure")
SERVICES = ("auto", "link", "network")
MAX_PURPOSE_ID = 0x7FFF
"""Purpose IDs 0x8000–0xFFFF are link labels: the link layer hands their pairs to the network layer."""


def network_settings(t: Table) -> NetworkSettings:
    settings = NetworkSettings(
        window=t.number("window", 1, low=1, high=15, integer=True),
        retries=t.number("retries", 8, low=0, high=1000, integer=True),
        link_priority=t.number("link_priority", 7, low=0, high=7, integer=True),
        max_circuits=t.number("max_circuits", 64, low=1, high=255, integer=True),
    )
    t.finish()
    return settings


def _neighbours(links: list[LinkConfig]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for link in links:
        graph.setdefault(link.a, set()).add(link.b)
        graph.setdefault(link.b, set()).add(link.a)
    return graph


def _connected(graph: dict[str, set[str]], a: str, b: str) -> bool:
    seen, todo = {a}, deque([a])
    while todo:
        for other in graph.get(todo.popleft(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return b in seen


def _path(t: Table, node: str, remote: str, nodes: dict[str, NodeConfig],
          graph: dict[str, set[str]]) -> tuple[str, ...] | None:
    if not t.has("path"):
        return None
    value = t.get("path", None)
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(name, str) for name in value):
        raise t.error("path", f"expected a list of at least two node names, got {shown(value)}")
    for index, name in enumerate(value):
        if name not in nodes or nodes[name].kind != "qpu":
            raise ScenarioError(t.source, f"{t.key('path')}[{index}]", f"{name!r} is not a QPU of the scenario")
    if value[0] != node or value[-1] != remote:
        raise t.error("path", f"must run from {node!r} (node) to {remote!r} (remote), got {shown(value)}")
    if len(set(value)) != len(value):
        raise t.error("path", f"visits a node twice: {shown(value)}")
    for index in range(1, len(value)):
        if value[index] not in graph.get(value[index - 1], set()):
            raise ScenarioError(t.source, f"{t.key('path')}[{index}]",
                                f"no link between {value[index - 1]!r} and {value[index]!r}")
    return tuple(value)


DISTILL_MODES = ("none", "auto")
DISTILL_PROTOCOLS = ("dejmps", "bbpssw")
DISTILL_SCHEDULES = ("recurrence", "pumping")


Rule = tuple[str, str, int]


def _distill(t: Table) -> tuple[str, Rule | None, Rule | None]:
    """``distill``: "none", "auto", a table {protocol, rounds, schedule} for every hop of the circuit, or a
    table {hop = {...}, end = {...}} with a rule for every hop and/or one for the end-to-end pairs."""
    value = t.get("distill", "none")
    if isinstance(value, str):
        if value not in DISTILL_MODES:
            raise t.error("distill", f"expected \"none\", \"auto\" or a table {{protocol, rounds, schedule}} "
                                     f"or {{hop, end}}, got {shown(value)}")
        return value, None, None
    table = Table(t.source, t.key("distill"), value)
    if not (table.has("hop") or table.has("end")):
        return "explicit", _rule(table), None
    hop, end = (_rule(Table(t.source, table.key(name), table.get(name, None))) if table.has(name) else None
                for name in ("hop", "end"))
    table.finish()
    return "explicit", hop, end


def _rule(rule: Table) -> Rule:
    protocol = rule.text("protocol", "dejmps", DISTILL_PROTOCOLS)
    schedule = rule.text("schedule", "recurrence", DISTILL_SCHEDULES)
    rounds = rule.number("rounds", 1, low=1, high=15, integer=True)
    rule.finish()
    return protocol, schedule, rounds


def _entry(t: Table, index: int, nodes: dict[str, NodeConfig], graph: dict[str, set[str]],
           node_ref: Any) -> WorkloadConfig:
    node, remote = node_ref(t, "node", nodes, "qpu"), node_ref(t, "remote", nodes, "qpu")
    if node == remote:
        raise t.error("remote", f"is the node itself ({node!r})")
    linked = remote in graph.get(node, set())
    service = t.text("service", "auto", SERVICES)
    if service == "auto":
        service = "link" if linked else "network"
    if service == "link" and not linked:
        raise t.error("remote", f"no link between {node!r} and {remote!r} (service = \"network\" crosses repeaters)")
    if service == "network" and not _connected(graph, node, remote):
        raise t.error("remote", f"no path between {node!r} and {remote!r}")
    path = _path(t, node, remote, nodes, graph)
    cutoff = cutoff_ns(t)
    kind = t.text("type", "keep", WORKLOAD_TYPES)
    if kind != "measure" and t.has("basis"):
        raise t.error("basis", f"applies only when {t.key('type')} = \"measure\" (this entry keeps its pairs"
                               f"{'' if t.has('type') else ', the default'}: the link layer measures none)")
    atomic, consecutive = t.flag("atomic", False), t.flag("consecutive", True)
    distill, distill_rule, distill_end = _distill(t)
    if distill_end is not None and kind != "keep":
        raise t.error("distill", "an end-to-end rule needs type = \"keep\" (measure-directly ends measure at once)")
    if service == "link":
        for key, present in (("path", path is not None), ("cutoff_us", t.has("cutoff_us")),
                             ("distill", t.has("distill"))):
            if present:
                raise t.error(key, "applies to network-layer requests only (service = \"network\")")
    elif atomic or (kind == "keep" and not consecutive):
        key = "atomic" if atomic else "consecutive"
        raise t.error(key, "atomic requests (atomic, or consecutive = false with type keep) are not supported "
                           "across repeaters")
    return WorkloadConfig(
        node, remote, type=kind,
        pairs=t.number("pairs", 100, low=1, high=0xFFFF, integer=True),
        basis=t.text("basis", "Z", ("Z", "X", "Y", "XZ", "XYZ")),
        start_ns=round(t.number("start_us", 0.0, low=0.0, high=1e12) * 1000),
        purpose_id=t.number("purpose_id", index + 1, low=0, high=MAX_PURPOSE_ID, integer=True),
        listen=t.flag("listen", True),
        min_fidelity=t.probability("min_fidelity", 0.0),
        max_time_ns=round(t.number("max_time_ms", 0.0, low=0.0, high=16383e3) * 1e6),
        priority=t.number("priority", 0, low=0, high=7, integer=True),
        atomic=atomic, consecutive=consecutive, service=service, path=path, cutoff_ns=cutoff,
        distill=distill, distill_rule=distill_rule, distill_end=distill_end,
    )


def _check_priority_quota(t: Table, item: WorkloadConfig, links: list[LinkConfig]) -> None:
    """A link-service request at a raised priority asking for more pairs than its link's per-source quota would
    only ever get ERR NORES: say so now, naming both keys."""
    if item.priority == 0 or item.service != "link":
        return
    link = next(link for link in links if {link.a, link.b} == {item.node, item.remote})
    if item.pairs > link.queue_priority_pairs:
        raise t.error("pairs", f"{item.pairs} pairs at priority {item.priority} exceed links.{link.name}."
                               f"queue_priority_pairs ({link.queue_priority_pairs}): raise that quota, or ask "
                               "at priority 0")


def workload(source: str, data: Any, nodes: dict[str, NodeConfig], links: list[LinkConfig],
             node_ref: Any) -> list[WorkloadConfig]:
    """The ``[[workload]]`` entries; ``node_ref`` reads a node name that must be of a kind."""
    if not isinstance(data, list):
        raise ScenarioError(source, "workload", "expected an array of tables ([[workload]])")
    checks.check_count(source, "workload", data, checks.MAX_WORKLOAD, "entries",
                       "purpose ids are below 0x8000")
    graph = _neighbours(links)
    items: list[WorkloadConfig] = []
    listeners: dict[tuple[str, int], int] = {}
    for index, entry in enumerate(data):
        t = Table(source, f"workload[{index}]", entry)
        items.append(_entry(t, index, nodes, graph, node_ref))
        t.finish()
        _check_priority_quota(t, items[-1], links)
        if items[-1].listen:
            key = (items[-1].remote, items[-1].purpose_id)
            if key in listeners:
                raise t.error("purpose_id", f"{key[0]!r} already listens on purpose id {key[1]} "
                                            f"(workload[{listeners[key]}])")
            listeners[key] = index
    checks.check_applications(source, items)
    return items
