"""Helpers for tests that spawn ``qnet up`` and its processes (loopback only, bounded in time)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from stack.multiprocess.udp import PORTS_PER_NODE
from stack.scenario import Scenario

if TYPE_CHECKING:                      # imported when used: most callers spawn processes and need no server
    from stack.multiprocess.medium import MediumServer

ROOT = Path(__file__).resolve().parent.parent


def two_node_toml(*, pairs: int, length_km: float = 2.0, duration_ms: float = 2000.0, seed: int = 3,
                  max_time_ms: float = 0.0, qpu: str = "", link: str = "", measure: bool = True) -> str:
    """Two QPUs and a station: a keep request of ``pairs`` and, with ``measure``, a measure-directly one;
    ``qpu`` and ``link`` are lines added to both QPUs and to the link."""
    limit = f"max_time_ms = {max_time_ms}" if max_time_ms else ""
    measuring = f"""
[[workload]]
node = "alice"
remote = "bob"
type = "measure"
pairs = {pairs}
start_us = 10
{limit}
""" if measure else ""
    return f"""
[run]
duration_ms = {duration_ms}
seed = {seed}

[nodes.alice]
kind = "qpu"
t2_ms = 1000.0
readout_ns = 1000
{qpu}
[nodes.bob]
kind = "qpu"
t2_ms = 1000.0
readout_ns = 1000
{qpu}
[nodes.mid]
kind = "station"
detection_window_ns = 1

[links.alice-bob]
a = "alice"
b = "bob"
station = "mid"
length_km = {length_km}
attempt_duration_ns = 1000
depolarizing = 0.05
{link}
[[workload]]
node = "alice"
remote = "bob"
type = "keep"
pairs = {pairs}
{limit}
{measuring}"""


@contextlib.contextmanager
def medium_server(tmp_path: Path, *, dilation: float, elapsed_s: float = 0.0) -> Iterator[MediumServer]:
    """A medium server of ``two_node_toml(pairs=1)`` (seed 3) driven in this process, for tests that hand it
    messages as its socket would: every node (alice, bob, mid) connected without a socket (what the medium sends a
    node stays in that node's ``Connection.inbox``), its epoch ``elapsed_s`` of wall time ago, its capture closed
    at the end."""
    from stack.multiprocess.medium import Connection, MediumServer
    from stack.scenario import load_text

    server = MediumServer(load_text(two_node_toml(pairs=1), "two.toml"), 3, tmp_path, dilation=dilation,
                          tolerance_ns=10_000)
    server.kernel.epoch_ns = time.time_ns() - int(elapsed_s * 1e9)
    for name in NODE_IDS:
        server.connections[name] = Connection(None, name)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server._pcap.close()


NODE_IDS = {"alice": 1, "bob": 2, "mid": 3}
"""The node ids of ``two_node_toml``'s nodes."""


def say(server: MediumServer, node: str, settled: bool, bound_ns: int | None = 1_000_000_000,
        answer: int | None = None) -> None:
    """Hand ``server`` a ``settled`` from ``node``, as its socket would (``answer``: the round it answers)."""
    message: dict[str, Any] = {"op": "settled", "at": server.kernel.now, "settled": settled}
    if bound_ns is not None:
        message["bound_ns"] = bound_ns
    if answer is not None:
        message["round"] = answer
    server._dispatch(server.connections[node], message)


async def settle_answering(server: MediumServer, taken: dict[str, list[dict[str, Any]]] | None = None,
                           mute: frozenset[str] = frozenset()) -> None:
    """``server``'s settling phase, with every live node but those in ``mute`` answering each round the medium asks
    with what it last said (a node that has said nothing does not answer), as a node would. What the medium
    sends a node is taken off its ``Connection.inbox`` and kept in ``taken`` (by node)."""
    from stack.multiprocess.medium_settle import settle

    kept: dict[str, list[dict[str, Any]]] = {} if taken is None else taken

    async def answer() -> None:
        while True:
            for name, connection in server.connections.items():
                while True:
                    try:
                        message = connection.inbox.receive_nowait()
                    except trio.WouldBlock:
                        break
                    kept.setdefault(name, []).append(message)
                    said = server.settling.states.get(name)
                    if message["op"] == "ask_settled" and said is not None and name not in mute \
                            and not connection.dead:
                        say(server, name, said, bound_ns=None, answer=message["round"])
            await trio.sleep(0.001)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer)
        await settle(server.kernel, server.settling, server._live, lambda: server.pending_commands,
                     server.broadcast)
        nursery.cancel_scope.cancel()


