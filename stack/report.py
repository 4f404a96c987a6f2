"""The run report: one JSON document (``qnet run --json``) and a human summary table.

The JSON holds only what the seed determines (no wall-clock figures), so the same seed
gives the same bytes. Its fields are documented in ``docs/report.md``.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

from protocols.packets.linkservice import ERROR_CODES
from stack.report_estimates import fidelity_figures, request_rate
from stack.report_models import fidelity_model_measured, ran_alphas, run_physics
from stack.report_nodes import nodes
from stack.report_pairs import (
    dead_ends,
    dead_flag,
    delivered,
    disagreeing,
    disagreement,
    expired_pairs,
    joined,
    measured_fidelity,
    unknown,
    withdrawn_flag,
)
from stack.runtime import Emulation, RunResult, Workload
from stack.timing.sync import sync_report

REPORT_VERSION = 1
DISSECTOR = Path(__file__).resolve().parent.parent / "wireshark" / "qnetstack.lua"
"""The Lua dissector beside the source tree (a checkout or an editable install; a wheel has none)."""

__all__ = ["build_report", "delivered", "disagreeing", "disagreement", "fidelity_figures", "joined",
           "measured_fidelity", "request_rate", "summary", "to_json", "wireshark_hint"]


def wireshark_hint(pcap: str, dissector: Path = DISSECTOR) -> str:
    """How to open ``pcap`` in Wireshark with qnetstack's dissector: given by its absolute path when it is beside
    the source tree (so the command works from any folder), else installed in the plugin folder.

    >>> wireshark_hint("run.pcap", Path("/nowhere/qnetstack.lua"))
    'wireshark run.pcap (copy wireshark/qnetstack.lua ... into ~/.local/lib/wireshark/plugins/ first)'
    """
    if dissector.is_file():
        return f"wireshark -X lua_script:{shlex.quote(str(dissector))} {shlex.quote(pcap)}"
    return (f"wireshark {shlex.quote(pcap)} (copy wireshark/qnetstack.lua of the qnetstack sources into "
            "~/.local/lib/wireshark/plugins/ first)")


def build_report(result: RunResult, capture_frames: int | None = None,
                 dead: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The report of a finished run (docs/report.md). ``dead``: the node processes of a ``qnet up`` run that died
    before their result, whose records are missing: their counts, and the figures of the workload entries and
    circuits they end that need their records, are null, and their ``nodes`` entry says ``"dead": true``."""
    emu = result.emulation
    scenario = emu.scenario
    return {
        "report_version": REPORT_VERSION,
        "scenario": scenario.source,
        "seed": emu.seed,
        "generation_end_ns": result.generation_end_ns,
        "end_ns": emu.kernel.now,
        "kernel_events": emu.kernel.events_run,
        "authentication": emu.network.auth is not None,
        "links": [_link(emu, link) for link in scenario.links],
        "workload": [_workload(w, emu, dead) for w in emu.workloads],
        **({"circuits": _circuits(emu, dead)} if emu.topology is not None else {}),
        "nodes": nodes(emu, dead),
        "medium": result.ledger | {"rejected_commands": emu.medium.rejected_commands},
        "capture_frames": capture_frames,
        "sync": sync_report(emu, emu.sampler) if emu.sampler is not None and emu.clocks else None,
        **({"app_outcomes": dict(result.app_outcomes)} if result.app_outcomes else {}),
    }


def _circuits(emu: Emulation, dead: frozenset[str]) -> list[dict[str, Any]]:
    """The report's circuits (:func:`stack.report_circuits.circuits`), imported only by a run that has some."""
    from stack.report_circuits import circuits

    return circuits(emu, dead)


def to_json(report: dict[str, Any]) -> str:
    import json  # imported by the runs that write the report, not at every start-up

    return json.dumps(report, indent=2) + "\n"


