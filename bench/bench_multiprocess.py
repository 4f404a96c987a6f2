"""Multi-process mode (``qnet up``): start-up time, classical datagram rate, node count within deadlines.

    python bench/bench_multiprocess.py [--quick] [--repeats 3] [--base-port 24000] [--keep DIR] [--only batched]

Default run: about 11 minutes on a 2-core machine; ``--quick``: about 3 to 4; ``--only batched``: section 2c
alone (about 3 minutes; with ``--quick``, 1). Every run is a real
``python -m stack.cli up SCENARIO --no-pcap --quiet --json ...`` (one medium process plus one
process per node) with its own run directory under a temporary directory and its own
``--base-port`` (advanced by 16 × (nodes + 2) ports per run, so no two runs share a port; the
default 24000 stays below Linux's ephemeral ports, clear of the test suite's 43000 and of the
first blocks ``qnet up --base-port 0`` allocates from 20000; a run whose ports another program
took is retried on the next range).

Scenarios are generated: a *chain* of N QPUs ``q1 … qN`` joined by N − 1 ``coupler`` links
(no stations, so the number of node processes is exactly N; the medium is one more process),
attempt time 100 µs per attempt (≈ 5 800 pairs per emulated second per link).

1. **Start-up.** ``t0`` is ``time.time_ns()`` just before the bench spawns ``qnet up``. The
   medium's ``wall_seconds`` (report.json) starts when every node process has connected and
   said hello (the moment the medium sends ``welcome``) and ends just before the report is
   written, so ``all connected = mtime(report.json) − wall_seconds − t0`` (an upper bound:
   it also counts the few ms of building and writing the report). Also shown:
   ``ports.json`` mtime (the launcher has parsed the scenario and checked the ports),
   ``medium.pid`` mtime (the medium process has built its emulation and is about to listen),
   and the emulated run's start, which the medium fixes 0.3 s after the welcome
   (``START_MARGIN_NS``). Workload: one pair on the first link, 0.1 emulated ms.
   Teardown: from the report's mtime to the exit of ``qnet up`` (results, process exits).
2. **Classical datagrams per second between processes.** (a) The chain of 2 QPUs with a
   measure-directly workload, at rising dilation: the UDP datagrams the node processes sent
   (sum of report ``nodes[*].sent``; link-layer and EGP traffic over real UDP on 127.0.0.1)
   over the wall time the emulated run spans (``end_ns / dilation``), with the run's missed
   deadlines and late inputs. The rate is set by the workload × dilation; the interesting
   figure is the highest rate at which the run still behaves as in-process: besides missed
   deadlines and late inputs, the table shows pairs matched at both ends and pairs expired,
   next to the pairs ``qnet run`` matches for the same scenario and seed: the end-to-end
   check that the lateness did not change results (the counters depend on the tolerance and
   on which inputs carry an emulated timestamp; the pair counts do not). (b) A raw UDP
   ping-pong between two processes on the ports :class:`stack.multiprocess.udp.PortMap` gives two nodes,
   both receiving as
   :class:`stack.multiprocess.udp.UdpNetwork` does (trio ``wait_readable`` then ``recvfrom``): round
   trips per second × 2 = one-way datagrams per second, the ceiling of Python + trio +
   loopback on this machine, without the emulator.
2c. **Batched measure-directly pairs between processes** (issue 17: at least 1,000 pairs per wall-second
   between processes). Two QPUs and a station 2 m apart, 10 ns attempts (about 300,000 heralded pairs per
   emulated second), ``batch = 5000``, one measure-directly request of 65,535 pairs, 100 emulated ms (six
   blocks) at each dilation: pairs matched at both ends and expired, pairs matched per wall-second (matched
   over the wall time the emulated run spans, ``end_ns / dilation``), missed deadlines, late inputs and the
   worst lateness, medians of ``--repeats`` runs, next to ``qnet run``'s pairs for the same scenario and seed.
   Fewer matched or any expired pairs than in-process mean lateness lost blocks: the ends give a block up
   100 emulated µs after its last attempt (10 ms of wall time at dilation 0.01, 3.3 ms at 0.03).
3. **Node count within deadlines.** Chains of N = 2, 4, 8, 16, 32 QPUs (at dilation 0.001
   also 12 and 24) with a measure-directly workload on every link, for a few wall seconds at
   dilations 0.01, 0.003 and 0.001 (``--quick``: 0.001 only): missed deadlines and late
   inputs summed over all processes (report ``multi_process``), and the largest N for which
   it and every smaller N had zero of both (and no dead node); pairs matched and expired
   against ``qnet run`` as in 2a. Lateness counts against ``qnet up``'s default tolerance (printed).

All figures are wall-clock and depend on the load of the machine: the bench prints the load
average before and after. Medians of ``--repeats`` runs where repeated.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.common import EGP_PORT
from stack.multiprocess import realtime
from stack.multiprocess.outcome import EXIT_LATE, EXIT_NODE_DIED, EXIT_OK
from stack.multiprocess.udp import LOOPBACK, PORTS_PER_NODE, PortMap

ROOT = Path(__file__).resolve().parent.parent

ATTEMPT_NS = 100_000
START_MARGIN_S = 0.3          # stack.multiprocess.medium.START_MARGIN_NS
MAX_PAIRS = 65535


def chain_toml(n: int, *, duration_ms: float, pairs: int, every_link: bool) -> str:
    """N QPUs in a chain of coupler links; a measure-directly request on every link or the first only."""
    lines = ["[run]", f"duration_ms = {duration_ms!r}", "seed = 1", ""]
    for i in range(1, n + 1):
        lines += [f"[nodes.q{i}]", 'kind = "qpu"', "communication_qubits = 2", ""]
    for i in range(1, n):
        lines += [f"[links.l{i}]", f'a = "q{i}"', f'b = "q{i + 1}"', 'scheme = "coupler"',
                  f"attempt_duration_ns = {ATTEMPT_NS}", ""]
    for i in range(1, n if every_link else min(n, 2)):
        lines += ["[[workload]]", f'node = "q{i}"', f'remote = "q{i + 1}"', 'type = "measure"', f"pairs = {pairs}", ""]
    return "\n".join(lines)


@dataclass(slots=True)
class UpRun:
    status: int
    stderr: str
    launch_ns: int
    exit_ns: int
    run_dir: Path
    base_port: int
    report: dict[str, Any] | None

    def mtime_s(self, name: str) -> float:
        """Seconds from the launch to the last modification of a run-directory file."""
        return ((self.run_dir / name).stat().st_mtime_ns - self.launch_ns) / 1e9

    @property
    def mp(self) -> dict[str, Any]:
        assert self.report is not None
        return self.report["multi_process"]

    def datagrams(self) -> int:
        assert self.report is not None
        return sum(node["sent"] or 0 for node in self.report["nodes"].values())    # null: a dead node's

    def worst_lateness_us(self) -> float:
        """The worst lateness of any process, emulated µs."""
        kernels = [self.mp["medium"], *self.mp["nodes"].values()]
        return max(k["worst_lateness_ns"] for k in kernels) / 1e3


FINISHED = (EXIT_OK, EXIT_NODE_DIED, EXIT_LATE)
"""Exit statuses of ``qnet up`` with a report: lateness (5) is what this bench measures."""


class Runner:
    """Runs ``qnet up`` in fresh run directories with distinct port ranges."""

    def __init__(self, workdir: Path, base_port: int) -> None:
        self.workdir, self.next_port, self.count, self.ups = workdir, base_port, 0, 0

    def up(self, toml: str, nodes: int, dilation: float) -> UpRun:
        for _ in range(3):                      # a port taken by another program: move on and retry
            run = self._once(toml, nodes, dilation)
            logs = "".join(log.read_text(errors="replace") for log in run.run_dir.glob("*.log"))
            if run.status in FINISHED or "in use" not in run.stderr + logs:
                break
            print(f"   (ports from {run.base_port} taken by another program: retrying on the next range)")
        if run.status not in FINISHED or run.report is None:
            raise SystemExit(f"qnet up failed (status {run.status}) in {run.run_dir}:\n{run.stderr}")
        return run

    def _once(self, toml: str, nodes: int, dilation: float) -> UpRun:
        self.count += 1
        self.ups += 1
        run_dir = self.workdir / f"run{self.count:03d}"
        run_dir.mkdir()
        scenario = run_dir.with_suffix(".toml")
        scenario.write_text(toml)
        base, self.next_port = self.next_port, self.next_port + PORTS_PER_NODE * (nodes + 2)
        if self.next_port > 65535:
            raise SystemExit("ran out of ports: lower --base-port")
        report = run_dir / "out.json"
        command = [sys.executable, "-m", "stack.cli", "up", str(scenario), "--dilation", repr(dilation),
                   "--run-dir", str(run_dir), "--base-port", str(base), "--json", str(report), "--no-pcap",
                   "--quiet"]
        launch = time.time_ns()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        exit_ns = time.time_ns()
        document = json.loads(report.read_text()) if done.returncode in FINISHED and report.exists() else None
        return UpRun(done.returncode, done.stderr, launch, exit_ns, run_dir, base, document)


def med(values: list[float]) -> float:
    return statistics.median(values)


def bench_startup(runner: Runner, sizes: list[tuple[int, int]]) -> None:
    print("\n1. start-up: chain of N coupler-linked QPUs (N node processes + 1 medium), dilation 0.01,")
    print("   seconds from launching `qnet up`; medians (min-max of all connected)")
    print(f"{'N':>4}{'runs':>6}{'launcher':>10}{'medium':>9}{'all conn.':>11}{'(min-max)':>14}{'run start':>11}"
          f"{'teardown':>10}{'total':>8}")
    for n, repeats in sizes:
        rows: list[tuple[float, float, float, float, float]] = []
        for _ in range(repeats):
            run = runner.up(chain_toml(n, duration_ms=0.1, pairs=1, every_link=False), n, 0.01)
            connected = run.mtime_s("report.json") - run.mp["wall_seconds"]
            rows.append((run.mtime_s("ports.json"), run.mtime_s("medium.pid"), connected,
                         (run.exit_ns - run.launch_ns) / 1e9 - run.mtime_s("report.json"),
                         (run.exit_ns - run.launch_ns) / 1e9))
        cols = [med([row[i] for row in rows]) for i in range(5)]
        spread = f"({min(r[2] for r in rows):.2f}-{max(r[2] for r in rows):.2f})"
        print(f"{n:>4}{repeats:>6}{cols[0]:>10.2f}{cols[1]:>9.2f}{cols[2]:>11.2f}{spread:>14}"
              f"{cols[2] + START_MARGIN_S:>11.2f}{cols[3]:>10.2f}{cols[4]:>8.2f}")
    print("   launcher: ports.json written; medium: medium.pid written (emulation built); all conn.: every node")
    print("   said hello (report.json mtime - wall_seconds); run start: + the medium's fixed 0.3 s margin;")
    print("   teardown: report.json written -> `qnet up` exited; total: launch -> exit")


def pairs(report: dict[str, Any]) -> tuple[int, int]:
    """Pairs matched at both ends and pairs expired, summed over the workload."""
    return (sum(entry["pairs_matched"] or 0 for entry in report["workload"]),     # null: an end's node died
            sum(entry["pairs_expired"] or 0 for entry in report["workload"]))


def in_process(runner: Runner, toml: str) -> dict[str, Any]:
    """The in-process report (``qnet run``) of the same scenario and seed, for reference."""
    runner.count += 1
    scenario = runner.workdir / f"inproc{runner.count:03d}.toml"
    scenario.write_text(toml)
    report = scenario.with_suffix(".json")
    subprocess.run([sys.executable, "-m", "stack.cli", "run", str(scenario), "--no-pcap", "--quiet", "--json",
                    str(report)], cwd=ROOT, check=True, capture_output=True)
    document: dict[str, Any] = json.loads(report.read_text())
    return document


def bench_rate(runner: Runner, dilations: list[float], wall_s: float) -> None:
    print(f"\n2a. classical datagrams between 2 node processes (q1-q2 coupler, measure-directly), ~{wall_s:g} s wall")
    print(f"{'dilation':>9}{'emul. ms':>10}{'run wall s':>11}{'datagrams':>11}{'dgram/wall-s':>14}{'missed':>8}"
          f"{'late':>6}{'worst µs':>10}{'matched':>9}{'expired':>9}{'in-proc':>9}")
    for dilation in dilations:
        toml = chain_toml(2, duration_ms=wall_s * dilation * 1e3, pairs=MAX_PAIRS, every_link=True)
        run = runner.up(toml, 2, dilation)
        assert run.report is not None
        run_wall = run.report["end_ns"] / dilation / 1e9
        matched, expired = pairs(run.report)
        reference, _ = pairs(in_process(runner, toml))
        print(f"{dilation:>9g}{run.report['end_ns'] / 1e6:>10.2f}{run_wall:>11.2f}{run.datagrams():>11}"
              f"{run.datagrams() / run_wall:>14.0f}{run.mp['missed_deadlines']:>8}{run.mp['late_inputs']:>6}"
              f"{run.worst_lateness_us():>10.1f}{matched:>9}{expired:>9}{reference:>9}")
    print("   datagrams: UDP datagrams sent by the node processes (report nodes[*].sent); run wall s = end_ns /")
    print("   dilation; worst µs: worst lateness of any process, emulated µs; matched, expired:")
    print("   pairs of the workload; in-proc: pairs matched by `qnet run` (same scenario and seed): fewer")
    print("   matched / more expired pairs than in-process show that lateness changed the results.")


def batched_toml(duration_ms: float) -> str:
    """Two QPUs and a station 2 m apart, 10 ns attempts, blocks of 5,000 measure-directly pairs."""
    nodes = "".join(f'[nodes.{name}]\nkind = "qpu"\nt2_ms = 1000.0\nreadout_ns = 1000\n\n' for name in ("alice", "bob"))
    return (f"[run]\nduration_ms = {duration_ms!r}\nseed = 3\n\n{nodes}"
            '[nodes.mid]\nkind = "station"\ndetection_window_ns = 1\n\n'
            '[links.alice-bob]\na = "alice"\nb = "bob"\nstation = "mid"\nlength_km = 0.002\n'
            "attempt_duration_ns = 10\ndepolarizing = 0.05\nbatch = 5000\n\n"
            '[[workload]]\nnode = "alice"\nremote = "bob"\ntype = "measure"\npairs = 65535\nstart_us = 10\n')


def bench_batched(runner: Runner, dilations: list[float], repeats: int, emulated_ms: float = 100.0) -> None:
    toml = batched_toml(emulated_ms)
    reference = pairs(in_process(runner, toml))
    print(f"\n2c. batched measure-directly pairs between 2 node processes (alice-mid-bob, 2 m, 10 ns attempts, "
          f"batch = 5000), {emulated_ms:g} emulated ms; medians of {repeats}")
    print(f"{'dilation':>9}{'run wall s':>11}{'matched':>9}{'expired':>9}{'pairs/wall-s':>14}{'missed':>8}"
          f"{'late':>6}{'worst µs':>10}{'in-proc':>9}   all matched (per run)")
    for dilation in dilations:
        rows = []
        for _ in range(repeats):
            run = runner.up(toml, 3, dilation)
            assert run.report is not None
            run_wall = run.report["end_ns"] / dilation / 1e9
            matched, expired = pairs(run.report)
            rows.append((run_wall, matched, expired, matched / run_wall, run.mp["missed_deadlines"],
                         run.mp["late_inputs"], run.worst_lateness_us()))
        cols = [med([row[i] for row in rows]) for i in range(7)]
        print(f"{dilation:>9g}{cols[0]:>11.2f}{cols[1]:>9.0f}{cols[2]:>9.0f}{cols[3]:>14.0f}{cols[4]:>8.0f}"
              f"{cols[5]:>6.0f}{cols[6]:>10.1f}{reference[0]:>9}   {' '.join(str(row[1]) for row in rows)}")
    print("   pairs/wall-s: pairs matched at both ends over the wall time the emulated run spans (end_ns / dilation);")
    print("   in-proc: pairs `qnet run` matches (same scenario and seed); goal: 1,000 pairs/wall-s with as many")
    print("   matched as in-process and none expired")


def _echo(port: int, seconds: float, bound: Any) -> None:
    import trio

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((LOOPBACK, port))
    except OSError:
        bound.put(False)
        return
    sock.setblocking(False)

    async def serve() -> None:
        with trio.move_on_after(seconds + 10):
            while True:
                await trio.lowlevel.wait_readable(sock)
                while True:
                    try:
                        payload, source = sock.recvfrom(65535)
                    except BlockingIOError:
                        break
                    if payload == b"stop":
                        return
                    sock.sendto(payload, source)

    bound.put(True)
    trio.run(serve)
    sock.close()


def ping_pong(base: int, seconds: float) -> float | None:
    """One-way datagrams per second of a 64-byte UDP ping-pong between two processes (None: no free ports)."""
    import trio

    ports = PortMap(base)
    context = multiprocessing.get_context("spawn")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((LOOPBACK, ports.real(1, EGP_PORT)))
    except OSError:
        sock.close()
        return None
    bound = context.Queue()
    echo = context.Process(target=_echo, args=(ports.real(2, EGP_PORT), seconds, bound))
    echo.start()
    if not bound.get(timeout=60):
        echo.join()
        sock.close()
        return None
    sock.setblocking(False)
    target = (LOOPBACK, ports.real(2, EGP_PORT))
    payload = bytes(64)

    async def client() -> int:
        trips = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            sock.sendto(payload, target)
            with trio.move_on_after(1.0):
                await trio.lowlevel.wait_readable(sock)
                sock.recvfrom(65535)
                trips += 1
        return trips

    started = time.perf_counter()
    trips = trio.run(client)
    elapsed = time.perf_counter() - started
    sock.sendto(b"stop", target)
    echo.join(20)
    sock.close()
    return 2 * trips / elapsed


def bench_ping_pong(runner: Runner, repeats: int, seconds: float) -> None:
    rates: list[float] = []
    for _ in range(repeats + 5):             # skip port pairs another program holds
        if len(rates) == repeats:
            break
        base, runner.next_port = runner.next_port, runner.next_port + 4 * PORTS_PER_NODE
        rate = ping_pong(base, seconds)
        if rate is not None:
            rates.append(rate)
    if not rates:
        raise SystemExit("no free port pair for the ping-pong: try another --base-port")
    print(f"\n2b. raw UDP ping-pong between 2 processes (127.0.0.1, trio wait_readable, 64 B), {seconds:g} s each:")
    print(f"   {med(rates):.0f} one-way datagrams/s (median of {len(rates)}; min {min(rates):.0f}, "
          f"max {max(rates):.0f}); {1e6 * 2 / med(rates):.0f} µs per round trip")


def bench_scaling(runner: Runner, dilation: float, sizes: list[int], wall_s: float) -> None:
    print(f"\n3. chain of N QPUs, measure-directly on all N-1 links, dilation {dilation:g} "
          f"({wall_s * dilation * 1e3:g} emulated ms, ~{wall_s:g} s wall)")
    print(f"{'N':>4}{'procs':>7}{'missed':>8}{'late':>7}{'worst µs':>10}{'dead':>6}{'dgram/wall-s':>14}"
          f"{'events/wall-s':>15}{'wall s':>8}{'matched':>9}{'expired':>9}{'in-proc':>9}")
    largest, all_clean = 0, True
    for n in sizes:
        toml = chain_toml(n, duration_ms=wall_s * dilation * 1e3, pairs=MAX_PAIRS, every_link=True)
        run = runner.up(toml, n, dilation)
        assert run.report is not None
        mp = run.mp
        run_wall = run.report["end_ns"] / dilation / 1e9
        events = mp["medium"]["events"] + sum(k["events"] for k in mp["nodes"].values())
        clean = mp["missed_deadlines"] == 0 and mp["late_inputs"] == 0 and not mp["dead_nodes"]
        all_clean = all_clean and clean
        largest = n if all_clean else largest
        matched, expired = pairs(run.report)
        reference, _ = pairs(in_process(runner, toml))
        print(f"{n:>4}{n + 1:>7}{mp['missed_deadlines']:>8}{mp['late_inputs']:>7}"
              f"{run.worst_lateness_us():>10.1f}{len(mp['dead_nodes']):>6}{run.datagrams() / run_wall:>14.0f}"
              f"{events / run_wall:>15.0f}{mp['wall_seconds']:>8.2f}{matched:>9}{expired:>9}{reference:>9}")
    print("   missed, late: summed over the medium and every node; worst µs: worst lateness, emulated; dead: node")
    print("   processes that never delivered their result (see RUN_DIR/NAME.log, kept with --keep); wall s:")
    print("   the medium's wall_seconds; matched, expired, in-proc: pairs, as in 2a")
    verdict = f"N = {largest}" if largest else "none"
    print(f"   largest N with zero missed deadlines and zero late inputs (all smaller N clean too): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes (about 2 minutes)")
    parser.add_argument("--repeats", type=int, default=3, help="start-up repeats for 2 and 8 nodes (32: fewer)")
    parser.add_argument("--base-port", type=int, default=24000,
                        help="first UDP port; each run takes the next range (default 24000: below the ephemeral "
                             "range, clear of qnet's 40000, the tests' 43000 and --base-port 0's first blocks)")
    parser.add_argument("--keep", type=Path, help="keep the run directories under this directory")
    parser.add_argument("--only", choices=["batched"], help="run one section only")
    args = parser.parse_args()
    if args.quick:
        startup = [(2, 1), (8, 1), (32, 1)]
        rate_dilations, rate_wall, pings = [0.01, 0.1], 2.0, 1
        batched, batched_repeats = [0.01, 0.03], 1
        scale, scale_wall = [(0.001, [2, 4, 8, 16, 32])], 2.0
    else:
        startup = [(2, args.repeats), (8, args.repeats), (32, max(1, args.repeats - 1))]
        rate_dilations, rate_wall, pings = [0.01, 0.03, 0.1, 0.3, 1.0], 3.0, 3
        batched, batched_repeats = [0.005, 0.01, 0.03, 0.1], args.repeats
        coarse, fine = [2, 4, 8, 16, 32], [2, 4, 8, 12, 16, 24, 32]
        scale, scale_wall = [(0.01, coarse), (0.003, coarse), (0.001, fine)], 3.0
    load = os.getloadavg()
    print(f"qnet up, multi-process mode; {os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} at start (wall-clock figures: noisy if the machine is busy)")
    print(f"chain of N QPUs, coupler links, {ATTEMPT_NS / 1000:g} µs attempts; a fresh run dir and port range per run")
    tolerance = getattr(realtime, "DEFAULT_TOLERANCE_NS", None)
    if tolerance is not None:
        print(f"lateness tolerance: qnet up's default, {tolerance / 1e3:g} µs emulated (= "
              f"{tolerance / 1e6 / 0.01:g} ms wall at dilation 0.01, {tolerance / 1e6 / 0.001:g} ms at 0.001); "
              "later counts as a missed deadline / late input")
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-mp-", dir=args.keep))
    try:
        runner = Runner(workdir, args.base_port)
        if args.only == "batched":
            bench_batched(runner, batched, batched_repeats)
            return
        bench_startup(runner, startup)
        bench_rate(runner, rate_dilations, rate_wall)
        bench_ping_pong(runner, pings, 2.0)
        bench_batched(runner, batched, batched_repeats)
        for dilation, sizes in scale:
            bench_scaling(runner, dilation, sizes, scale_wall)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at end; bench took "
          f"{time.perf_counter() - started:.0f} s; {runner.ups} `qnet up` runs")


if __name__ == "__main__":
    main()
