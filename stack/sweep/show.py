"""``qnet sweep --show``: a name no run can have is refused before the first run, as far as can be known then.

Three checks, in order (docs/sweep.md, "Summary"): the name's section against the scenario
(:func:`stack.sweep.figures.section_problem`); resuming, the name against the figures of the runs already saved,
when later runs could not have it either (:func:`may_come`); and the name's first field against the fields
that zero-length runs of the sweep's points report in that section (:mod:`stack.sweep.probe`). What passes
all three may still name no figure (a misspelt basis in ``workload[0].disagreement.Q.rate``): that is known
after the runs, which are then saved.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def show_problem(shown: list[str], sweep: Any, output: Path) -> str | None:
    """Why the first refused ``--show`` name cannot be a figure of the sweep's runs (one line), or None."""
    from stack.scenario import load_text

    if not shown:
        return None
    base = load_text(sweep.text, sweep.scenario)
    links, nodes = [link.name for link in base.links], list(base.nodes)
    problem = _section_problem(shown, base, sweep)
    if problem is not None:
        return problem
    done = _saved(sweep, output)
    return _saved_problem(shown, done, output, links, nodes) or _probe_problem(shown, sweep, done, links, nodes)


def _section_problem(shown: list[str], base: Any, sweep: Any) -> str | None:
    from stack.sweep.figures import section_problem

    for name in shown:
        problem = section_problem(name, [link.name for link in base.links], list(base.nodes), len(base.workload),
                                  sweep.up is not None)
        if problem is not None:
            return f"--show {name}: {problem}"
    return None


def _saved(sweep: Any, output: Path) -> Any:
    """The results of this sweep already in ``output`` (it resumes), or None."""
    import json

    from stack.sweep.plan import SAME_SWEEP
    from stack.sweep.results import META, read_results
    from stack.sweep.spec import SweepError

    if not (output / META).is_file():
        return None
    try:
        done = read_results(output)
    except SweepError:                          # the sweep itself will say what is wrong with the directory
        return None
    definition = json.loads(json.dumps(sweep.definition()))
    if any(done.metadata["definition"].get(key) != definition[key] for key in SAME_SWEEP):
        return None                             # another sweep's directory: refused as such
    return done


def _saved_problem(shown: list[str], done: Any, output: Path, links: list[str], nodes: list[str]) -> str | None:
    """A ``--show`` figure that the runs already saved (``done``: this sweep's results in ``output``, or None)
    do not have and later runs cannot have either, or None."""
    if done is None or not done.figures:
        return None
    figures = done.figures
    unknown = [name for name in shown if name not in figures and not may_come(name, done.rows, links, nodes)]
    if not unknown:
        return None
    return f"--show {unknown[0]}: no such figure in {output}{close(unknown[0], figures)}"


def may_come(name: str, rows: list[dict[str, Any]], links: list[str], nodes: list[str]) -> bool:
    """Whether later runs may have ``name`` although the saved ones do not: a nested figure
    (``workload[0].disagreement.X.rate`` is only in runs that measured pairs in basis X), unless its leading
    part (:func:`stack.sweep.figures.leading_part`) is a value in a saved run, so nothing can nest under it.
    A leading part's own field (``workload[0].pairs_per_sec``) is in every report or in none."""
    from stack.sweep.figures import leading_part

    lead = leading_part(name, links, nodes)
    return lead != name and not any(row.get(lead) is not None for row in rows)


def _probe_problem(shown: list[str], sweep: Any, done: Any, links: list[str], nodes: list[str]) -> str | None:
    """A ``--show`` name whose field is not one the zero-length runs report (:mod:`stack.sweep.probe`): its
    section's first field, and below a list of records (``circuits[0].repeaters[1].swaps``) the record's. Names
    the saved runs have are not probed; nothing is run when every name is one of those."""
    from stack.sweep.figures import section_and_field
    from stack.sweep.probe import probe_fields

    saved = set(done.figures) if done is not None else set()
    parts = {name: section_and_field(name, links, nodes) for name in shown if name not in saved}
    wanted = {name: part for name, part in parts.items() if part is not None}
    if not wanted:
        return None
    fields = probe_fields(sweep)
    if fields is None:
        return None
    for name, (section, field) in wanted.items():
        problem = _unknown_field(name, section, field, fields)
        if problem is not None:
            return f"--show {name}: {problem}"
    return None


def _unknown_field(name: str, section: str, field: str, fields: Any) -> str | None:
    """Why the probes' ``fields`` rule ``name`` out (its ``section`` and first ``field``), or None."""
    from stack.sweep.probe import kind

    known = fields.sections.get(section)
    if known is None:                           # a section no probe had: its runs tell
        return None
    if field not in known:
        return _not_one_of(field, section, known)
    record = re.match(r"\[\d+\]\.([^.\[]+)", name[len(section) + 1 + len(field):])
    kept = fields.records.get(f"{kind(section)}.{field}")
    if record is None or kept is None or record[1] in kept:
        return None
    return _not_one_of(record[1], f"{section}.{field}[i]", kept)


def _not_one_of(field: str, where: str, known: set[str]) -> str:
    prefixed = sorted(f"{where}.{item}" for item in known)
    return (f"{field!r} is not a figure of {where}{close(f'{where}.{field}', prefixed)} "
            f"({where} has {', '.join(sorted(known))}; docs/report.md)")


def close(name: str, choices: list[str]) -> str:
    """``; did you mean ...?`` with the choices closest to ``name``, or ""."""
    import difflib  # only a misspelt name needs it, not every `qnet` command's start-up

    found = difflib.get_close_matches(name, choices, n=3)
    return f"; did you mean {', '.join(found)}?" if found else ""
