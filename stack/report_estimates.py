"""The report's estimates where the textbook formulas fail on what a run gives: a request's rate when its OKs come
at one instant, and a measured fidelity's uncertainty from a few pairs (docs/report.md). Shared by the report's
``workload`` and ``circuits`` members (:mod:`stack.report`, :mod:`stack.report_circuits`).
"""

from __future__ import annotations

import bisect

from protocols.apps.intervals import linear_interval
from stack.report_pairs import measured_fidelity


def request_rate(ok_times: list[int], create_sent: int | None) -> float | None:
    """A request's pairs per second from its pairs' OK times (ns, in order: one a pair, a block's pairs at its
    instant) and when its CREATE was sent: while the OKs span time, (n − n₁)/(last OK − first OK), n₁ the pairs
    of the first instant, the rate at which pairs came after the first (n − 1 over the span when they come one
    at a time; B/T for blocks of B every T, where n − 1 would count a block k/(k − 1) too fast); when they do
    not (one OK, or all at one instant: an atomic request, one block of measure-directly outcomes),
    n/(last OK − CREATE sent), the rate of the whole request. None with no OK (or no CREATE sent before it).

    >>> request_rate([1_000_000, 3_000_000, 5_000_000], 0), request_rate([4_000_000] * 4, 0), request_rate([], 0)
    (500.0, 1000.0, None)
    >>> request_rate([2_000_000] * 3 + [4_000_000] * 3, 0)     # two blocks of 3, 2 ms apart: 1,500 pairs/s
    1500.0
    """
    if not ok_times:
        return None
    first, last = ok_times[0], ok_times[-1]
    if last > first:
        at_first = bisect.bisect_right(ok_times, first)
        return (len(ok_times) - at_first) / (last - first) * 1e9
    if create_sent is None or last <= create_sent:
        return None
    return len(ok_times) / (last - create_sent) * 1e9


def fidelity_figures(rates: dict[str, dict[str, float]] | None) -> dict[str, float | None]:
    """A keep entry's measured fidelity from its ``disagreement`` rates (None: not a keep entry; all null
    unless every basis X, Y, Z was measured): ``fidelity_measured`` F = 1 − (e_X + e_Y + e_Z)/2
    (:func:`stack.report_pairs.measured_fidelity`), and its uncertainty after Price and Bonett (2004), "An
    improved confidence interval for a linear function of binomial proportions", Comput. Stat. Data Anal. 45,
    449–456: with m = 3 proportions each basis gets 2/m of a disagreement and 2/m of an agreement added,
    ẽ = (k + 2/3)/(n + 4/3), so that the standard error ``fidelity_stderr`` = ½·√(Σ ẽ(1 − ẽ)/(n + 4/3)) never
    vanishes with a few pairs (the plain ½·√(Σ e(1 − e)/n) is 0 whenever every rate is 0 or 1) and tends to it
    as the pairs grow (:func:`protocols.apps.intervals.linear_interval`, which the applications' estimates use
    too); ``fidelity_low``, ``fidelity_high``: the 95 % interval (1 − Σẽ/2) ± 1.96 × that, within
    [0, 1].

    >>> one_each = {b: {"pairs": 1, "rate": 0.0} for b in "XYZ"}
    >>> {key: round(value, 3) for key, value in fidelity_figures(one_each).items()}
    {'fidelity_measured': 1.0, 'fidelity_stderr': 0.256, 'fidelity_low': 0.069, 'fidelity_high': 1.0}
    """
    point = None if rates is None else measured_fidelity(rates)
    if rates is None or point is None:
        return dict.fromkeys(("fidelity_measured", "fidelity_stderr", "fidelity_low", "fidelity_high"))
    interval = linear_interval([(-0.5, round(r["rate"] * r["pairs"]), int(r["pairs"])) for r in rates.values()], 1.0)
    return {"fidelity_measured": point[0], "fidelity_stderr": interval.stderr,
            "fidelity_low": interval.low, "fidelity_high": interval.high}