def _link(emu: Any, link: Any) -> dict[str, Any]:
    lp = run_physics(emu, link.link_id)     # the model figures are for the α the link ran with (docs/report.md)
    alphas = ran_alphas(emu, link.link_id)
    state = emu.heralding.links[link.link_id]
    p = lp.success_probability
    measured = (state.successes + state.window_failures) / state.attempts if state.attempts else None
    return {
        "name": link.name, "link_id": link.link_id, "a": link.a, "b": link.b, "scheme": link.scheme,
        "mode": link.mode, "station": link.station, "source": link.source, "switch": link.switch,
        "length_a_km": link.length_a_km, "length_b_km": link.length_b_km,
        "one_way_delay_a_ns": lp.delay_a_ns, "one_way_delay_b_ns": lp.delay_b_ns,
        "attempt_ns": lp.attempt_ns, "attempt_cycle_ns": lp.cycle_ns,
        "arm_a_efficiency": lp.arm_a.factors | {"total": lp.arm_a.efficiency},
        "arm_b_efficiency": lp.arm_b.factors | {"total": lp.arm_b.efficiency},
        "false_click_probability": lp.p_false,
        "transducer_rate_factor": lp.transducer_rate_factor,
        "bright_state_population": lp.alpha if link.scheme == "single-click" else None,
        "bright_state_populations_run": alphas if link.scheme == "single-click" else None,
        "success_probability": p,
        "fidelity_model": lp.model.fidelity,
        "true_herald_fraction_model": lp.model.components[0].probability / p if p else None,
        "true_herald_fraction_measured": state.true_heralds / state.successes if state.successes else None,
        "window_failures": state.window_failures,
        "attempts": state.attempts, "successes": state.successes,
        "success_probability_measured": measured,
        "success_probability_stderr": math.sqrt(p * (1 - p) / state.attempts) if state.attempts else None,
        "physical_bound_pairs_per_s": p / lp.cycle_ns * 1e9,
    }


ORIGIN_FIGURES = ("pairs_delivered", "errors", "create_sent_ns", "create_to_first_ok_ns", "create_to_last_ok_ns",
                  "pairs_per_s", "goodness_mean")
"""A workload entry's figures from its origin's records alone: null when the origin's node process died."""


def _workload(w: Workload, emu: Emulation, dead: frozenset[str]) -> dict[str, Any]:
    origin = w.origin
    lost = dead_ends(w, dead)               # an end whose records are missing: no figure that joins both ends
    pairs = [] if lost else joined(w)
    rates = None if lost else disagreement(pairs)
    records = origin.records
    entry = {
        "node": w.config.node, "remote": w.config.remote, "type": w.config.type,
        **({"service": w.config.service} if w.config.service != "link" else {}),
        "purpose_id": w.config.purpose_id, "pairs_requested": w.config.pairs,
        "pairs_delivered": len(records),
        "pairs_delivered_remote": None if w.config.remote in dead else len(w.responder.records),
        "pairs_matched": None if lost else len(pairs),
        "pairs_disagreeing": None if lost else disagreeing(w),
        "pairs_expired": None if lost else expired_pairs(w),
        "errors": [ERROR_CODES.get(code, str(code)) for code in origin.errors],
        "create_sent_ns": origin.sent_at,
        "create_to_first_ok_ns": None if origin.first_ok_at is None or origin.sent_at is None
        else origin.first_ok_at - origin.sent_at,
        "create_to_last_ok_ns": None if not records or origin.sent_at is None
        else records[-1].ok_time - origin.sent_at,
        "priority": w.config.priority, "atomic": w.config.atomic,
        "pairs_per_s": request_rate([r.ok_time for r in records], origin.sent_at),
        "goodness_mean": sum(r.goodness for r in records) / len(records) if records else None,
        "fidelity_model_measured": None if lost else fidelity_model_measured(emu, w, pairs),
        **fidelity_figures(rates if w.config.type == "keep" else None),
        "disagreement": rates,
        **({"dead_ends": lost} if lost else {}),
    }
    return unknown(entry, ORIGIN_FIGURES) if w.config.node in dead else entry


