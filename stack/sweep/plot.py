"""``qnet plot sweep``: a figure against a varied key, with the confidence interval as error bars.

When a grid varies other keys too, each combination of their values is its own series (keys
paired with ``--zip`` move together with the x key: one series).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from stack.sweep.results import SweepResults
from stack.sweep.spec import SweepError


def other_keys(results: SweepResults, x: str) -> list[str]:
    """The keys that make separate series: the other keys of a grid (zipped keys move with ``x``)."""
    return [] if results.metadata["definition"]["zip"] else [key for key in results.keys if key != x]


def series(results: SweepResults, x: str, y: str) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Summary rows of figure ``y`` grouped by the values of the other keys, each ordered by ``x``."""
    others = other_keys(results, x)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in results.summary([y]):
        if row["n"] > 0:
            groups.setdefault(tuple(row[key] for key in others), []).append(row)
    if not groups:
        raise SweepError(f"{results.path}: no run has a numeric value of {y}")
    numeric_x = all(isinstance(row[x], int | float) for rows in groups.values() for row in rows)
    for rows in groups.values():
        rows.sort(key=lambda row: row[x] if numeric_x else str(row[x]))
    return groups


def plot_sweep(results: SweepResults, x: str, y: str, output: Path, *, logx: bool = False,
               logy: bool = False) -> Path:
    """Draw ``y`` against ``x`` (mean and interval per point) and write a PNG to ``output``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = series(results, x, y)
    others = other_keys(results, x)
    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    for index, (values, rows) in enumerate(sorted(groups.items(), key=lambda item: str(item[0]))):
        errors = [0.0 if math.isnan(row["half_width"]) else row["half_width"] for row in rows]
        label = ", ".join(f"{key}={value}" for key, value in zip(others, values, strict=True)) or None
        axes.errorbar([row[x] for row in rows], [row["mean"] for row in rows], yerr=errors, fmt="o-",
                      capsize=3, color=f"C{index % 10}", label=label)
    confidence = next(iter(groups.values()))[0]["confidence"]
    seeds = max(row["n"] for rows in groups.values() for row in rows)
    axes.set(xlabel=x, ylabel=y, title=f"{results.metadata['definition']['scenario']}: mean and "
             f"{confidence:.0%} Student-t interval over up to {seeds} seeds")
    if logx:
        axes.set_xscale("log")
    if logy:
        axes.set_yscale("log")
    if others:
        axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output
