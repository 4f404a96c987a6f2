"""``qnet up``: run a scenario as one medium process plus one process per node, on localhost.

The launcher binds every UDP port of the run (each node process's block, :mod:`stack.multiprocess.held`) and
keeps them bound, so no other process can take one before the nodes use them; it hands each node process its
sockets as it starts it. It writes the port map to ``RUN_DIR/ports.json``, starts ``qnet medium`` and a
``qnet node NAME`` per node (the same commands a user can type to run or replace one
node by hand; forked from the launcher when the CLI gives its entry point,
:mod:`stack.multiprocess.forked`), waits for the run to end, merges every process's capture into one pcap,
and prints the report; its exit status says how the run went (:mod:`stack.multiprocess.outcome`).
Ctrl-C or SIGTERM stops every process (SIGTERM, then SIGKILL after
a grace period); children also get SIGTERM if the launcher itself dies (Linux
``PR_SET_PDEATHSIG``), so no process is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from stack.multiprocess.forked import Child, Entry, die_with_parent, fork_command
from stack.multiprocess.held import HELD_ENV, Held, PortsBusy, bind_blocks, close_all, describe
from stack.multiprocess.interruptions import Interrupted, Interruptions
from stack.multiprocess.medium import process_nodes
from stack.multiprocess.medium_protocol import private_problem
from stack.multiprocess.outcome import EXIT_NOT_FINISHED, describe_status
from stack.multiprocess.udp import PortMap, PortMapError
from stack.scenario import Scenario

GRACE_S = 5.0
PROGRESS_S = 10.0


@dataclass(slots=True)
class UpOptions:
    scenario_path: Path
    seed: int
    dilation: float
    base_port: int
    run_dir: Path
    tolerance_us: float
    progress: bool = True
    entry: Entry | None = None
    """The CLI's entry point: children are forked from this process and run it (None: fresh interpreters)."""
    held: dict[str, Held] = field(default_factory=dict)
    """Each node process's bound sockets (:func:`prepare` binds them), until :func:`start` hands them over."""
    stopped_by: int | None = None
    """The signal (SIGINT, SIGTERM) that made :func:`up` stop the run, if one did."""



def check_ports(scenario: Scenario, ports: PortMap, names: list[str]) -> str | None:
    """The first real port of the run that is out of range or already in use, as an error message.

    Every port is free when this returns None, but only for that moment (the launcher keeps them bound:
    :func:`hold_ports`)."""
    try:
        close_all(hold_ports(scenario, ports, names).values())
    except (PortsBusy, PortMapError) as error:
        return str(error)
    return None


def hold_ports(scenario: Scenario, ports: PortMap, names: list[str]) -> dict[str, Held]:
    """Every real port of the named nodes' blocks, bound and kept (:func:`stack.multiprocess.held.bind_blocks`)."""
    return bind_blocks({name: scenario.nodes[name].node_id for name in names}, ports)


def _spawn(args: list[str], log: Path, started: list[Child], entry: Entry | None = None,
           keep: Held | None = None, drop: list[Held] | None = None) -> Child:
    """Start ``qnet ARGS``, handing it the bound sockets ``keep`` (and none of ``drop``, other processes');
    the process goes into ``started`` before a SIGINT or SIGTERM that arrived meanwhile is handled."""
    if entry is not None:
        return fork_command(entry, args, log, keep, drop or [], started)
    return popen_holding([sys.executable, "-m", "stack.cli", *args], log, keep or {}, started)


