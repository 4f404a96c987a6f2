"""How a multi-process run ends: exit statuses, the verdict on a finished run, and what is printed.

``qnet up``, ``qnet medium`` and ``qnet node`` share these exit statuses (README, "Every node its
own process"; ``docs/architecture.md``; :data:`EXIT_STATUS_HELP` for ``--help``):

==  =========================================================================================
0   the run finished and every process kept up with real time
1   the run finished, but an application or the circuit failed (a layer's ERR, a lost qubit, a refused
    command: ``report.json``'s ``applications[i].error`` or ``circuit.error``, printed as one line), or the
    medium's qubit ledger did not balance (a qubit in memory that no layer holds: ``multi_process.accounting_error``,
    printed as one line), or a pair was delivered at one end only in a run that was on time and settled
    (``workload[].pairs_disagreeing``: a protocol bug, one line)
2   bad input: options, scenario, node name, ports or run directory (nothing was started)
3   the run did not finish: nodes never connected, a node failed to start, the medium died
    or refused the node; the logs say why
4   the run finished, but a node process died or failed during it (``report.json``:
    ``multi_process.dead_nodes``; the warning names it)
5   the run finished, but its results may not be trustworthy: processes missed deadlines or had late
    inputs (timing-dependent results may differ: lower ``--dilation``), or the run ended before every node
    had settled (``multi_process.unsettled_nodes``: its last exchanges were cut off, so pairs may be
    delivered at one end only) or with commands not run (``multi_process.commands_not_run``)
128+N   stopped by signal N (130 for Ctrl-C, 143 for SIGTERM)
==  =========================================================================================

A node process exits 0 once it has sent its result: the verdict on the run (4, 5) is the
medium's and the launcher's, which see every process.
"""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack import report as reporting
from stack.api.dqc_run import circuit_table
from stack.api.scenario_apps import application_table
from stack.core.capture import merge_pcaps, read_pcap
from stack.multiprocess.node_apps import api_failure

EXIT_STATUS_HELP = """\
exit status (of 'qnet up' and 'qnet medium'):
  0      the run finished and every process kept up with real time
  1      the run finished, but an application or the circuit failed, or the
         medium's qubit ledger did not balance, or a pair was delivered at
         one end only in a run on time and settled (a bug); one line says which
  2      bad input (options, scenario, ports, run directory): nothing started
  3      the run did not finish (logs in RUN_DIR)
  4      the run finished, but a node process died or failed during it
  5      the run finished, but its results may not be trustworthy: processes
         missed deadlines or had late inputs (lower --dilation), or the run
         ended before every node had settled, or with commands not run
         (report.json: multi_process); a WARNING line says which
  128+N  stopped by signal N (130 for Ctrl-C)
"""
"""The exit statuses above, as ``qnet up --help`` and ``qnet medium --help`` show them."""

EXIT_OK = 0
EXIT_APP_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_FINISHED = 3
EXIT_NODE_DIED = 4
EXIT_LATE = 5


def verdict(document: dict[str, Any], failed: dict[str, int]) -> int:
    """The exit status of a finished run: a dead or failed node outranks a failed application or a ledger that
    does not balance (a bug), which outranks results that may not be trustworthy (lateness, an end before every
    node settled, commands not run); a pair delivered at one end only in a run none of these explains is a bug."""
    mp = document["multi_process"]
    if mp["dead_nodes"] or failed:
        return EXIT_NODE_DIED
    if mp.get("accounting_error") or api_failure(document):
        return EXIT_APP_FAILED
    if mp["missed_deadlines"] or mp["late_inputs"] or mp.get("unsettled_nodes") or mp.get("commands_not_run"):
        return EXIT_LATE
    if one_end_only(document):          # every node on time and settled: nothing but a bug explains it
        return EXIT_APP_FAILED
    return EXIT_OK


def one_end_only(document: dict[str, Any]) -> int:
    """Pairs delivered at one end only, over the run's workload entries (``pairs_disagreeing``). An entry one of
    whose ends' node process died has it null (that end's records are missing): unknown, not a broken promise."""
    return sum(w["pairs_disagreeing"] or 0 for w in document.get("workload", ()))


