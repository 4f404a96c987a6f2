"""Figures a sweep derives from a run's report figures (columns of ``results.parquet`` the report lacks).

``workload[i].delivered_per_s``: the pairs the entry delivered per second of a window every run has,

    pairs_delivered / (generation_end_ns − create_sent_ns) · 10⁹,

from its CREATE to the end of generation (``run.duration_ms``, or the workload done). A run that delivered
no pair has the value 0, so, unlike the report's ``pairs_per_s`` (a rate over the request's own span, null
without pairs: docs/report.md), it may be averaged over every run of a point. Null when the CREATE was
never sent or generation ended with it (no window).

>>> derive({"status": "ok", "generation_end_ns": 2_000_000_000,
...         "workload[0].pairs_delivered": 3, "workload[0].create_sent_ns": 500_000_000})
{'workload[0].delivered_per_s': 2.0}
>>> derive({"status": "ok", "generation_end_ns": 10, "workload[0].pairs_delivered": 0,
...         "workload[0].create_sent_ns": 0})
{'workload[0].delivered_per_s': 0.0}
"""

from __future__ import annotations

import re
from typing import Any

_DELIVERED = re.compile(r"(workload\[\d+\])\.pairs_delivered")


def derive(row: dict[str, Any]) -> dict[str, Any]:
    """The derived figures of one run's row (none for a failed run)."""
    if row.get("status") != "ok":
        return {}
    out: dict[str, Any] = {}
    end: Any = row.get("generation_end_ns")
    for name, delivered in row.items():
        match = _DELIVERED.fullmatch(name)
        if match is None:
            continue
        sent: Any = row.get(f"{match[1]}.create_sent_ns")
        window = end - sent if _integer(end) and _integer(sent) else 0
        out[f"{match[1]}.delivered_per_s"] = delivered * 1e9 / window if window > 0 and _integer(delivered) else None
    return out


def with_derived(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its derived figures added (a name the row has already is kept as it is)."""
    extra = {name: value for name, value in derive(row).items() if name not in row}
    return {**row, **extra} if extra else row


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