def node_result(name: str, held: list[int], at: int) -> dict[str, Any]:
    """A ``two_node_toml`` node's well-formed ``result``, holding ``held`` (nothing else happened at that node)."""
    from stack.core.network import AUTH_DROPS
    from stack.multiprocess.results import result_problem
    from stack.report_nodes import REFUSALS

    counters = dict.fromkeys(("sent", "received", "lost", "undeliverable", "malformed", *REFUSALS, *AUTH_DROPS), 0)
    message = {"op": "result", "node": name, "at": at, "held": {str(NODE_IDS[name]): held}, "counters": counters,
               "apps": {}, "api": None, "network": None, "kernel": {"missed_deadlines": 0, "late_inputs": 0},
               "udp": {}, "clock_reading": None, "ptp": None}
    assert result_problem(message, name) is None
    return message


def unsettled(report: dict[str, Any]) -> str | None:
    """What a finished multi-process run's report says against its having settled (nodes not settled within their
    bound or silent, ``multi_process.unsettled_nodes``; hardware commands never run, ``commands_not_run``: exit
    status 5), or None if it settled. Only a settled run promises that no pair was delivered at one end only
    (:func:`stack.multiprocess.outcome.verdict`, docs/architecture.md): a test asserts that only when this is None."""
    mp = report["multi_process"]
    said = [f"nodes not settled: {', '.join(mp['unsettled_nodes'])}"] if mp.get("unsettled_nodes") else []
    if mp.get("commands_not_run"):
        said.append(f"{mp['commands_not_run']} hardware command(s) not run")
    return "; ".join(said) or None


