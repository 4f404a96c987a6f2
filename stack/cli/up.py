"""The multi-process commands of ``qnet``: ``up``, ``node`` and ``medium``.

Every input is checked before anything is created or started; exit statuses are those of
:mod:`stack.multiprocess.outcome`.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import socket
import sys
from pathlib import Path

from protocols.common import HERALD_PORT
from stack.multiprocess import outcome
from stack.multiprocess.forked import Entry
from stack.multiprocess.launcher import RUN_STATE_FILES, UpOptions, prepare, run_files, up
from stack.multiprocess.medium import process_nodes as nodes_of
from stack.multiprocess.medium_protocol import private_problem
from stack.multiprocess.udp import PortMap, PortMapError
from stack.scenario import Scenario
from stack.scenario.files import input_files, same_file


def dispatch(args: argparse.Namespace, path: Path, scenario: Scenario, entry: Entry | None = None) -> int:
    """Run ``up``, ``node`` or ``medium``; ``up`` forks its processes from this one, each running ``entry``
    (the CLI's ``main``) on its own command line."""
    seed = scenario.run.seed if args.seed is None else args.seed       # options were checked by stack.cli
    run_dir = Path(args.run_dir or f"out/up-{path.stem}")
    if args.base_port is None:
        args.base_port = scenario.run.base_port
    problem = check_inputs(args, path, scenario, seed, run_dir)
    if problem is not None:
        print(f"qnet: error: {problem}", file=sys.stderr)
        return outcome.EXIT_BAD_INPUT
    if args.command != "up":
        return _child(args, scenario, seed, run_dir)
    options = UpOptions(path, seed, args.dilation, args.base_port, run_dir, args.tolerance_us, not args.quiet, entry)
    try:
        problem = prepare(scenario, options)
    except OSError as error:
        problem = f"cannot use run directory {run_dir}: {error.strerror}"
    if problem is not None:
        print(f"qnet: error: {problem}", file=sys.stderr)
        return outcome.EXIT_BAD_INPUT
    if not args.quiet:
        print(f"qnet: {len(nodes_of(scenario))} node processes and the medium; UDP ports from {options.base_port} "
              f"on 127.0.0.1 ({run_dir}/ports.json); dilation {options.dilation}", file=sys.stderr)
    status, nodes = up(scenario, options)
    if options.stopped_by is not None:          # Ctrl-C or SIGTERM: as qnet run says it, then where the logs are
        signum = options.stopped_by
        what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        print(f"qnet: error: {what}: every process stopped; logs in {run_dir}/", file=sys.stderr)
        return 128 + options.stopped_by
    report = run_dir / "report.json"
    if status not in (outcome.EXIT_OK, outcome.EXIT_APP_FAILED, outcome.EXIT_NODE_DIED, outcome.EXIT_LATE) \
            or not report.exists():
        print(f"qnet: the run did not finish (medium {outcome.describe_status(status)}); logs in {run_dir}/",
              file=sys.stderr)
        return status if status >= 128 else outcome.EXIT_NOT_FINISHED
    failed = {name: code for name, code in nodes.items() if code not in (0, None)}
    outputs = outcome.Outputs(_merged(args, run_dir), args.json, args.quiet)
    return outcome.conclude(json.loads(report.read_text()), run_dir, ["medium", *nodes_of(scenario)], outputs, failed)


def _merged(args: argparse.Namespace, run_dir: Path) -> Path | None:
    """Where the merged capture goes (None: --no-pcap)."""
    return None if args.no_pcap else Path(args.pcap or run_dir / "merged.pcap")


def check_inputs(args: argparse.Namespace, path: Path, scenario: Scenario, seed: int, run_dir: Path) -> str | None:
    """The first problem with the options of ``up``, ``node`` or ``medium``, as a one-line message."""
    if seed < 0:
        return f"--seed must be a non-negative integer, got {seed}"
    dilation = getattr(args, "dilation", None)
    if dilation is not None and not (math.isfinite(dilation) and dilation > 0):
        return f"--dilation must be a positive number (emulated ns per wall ns), got {dilation}"
    tolerance = getattr(args, "tolerance_us", None)
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance >= 0):
        return f"--tolerance-us must be a non-negative number, got {tolerance}"
    lowest = 0 if args.command == "up" else 1
    if not lowest <= args.base_port <= 65535:
        return (f"--base-port must be between {lowest} and 65535"
                f"{' (0: the first free block)' if lowest == 0 else ''}, got {args.base_port}")
    if run_dir.exists() and not run_dir.is_dir():
        return f"run directory {run_dir} exists and is not a directory"
    if run_dir.is_dir() and (problem := private_problem(run_dir)) is not None:
        return f"run directory {problem}"
    if (problem := _input_in_run_dir(run_dir, scenario)) is not None:
        return problem
    for option in ("json", "pcap"):
        output = getattr(args, option, None)
        if output and output != "-" and not Path(output).parent.is_dir():
            return f"--{option} {output}: directory {Path(output).parent} does not exist"
        if output and output != "-" and _run_file(Path(output), run_dir, scenario) not in (None, _default(option)):
            return f"--{option} {output} is a file the run writes in its run directory {run_dir}: name another"
    if args.command == "node":
        return _check_node(args.name, path, scenario, args.base_port)
    if args.command == "medium" and _medium_serving(run_dir / "medium.sock"):
        return f"a medium is already serving {run_dir} (its medium.sock accepts connections)"
    return None


