"""The report's ``circuits``: one object per network-layer workload entry (docs/report.md), and its table.

Each joins what the applications recorded (the same figures as the entry's ``workload`` object) with what
every node of the route recorded of the circuit (:class:`protocols.network.stats.CircuitStats`, kept by
each network layer by (head, Create ID)).
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

from protocols.packets import linkservice as ll
from protocols.packets.linkservice import ERROR_CODES
from protocols.packets.qncp_common import REASONS
from stack.report_estimates import fidelity_figures, request_rate
from stack.report_pairs import dead_ends, dead_flag, disagreement, expired_pairs, joined, unknown, withdrawn_flag
from stack.runtime import Emulation, Workload

if TYPE_CHECKING:                   # annotations only: a run without a network layer need not load its types
    from protocols.network.types import CircuitStats

Views = dict[int, tuple[dict[tuple[int, int], "CircuitStats"], dict[str, int]]]
"""Per node id: its network layer's circuit records by (head, Create ID), and its :data:`COUNTERS`."""

NODE_COUNTERS = ("late_confirms", "gave_up")
"""The counters of :data:`COUNTERS` a node's ``network`` entry shows too (stack/report.py, docs/report.md)."""

COUNTERS = ("bell_mismatches", *NODE_COUNTERS)
"""The network layer's per-node counters (:class:`protocols.network.stats.NetworkCounters`) the report shows
(docs/report.md): TRACKs whose Bell state differed from the receiver's link OK; CONFIRMs that came after
every copy of them should have (their pair's answer forgotten: dropped); reliable messages (TRACK, CREDIT,
EXPIRE, CONFIRM, COMPLETE, TEARDOWN, SETUP, DISTIL) whose every retransmission went unanswered."""


def network_counts(counters: Any) -> dict[str, int]:
    """A network layer's :data:`COUNTERS`, by name."""
    return {key: int(getattr(counters, key)) for key in COUNTERS}


def views(emu: Emulation) -> Views:
    """What every network layer recorded: from the engines in-process, from the nodes' results under
    ``qnet up``."""
    if emu.network_layers:
        return {engine.node_id: (engine.node.records, network_counts(engine.counters))
                for engine in emu.network_layers}
    return emu.network_records


def _on_grid(fidelity: float | None) -> float | None:
    """``fidelity`` rounded to the draft's 16-bit grid (n / 65535), as the wire would carry it."""
    return None if fidelity is None else ll.decode_fidelity(ll.encode_fidelity(fidelity))


def _model_fidelities(tail: Any) -> tuple[float | None, float | None]:
    """``fidelity_model`` and ``fidelity_worst_model``: the tail's D_mid[0] and F_worst as it computed them, both
    rounded to the 16-bit grid the same way (rounding is monotone, so F_worst ≤ D_mid[0] stays true; the
    SETUP_REPLY's model, renormalised after rounding each of its four fields, can sit a quantum or two off)."""
    if tail is None:
        return None, None
    model = tail.model_fidelity if tail.model_fidelity is not None else None if tail.model is None else tail.model[0]
    return _on_grid(model), _on_grid(tail.worst_fidelity)


def _ended(head: CircuitStats) -> str | None:
    """How the circuit ended at the head: "complete", the error code of its teardown or of its refusal (a
    SETUP_REPLY's error ends the circuit "closed" at the head, the code it gave the application in its
    errors), or None while it lives."""
    if head.ended == "closed" and head.setup_done_at is None and head.errors:
        return ERROR_CODES.get(head.errors[-1], str(head.errors[-1]))
    return head.ended or None


HEAD_FIGURES = ("pairs_delivered", "create_to_first_ok_ns", "goodness_mean")
"""A circuit's figures from its head application's records alone: null when the head's node process died."""

TAIL_FIGURES = ("pairs_delivered_remote", "pairs_per_s")
"""A circuit's figures from its tail application's records alone: null when the tail's node process died."""


