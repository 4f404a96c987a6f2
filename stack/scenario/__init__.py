"""Scenario files: reading, checking and the parsed configuration.

>>> from stack.scenario import load
"""

from stack.scenario.parse import (
    ClockConfig,
    LinkConfig,
    NodeConfig,
    RunConfig,
    Scenario,
    ScenarioError,
    SyncConfig,
    WorkloadConfig,
    load,
    load_text,
)

__all__ = [
    "ClockConfig",
    "LinkConfig",
    "NodeConfig",
    "RunConfig",
    "Scenario",
    "ScenarioError",
    "SyncConfig",
    "WorkloadConfig",
    "load",
    "load_text",
]
