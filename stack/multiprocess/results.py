"""What a node process reports at the end of a multi-process run, and how the medium merges it.

A node's ``result`` message carries the qubit slots its layers still hold (for the
medium's ledger), its network counters, its kernel's real-time statistics, the
records of its workload applications and what its network layer recorded of each circuit.
The medium copies them into its own (layer-less) emulation so that
:func:`stack.report.build_report` produces the same report as in-process.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from protocols.apps.workload import EntanglementUser, PairRecord
from protocols.network.distil_state import DistilStats
from protocols.network.layer import NetworkLayer
from protocols.network.types import CircuitStats
from protocols.sync.ptp import PtpClock
from stack.core.network import AUTH_DROPS
from stack.multiprocess.node_apps import NodeApps
from stack.multiprocess.realtime import RealtimeKernel
from stack.multiprocess.udp import UdpNetwork
from stack.report_circuits import COUNTERS, network_counts
from stack.report_nodes import REFUSALS, malformed_count, refusal_counts
from stack.runtime import Emulation


def collect_result(name: str, emu: Emulation, apps: NodeApps | None = None) -> dict[str, Any]:
    """The ``result`` message of node process ``name`` (``apps``: the application API's roles it hosts)."""
    node_id = emu.scenario.nodes[name].node_id
    kernel, network = emu.kernel, emu.network
    assert isinstance(kernel, RealtimeKernel) and isinstance(network, UdpNetwork)
    held: dict[str, list[int]] = {}
    for layer in emu.layers:
        held.setdefault(str(layer.node_id), []).extend(sorted(layer.engine.held_slots()))
    if apps is not None and apps.held():
        held[str(node_id)] = sorted(set(held.get(str(node_id), [])) | apps.held())
    users = {layer.name: _app(layer.engine) for layer in emu.layers if isinstance(layer.engine, EntanglementUser)}
    counters = dataclasses.asdict(network.counters[node_id])
    counters["malformed"] = sum(malformed_count(layer.engine) for layer in emu.layers)
    for key in REFUSALS:
        counters[key] = sum(refusal_counts(layer.engine)[key] for layer in emu.layers)
    clock = emu.clocks.get(node_id)
    reading = None if clock is None else [kernel.now, clock.local_ns(kernel.now)]
    ptp = [layer.engine for layer in emu.layers if isinstance(layer.engine, PtpClock)]
    layers = [layer.engine for layer in emu.layers if isinstance(layer.engine, NetworkLayer)]
    circuits = None if not layers else {
        "records": [[head, create_id, dataclasses.asdict(stats)] for (head, create_id), stats
                    in layers[0].node.records.items()],
        **network_counts(layers[0].counters)}
    return {"op": "result", "network": circuits, "node": name, "at": kernel.now, "held": held,
            "counters": counters, "apps": users, "api": None if apps is None else apps.result(),
            "kernel": kernel.stats(), "udp": network.stats(), "clock_reading": reading,
            "ptp": None if not ptp else {"state": ptp[0].state.value, "counters": dict(ptp[0].counters),
                                         "exchanges": len(ptp[0].samples)}}


def result_problem(message: dict[str, Any], node: str) -> str | None:
    """What is wrong with node ``node``'s ``result`` message (None: it has what the report needs, of the right
    types), so that a malformed one is refused instead of failing the report."""
    checks = [
        (message.get("node") == node, f"it names node {str(message.get('node'))[:40]!r}"),
        (_table(message.get("held"), lambda k, v: k.isascii() and k.isdigit() and _ints(v)),
         "'held' is not {node id: [slots]}"),
        (_table(message.get("counters"), lambda k, v: _int(v)) and all(
            key in message["counters"] for key in ("sent", "received", "lost", "undeliverable", "malformed",
                                                   *REFUSALS, *AUTH_DROPS)),
         "'counters' lack an integer sent, received, lost, undeliverable, malformed, refusal or "
         "authentication-drop count"),
        (_table(message.get("kernel"), lambda k, v: _int(v)) and all(
            key in message["kernel"] for key in ("missed_deadlines", "late_inputs")),
         "'kernel' lacks integer missed_deadlines and late_inputs"),
        (_table(message.get("udp"), lambda k, v: _int(v)), "'udp' is not {name: integer}"),
        (_table(message.get("apps"), lambda k, v: _app_ok(v)), "'apps' is not {layer: application record}"),
        (message.get("api") is None or isinstance(message["api"], dict), "'api' is not an object"),
        (message.get("clock_reading") is None or (isinstance(message["clock_reading"], list) and len(
            message["clock_reading"]) == 2 and all(_number(x) for x in message["clock_reading"])),
         "'clock_reading' is not [true ns, local ns]"),
        (message.get("ptp") is None or (isinstance(message["ptp"], dict) and isinstance(message["ptp"].get(
            "state"), str) and _table(message["ptp"].get("counters"), lambda k, v: _int(v))
                                         and _int(message["ptp"].get("exchanges"))), "'ptp' is malformed"),
    ]
    return next((problem for ok, problem in checks if not ok), None)


_RECORD: tuple[type | tuple[type, ...], ...] = (int, int, str, int, int, float, int, (int, type(None)),
                                                (int, type(None)), (int, type(None)))
"""The types of a :class:`PairRecord` as a list (goodness may be any number)."""


def _app_ok(app: Any) -> bool:
    if not isinstance(app, dict) or not all(key in app for key in ("sent_at", "first_ok_at", "errors", "expired",
                                                                   "records")):
        return False
    times_ok = all(app[key] is None or _int(app[key]) for key in ("sent_at", "first_ok_at"))
    records = app["records"]
    return times_ok and _ints(app["errors"]) and _ints(app["expired"]) and isinstance(records, list) and all(
        isinstance(r, list) and len(r) == len(_RECORD) and all(
            _number(v) if kind is float else isinstance(v, kind) and not isinstance(v, bool)
            for v, kind in zip(r, _RECORD, strict=True)) for r in records)


def _table(value: Any, item_ok: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and item_ok(k, v) for k, v in value.items())


def _int(value: Any) -> bool:
    return type(value) is int


def _ints(value: Any) -> bool:
    return isinstance(value, list) and all(type(v) is int for v in value)


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _app(user: EntanglementUser) -> dict[str, Any]:
    return {"sent_at": user.sent_at, "first_ok_at": user.first_ok_at, "create_id": user.create_id,
            "errors": user.errors,
            "expired": sorted(user.expired), "records": [dataclasses.astuple(r) for r in user.records]}


def apply_results(emu: Emulation, results: dict[str, dict[str, Any]], dead: list[str],
                  document: dict[str, Any] | None = None) -> dict[int, set[int]]:
    """Copy node results into the medium's emulation (or, with ``document``, into the report).

    Returns the slots of dead nodes, which the ledger counts as discarded at the end. (The report's figures that
    need a dead node's records are null: :func:`stack.report.build_report` is told which nodes died.)
    """
    if document is not None:
        for name, result in results.items():
            for key in ("malformed", *REFUSALS):
                document["nodes"][name][key] = result["counters"][key]
            document["nodes"][name]["clock_copy_error_ns"] = _clock_copy_error(emu, name, result)
            if result["ptp"] is not None and document.get("sync") and name in document["sync"]["nodes"]:
                document["sync"]["nodes"][name] |= {"ptp_state": result["ptp"]["state"],
                                                    "ptp_counters": result["ptp"]["counters"],
                                                    "ptp_exchanges": result["ptp"]["exchanges"]}
        for name in dead:                   # its last reading never came
            document["nodes"][name]["clock_copy_error_ns"] = None
        return {}
    apps = {layer: app for result in results.values() for layer, app in result["apps"].items()}
    for workload in emu.workloads:
        item = workload.config
        _fill(workload.origin, apps.get(f"{item.node}/app{item.purpose_id}"))
        _fill(workload.responder, apps.get(f"{item.remote}/app{item.purpose_id}"))
    for name, result in results.items():
        node_id = emu.scenario.nodes[name].node_id
        counters = emu.network.counters[node_id]
        for key in ("sent", "received", "lost", "undeliverable", *AUTH_DROPS):
            setattr(counters, key, result["counters"][key])
        if result.get("network") is not None:
            records = {(head, create_id): stats_from_json(stats) for head, create_id, stats
                       in result["network"]["records"]}
            emu.network_records[node_id] = (records, {key: int(result["network"].get(key, 0)) for key in COUNTERS})
    lost: dict[int, set[int]] = {}
    for name in dead:
        node_id = emu.scenario.nodes[name].node_id
        hardware = emu.medium.nodes.get(node_id)
        if hardware is not None:
            lost[node_id] = set(hardware.held)
    return lost


def stats_from_json(data: dict[str, Any]) -> CircuitStats:
    """A network layer's :class:`CircuitStats` back from its JSON form (integer keys, tuples)."""
    fields = dict(data)
    for name in ("link_pairs", "link_expired", "link_goodness", "expired_by_reason", "hop1_ok_at"):
        fields[name] = {int(key): value for key, value in fields[name].items()}
    fields["distillation"] = {int(key): DistilStats(**value) for key, value in fields.get("distillation", {}).items()}
    if fields.get("end_distillation") is not None:
        fields["end_distillation"] = DistilStats(**fields["end_distillation"])
    fields["route"] = tuple(fields["route"])
    if fields["model"] is not None:
        fields["model"] = tuple(fields["model"])
    return CircuitStats(**fields)


def _fill(user: EntanglementUser, app: dict[str, Any] | None) -> None:
    if app is None:
        return
    user.sent_at, user.first_ok_at, user.create_id = app["sent_at"], app["first_ok_at"], app["create_id"]
    user.errors = list(app["errors"])
    user.expired = set(app["expired"])
    user.records = [PairRecord(*r) for r in app["records"]]


def _clock_copy_error(emu: Emulation, name: str, result: dict[str, Any]) -> float | None:
    """How far the medium's copy of a node's clock is from the node's own at the node's last instant.

    The medium gates heralds with its copies, kept in step by the forwarded servo adjustments;
    anything but zero means the two processes disagree about that node's time.
    """
    reading = result.get("clock_reading")
    clock = emu.clocks.get(emu.scenario.nodes[name].node_id)
    if reading is None or clock is None:
        return None
    return float(clock.local_ns(reading[0]) - reading[1])
