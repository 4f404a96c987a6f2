"""The sweep's summary as a plain-text table, and its failed runs."""

from __future__ import annotations

import sys
from typing import Any

from stack.sweep.results import SweepResults
from stack.sweep.summary import DEFAULT_CONFIDENCE, format_value

FAILURES_SHOWN = 10


def summary_table(results: SweepResults, figures: list[str]) -> str:
    """One line per point: its values, the runs that finished, and mean ± half-width per figure."""
    summary = results.summary(figures)
    cells: dict[int, dict[str, dict[str, Any]]] = {}
    for row in summary:
        cells.setdefault(row["point"], {})[row["figure"]] = row
    header = [*results.keys, "runs ok", *figures]
    lines = []
    for point in sorted({row["point"] for row in results.rows}):
        runs = [row for row in results.rows if row["point"] == point]
        ok = sum(row["status"] == "ok" for row in runs)
        lines.append([*(format_param(runs[0].get(key)) for key in results.keys), f"{ok}/{len(runs)}",
                      *(format_value(cells[point][f]) if f in cells.get(point, {}) else "-" for f in figures)])
    widths = [max(len(text) for text in column) for column in zip(header, *lines, strict=True)]
    confidence = summary[0]["confidence"] if summary else DEFAULT_CONFIDENCE
    out = [f"{results.metadata['definition']['scenario']}: mean ± half-width of the {confidence:.0%} "
           "Student-t interval over each point's seeds", ""]
    out += ["  ".join(text.rjust(width) for text, width in zip(line, widths, strict=True))
            for line in [header, *lines]]
    return "\n".join(out)


def format_param(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def print_summary(results: SweepResults, figures: list[str]) -> None:
    print(summary_table(results, figures))


def print_failures(results: SweepResults) -> None:
    failed = results.failed
    for row in failed[:FAILURES_SHOWN]:
        values = ", ".join(f"{key}={row.get(key)!r}" for key in results.keys)
        print(f"qnet: failed: point {row['point']} ({values}) seed {row['seed']}: {row['error']}", file=sys.stderr)
    if len(failed) > FAILURES_SHOWN:
        print(f"qnet: ... and {len(failed) - FAILURES_SHOWN} more failed runs (column 'error' of results.parquet)",
              file=sys.stderr)
