"""The fields a sweep's runs report, known before any run: the reports of zero-length runs of a few points.

A report's sections (``workload[i]``, ``circuits[i]``, ``links.NAME``, ``nodes.NAME``, ``medium``, ``sync``) are
objects with the same fields in every run of a scenario, whatever it measured: what a run measures shows only
below them (``workload[0].disagreement.X.rate``, ``circuits[0].messages.TRACK``), or as a value instead of a
null. So a zero-length run of the scenario (``run.duration_ms = 0``: built, drained, reported; tens to hundreds
of milliseconds) tells the fields of each section, and a ``--show`` name whose field is none of them can be
refused before the first run. Its fields are read from the report itself, not its figures: a field that is
null or empty there (``circuits[0].expired_by_reason`` before any cutoff) is still a field.

A point's values may change what its report holds (a ``workload[0].service`` of ``network`` adds circuits), so
the runs probed are the first and last points and one point per combination of the values that are not
numbers; a sweep with more such combinations than :data:`MOST_PROBES` is not probed. With ``--up`` the fields a
dead node's process leaves (``workload[i].dead_ends``, ``nodes.NAME.dead``) count too, and ``nodes``, ``sync``
and ``multi_process``, which ``qnet up`` fills from its processes, are not probed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

MOST_PROBES = 8
"""At most this many zero-length runs: past it, ``--show`` fields wait for the runs."""

UP_FILLED = ("nodes", "sync")
"""Sections ``qnet up`` adds fields to from its node processes (``nodes.NAME.clock_copy_error_ns``): not probed
with ``--up``."""


def sections(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A report's sections by name (a link's without its name).

    >>> sorted(sections({"links": [{"name": "ab", "attempts": 0}], "workload": [{"pairs_per_s": None}],
    ...                  "nodes": {"a": {"sent": 0}}, "sync": None}))
    ['links.ab', 'nodes.a', 'workload[0]']
    """
    out: dict[str, dict[str, Any]] = {}
    for link in report.get("links", []):
        out[f"links.{link['name']}"] = {key: value for key, value in link.items() if key != "name"}
    for section in ("workload", "circuits"):
        for index, entry in enumerate(report.get(section, [])):
            out[f"{section}[{index}]"] = entry
    for name, node in (report.get("nodes") or {}).items():
        out[f"nodes.{name}"] = node
    for section in ("medium", "sync"):
        if isinstance(report.get(section), dict):
            out[section] = report[section]
    return out


def kind(section: str) -> str:
    """The kind of a section: its name without the entry (``circuits[2]`` → ``circuits``, ``links.ab`` →
    ``links``)."""
    return section.split(".")[0].split("[")[0]


def fields_of(entry: dict[str, Any]) -> set[str]:
    """The fields of a section or record that may hold figures: not the identities that
    :func:`stack.sweep.figures.figures` leaves out (a text, a link's station, a node's address).

    >>> sorted(fields_of({"attempts": 0, "scheme": "coupler", "station": None, "rate": None}))
    ['attempts', 'rate']
    """
    return {key for key, value in entry.items() if _may_hold_figures(key, value)}


def record_fields(entry: dict[str, Any], section: str) -> dict[str, set[str]]:
    """The fields of the records in each list of objects of a section, by ``KIND.FIELD`` (``circuits.repeaters``):
    the items of a list of objects are records of one type, each with every field of it.

    >>> record_fields({"repeaters": [{"node": "r", "swaps": 2}], "path": ["a", "b"]}, "circuits[0]")
    {'circuits.repeaters': {'swaps'}}
    """
    return {f"{kind(section)}.{key}": set().union(*(fields_of(item) for item in value))
            for key, value in entry.items()
            if isinstance(value, list) and value and all(isinstance(item, dict) for item in value)}


def _may_hold_figures(key: str, value: Any) -> bool:
    from stack.sweep.figures import IDENTITIES, SKIPPED

    return not (isinstance(value, str) or key in SKIPPED or (key in IDENTITIES and value is None))


@dataclasses.dataclass(frozen=True)
class Fields:
    """What the probes reported: the fields of each section by its name (``workload[0]``, ``links.ab``), and of
    each kind of record by ``KIND.FIELD`` (``circuits.repeaters``, the items of ``circuits[i].repeaters``)."""

    sections: dict[str, set[str]]
    records: dict[str, set[str]]


def probe_fields(sweep: Any) -> Fields | None:
    """The fields in the zero-length runs of :func:`probe_points`, united; None when the sweep is not probed
    (too many point shapes) or a probe fails (its runs will say why)."""
    from stack.sweep.plan import Task, run_seed
    from stack.sweep.point import point_document

    chosen = probe_points(sweep.points())
    if chosen is None:
        return None
    found = Fields({}, {})
    for index in chosen:
        task = Task(index, 0, run_seed(sweep.root_seed, index, 0), sweep.points()[index], sweep.scenario, None,
                    sweep.location)
        try:
            reports = _zero_length_reports(point_document(task, sweep.text), task, sweep.up is not None)
        except Exception:                   # a probe only helps: the point's runs will report the error
            return None
        for report in reports:
            for section, entry in sections(report).items():
                if sweep.up is not None and kind(section) in UP_FILLED:
                    continue
                found.sections.setdefault(section, set()).update(fields_of(entry))
                for record, names in record_fields(entry, section).items():
                    found.records.setdefault(record, set()).update(names)
    return found


def probe_points(points: list[dict[str, Any]]) -> list[int] | None:
    """The points probed: the first, the last and the first of each combination of values that are not numbers;
    None when that is more than :data:`MOST_PROBES`.

    >>> probe_points([{"x": 1, "m": "a"}, {"x": 2, "m": "b"}, {"x": 1, "m": "b"}, {"x": 2, "m": "a"}])
    [0, 1, 3]
    """
    first: dict[tuple[tuple[str, Any], ...], int] = {}
    for index, params in enumerate(points):
        shape = tuple((key, value) for key, value in params.items()
                      if isinstance(value, bool) or not isinstance(value, int | float))
        first.setdefault(shape, index)
    chosen = sorted({0, len(points) - 1, *first.values()})
    return chosen if len(chosen) <= MOST_PROBES else None


def _zero_length_reports(document: dict[str, Any], task: Any, up: bool) -> list[dict[str, Any]]:
    import trio

    from stack.report import build_report
    from stack.runtime import build, run_async
    from stack.scenario import load_data

    scenario = load_data(document, task.source)
    scenario = dataclasses.replace(scenario, run=dataclasses.replace(scenario.run, duration_ns=0))
    result = trio.run(run_async, build(scenario, task.seed))
    reports = [build_report(result)]
    if up:                                  # what a report holds when node processes died
        reports.append(build_report(result, None, frozenset(scenario.nodes)))
    return reports
