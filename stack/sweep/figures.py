"""The figures of a run: its JSON report (docs/report.md) flattened into named columns.

Names follow the scenario's keys: ``links.NAME.field`` (links by name), ``workload[i].field``
(entries in file order), ``nodes.NAME.field``, ``medium.field``, ``sync.nodes.NAME.field`` and,
for ``qnet up`` points, ``multi_process.…``. Nested objects add a level
(``workload[0].disagreement.X.rate``, ``links.ab.arm_a_efficiency.total``). Every other list
(of objects or of numbers) is indexed like ``workload``, at any depth: ``circuits[0].pairs_per_s``,
``circuits[0].repeaters[1].swaps``, ``circuits[0].hops_detail[2].link_pairs``. Only numbers,
booleans and nulls are figures; lists of names (``workload[0].errors``, ``circuits[0].path``) are
joined with commas; other strings (identities such as a link's scheme or station) and the clock
offset samples are left out.

>>> figures({"seed": 3, "end_ns": 10, "links": [{"name": "ab", "attempts": 4, "scheme": "coupler"}],
...          "workload": [{"pairs_per_s": 2.5, "errors": ["TIMEOUT"]}]})
{'end_ns': 10, 'links.ab.attempts': 4, 'workload[0].pairs_per_s': 2.5, 'workload[0].errors': 'TIMEOUT'}
>>> figures({"circuits": [{"path": ["a", "r", "b"], "repeaters": [{"node": "r", "swaps": 7}]}]})
{'circuits[0].path': 'a,r,b', 'circuits[0].repeaters[0].swaps': 7}
"""

from __future__ import annotations

import re
from typing import Any

SKIPPED = {"report_version", "scenario", "seed", "offset_ns", "capture_frames"}
"""Identities, the capture (sweeps write none) and the offset samples; ``sync`` is skipped when null."""
IDENTITIES = {"station", "source", "switch"}
"""A link's middle nodes by name (or null): skipped, but a figure of that name (``arm_a_efficiency.switch``) is not."""


SCALARS = ("generation_end_ns", "end_ns", "kernel_events", "authentication")
"""The report's top-level figures (docs/report.md); every other figure is in a section."""


def section_problem(name: str, links: list[str], nodes: list[str], entries: int, up: bool) -> str | None:
    """Why ``name`` cannot be a figure of the sweep's runs, from its section alone (``links.NAME.``,
    ``workload[i].``, ``circuits[i].``, ``nodes.NAME.``, ``medium.``, ``sync.``, with ``--up``
    ``multi_process.``), or None.
    A name that passes may still name no figure: that is known once runs have finished.

    >>> section_problem("workload[2].pairs_per_s", ["ab"], ["a", "b"], 1, False)
    'workload[2] is not an entry of the scenario (it has 1)'
    """
    if name in SCALARS:
        return None
    head, _, rest = name.partition(".")
    for section in ("workload", "circuits"):        # a circuit per network-layer entry: at most one per entry
        if head.startswith(f"{section}[") and head.endswith("]") and rest:
            index = head[len(section) + 1:-1]
            if index.isdigit() and int(index) < entries:
                return None
            return f"{head} is not an entry of the scenario (it has {entries})"
    if head in ("links", "nodes") and rest:
        names = links if head == "links" else nodes
        if any(rest.startswith(f"{item}.") for item in names):
            return None
        return f"the scenario has no {head[:-1]} named in {name!r} ({', '.join(names)})"
    if (head in ("medium", "sync") or (up and head == "multi_process")) and rest:
        return None
    return (f"not a figure of a run (figures are {', '.join(SCALARS)} or start with links.NAME., workload[i]., "
            "circuits[i]., "
            f"nodes.NAME., medium., sync.{', multi_process.' if up else ''}; docs/sweep.md)")


def section_and_field(name: str, links: list[str], nodes: list[str]) -> tuple[str, str] | None:
    """The section of ``name`` and its first field (:func:`leading_part`), or None for a top-level figure.

    >>> section_and_field("links.alice-bob.arm_a_efficiency.total", ["alice-bob"], [])
    ('links.alice-bob', 'arm_a_efficiency')
    >>> section_and_field("circuits[0].hops_detail[2].link_pairs", [], [])
    ('circuits[0]', 'hops_detail')
    """
    head, _, rest = name.partition(".")
    if head in ("links", "nodes"):
        named = [item for item in (links if head == "links" else nodes) if rest.startswith(f"{item}.")]
        if named:
            head, rest = f"{head}.{max(named, key=len)}", rest[len(max(named, key=len)) + 1:]
    field = re.match(r"[^.\[]*", rest)
    return (head, field[0]) if rest and field is not None else None


def leading_part(name: str, links: list[str], nodes: list[str]) -> str:
    """The section of ``name`` and its first field: what every run's report has, whatever it measured
    (``workload[0].disagreement.X.rate`` → ``workload[0].disagreement``: the bases under it are there only
    in runs that measured pairs in them). A top-level figure is its own leading part.

    >>> leading_part("links.alice-bob.arm_a_efficiency.total", ["alice-bob"], [])
    'links.alice-bob.arm_a_efficiency'
    >>> leading_part("workload[0].pairs_per_s", [], [])
    'workload[0].pairs_per_s'
    """
    parts = section_and_field(name, links, nodes)
    return name if parts is None else f"{parts[0]}.{parts[1]}"


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """Every figure of a report, by name."""
    out: dict[str, Any] = {}
    _flatten(report, "", out)
    return out


def _flatten(value: Any, name: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in SKIPPED and not (key == "sync" and item is None) \
                    and not (key in IDENTITIES and (item is None or isinstance(item, str))):
                _flatten(item, f"{name}.{key}" if name else str(key), out)
    elif isinstance(value, list):
        if name == "links":
            for item in value:
                _flatten({k: v for k, v in item.items() if k != "name"}, f"{name}.{item['name']}", out)
        elif all(isinstance(item, str) for item in value):       # names; [] too (no errors: "")
            out[name] = ",".join(value)
        else:
            for index, item in enumerate(value):
                _flatten(item, f"{name}[{index}]", out)
    elif value is None or isinstance(value, bool | int | float):
        out[name] = value