def popen_holding(command: list[str], log: Path, keep: Held, started: list[Child] | None = None
                  ) -> subprocess.Popen[bytes]:
    """Start ``command`` (a fresh interpreter), its output in ``log``, handing it the bound sockets ``keep``
    (inherited descriptors named in :data:`stack.multiprocess.held.HELD_ENV`; no other descriptor is).

    SIGINT and SIGTERM stay blocked here until the process is in ``started`` (as in
    :func:`stack.multiprocess.forked.fork_command`); the child unblocks them before it runs ``command``."""
    environment = {name: value for name, value in os.environ.items() if name != HELD_ENV}
    if keep:
        environment[HELD_ENV] = describe({port: sock.fileno() for port, sock in keep.items()})
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})

    def in_child() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):     # a signal held back meanwhile set them to SIG_IGN here,
            signal.signal(sig, signal.SIG_DFL)          # which an exec'd interpreter would inherit
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        die_with_parent()

    try:
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=in_child,
                                       pass_fds=[sock.fileno() for sock in keep.values()], env=environment)
        if started is not None:
            started.append(process)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return process


def start(scenario: Scenario, options: UpOptions, started: list[Child] | None = None,
          interruptions: Interruptions | None = None) -> tuple[Child, dict[str, Child]]:
    """Start the medium and every node process (forked from this one when ``options.entry`` is set), each node
    with its sockets from ``options.held`` (this process closes its copies once the node has them); each process
    also goes into ``started`` as soon as it runs (what to stop if the start is interrupted: ``interruptions``
    holds a signal back while one process starts)."""
    run_dir, held = options.run_dir, options.held
    started = [] if started is None else started
    one_at_a_time = (interruptions or Interruptions()).starting
    common = [str(options.scenario_path), "--seed", str(options.seed), "--run-dir", str(run_dir),
              "--base-port", str(options.base_port)]
    with one_at_a_time():
        medium = _spawn(["medium", *common, "--dilation", repr(options.dilation), "--tolerance-us",
                         repr(options.tolerance_us), "--no-pcap"], run_dir / "medium.log", started, options.entry,
                        drop=list(held.values()))  # we merge
    nodes = {}
    for name in process_nodes(scenario):
        keep = held.pop(name, {})
        try:
            with one_at_a_time():
                nodes[name] = _spawn(["node", name, *common], run_dir / f"{name}.log", started, options.entry,
                                     keep, list(held.values()))
        finally:
            close_all([keep])
    pids = {"launcher": os.getpid(), "medium": medium.pid} | {name: p.pid for name, p in nodes.items()}
    partial = run_dir / "pids.json.part"
    partial.write_text(json.dumps(pids, indent=2) + "\n")
    partial.replace(run_dir / "pids.json")
    return medium, nodes


