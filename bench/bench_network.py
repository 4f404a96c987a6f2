"""End-to-end pairs per wall-second across repeater chains of K hops (issue 13's benchmark).

    python bench/bench_network.py [--hops 2 4 8 16 32 64] [--pairs 20] [--repeats 3]
        [--sequence-python /tmp/seq/bin/python [--sequence-pairs N]]

Each chain has K hops of 10 km (Barrett-Kok: a heralding station in the middle of each hop), QPUs with 2
communication and 2 storage qubits, T2 = 1 s (no cutoff in the way), and one create-and-keep request of
``--pairs`` pairs from one end to the other, measured at both ends. Capture off, sampled mode. The wall
time includes building the run and setting the circuit up; CPU s is this process's CPU time (steadier than
wall time on a shared machine); searches are the shortest-path searches over the fibre graph the network
layers made (one per source node since the topology searches from each source once). The cost per pair
should grow at most linearly in K (the protocol sends O(1) messages per hop per pair); the slope of
log(wall-s per pair) against log K is printed. The comparison figure is the issue's: SeQUeNCe 1.3.1, the
closest peer, delivers about 2.3 end-to-end pairs per wall-second at K = 32 on a 2-core machine.

With ``--sequence-python`` (a Python with sequence==1.3.1, see bench/peer_sequence_chain.py) the same chain
is run in SeQUeNCe too, side by side: for each K, each repeat runs ours (in this process) then
``peer_sequence_chain.py --hops K`` (a subprocess, which times its own build and run, like ours: neither
figure includes the interpreter or imports), interleaved; medians; the ratio of pairs per wall-second and of
pairs per CPU-second (ours over SeQUeNCe's) at each K. SeQUeNCe simulates every attempt and is slow at large
K: ``--sequence-pairs`` (default: ``--pairs``) asks it for fewer pairs; the ratios are per pair either way.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import math
import os
import statistics
import subprocess
import time
from pathlib import Path

from stack.runtime import run_scenario
from stack.scenario import load_text

SEQUENCE_K32_PAIRS_PER_S = 2.3
PEER = Path(__file__).resolve().parent / "peer_sequence_chain.py"


def chain(hops: int, pairs: int, *, storage: int = 2, depolarizing: float = 0.02, entry: str = "") -> str:
    """A chain of ``hops`` 10 km Barrett-Kok hops with one create-and-keep request end to end (``entry``:
    more keys of that workload entry)."""
    names = ["a"] + [f"r{i}" for i in range(1, hops)] + ["b"]
    qpu = (f'kind = "qpu"\ncommunication_qubits = 2\nstorage_qubits = {storage}\nt2_ms = 1000.0\n'
           "emission_efficiency = 0.8\ntransducer_efficiency = 0.5\n")
    text = ["[run]\nduration_ms = 1e6\nseed = 1\n"]
    text += [f"[nodes.{name}]\n{qpu}" for name in names]
    for index, (left, right) in enumerate(itertools.pairwise(names)):
        text.append(f'[nodes.s{index}]\nkind = "station"\n[links.{left}-{right}]\na = "{left}"\nb = "{right}"\n'
                    f'station = "s{index}"\nlength_km = 10.0\ndepolarizing = {depolarizing}\n')
    text.append(f'[[workload]]\nnode = "a"\nremote = "b"\ntype = "keep"\npairs = {pairs}\n{entry}')
    return "\n".join(text)


def one_run(hops: int, pairs: int) -> tuple[float, int, float, float, int]:
    """(wall s, pairs delivered, emulated s, CPU s, shortest-path searches over the fibre graph)."""
    scenario = load_text(chain(hops, pairs), f"<chain of {hops}>")
    gc.collect()        # the last run's objects, untimed: a run's cycles are freed only by a full collection
    started, cpu = time.perf_counter(), time.process_time()
    result = run_scenario(scenario)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    workload = result.emulation.workloads[0]
    delivered = len(workload.responder.records)
    topology = result.emulation.topology
    searches = getattr(topology, "searches", len(getattr(topology, "_paths", ())))   # before: one per pair
    return wall, delivered, result.emulation.kernel.now / 1e9, cpu, searches


def peer_run(python: str, hops: int, pairs: int) -> tuple[float, int, float, float]:
    """(wall s, pairs delivered, emulated s, CPU s) of SeQUeNCe's chain of ``hops`` hops, as
    peer_sequence_chain.py measures it (build and run, in its own process)."""
    command = [python, str(PEER), "--hops", str(hops), "--pairs", str(pairs)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        raise SystemExit(f"cannot run {python}: {error.strerror}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {last}")
    fields = done.stdout.split("\n")[-2].split()    # K pairs wall CPU emulated pairs/wall-s wall-s/pair
    if int(fields[1]) < pairs:
        raise SystemExit(f"{' '.join(command)} delivered {fields[1]} of {pairs} pairs")
    return float(fields[2]), int(fields[1]), float(fields[4]), float(fields[3])


def ratio(value: float) -> str:
    """``value`` as a ratio: 2 significant figures."""
    return f"{value:.2g}x" if value < 100 else f"{value:.0f}x"


def side_by_side(args: argparse.Namespace) -> None:
    """Ours and SeQUeNCe's chain at each K, interleaved, medians, and the ratios."""
    print(f"repeater chains of 10 km Barrett-Kok hops, ours {args.pairs} and SeQUeNCe 1.3.1 "
          f"{args.sequence_pairs} end-to-end pairs per run, median of {args.repeats} interleaved, capture off "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"{'K':>4}{'ours wall s':>12}{'CPU s':>7}{'pairs/s':>9}{'emul s':>8}{'SeQ wall s':>11}{'CPU s':>7}"
          f"{'pairs/s':>9}{'emul s':>8}{'x wall':>8}{'x CPU':>8}")
    one_run(2, 1)                 # untimed: the first run of a process pays for networkx and warming caches
    for hops in args.hops:
        ours, peer = [], []
        for _ in range(args.repeats):
            ours.append(one_run(hops, args.pairs))
            peer.append(peer_run(args.sequence_python, hops, args.sequence_pairs))
        walls = [statistics.median(run[0] for run in runs) for runs in (ours, peer)]
        cpus = [statistics.median(run[3] for run in runs) for runs in (ours, peer)]
        delivered = [ours[0][1], peer[0][1]]
        rates = [delivered[i] / walls[i] for i in (0, 1)]
        cpu_rates = [delivered[i] / cpus[i] for i in (0, 1)]
        emulated = [statistics.median(run[2] for run in runs) for runs in (ours, peer)]
        print(f"{hops:>4}{walls[0]:>12.2f}{cpus[0]:>7.2f}{rates[0]:>9.1f}{emulated[0]:>8.3f}{walls[1]:>11.2f}"
              f"{cpus[1]:>7.2f}{rates[1]:>9.2f}{emulated[1]:>8.3f}{ratio(rates[0] / rates[1]):>8}"
              f"{ratio(cpu_rates[0] / cpu_rates[1]):>8}", flush=True)
    print("pairs/s: end-to-end pairs per wall-second; emul s: emulated s at the last pair (SeQUeNCe's: "
          "since its request's start); x: ours over SeQUeNCe's pairs per wall-second and per "
          f"CPU-second (issue 13's goal: 100x at K = 32; load average now {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, nargs="+", default=[2, 4, 8, 16, 32, 64])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sequence-python", metavar="PYTHON",
                        help="a Python with sequence==1.3.1: run SeQUeNCe's chain side by side")
    parser.add_argument("--sequence-pairs", type=int, metavar="N", help="pairs per SeQUeNCe run (default --pairs)")
    args = parser.parse_args()
    if args.sequence_python:
        args.sequence_pairs = args.sequence_pairs or args.pairs
        side_by_side(args)
        return
    print(f"repeater chains of 10 km Barrett-Kok hops, {args.pairs} end-to-end pairs per run, median of "
          f"{args.repeats}, capture off (load average {os.getloadavg()[0]:.1f})")
    print(f"{'K':>4}{'wall s':>9}{'CPU s':>8}{'pairs/wall-s':>14}{'wall-s/pair':>13}{'emulated s':>12}"
          f"{'searches':>10}{'vs SeQUeNCe':>13}")
    costs: list[tuple[float, float]] = []
    for hops in args.hops:
        runs = [one_run(hops, args.pairs) for _ in range(args.repeats)]
        wall = statistics.median(run[0] for run in runs)
        cpu = statistics.median(run[3] for run in runs)
        delivered = runs[0][1]
        per_pair = wall / delivered
        costs.append((math.log(hops), math.log(per_pair)))
        ratio = f"{delivered / wall / SEQUENCE_K32_PAIRS_PER_S:.0f}x" if hops == 32 else ""
        print(f"{hops:>4}{wall:>9.2f}{cpu:>8.2f}{delivered / wall:>14.1f}{per_pair:>13.4f}{runs[0][2]:>12.3f}"
              f"{runs[0][4]:>10}{ratio:>13}")
    if len(costs) > 1:
        mean_x = sum(x for x, _ in costs) / len(costs)
        mean_y = sum(y for _, y in costs) / len(costs)
        slope = (sum((x - mean_x) * (y - mean_y) for x, y in costs)
                 / sum((x - mean_x) ** 2 for x, _ in costs))
        print(f"log-log slope of wall-s per pair against K: {slope:.2f} (1 = linear)")
    print(f"SeQUeNCe 1.3.1 at K = 32 (issue 13): about {SEQUENCE_K32_PAIRS_PER_S} pairs per wall-second; the "
          "issue's goal is 100 times that")


if __name__ == "__main__":
    main()
