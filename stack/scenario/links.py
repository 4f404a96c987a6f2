"""The ``[links]`` tables of a scenario: each link's ends, scheme, fibre, classical channel and queue.

Link ids follow the table's order, from 1. Beyond each table's own keys: one link per pair of QPUs, links over
the same stretch of fibre agree on its length, a source has channels for its links, PTP reaches every clock
(:mod:`stack.scenario.checks`).
"""

from __future__ import annotations

import math
from typing import Any

import stack.scenario.checks as checks
from stack.scenario.nodes import cutoff_ns, node_ref, ns, optional_ref
from stack.scenario.table import ScenarioError, Table
from stack.scenario.types import LinkConfig, NodeConfig

SCHEMES = ("double-click", "single-click", "source", "coupler")
MODES = ("sampled", "exact")


def _link(t: Table, name: str, link_id: int, nodes: dict[str, NodeConfig]) -> LinkConfig:
    a, b = node_ref(t, "a", nodes, "qpu"), node_ref(t, "b", nodes, "qpu")
    if a == b:
        raise t.error("b", "a link needs two different nodes")
    scheme = t.text("scheme", "double-click", SCHEMES)
    station = optional_ref(t, "station", nodes, "station")
    source = optional_ref(t, "source", nodes, "source")
    needs = {"double-click": "station", "single-click": "station", "source": "source"}.get(scheme)
    for role, ref in (("station", station), ("source", source)):
        if role == needs and ref is None:
            unset = "" if t.has("scheme") else f" (the default: {t.key('scheme')} is not set)"
            raise t.error(role, f"is required for scheme {scheme!r}{unset}")
        if role != needs and ref is not None:
            raise t.error(role, f"does not apply to scheme {scheme!r}")
    length = t.number("length_km", 10.0 if needs else 0.01, low=0.0, high=1e5)
    mode = t.text("mode", "sampled", MODES)
    batch = t.number("batch", 0, low=0, high=0xFFFF, integer=True)
    if batch and (needs != "station" or mode != "sampled"):
        raise t.error("batch", f"blocks of measure-directly pairs need a station and mode \"sampled\" "
                               f"(this link: scheme {scheme!r}, mode {mode!r})")
    return LinkConfig(
        name, link_id, a, b, scheme, mode, station, source,
        switch=optional_ref(t, "switch", nodes, "switch"),
        **_arms(t, length),
        attenuation_db_per_km=t.number("attenuation_db_per_km", 0.2, low=0.0, high=100.0),
        refractive_index=t.number("refractive_index", 1.468, low=1.0, high=4.0),
        attempt_duration_ns=max(1, ns(t, "attempt_duration_ns", 1000)),
        bright_state_population=t.number("bright_state_population", 0.1, low=1e-6, high=0.5),
        coupler_efficiency=t.probability("coupler_efficiency", 0.9),
        depolarizing=t.probability("depolarizing", 0.05),
        classical_loss=t.probability("classical_loss", 0.0),
        classical_jitter_ns=ns(t, "classical_jitter_ns", 0),
        classical_duplication=t.probability("classical_duplication", 0.0),
        queue_quantum=t.number("queue_quantum", 4, low=1, high=0xFFFF, integer=True),
        queue_max_run=t.number("queue_max_run", 64, low=1, high=0xFFFF, integer=True),
        queue_max_length=t.number("queue_max_length", 64, low=1, high=1_000_000, integer=True),
        queue_max_per_source=t.number("queue_max_per_source", 16, low=1, high=1_000_000, integer=True),
        queue_priority_pairs=t.number("queue_priority_pairs", 4096, low=0, high=1 << 30, integer=True),
        cutoff_ns=cutoff_ns(t),
        batch=batch,
    )


def _arms(t: Table, length: float) -> dict[str, float]:
    """``length_a_km`` and ``length_b_km``: each half of ``length_km`` by default; one given with ``length_km``,
    the other is the rest; both given with ``length_km``, their sum must be it (else an error naming the keys)."""
    a = t.number("length_a_km", length / 2, low=0.0, high=1e5)
    b = t.number("length_b_km", length / 2, low=0.0, high=1e5)
    if t.has("length_km"):
        given = [key for key in ("length_a_km", "length_b_km") if t.has(key)]
        if len(given) == 2 and not math.isclose(a + b, length, rel_tol=1e-9, abs_tol=1e-12):
            raise t.error("length_km", f"is {length:g} km but {t.key('length_a_km')} + {t.key('length_b_km')} = "
                                       f"{a + b:g} km: give the arms, or the total, or arms that add up to it")
        if len(given) == 1:
            arm = a if given[0] == "length_a_km" else b
            if arm > length:
                raise t.error(given[0], f"{arm:g} km is longer than {t.key('length_km')} ({length:g} km)")
            a, b = (arm, length - arm) if given[0] == "length_a_km" else (length - arm, arm)
    return {"length_a_km": a, "length_b_km": b}


def links(source: str, data: Any, nodes: dict[str, NodeConfig]) -> list[LinkConfig]:
    """The ``[links]`` table (in the file's order), between ``nodes``."""
    table = Table(source, "links", data)
    checks.check_count(source, "links", data, checks.MAX_LINKS, "links", "the Link ID is 16 bits on the wire")
    links = []
    for index, name in enumerate(data, start=1):
        t = Table(source, table.key(name), table.get(name, None))
        links.append(_link(t, name, index, nodes))
        t.finish()
    checks.check_one_link_per_pair(source, links)
    _check_fibres(source, links)
    checks.check_source_channels(source, nodes, links)
    checks.check_ptp_reachable(source, nodes, links)
    return links


def _check_fibres(source: str, links: list[LinkConfig]) -> None:
    """Two links over the same stretch of fibre (an end to the same station or source) must agree on its length."""
    seen: dict[frozenset[str], tuple[float, str]] = {}
    for link in links:
        if link.scheme == "coupler":
            continue
        for end, length, key in ((link.a, link.length_a_km, "length_a_km"), (link.b, link.length_b_km, "length_b_km")):
            stretch = frozenset((end, link.middle))
            known = seen.setdefault(stretch, (length, link.name))
            if not math.isclose(known[0], length, rel_tol=1e-9, abs_tol=1e-12):
                raise ScenarioError(source, f"links.{link.name}.{key}",
                                    f"{end!r} to {link.middle!r} is {known[0]} km in link {known[1]!r}, not {length}")