def _input_in_run_dir(run_dir: Path, scenario: Scenario) -> str | None:
    """A file the run writes (or removes, left by an earlier run) in ``run_dir`` that is one of its inputs."""
    inputs = input_files(scenario)
    written = (*run_files(nodes_of(scenario)), *RUN_STATE_FILES)
    for name in (*written, *(name + ".part" for name in written)):    # each written whole, renamed into place
        for what, path in inputs.items():
            if same_file(run_dir / name, path):
                return f"run directory {run_dir}: the run writes {run_dir / name}, which is {what}: name another"
    return None


def _default(option: str) -> str | None:
    """The run-directory file an output option writes by default (naming it is the same as the default)."""
    return "merged.pcap" if option == "pcap" else None


def _run_file(output: Path, run_dir: Path, scenario: Scenario) -> str | None:
    """The name of the file of the run directory (:func:`stack.multiprocess.launcher.run_files`) ``output`` is,
    if it is one."""
    if output.resolve().parent != run_dir.resolve() or output.name not in (*run_files(nodes_of(scenario)),
                                                                           *RUN_STATE_FILES):
        return None
    return output.name


def _check_node(name: str, path: Path, scenario: Scenario, base_port: int) -> str | None:
    names = nodes_of(scenario)
    if name not in names:
        what = (f"node {name!r} of {path} runs no process (only QPUs, stations and PTP clocks do)"
                if name in scenario.nodes else f"no node {name!r} in {path}")
        return f"{what}; nodes with a process: {', '.join(names)}"
    node_id, ports = scenario.nodes[name].node_id, PortMap(base_port)
    try:
        ports.real(node_id, HERALD_PORT)
        ports.sideband(node_id)
    except PortMapError as error:
        return f"--base-port {base_port}: {error}"
    return None


def _medium_serving(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(socket_path))
        except OSError:
            return False                # a stale socket file: the medium replaces it
    return True


def _child(args: argparse.Namespace, scenario: Scenario, seed: int, run_dir: Path) -> int:
    try:
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # started by hand, the first process makes it
        problem = private_problem(run_dir)          # made by someone else between the check and here
    except OSError as error:
        print(f"qnet: error: cannot use run directory {run_dir}: {error.strerror}", file=sys.stderr)
        return outcome.EXIT_BAD_INPUT
    if problem is not None:
        print(f"qnet: error: run directory {problem}", file=sys.stderr)
        return outcome.EXIT_BAD_INPUT
    if args.command == "node":
        from stack.multiprocess.node import run_node

        return run_node(scenario, args.name, seed, run_dir, args.base_port)
    from stack.multiprocess.medium import run_medium

    status = run_medium(scenario, seed, run_dir, args.dilation, int(args.tolerance_us * 1e3))
    if status != outcome.EXIT_OK:
        return status
    outputs = outcome.Outputs(_merged(args, run_dir), None, args.quiet)
    return outcome.conclude(json.loads((run_dir / "report.json").read_text()), run_dir,
                            ["medium", *nodes_of(scenario)], outputs, {}, "qnet medium")
