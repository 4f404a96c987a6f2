"""The figures of a run: its JSON report (docs/report.md) flattened into named columns.

Names follow the scenario's keys: ``links.NAME.field`` (links by name), ``workload[i].field``
(entries in file order), ``nodes.NAME.field``, ``medium.field``, ``sync.nodes.NAME.field`` and,
for ``qnet up`` points, ``multi_process.…``. Nested objects add a level
(``workload[0].disagreement.X.rate``, ``links.ab.arm_a_efficiency.total``). Only numbers, booleans
and nulls are figures; lists of names (``workload[0].errors``) are joined with commas; other
strings (identities such as a link's scheme or station) and the clock offset samples are left out.

>>> figures({"seed": 3, "end_ns": 10, "links": [{"name": "ab", "attempts": 4, "scheme": "coupler"}],
...          "workload": [{"pairs_per_s": 2.5, "errors": ["TIMEOUT"]}]})
{'end_ns': 10, 'links.ab.attempts': 4, 'workload[0].pairs_per_s': 2.5, 'workload[0].errors': 'TIMEOUT'}
"""

from __future__ import annotations

from typing import Any

SKIPPED = {"report_version", "scenario", "seed", "offset_ns", "capture_frames", "station", "source", "switch"}
"""Identities, the capture (sweeps write none) and the offset samples; ``sync`` is skipped when null."""


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """Every figure of a report, by name."""
    out: dict[str, Any] = {}
    _flatten(report, "", out)
    return out


def _flatten(value: Any, name: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in SKIPPED and not (key == "sync" and item is None):
                _flatten(item, f"{name}.{key}" if name else str(key), out)
    elif isinstance(value, list):
        if name in ("links",):
            for item in value:
                _flatten({k: v for k, v in item.items() if k != "name"}, f"{name}.{item['name']}", out)
        elif name == "workload":
            for index, item in enumerate(value):
                _flatten(item, f"{name}[{index}]", out)
        elif all(isinstance(item, str) for item in value):
            out[name] = ",".join(value)
    elif value is None or isinstance(value, bool | int | float):
        out[name] = value
