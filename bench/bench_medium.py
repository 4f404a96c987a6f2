"""CPU µs per Bell measurement (entanglement swap) and per measurement of a pair half, in the medium alone.

    python bench/bench_medium.py [--swaps 20000] [--repeats 3]

Three nodes on one medium (T2 = 1 s, gate and readout fidelity 0.99): ``--swaps`` pairs of Bell-diagonal pairs
(1–2 and 2–3, frames as the heralding makes them) are created first, then node 2 swaps each (the
``BellMeasure`` command, checks included), then both far halves are measured in Z. Only the swaps and the
measurements are timed (``time.process_time``); the median of ``--repeats`` runs is printed. To compare with
another tree, run this file with that tree first on ``PYTHONPATH`` (a tree before shared frames copies each
pair's frame, as its heralding did).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

from protocols.common import Basis, BellState
from protocols.physical.hardware import BellMeasure
from stack.core.kernel import Kernel
from stack.quantum import state
from stack.quantum.medium import Medium, NodeHardware, Pair


def _frame(index: int) -> Any:
    """The frame the heralding makes for Bell index ``index`` (an int since branch cak-medium3, a shared
    ``stim.PauliString`` before)."""
    if hasattr(state, "frame_of_bell"):
        return state.frame_of_bell(index)
    import stim

    return stim.PauliString(state.FRAME_OF_BELL[BellState(index)]).copy()      # a tree before shared frames


class _Results:
    def deliver(self, event: Any) -> None:
        """The reply port: results are not looked at."""


def one_run(swaps: int) -> tuple[float, float]:
    """(CPU µs per swap, CPU µs per measured far half)."""
    kernel = Kernel()
    medium = Medium(kernel, np.random.default_rng(1))
    for node_id, slots in ((1, swaps), (2, 2 * swaps), (3, swaps)):
        medium.add_node(NodeHardware(node_id, slots, t2_ns=1e9, readout_ns=0, gate_fidelity=0.99,
                                     readout_fidelity=0.99))
    distribution = (0.97, 0.01, 0.01, 0.01)
    for i in range(swaps):
        for a, slot_a, b, slot_b in ((1, i, 2, 2 * i), (2, 2 * i + 1, 3, i)):
            pair = Pair(_frame((i + slot_a) & 3), distribution)
            medium.create(a, slot_a, 0, 0, pair)
            medium.create(b, slot_b, 1, 0, pair)
    kernel.now = 50_000
    commands = [BellMeasure(2 * i, 2 * i + 1) for i in range(swaps)]
    results = _Results()
    started = time.process_time()
    for command in commands:
        medium.command(2, command, results)  # type: ignore[arg-type]
    swapped = time.process_time() - started
    started = time.process_time()
    for i in range(swaps):
        medium.measure(medium.take(1, i), Basis.Z)
        medium.measure(medium.take(3, i), Basis.Z)
    measured = time.process_time() - started
    return swapped / swaps * 1e6, measured / (2 * swaps) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.swaps) for _ in range(args.repeats)]
    print(f"{args.swaps} swaps per run, median of {args.repeats} (load average {os.getloadavg()[0]:.1f})")
    print(f"swap: {statistics.median(r[0] for r in runs):.2f} CPU µs, measurement of a far half: "
          f"{statistics.median(r[1] for r in runs):.2f} CPU µs  (runs: "
          + ", ".join(f"{s:.1f}/{m:.1f}" for s, m in runs) + ")")


if __name__ == "__main__":
    main()