def circuits(emu: Emulation, dead: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """One object per network-layer workload entry (docs/report.md); ``dead``: the node processes of a ``qnet up``
    run that died, whose records are missing (:func:`stack.report.build_report`)."""
    seen = views(emu)
    return [_circuit(emu, seen, index, w, dead) for index, w in enumerate(emu.workloads)
            if w.config.service == "network"]


def _records(seen: Views, head: int, create_id: int | None, route: tuple[int, ...]) -> dict[int, CircuitStats]:
    if create_id is None:
        return {}
    found = {}
    for node in route or (head,):
        record = seen[node][0].get((head, create_id)) if node in seen else None
        if record is not None:
            found[node] = record
    return found


def _latency(values: list[int]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {"mean": sum(ordered) / len(ordered), "p50": ordered[len(ordered) // 2],
            "p99": ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]}


def _circuit(emu: Emulation, seen: Views, index: int, w: Workload, dead: frozenset[str]) -> dict[str, Any]:
    scenario = emu.scenario
    names = {node.node_id: name for name, node in scenario.nodes.items()}
    head_id = scenario.nodes[w.config.node].node_id
    head_record = seen[head_id][0].get((head_id, w.origin.create_id or -1)) if head_id in seen else None
    route = head_record.route if head_record is not None else ()
    records = _records(seen, head_id, w.origin.create_id, route)
    tail = records.get(route[-1]) if route else None
    if tail is not None and (tail.role != "tail" or tail.window == 0):
        tail = None                 # no rules: the SETUP was refused (an accepted circuit has W ≥ 1) or never came
    links = [emu.topology.link_between(a, b) for a, b in itertools.pairwise(route)] if emu.topology else []
    lost = dead_ends(w, dead)               # an end whose records are missing: no figure that joins both ends
    dead_hops = [names[n] for n in route[1:-1] if names[n] in dead]      # repeaters whose records are missing
    pairs = [] if lost else joined(w)
    rates = None if lost else disagreement(pairs)
    fidelity = fidelity_figures(rates if w.config.type == "keep" else None)
    remote = w.responder.records
    reasons: dict[str, int] = {}
    messages: dict[str, int] = {}
    for record in records.values():
        for reason, count in record.expired_by_reason.items():
            reasons[REASONS.get(reason, str(reason))] = reasons.get(REASONS.get(reason, str(reason)), 0) + count
        for name, count in record.messages.items():
            messages[name] = messages.get(name, 0) + count
    hops = []
    for position, link in enumerate(links):
        if link is None:
            continue
        origin, granter = sorted((route[position], route[position + 1]))   # the master holds the request
        at = records.get(granter)
        got = 0 if at is None else at.link_pairs.get(link.link_id, 0)
        ends = [records[n] for n in (origin, granter) if n in records]
        errors: dict[str, int] = {}
        for record in ends:
            for code, count in record.link_errors.get(link.link_id, {}).items():
                errors[ERROR_CODES.get(code, str(code))] = errors.get(ERROR_CODES.get(code, str(code)), 0) + count
        hops.append({"link": link.name, "label": (tail.labels[position] if tail and tail.labels else None),
                     "origin": names.get(origin), "granter": names.get(granter), "link_pairs": got,
                     "link_expired": 0 if at is None else at.link_expired.get(link.link_id, 0),
                     "request_closes": sum(record.link_closes.get(link.link_id, 0) for record in ends),
                     "request_errors": dict(sorted(errors.items())),
                     "link_goodness_mean": None if at is None or not got
                     else at.link_goodness.get(link.link_id, 0.0) / got,
                     "distil": (tail.distil[position] or None) if tail and tail.distil else None,
                     "distillation": _distillation(at, link.link_id)})
    goodness = [r.goodness for r in w.origin.records]
    setup = head_record
    model, worst = _model_fidelities(tail)
    entry = {
        "workload": index, "head": w.config.node, "tail": w.config.remote,
        "path": [names[n] for n in route] or list(w.config.path or ()),      # refused before any circuit: as given
        "links": [link.name for link in links if link is not None],
        "hops": len(links), "circuit_id": None if setup is None else setup.circuit_id,
        "ended": None if setup is None else _ended(setup),
        "setup_attempts": None if setup is None else setup.setup_attempts,
        "setup_ns": None if setup is None or setup.setup_done_at is None or setup.created_at is None
        else setup.setup_done_at - setup.created_at,
        "window": None if tail is None else tail.window,
        "cutoff_ns": None if tail is None else tail.cutoff_ns,
        "end_cutoff_ns": None if tail is None else tail.end_cutoff_ns,
        "link_min_fidelity": None if tail is None else tail.link_min_fidelity,
        "fidelity_model": model, "fidelity_worst_model": worst,
        "expected_pair_ns": None if tail is None else tail.expected_pair_ns,
        "pairs_requested": w.config.pairs, "pairs_delivered": len(w.origin.records),
        "pairs_delivered_remote": len(remote), "pairs_matched": None if lost else len(pairs),
        "pairs_expired": None if lost else expired_pairs(w),
        "pairs_per_s": request_rate([r.ok_time for r in remote], w.origin.sent_at),
        "create_to_first_ok_ns": None if w.origin.first_ok_at is None or w.origin.sent_at is None
        else w.origin.first_ok_at - w.origin.sent_at,
        "latency_ns": None if setup is None else _latency(setup.latencies),
        "goodness_mean": sum(goodness) / len(goodness) if goodness else None,
        **fidelity,
        "disagreement": rates,
        "hops_detail": hops,
        "distillation": _distillation_total(hops, fidelity["fidelity_measured"]),
        "end_distil": (tail.end_distil or None) if tail is not None else None,
        "end_distillation": _end_distillation(tail, fidelity["fidelity_measured"]),
        "repeaters": [{"node": names[n], "swaps": r.swaps, "swap_failures": r.swap_failures,
                       "cutoff_discards": r.cutoff_discards, "max_held_per_side": list(r.max_held)}
                      for n, r in records.items() if r.role == "repeater"],
        "expired_by_reason": dict(sorted(reasons.items())),
        "errors": {"head": None if w.config.node in dead else [ERROR_CODES.get(c, str(c)) for c in w.origin.errors],
                   "tail": None if w.config.remote in dead else [ERROR_CODES.get(c, str(c))
                                                                 for c in w.responder.errors]},
        **{key: sum(seen[n][1][key] for n in route if n in seen) for key in COUNTERS},
        "messages": dict(sorted(messages.items())),
        **({"dead_ends": lost} if lost else {}),
        **({"dead_repeaters": dead_hops} if dead_hops else {}),
    }
    missing = (HEAD_FIGURES if w.config.node in dead else ()) + (TAIL_FIGURES if w.config.remote in dead else ())
    return unknown(entry, missing)


def _distillation(at: CircuitStats | None, link_id: int) -> dict[str, Any] | None:
    """One distilling hop as its origin (the rounds' initiator) saw it (docs/report.md)."""
    d = None if at is None else at.distillation.get(link_id)
    if d is None:
        return None
    return {"rounds_attempted": d.attempted, "rounds_succeeded": d.succeeded,
            "success_measured": d.succeeded / d.attempted if d.attempted else None,
            "success_estimated": d.predicted_success / d.attempted if d.attempted else None,
            "elementary_pairs": d.elementary, "distilled_pairs": d.distilled,
            "pairs_per_distilled": d.elementary / d.distilled if d.distilled else None,
            "fidelity_before_estimated": d.fidelity_before / d.elementary if d.elementary else None,
            "fidelity_after_estimated": d.fidelity_after / d.distilled if d.distilled else None}


def _end_distillation(tail: CircuitStats | None, fidelity: float | None) -> dict[str, Any] | None:
    """The ends' rounds on end-to-end pairs, as the tail (their initiator) saw them (docs/report.md)."""
    d = None if tail is None else tail.end_distillation
    if d is None:
        return None
    return {"rounds_attempted": d.attempted, "rounds_succeeded": d.succeeded,
            "success_measured": d.succeeded / d.attempted if d.attempted else None,
            "success_estimated": d.predicted_success / d.attempted if d.attempted else None,
            "end_to_end_pairs": d.elementary, "distilled_pairs": d.distilled,
            "pairs_per_distilled": d.elementary / d.distilled if d.distilled else None,
            "fidelity_before_estimated": d.fidelity_before / d.elementary if d.elementary else None,
            "fidelity_after_estimated": d.fidelity_after / d.distilled if d.distilled else None,
            "fidelity_after_measured": fidelity}


def _distillation_total(hops: list[dict[str, Any]], fidelity: float | None) -> dict[str, Any] | None:
    """The circuit's distillation: its hops' rounds, the link pairs of the distilling hops each delivered pair
    cost (the sum of their elementary pairs per distilled pair), and the delivered pairs' measured fidelity."""
    parts = [h["distillation"] for h in hops if h["distillation"]]
    if not parts:
        return None
    cost = sum(part["pairs_per_distilled"] or math.nan for part in parts)
    return {"hops": len(parts), "rounds_attempted": sum(p["rounds_attempted"] for p in parts),
            "rounds_succeeded": sum(p["rounds_succeeded"] for p in parts),
            "link_pairs_per_pair": cost if cost == cost else None,
            "fidelity_after_measured": fidelity}


def circuit_table(report: dict[str, Any]) -> list[str]:
    """The summary's circuit table (no lines without circuits)."""
    entries = report.get("circuits") or []
    if not entries:
        return []
    names = [f"{c['head']}->{c['tail']} {report['workload'][c['workload']]['type']}" for c in entries]
    paths = [">".join(c["path"]) or "-" for c in entries]
    wide, far = max(20, *(len(n) + 1 for n in names)), max(24, *(len(p) + 1 for p in paths))  # columns never touch
    lines = ["", f"{'circuit':<{wide}}{'path':<{far}}{'pairs':>11}{'pairs/s':>10} 1st OK ms{'latency ms':>11}"
                 f"{'goodness':>9}{'F model':>8}{'F meas.':>14}{'swaps':>7}{'halves expired':>15}"]
    for c, name, path in zip(entries, names, paths, strict=True):
        rate = "" if c["pairs_per_s"] is None else f"{c['pairs_per_s']:.1f}"
        first = "" if c["create_to_first_ok_ns"] is None else f"{c['create_to_first_ok_ns'] / 1e6:.3f}"
        latency = "" if c["latency_ns"] is None else f"{c['latency_ns']['mean'] / 1e6:.3f}"
        good = "" if c["goodness_mean"] is None else f"{c['goodness_mean']:.4f}"
        model = "" if c["fidelity_model"] is None else f"{c['fidelity_model']:.4f}"
        fid = "" if c["fidelity_measured"] is None else f"{c['fidelity_measured']:.3f}±{c['fidelity_stderr']:.3f}"
        swaps = sum(r["swaps"] for r in c["repeaters"])
        expired = sum(c["expired_by_reason"].values())
        errors = sorted(set(c["errors"]["head"] or ()) | set(c["errors"]["tail"] or ()))
        flag = f"  ERR {','.join(errors)}" if errors else ""
        if c["bell_mismatches"]:
            flag += f"  {c['bell_mismatches']} BELL MISMATCHES"
        flag += withdrawn_flag(c)
        if c["gave_up"] or c["late_confirms"]:
            flag += f"  {c['gave_up']} given up, {c['late_confirms']} late CONFIRMs"
        flag += dead_flag([*(c.get("dead_ends") or ()), *(c.get("dead_repeaters") or ())])
        delivered = "-" if c["pairs_delivered"] is None else c["pairs_delivered"]
        lines.append(f"{name:<{wide}}{path:<{far}}{delivered:>5}/{c['pairs_requested']:<5}"
                     f"{rate:>10} {first:>9}{latency:>11}{good:>9}{model:>8}{fid:>14}{swaps:>7}{expired:>15}{flag}")
    return lines
