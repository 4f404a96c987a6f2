"""The report of a ``qnet up`` run, made by the medium process once the nodes sent their results: the report
``qnet run`` makes (:func:`stack.report.build_report`) from the medium's state with every node's counters and
records merged in (:mod:`stack.multiprocess.results`), the applications' sections, the final qubit ledger, and
the ``multi_process`` section (how the processes and their clocks fared).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from stack import report as reporting
from stack.multiprocess.gate import Gate
from stack.multiprocess.medium_ports import MediumKernel
from stack.multiprocess.medium_settle import Settling
from stack.multiprocess.node_apps import ApiPlan, report_sections
from stack.multiprocess.results import apply_results
from stack.quantum.accounting import AccountingError
from stack.quantum.medium import Medium
from stack.runtime import Emulation, RunResult


class ServedRun(Protocol):
    """What the report reads of the medium's server (:class:`stack.multiprocess.medium_server.MediumServer`)."""

    emu: Emulation
    kernel: MediumKernel
    plan: ApiPlan | None
    api_failures: list[str]
    generation_end: int
    protocol_errors: int
    rejected_messages: int
    gate: Gate
    accounting_error: str | None
    settling: Settling
    pending_commands: int


def final_report(served: ServedRun, results: dict[str, dict[str, Any]], dead: list[str], started: float
                 ) -> dict[str, Any]:
    """The run's report from the nodes' ``results`` (by node; ``dead``: the nodes that sent none, whose qubits
    are lost; ``started``: ``time.perf_counter()`` when the run began). Sets ``served.accounting_error`` if the
    ledger did not balance."""
    emu, kernel = served.emu, served.kernel
    lost = apply_results(emu, results, dead)
    ledger, served.accounting_error = final_ledger(
        emu.medium, {int(k): set(v) for r in results.values() for k, v in r["held"].items()} | lost)
    result = RunResult(emu, ledger, time.perf_counter() - started, served.generation_end)
    document = reporting.build_report(result, None, frozenset(dead))
    apply_results(emu, results, dead, document)
    if served.plan is not None:
        document |= report_sections(served.plan, result, {name: r.get("api") for name, r in results.items()},
                                    served.api_failures)
    document["multi_process"] = {
        "dilation": kernel.dilation, "dead_nodes": dead, "protocol_errors": served.protocol_errors,
        "refused_connections": dict(sorted(served.gate.refused.items())),
        "rejected_messages": served.rejected_messages,
        "wall_seconds": result.wall_seconds,
        "medium": kernel.stats(),
        "nodes": {name: r["kernel"] | r["udp"] for name, r in results.items()},
        "missed_deadlines": kernel.missed_deadlines + sum(r["kernel"]["missed_deadlines"] for r in results.values()),
        "late_inputs": kernel.late_inputs + sum(r["kernel"]["late_inputs"] for r in results.values()),
        "accounting_error": served.accounting_error,
        "unsettled_nodes": served.settling.unsettled,
        "commands_not_run": served.pending_commands,
    }
    return document


def final_ledger(medium: Medium, claimed: dict[int, set[int]]) -> tuple[dict[str, int], str | None]:
    """The final qubit ledger (:meth:`stack.quantum.medium.Medium.finish`) and why it did not balance (None: it
    did). A violated invariant does not stop the report: what no layer claims is then discarded at the end."""
    try:
        return medium.finish(claimed), None
    except AccountingError as error:
        problem = str(error)
    try:
        return medium.finish({node_id: set(node.held) for node_id, node in medium.nodes.items()}), problem
    except AccountingError:             # created and ended qubits differ: the ledger as it stands
        return dict(medium.ledger), problem
