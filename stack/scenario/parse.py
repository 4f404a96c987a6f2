"""Scenario files: a network, its hardware and its workload, in TOML.

Every key is checked: a wrong type, a value out of range or an unknown key raises
:class:`ScenarioError` naming the file and the dotted key. See ``docs/scenario.md``. This module reads the
file and the ``[run]`` and ``[sync]`` tables; each other table has its reader (:mod:`stack.scenario.nodes`,
:mod:`stack.scenario.links`, :mod:`stack.scenario.workload`, ...).

>>> try:
...     load_text('[run]\\nduration_ms = "long"\\n', "x.toml")
... except ScenarioError as error:
...     print(error)
x.toml: run.duration_ms: expected a number, got 'long'
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from stack.scenario.applications import applications as read_applications
from stack.scenario.applications import check_purpose
from stack.scenario.circuits import circuits as read_circuits
from stack.scenario.links import links as read_links
from stack.scenario.nodes import node_ref
from stack.scenario.nodes import nodes as read_nodes
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
    """The TOML document, unchecked; a syntax error is a :class:`ScenarioError`. A leading byte-order mark
    (editors on Windows write one) is skipped."""
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))
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
    nodes = read_nodes(source, top.get("nodes", REQUIRED))
    links = read_links(source, top.get("links", REQUIRED), nodes)
    workload = read_workload(source, top.get("workload", []), nodes, links, node_ref)
    _check_starts(source, run, workload)
    network = network_settings(Table(source, "network", top.get("network", {})))
    security = security_settings(Table(source, "security", top.get("security", {})))
    apps = read_applications(source, top.get("application", []), nodes, node_ref, links)
    circuits = read_circuits(source, top.get("circuit", []), bool(apps))
    check_purpose(source, workload, apps, bool(circuits), nodes)
    top.finish()
    return Scenario(source, run, nodes, links, workload, sync, network, security, apps, circuits)


def _check_starts(source: str, run: RunConfig, workload: list[WorkloadConfig]) -> None:
    """An entry that starts when the run has stopped generating would ask for nothing: an error."""
    for index, item in enumerate(workload):
        if item.start_ns > 0 and item.start_ns >= run.duration_ns:
            raise ScenarioError(source, f"workload[{index}].start_us", f"{item.start_ns / 1e3:g} µs is not before the "
                                f"end of the run (run.duration_ms = {run.duration_ns / 1e6:g}): no pair would be asked")


def _sync(t: Table) -> SyncConfig:
    config = SyncConfig(
        log_sync_interval=t.number("log_sync_interval", -3, low=-7, high=4, integer=True),
        kp=t.number("kp", 0.7, low=0.0, high=2.0), ki=t.number("ki", 0.3, low=0.0, high=2.0),
        sample_interval_ns=round(t.number("sample_interval_ms", 10.0, low=0.001, high=1e6) * 1e6),
    )
    t.finish()
    return config


def _run(t: Table) -> RunConfig:
    duration_ms = t.number("duration_ms", 1000.0, low=0.0, high=1e9)
    seed = t.number("seed", 1, low=0, high=2**63 - 1, integer=True)
    base_port = t.number("base_port", 40000, low=0, high=65535, integer=True)
    t.finish()
    return RunConfig(round(duration_ms * 1e6), seed, base_port)