def stop_all(processes: list[Child]) -> None:
    """SIGTERM every live process, then SIGKILL what is left after the grace period."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def allocate_base(scenario: Scenario, names: list[str], first: int = 20000) -> tuple[int, dict[str, Held]]:
    """The first base port (from ``first``, in steps of 1000) whose whole port map could be bound, and its
    sockets, kept bound. :class:`PortsBusy` if no block up to 64000 is free."""
    for base in range(first, 64000, 1000):
        with contextlib.suppress(PortsBusy, PortMapError):
            return base, hold_ports(scenario, PortMap(base), names)
    raise PortsBusy(f"no free block of UDP ports on 127.0.0.1 from {first} to 64000 (every one has a port in use); "
                    "try --base-port")


RUN_STATE_FILES = ("ports.json", "secret", "medium.sock", "medium.pid")
"""Files of a run directory the run needs while it runs (its port map, the secret its keys come from, the medium's
socket and pid): no output may name them (review: ``--pcap RUN_DIR/secret`` overwrote the secret)."""


def run_files(names: list[str]) -> list[str]:
    """The files a ``qnet up`` run writes in its run directory (besides ``ports.json``, which it writes at once):
    what :func:`prepare` removes from an earlier run, and nothing else (a user's own files stay)."""
    fixed = ["medium.pcap", "medium.log", "merged.pcap", "report.json", "pids.json", "started.json", "progress.json"]
    return fixed + [f"{name}{suffix}" for name in names for suffix in (".pcap", ".log")]


def prepare(scenario: Scenario, options: UpOptions) -> str | None:
    """Bind the run's ports (kept in ``options.held``), then create the run directory, remove what an earlier
    run left there (:func:`run_files`) and write its ``ports.json``; an error message, with nothing created or
    removed, if the ports are unusable.

    A base port of 0 means: allocate one (:func:`allocate_base`); ``options.base_port`` is set to it.
    An :class:`OSError` from the run directory leaves no port bound.
    """
    names = process_nodes(scenario)
    close_all(options.held.values())
    try:
        if options.base_port == 0:
            options.base_port, options.held = allocate_base(scenario, names)
        else:
            options.held = hold_ports(scenario, PortMap(options.base_port), names)
    except (PortsBusy, PortMapError) as error:
        return str(error)
    try:
        options.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        problem = private_problem(options.run_dir)  # made by someone else since the input checks
        if problem is not None:
            close_all(options.held.values())
            options.held = {}
            return f"run directory {problem}"
        for stale in run_files(names):
            (options.run_dir / stale).unlink(missing_ok=True)
        table = PortMap(options.base_port).table({name: scenario.nodes[name].node_id for name in names})
        (options.run_dir / "ports.json").write_text(json.dumps({"base_port": options.base_port, "nodes": table},
                                                               indent=2) + "\n")
    except OSError:
        close_all(options.held.values())
        options.held = {}
        raise
    return None


def up(scenario: Scenario, options: UpOptions) -> tuple[int, dict[str, int | None]]:
    """Run every process to the end; returns the medium's exit status (or, if the launcher stopped the
    run, :data:`EXIT_NOT_FINISHED` or 128 + the signal) and every node's."""
    interruptions = Interruptions()             # a second signal must not interrupt the clean-up
    interruptions.install()
    everything: list[Child] = []
    nodes: dict[str, Child] = {}
    try:
        medium, nodes = start(scenario, options, everything, interruptions)   # a signal while starting: stop those
        status = _wait_for_medium(medium, nodes, options.run_dir, options.progress)
        deadline = time.monotonic() + GRACE_S
        for process in nodes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
    except Interrupted as signalled:
        options.stopped_by = signalled.signum
        stop_all(everything)
        return 128 + signalled.signum, {name: p.returncode for name, p in nodes.items()}
    finally:
        interruptions.restore()
    stop_all(everything)
    return status, {name: p.returncode for name, p in nodes.items()}


def _wait_for_medium(medium: Child, nodes: dict[str, Child],
                     run_dir: Path, progress: bool = False) -> int:
    """The medium's exit status; if a node process fails before the run starts, stop at once (the
    medium would wait for it until its start-up timeout)."""
    shown = time.monotonic()
    while (status := medium.poll()) is None:
        if progress and time.monotonic() - shown >= PROGRESS_S:
            shown = time.monotonic()
            show_progress(run_dir)
        if not (run_dir / "started.json").exists():
            failed = {name: p.returncode for name, p in nodes.items() if p.poll() not in (None, 0)}
            if failed:
                print("qnet: node processes failed to start: " + ", ".join(
                    f"{name} ({describe_status(code)}, see {run_dir / (name + '.log')})"
                    for name, code in failed.items()), file=sys.stderr)
                stop_all([medium, *nodes.values()])
                return EXIT_NOT_FINISHED
        time.sleep(0.1)
    return status


def show_progress(run_dir: Path) -> None:
    """One line on stderr from the medium's ``progress.json``: long runs show they are moving."""
    try:
        progress = json.loads((run_dir / "progress.json").read_text())
    except (OSError, ValueError):
        return
    late = progress["missed_deadlines"]
    print(f"qnet: emulated {progress['emulated_ns'] / 1e6:.1f} of at most {progress['duration_ns'] / 1e6:.0f} ms, "
          f"{progress['pairs']} pairs heralded{', draining' if progress['draining'] else ''}"
          f"{f', {late} missed deadlines in the medium' if late else ''}", file=sys.stderr)
