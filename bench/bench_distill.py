"""Distilled end-to-end pairs per wall-second on a 3-hop repeater chain (issue 14's benchmark).

    python bench/bench_distill.py [--pairs 100] [--repeats 3] [--rule dejmps]

The chain of bench/bench_network.py (10 km Barrett-Kok hops, T2 = 1 s) with 2 communication and 4 storage
qubits per QPU and link pairs of F ≈ 0.94 (depolarizing 0.08), run three times per repeat: without
distillation, with one round (``--rule``, recurrence) on every hop, and with one round on every hop and one
end to end (the issue's figure: the two ends distil the swapped pairs once more), each asking for ``--pairs``
create-and-keep pairs measured at both ends. Capture off, sampled mode; the wall time includes building the
run and setting the circuit up. Printed: wall seconds, delivered pairs per wall-second and per emulated
second, link pairs per delivered pair, the measured fidelity, and the ratios of each distilled run to the
plain one (wall-clock throughput and emulated rate).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench_network import chain as network_chain

from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_text


def chain(hops: int, pairs: int, distill: str) -> str:
    """bench_network's chain with 4 storage qubits per QPU (room for the rounds) and noisier links."""
    return network_chain(hops, pairs, storage=4, depolarizing=0.08, entry=distill)


def one_run(pairs: int, distill: str) -> dict[str, float]:
    scenario = load_text(chain(3, pairs, distill), "<3-hop chain>")
    started = time.perf_counter()
    result = run_scenario(scenario)
    wall = time.perf_counter() - started
    (circuit,) = build_report(result)["circuits"]
    delivered = circuit["pairs_delivered_remote"]
    link_pairs = sum(hop["link_pairs"] for hop in circuit["hops_detail"])
    return {"wall": wall, "per_wall_s": delivered / wall, "per_s": circuit["pairs_per_s"] or 0.0,
            "link_per_pair": link_pairs / max(1, delivered), "fidelity": circuit["fidelity_measured"] or 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rule", choices=("dejmps", "bbpssw"), default="dejmps")
    args = parser.parse_args()
    rule = f'{{ protocol = "{args.rule}", rounds = 1 }}'
    runs = {"plain": "", f"{args.rule} x1 per hop": f"distill = {rule}\n",
            f"{args.rule} x1 hop + x1 e2e": f"distill = {{ hop = {rule}, end = {rule} }}\n"}
    print(f"3-hop chain of 10 km Barrett-Kok hops, link F ~ 0.94, {args.pairs} end-to-end pairs per run, median "
          f"of {args.repeats}, capture off")
    print(f"{'run':<24}{'wall s':>9}{'pairs/wall-s':>14}{'pairs/emul-s':>14}{'link pairs/pair':>17}{'F meas.':>9}")
    medians: dict[str, dict[str, float]] = {}
    for name, distill in runs.items():
        samples = [one_run(args.pairs, distill) for _ in range(args.repeats)]
        medians[name] = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
        m = medians[name]
        print(f"{name:<24}{m['wall']:>9.2f}{m['per_wall_s']:>14.1f}{m['per_s']:>14.1f}{m['link_per_pair']:>17.2f}"
              f"{m['fidelity']:>9.3f}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    plain = medians["plain"]
    for name in list(runs)[1:]:
        distilled = medians[name]
        print(f"ratio {name} / plain: {distilled['per_wall_s'] / plain['per_wall_s']:.2f} in pairs per wall-second, "
              f"{distilled['per_s'] / plain['per_s']:.2f} in pairs per emulated second")


if __name__ == "__main__":
    main()
