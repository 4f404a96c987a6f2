"""Mean and confidence interval per point, over the point's seeds.

The interval is Student's t interval for the mean of independent runs (the runs of a point differ
only in their seed, so they are independent and identically distributed):

    mean ± t(1 − α/2, n − 1) · s / √n,   s the sample standard deviation (n − 1 in the denominator),

with confidence 1 − α (95 % by default) and n the runs of the point that finished with a value for
the figure (NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.5.2 "Confidence Limits for the
Mean", https://www.itl.nist.gov/div898/handbook/eda/section3/eda352.htm; Student, "The probable
error of a mean", Biometrika 6 (1908) 1–25). It assumes the figure's run-to-run spread is roughly
normal, which the central limit theorem makes good for rates and fidelities averaged over many
pairs; with n = 1 there is no interval (NaN).

A run that has no value of a figure (a fidelity without pairs; a ``pairs_per_s`` of a request that
delivered none) is left out of n, and the table says so (``n=k/N``). A null ``pairs_per_s`` is not a
rate of 0: the report's rate is over the request's own span, (n − 1) / (last OK − first OK), or one pair
over the time to it, so averaging it with zeros is biased (upward at low rates, where the runs that
deliver have short spans). The rate that may be averaged with zeros is the derived
``delivered_per_s`` (:mod:`stack.sweep.derived`), defined over a window every run has.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Interval:
    n: int
    mean: float
    std: float
    half_width: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def t_quantile(probability: float, dof: int) -> float:
    """The ``probability`` quantile of Student's t distribution with ``dof`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(probability, dof))


def t_interval(values: list[float], confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Student-t confidence interval for the mean of ``values``."""
    n = len(values)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan)
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(1, mean, math.nan, math.nan)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return Interval(n, mean, std, t_quantile((1 + confidence) / 2, n - 1) * std / math.sqrt(n))


def numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def summarise(rows: list[dict[str, Any]], keys: list[str], figures: list[str],
              confidence: float = DEFAULT_CONFIDENCE) -> list[dict[str, Any]]:
    """One row per point and numeric figure: the point's values, n, mean, std and the interval."""
    by_point: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_point.setdefault(row["point"], []).append(row)
    out = []
    for point, runs in sorted(by_point.items()):
        ok = [row for row in runs if row["status"] == "ok"]
        params = {key: runs[0].get(key) for key in keys}
        for figure in figures:
            values = [row[figure] for row in ok if numeric(row.get(figure))]
            if not values and not any(figure in row for row in ok):
                continue
            interval = t_interval([float(v) for v in values], confidence)
            out.append({"point": point, **params, "figure": figure, "runs": len(runs), "failed": len(runs) - len(ok),
                        "n": interval.n, "mean": interval.mean, "std": interval.std,
                        "ci_low": interval.low, "ci_high": interval.high, "half_width": interval.half_width,
                        "confidence": confidence})
    return out


def headline_figures(figures: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """What the summary shows unless asked otherwise: each workload entry's pair rate over its span
    (``pairs_per_s``) and over the generation window (``delivered_per_s``), and its measured fidelity
    where it has one."""
    kinds = ("pairs_per_s", "delivered_per_s", "fidelity_measured")
    wanted = [name for name in figures if re.fullmatch(rf"workload\[\d+\]\.({'|'.join(kinds)})", name)]
    wanted.sort(key=lambda name: (int(name[9:name.index("]")]), kinds.index(name.rpartition(".")[2])))
    return [name for name in wanted if any(numeric(row.get(name)) for row in rows)]


def format_value(interval: dict[str, Any]) -> str:
    """``mean ± half-width``, the half-width to two significant digits and the mean to the same place;
    ``(n=k/N)`` after it when only k of the point's N runs have a value (failed, or none in the report),
    ``- (n=0/N)`` when none has.

    >>> format_value({"mean": 1.349, "half_width": math.nan, "n": 1, "runs": 4})
    '1.349 (n=1/4)'
    >>> format_value({"mean": math.nan, "half_width": math.nan, "n": 0, "runs": 4})
    '- (n=0/4)'
    """
    text = _mean_and_half(interval)
    n, runs = interval.get("n"), interval.get("runs")
    return text if n is None or runs is None or n >= runs else f"{text} (n={n}/{runs})"


def _mean_and_half(interval: dict[str, Any]) -> str:
    mean, half = interval["mean"], interval["half_width"]
    if not math.isfinite(mean):
        return "-"
    if not math.isfinite(half):
        return f"{mean:.4g}"
    if half == 0:
        return f"{mean:.6g} ± 0"
    if not 1e-3 <= max(abs(mean), half) < 1e7:
        return f"{mean:.3e} ± {half:.1e}"
    decimals = max(0, 1 - math.floor(math.log10(half)))
    return f"{mean:.{decimals}f} ± {half:.{decimals}f}"