def describe_status(code: int) -> str:
    """A process's exit status in words: ``status 3`` or ``killed by SIGKILL``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"status {code}"


def realtime_lines(document: dict[str, Any], failed: dict[str, int]) -> str:
    """The multi-process figures of a finished run, with a WARNING line for each reason to doubt it."""
    mp = document["multi_process"]
    lines = [f"multi-process: dilation {mp['dilation']}, {len(mp['nodes'])} node processes reported, "
             f"missed deadlines {mp['missed_deadlines']}, late inputs {mp['late_inputs']}"]
    if mp["missed_deadlines"] or mp["late_inputs"]:
        lines.append(f"WARNING: {mp['missed_deadlines']} missed deadlines and {mp['late_inputs']} late inputs: "
                     "the processes did not keep up with real time at this dilation, so timing-dependent "
                     "results are not trustworthy; lower --dilation")
    if mp.get("unsettled_nodes"):
        lines.append(f"WARNING: the run ended before these nodes' link and network layers had settled: "
                     f"{', '.join(mp['unsettled_nodes'])} (not within their settling bound, silent, or not "
                     "answering the medium's ask; their last "
                     "exchanges were cut off, so pairs may be delivered at one end only)")
    if mp.get("commands_not_run"):
        lines.append(f"WARNING: {mp['commands_not_run']} hardware command(s) a node sent were never run by the "
                     "medium (stamped too far ahead of its time): the medium's state misses them")
    if mp["dead_nodes"]:
        lines.append(f"WARNING: node processes died during the run: {', '.join(mp['dead_nodes'])} "
                     "(their links failed; their results are missing from the report)")
    if failed:
        lines.append("WARNING: node processes exited with errors: "
                     + ", ".join(f"{name} ({describe_status(code)})" for name, code in failed.items()))
    return "\n".join(lines)


def merge_captures(run_dir: Path, output: Path, names: list[str]) -> tuple[int, list[str]]:
    """Merge the captures of the run's processes (``RUN_DIR/NAME.pcap`` for each of ``names``) into
    ``output``.

    Returns the frame count and the captures left out: missing, empty or unreadable ones (a
    process killed before it wrote its capture's header leaves such a file).
    """
    sources, skipped = [], []
    for name in names:
        path = run_dir / f"{name}.pcap"
        try:
            data = path.read_bytes()
            read_pcap(data)
        except (OSError, ValueError):
            skipped.append(path.name)
            continue
        sources.append(data)
    with output.open("wb") as stream:
        return merge_pcaps(sources, stream), skipped


@dataclass(slots=True)
class Outputs:
    """Where a finished run's results go."""

    pcap: Path | None
    """The merged capture (None: do not merge)."""
    json: str | None = None
    """A copy of the report ('-': standard output)."""
    quiet: bool = False


def conclude(document: dict[str, Any], run_dir: Path, captures: list[str], outputs: Outputs,
             failed: dict[str, int], who: str = "qnet") -> int:
    """Merge the captures, write and print the report of a finished run; its exit status."""
    if outputs.pcap is not None:
        try:
            document["capture_frames"], skipped = merge_captures(run_dir, outputs.pcap, captures)
        except OSError as error:
            print(f"{who}: cannot write {outputs.pcap}: {error.strerror}", file=sys.stderr)
            outputs.pcap = None
        else:
            if skipped:
                print(f"{who}: captures left out of {outputs.pcap} (missing, empty or unreadable): "
                      f"{', '.join(skipped)}", file=sys.stderr)
    if outputs.json == "-":
        sys.stdout.write(reporting.to_json(document))
    elif outputs.json:
        try:
            Path(outputs.json).write_text(reporting.to_json(document))
        except OSError as error:
            print(f"{who}: cannot write {outputs.json}: {error.strerror}", file=sys.stderr)
    out = sys.stderr if outputs.json == "-" else sys.stdout
    if not outputs.quiet:
        wall = document["multi_process"]["wall_seconds"]
        print(reporting.summary(document, wall, str(outputs.pcap) if outputs.pcap else None), file=out)
        if document.get("applications"):
            print("\n".join(application_table(document["applications"])), file=out)
        if "circuit" in document:
            print("\n".join(circuit_table(document["circuit"])), file=out)
    lines = realtime_lines(document, failed)
    if not outputs.quiet or "WARNING" in lines:          # warnings are printed even with --quiet
        print(lines, file=out if not outputs.quiet else sys.stderr)
    failure = api_failure(document)
    if failure:
        print(f"{who}: error: {failure}", file=sys.stderr)
    ledger = document["multi_process"].get("accounting_error")
    if ledger:
        print(f"{who}: error: the qubit ledger does not balance: {ledger.partition(': ')[0]} (details: "
              "report.json, multi_process.accounting_error)", file=sys.stderr)
    status = verdict(document, failed)
    if status == EXIT_APP_FAILED and one_end_only(document) and not failure and not ledger:
        print(f"{who}: error: {one_end_only(document)} pair(s) delivered at one end only with every node on time "
              "and settled (the link layer promises none within the bound of docs/architecture.md, Known limits: "
              "report.json, workload[].pairs_disagreeing)", file=sys.stderr)
    return status
