"""The multi-process commands of ``qnet``: ``up``, ``node`` and ``medium``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stack import report as reporting
from stack.multiprocess.launcher import UpOptions, merge_captures, prepare, up
from stack.multiprocess.medium import process_nodes as nodes_of
from stack.scenario import Scenario


def dispatch(args: argparse.Namespace, path: Path, scenario: Scenario) -> int:
    seed = scenario.run.seed if args.seed is None else args.seed       # options were checked by stack.cli
    run_dir = Path(args.run_dir or f"out/up-{path.stem}")
    if args.base_port is None:
        args.base_port = scenario.run.base_port
    if args.command != "up":
        return _child(args, scenario, seed, run_dir)
    options = UpOptions(path, seed, args.dilation, args.base_port, run_dir, args.tolerance_us, not args.quiet)
    problem = prepare(scenario, options)
    if problem is not None:
        print(f"qnet: error: {problem}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"qnet: {len(nodes_of(scenario))} node processes and the medium; UDP ports from {options.base_port} "
              f"on 127.0.0.1 ({run_dir}/ports.json); dilation {options.dilation}", file=sys.stderr)
    status, nodes = up(scenario, options)
    failed = {name: code for name, code in nodes.items() if code not in (0, None)}
    if status != 0:
        print(f"qnet: the run did not finish (medium exit status {status}); logs in {run_dir}/", file=sys.stderr)
        return status if status > 0 else 1
    document = json.loads((run_dir / "report.json").read_text())
    pcap = None
    if not args.no_pcap:
        pcap = Path(args.pcap or run_dir / "merged.pcap")
        document["capture_frames"], skipped = merge_captures(run_dir, pcap)
        if skipped:
            print(f"qnet: captures left out of {pcap} (empty or unreadable): {', '.join(skipped)}", file=sys.stderr)
    if args.json == "-":
        sys.stdout.write(reporting.to_json(document))
    elif args.json:
        Path(args.json).write_text(reporting.to_json(document))
    out = sys.stderr if args.json == "-" else sys.stdout
    if not args.quiet:
        wall = document["multi_process"]["wall_seconds"]
        print(reporting.summary(document, wall, str(pcap) if pcap else None), file=out)
    lines = _realtime_lines(document, failed)
    if not args.quiet or "WARNING" in lines:          # warnings are printed even with --quiet
        print(lines, file=out if not args.quiet else sys.stderr)
    return 0


def _realtime_lines(document: dict, failed: dict[str, int]) -> str:
    mp = document["multi_process"]
    lines = [f"multi-process: dilation {mp['dilation']}, {len(mp['nodes'])} node processes, "
             f"missed deadlines {mp['missed_deadlines']}, late inputs {mp['late_inputs']}"]
    if mp["missed_deadlines"] or mp["late_inputs"]:
        lines.append(f"WARNING: {mp['missed_deadlines']} missed deadlines and {mp['late_inputs']} late inputs: "
                     "the processes did not keep up with real time at this dilation, so timing-dependent "
                     "results are not trustworthy; lower --dilation")
    if mp["dead_nodes"]:
        lines.append(f"WARNING: node processes died during the run: {', '.join(mp['dead_nodes'])}")
    if failed:
        lines.append("WARNING: node processes exited with errors: "
                     + ", ".join(f"{name} ({code})" for name, code in failed.items()))
    return "\n".join(lines)


def _child(args: argparse.Namespace, scenario: Scenario, seed: int, run_dir: Path) -> int:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)       # started by hand, the first process makes it
    except OSError as error:
        print(f"qnet: error: cannot use run directory {run_dir}: {error.strerror}", file=sys.stderr)
        return 2
    if args.command == "node":
        from stack.multiprocess.node import run_node

        return run_node(scenario, args.name, seed, run_dir, args.base_port)
    from stack.multiprocess.medium import run_medium

    return run_medium(scenario, seed, run_dir, args.dilation, int(args.tolerance_us * 1e3))