def summary(report: dict[str, Any], wall_seconds: float, pcap: str | None) -> str:
    """A plain-text summary table."""
    from stack.report_circuits import circuit_table

    lines = [f"qnet: {report['scenario']} seed {report['seed']}: emulated "
             f"{report['end_ns'] / 1e6:.3f} ms in {wall_seconds:.2f} s wall"]
    lines.append("")
    lines.append(f"{'link':<14}{'scheme':<14}{'km':>7}{'p/attempt':>11}{'measured':>11}{'attempts':>10}"
                 f"{'pairs':>7}{'missed':>7}{'F model':>9}{'bound/s':>11}")
    for link in report["links"]:
        measured = link["success_probability_measured"]          # None: no attempt yet
        lines.append(f"{link['name']:<14}{link['scheme'] + ('*' if link['mode'] == 'exact' else ''):<14}"
                     f"{link['length_a_km'] + link['length_b_km']:>7.3g}{link['success_probability']:>11.5f}"
                     f"{'-' if measured is None else f'{measured:.5f}':>11}"
                     f"{link['attempts']:>10}{link['successes']:>7}{link['window_failures']:>7}"
                     f"{link['fidelity_model']:>9.4f}"
                     f"{link['physical_bound_pairs_per_s']:>11.1f}")
    if any(link["mode"] == "exact" for link in report["links"]):
        lines.append("* exact mode: every attempt's photons are emulated (sampled mode skips the failed attempts)")
    lines += workload_table(report)
    lines += circuit_table(report)
    lines.append("")
    auth = "auth dropped" if report.get("authentication") else "(not authenticated)"
    lines.append(f"{'node':<12}{'address':<16}{'sent':>8}{'recv':>8}{'lost':>6}{'malformed':>10}  {auth}")
    for name, n in report["nodes"].items():
        if n.get("dead"):
            lines.append(f"{name:<12}{n['ip']:<16}  died during the run: no counts (its records are missing)")
            continue
        dropped = ", ".join(f"{count} {key}" for key, count in [*n["auth_dropped"].items(),
                                                                 ("wrong_sender", n["wrong_sender"])] if count)
        lines.append(f"{name:<12}{n['ip']:<16}{n['sent']:>8}{n['received']:>8}{n['lost']:>6}{n['malformed']:>10}"
                     f"  {dropped or ('0' if report.get('authentication') else '')}".rstrip())
    if report.get("sync"):
        lines.append("")
        lines.append(f"{'clock':<12}{'ptp':<13}{'state':<11}{'converged ms':>13}{'rms ps':>10}   (reference: "
                     f"{report['sync']['reference'] or 'true time'})")
        for name, n in report["sync"]["nodes"].items():
            converged = "never" if n["converged_at_ns"] is None else f"{n['converged_at_ns'] / 1e6:.1f}"
            rms_ns = n["rms_offset_after_convergence_ns"]
            rms = "" if rms_ns is None else f"{rms_ns * 1e3:.1f}"
            lines.append(f"{name:<12}{n['role']:<13}{n['ptp_state'] or '-':<11}{converged:>13}{rms:>10}")
    ledger = report["medium"]
    lines.append("")
    lines.append(f"qubits: {ledger['created']} created, {ledger['measured']} measured, "
                 f"{ledger['discarded']} discarded, {ledger['discarded_at_end']} discarded at end"
                 + (f"; {ledger['rejected_commands']} hardware commands refused (no such qubit or link)"
                    if ledger.get("rejected_commands") else ""))
    if pcap:
        lines.append(f"capture: {pcap} ({report['capture_frames']} frames); open with {wireshark_hint(pcap)}")
    return "\n".join(lines)


def workload_table(report: dict[str, Any]) -> list[str]:
    """The summary's workload table (no lines, not even its header, for a scenario without ``[[workload]]``:
    one of applications only)."""
    if not report["workload"]:
        return []
    lines = ["", f"{'workload':<22}{'pairs':>11}{'pairs/s':>9} 1st OK ms{'goodness':>10}{'F model':>9}"
             f"{'F meas.':>15}  disagreement"]
    for w in report["workload"]:
        name = f"{w['node']}->{w['remote']} {w['type']}"
        fid = ("" if w["fidelity_measured"] is None
               else f"{w['fidelity_measured']:.3f}±{w['fidelity_stderr']:.3f}")
        dis = " ".join(f"{b}:{v['rate']:.4f}" for b, v in (w["disagreement"] or {}).items())
        first = "" if w["create_to_first_ok_ns"] is None else f"{w['create_to_first_ok_ns'] / 1e6:.3f}"
        rate = "" if w["pairs_per_s"] is None else f"{w['pairs_per_s']:.1f}"
        good = "" if w["goodness_mean"] is None else f"{w['goodness_mean']:.4f}"
        model = "" if w.get("fidelity_model_measured") is None else f"{w['fidelity_model_measured']:.4f}"
        errors = f"  ERR {','.join(w['errors'])}" if w["errors"] else ""
        if w["pairs_disagreeing"]:
            errors += f"  {w['pairs_disagreeing']} PAIRS DELIVERED AT ONE END ONLY"
        errors += withdrawn_flag(w) + dead_flag(w.get("dead_ends"))
        delivered = "-" if w["pairs_delivered"] is None else w["pairs_delivered"]
        lines.append(f"{name:<22}{delivered:>5}/{w['pairs_requested']:<5}{rate:>9} {first:>9}"
                     f"{good:>10}{model:>9}{fid:>15}  {dis}{errors}")
    return lines

