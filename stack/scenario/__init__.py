"""Scenario files: reading, checking and the parsed configuration.

>>> from stack.scenario import load
"""

from stack.scenario.parse import (
    ClockConfig,
    LinkConfig,
    NetworkSettings,
    NodeConfig,
    RunConfig,
    Scenario,
    ScenarioError,
    SecuritySettings,
    SyncConfig,
    WorkloadConfig,
    load,
    load_data,
    load_text,
    parse_toml,
)

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
