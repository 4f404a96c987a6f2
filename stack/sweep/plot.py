"""``qnet plot sweep``: a figure against a varied key, with the confidence interval as error bars.

When a grid varies other keys too, each combination of their values is its own series (keys paired with
``--zip`` move together with the x key: one series). Points and series are in the sweep's order (the order of
the values given to ``--vary``). A key whose values are all finite numbers (not booleans) is a numeric axis;
any other (text, booleans, ``inf``) is a category axis, one tick per value in sweep order, its series side by
side at each tick and not joined by lines. A point whose mean is over fewer than all its runs (a run failed,
or its report had no value: a fidelity without a pair) is drawn hollow and labelled ``n=k/N``; with n = 1 it
has no error bar. Points no run has a value at are named under the plot, and so are those a logarithmic y axis
(``--logy``) cannot show: a mean of 0 or less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.sweep.results import SweepResults
from stack.sweep.spec import SweepError
from stack.sweep.summary import numeric


@dataclass
class Series:
    """One line of the plot: the points of one combination of the other keys' values."""

    label: str | None
    x: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    error: list[float] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    """Each point's values (``key=value, ...``), to name it under the plot."""

    @property
    def partial(self) -> list[bool]:
        """Which points average fewer than all their runs (drawn hollow)."""
        return [n < runs for n, runs in zip(self.n, self.runs, strict=True)]


@dataclass
class PlotData:
    """What the plot draws: its series, and the x axis's tick labels when it is a category axis."""

    series: list[Series]
    categories: list[str] | None
    confidence: float
    missing: list[str] = field(default_factory=list)
    """The points no run has a value at (``key=value, ...``), named under the plot rather than left out silently."""


def other_keys(results: SweepResults, x: str) -> list[str]:
    """The keys that make separate series: the other keys of a grid (zipped keys move with ``x``)."""
    return [] if results.metadata["definition"]["zip"] else [key for key in results.keys if key != x]


def sweep_values(results: SweepResults, key: str) -> list[Any]:
    """The values of a varied key in the order the sweep gave them."""
    axis = next(axis for axis in results.metadata["definition"]["axes"] if axis["key"] == key)
    return list(axis["values"])


def _order(values: list[Any], value: Any) -> int:
    """Where ``value`` is among the sweep's values (``True`` is not 1); after them if it is not there."""
    same_type = [index for index, known in enumerate(values) if type(known) is type(value) and known == value]
    equal = [index for index, known in enumerate(values) if known == value]
    return (same_type or equal or [len(values)])[0]


def plot_data(results: SweepResults, x: str, y: str) -> PlotData:
    """Summary rows of figure ``y`` grouped by the other keys' values, both in sweep order."""
    others = other_keys(results, x)
    order = {key: sweep_values(results, key) for key in [x, *others]}
    rows = [row for row in results.summary([y]) if row["n"] > 0]
    if not rows:
        raise SweepError(f"{results.path}: no run has a numeric value of {y}")
    drawn = {row["point"] for row in rows}
    first = {row["point"]: row for row in reversed(results.rows)}
    missing = [", ".join(f"{key}={_tick(first[point][key])}" for key in [x, *others])
               for point in sorted(first) if point not in drawn]
    numeric_x = all(numeric(value) for value in order[x])
    categories = None if numeric_x else [_tick(value) for value in order[x]]
    groups: dict[tuple[int, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(_order(order[key], row[key]) for key in others), []).append(row)
    series = []
    for place in sorted(groups):
        line = Series(", ".join(f"{key}={_tick(groups[place][0][key])}" for key in others) or None)
        for row in sorted(groups[place], key=lambda row: _order(order[x], row[x])):
            line.x.append(float(row[x]) if numeric_x else float(_order(order[x], row[x])))
            line.mean.append(row["mean"])
            line.error.append(0.0 if math.isnan(row["half_width"]) else row["half_width"])
            line.n.append(row["n"])
            line.runs.append(row["runs"])
            line.where.append(", ".join(f"{key}={_tick(row[key])}" for key in [x, *others]))
        series.append(line)
    return PlotData(series, categories, rows[0]["confidence"], missing)


def positive_only(data: PlotData) -> list[str]:
    """Drop the points a log y axis cannot show (mean ≤ 0) from ``data``'s series; name them."""
    dropped = []
    for line in data.series:
        keep = [index for index, mean in enumerate(line.mean) if mean > 0]
        dropped += [line.where[index] for index in range(len(line.mean)) if index not in keep]
        for name in ("x", "mean", "error", "n", "runs", "where"):
            setattr(line, name, [getattr(line, name)[index] for index in keep])
    data.series = [line for line in data.series if line.x]
    return dropped


def category_offsets(count: int) -> list[float]:
    """Where each of ``count`` series sits beside a category's tick, so that their error bars do not hide one
    another: centred on the tick, at most 0.3 of the space between ticks across.

    >>> category_offsets(1), category_offsets(3)
    ([0.0], [-0.1, 0.0, 0.1])
    """
    if count == 1:
        return [0.0]
    width = min(0.3, 0.1 * (count - 1))
    return [round(-width / 2 + width * index / (count - 1), 9) for index in range(count)]


def _tick(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def plot_sweep(results: SweepResults, x: str, y: str, output: Path, *, logx: bool = False,
               logy: bool = False) -> Path:
    """Draw ``y`` against ``x`` (mean and interval per point) and write a PNG to ``output``."""
    data = plot_data(results, x, y)
    if logx and data.categories is not None:
        raise SweepError(f"--logx: {x} is not a numeric axis (its values: {', '.join(data.categories)})")
    off_axis = positive_only(data) if logy else []
    if not data.series:
        raise SweepError(f"--logy: every point's mean of {y} is 0 or less: nothing to draw on a log axis")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    # On a category axis the series sit side by side at each tick and are not joined: no value lies between two
    # categories.
    offsets = category_offsets(len(data.series)) if data.categories is not None else [0.0] * len(data.series)
    for index, line in enumerate(data.series):
        colour = f"C{index % 10}"
        xs = [x + offsets[index] for x in line.x]
        axes.errorbar(xs, line.mean, yerr=line.error, fmt="-" if data.categories is None else "none", capsize=3,
                      color=colour, label=line.label)
        faces = [("none" if partial else colour) for partial in line.partial]
        axes.scatter(xs, line.mean, facecolors=faces, edgecolors=colour, zorder=3)
        for px, py, n, runs, partial in zip(xs, line.mean, line.n, line.runs, line.partial, strict=True):
            if partial:
                axes.annotate(f"n={n}/{runs}", (px, py), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if data.categories is not None:
        axes.set_xticks(range(len(data.categories)), data.categories)
    counts = sorted({runs for line in data.series for runs in line.runs})
    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    axes.set(xlabel=x, ylabel=y, title=f"{results.metadata['definition']['scenario']}: mean and "
             f"{data.confidence:.0%} Student-t interval over {seeds} run{'' if counts == [1] else 's'} per point")
    notes = ["hollow: n=k/N, only k of the point's N runs have a value"] if any(
        any(line.partial) for line in data.series) else []
    if data.missing:
        notes.append(f"no run has a value at {'; '.join(data.missing)}")
    if off_axis:
        notes.append(f"mean 0 or less, not on the log y axis, at {'; '.join(off_axis)}")
    if notes:
        figure.text(0.01, 0.01, "\n".join(notes), fontsize=7, wrap=True)
    if logx:
        axes.set_xscale("log")
    if logy:
        axes.set_yscale("log")
    if any(line.label for line in data.series):
        axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    figure.tight_layout(rect=(0, 0.04 * len(notes), 1, 1))
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output