def free_base_port(nodes: int, step: int = 16) -> int:
    """A base port whose block for node ids 1..``nodes`` (timestamp sidebands included) is free now, for tests
    whose processes bind their own ports (``qnet node`` and ``qnet medium`` by hand, a :class:`UdpNetwork`):
    another process may take one before they do. ``qnet up`` tests use ``--base-port 0`` instead, which
    binds the ports it finds free and keeps them (:mod:`stack.multiprocess.held`).

    Picked at random on a grid of ``step`` between 21000 and Linux's ephemeral ports (32768), so that
    test runs in other checkouts on the same machine, and a ``qnet up --base-port 0`` (which scans up
    from 20000), rarely pick the same block; a block found busy is skipped.
    """
    choices = random.Random()              # seeded from the OS: two test runs do not follow each other
    span = PORTS_PER_NODE * (nodes + 1)
    for _ in range(500):
        base = choices.randrange(21000 // step, (32768 - span) // step) * step
        if all(_udp_port_free(port) for port in range(base + PORTS_PER_NODE, base + span)):
            return base
    raise AssertionError("no free block of UDP ports on 127.0.0.1 between 21000 and 32768")


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_up(scenario: Path, run_dir: Path, *options: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """``qnet up`` to the end with ``--base-port 0``: the launcher binds a free block and keeps it (no other
    process can take a port of it before the nodes use it); ``RUN_DIR/ports.json`` says which."""
    return subprocess.run(qnet("up", str(scenario), "--run-dir", str(run_dir), "--base-port", "0", *options),
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def base_port_of(run_dir: Path) -> int:
    """The base port a ``qnet up`` run used (its ``ports.json``)."""
    return int(json.loads((run_dir / "ports.json").read_text())["base_port"])


@contextlib.contextmanager
def holding(scenario: Scenario, names: list[str]) -> Iterator[tuple[int, dict[str, dict[int, socket.socket]]]]:
    """A free base port and the named nodes' blocks of it, bound here until the end of the ``with``
    (:func:`stack.multiprocess.launcher.allocate_base`): hand them to processes with :func:`handing`."""
    from stack.multiprocess.held import close_all
    from stack.multiprocess.launcher import allocate_base

    base, held = allocate_base(scenario, names)
    try:
        yield base, held
    finally:
        close_all(held.values())


def handing(block: dict[int, socket.socket]) -> dict[str, Any]:
    """:class:`subprocess.Popen`'s arguments that hand a ``qnet node`` these bound sockets, as ``qnet up``'s
    launcher does (:mod:`stack.multiprocess.held`): no other process can take its ports first."""
    from stack.multiprocess.held import HELD_ENV, describe

    return {"pass_fds": [sock.fileno() for sock in block.values()],
            "env": os.environ | {HELD_ENV: describe({port: sock.fileno() for port, sock in block.items()})}}


def qnet(*args: str) -> list[str]:
    return [sys.executable, "-m", "stack.cli", *args]


def start_up(scenario: Path, run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    """Start ``qnet up`` in the background, with ``--base-port 0`` (:func:`run_up`)."""
    return subprocess.Popen(qnet("up", str(scenario), "--run-dir", str(run_dir), "--base-port", "0", *extra),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_running(launcher: subprocess.Popen[str], run_dir: Path, expected_nodes: int,
                 timeout: float = 120.0) -> dict[str, int]:
    """Wait until every process has started and the run is under way; returns the pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if launcher.poll() is not None:
            raise AssertionError(f"qnet up exited with {launcher.returncode}: {launcher.communicate()}")
        started = run_dir / "started.json"
        if started.exists():
            epoch_ns = json.loads(started.read_text())["epoch_ns"]
            time.sleep(max(0.0, (epoch_ns - time.time_ns()) / 1e9) + 0.5)
            pids = json.loads((run_dir / "pids.json").read_text())
            assert len(pids) == expected_nodes + 2
            return pids
        time.sleep(0.1)
    raise AssertionError(f"the run in {run_dir} did not get under way within {timeout} s")


def wait_pairs(run_dir: Path, timeout: float = 120.0) -> None:
    """Wait until the medium's ``progress.json`` shows a heralded pair: every end has its request."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads((run_dir / "progress.json").read_text())["pairs"] > 0:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"no pair heralded in {run_dir} within {timeout} s")


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def udp_listeners(ports: range) -> list[tuple[str, int]]:
    """(local address hex, port) of every UDP socket bound in ``ports`` (from /proc/net/udp{,6})."""
    found = []
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            address, port_hex = line.split()[1].rsplit(":", 1)
            if int(port_hex, 16) in ports:
                found.append((address, int(port_hex, 16)))
    return found


def udp_owners(ports: range, pids: list[int]) -> dict[int, list[int]]:
    """For every UDP port in ``ports`` bound on 127.0.0.1, which of ``pids`` have its socket open (from
    /proc/net/udp's inodes and each process's descriptors)."""
    inodes = {}
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        address, port_hex = fields[1].rsplit(":", 1)
        if int(port_hex, 16) in ports and address == "0100007F":
            inodes[f"socket:[{fields[9]}]"] = int(port_hex, 16)
    owners: dict[int, list[int]] = {port: [] for port in inodes.values()}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target in inodes:
                owners[inodes[target]].append(pid)
    return owners


PIDFD_GETFD = 438
"""pidfd_getfd(2)'s system call number (the same on every architecture Linux gives a generic table)."""


def socket_of(pid: int, port: int) -> socket.socket:
    """A copy of the UDP socket process ``pid`` has bound to 127.0.0.1:``port``, taken with pidfd_getfd(2) (Linux
    5.6 and later, with ptrace rights over ``pid``: this user's child, say); :class:`OSError` if it cannot be."""
    inodes = [line.split()[9] for line in Path("/proc/net/udp").read_text().splitlines()[1:]
              if line.split()[1] == f"0100007F:{port:04X}"]
    targets = [int(fd.name) for fd in Path(f"/proc/{pid}/fd").iterdir()
               if inodes and os.readlink(fd) == f"socket:[{inodes[0]}]"]
    if not targets:
        raise OSError(errno.ENOENT, f"process {pid} has no socket bound to 127.0.0.1:{port}")
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        fd = libc.syscall(PIDFD_GETFD, pidfd, targets[0], 0)
    finally:
        os.close(pidfd)
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"pidfd_getfd of process {pid}: {os.strerror(ctypes.get_errno())}")
    return socket.socket(fileno=fd)


def three_node_toml(*, pairs_ab: int, pairs_ac: int, seed: int = 5) -> str:
    """alice with a link to bob (through m1) and one to carol (through m2), a keep workload on each."""
    qpu = 'kind = "qpu"\nt2_ms = 1000.0\nreadout_ns = 1000\n'
    link = 'length_km = 2.0\nattempt_duration_ns = 1000\ndepolarizing = 0.05\n'
    return f"""
[run]
duration_ms = 1000000.0
seed = {seed}

[nodes.alice]
{qpu}
[nodes.bob]
{qpu}
[nodes.carol]
{qpu}
[nodes.m1]
kind = "station"
[nodes.m2]
kind = "station"

[links.ab]
a = "alice"
b = "bob"
station = "m1"
{link}
[links.ac]
a = "alice"
b = "carol"
station = "m2"
{link}
[[workload]]
node = "alice"
remote = "bob"
type = "keep"
pairs = {pairs_ab}

[[workload]]
node = "alice"
remote = "carol"
type = "keep"
pairs = {pairs_ac}
start_us = 20000
"""
