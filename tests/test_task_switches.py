"""Task switches per delivered pair: counted, not timed.

Layers are trio tasks, but the kernel runs their steps inline from the task that holds its baton
(stack/core/kernel.py), so a run of layers alone switches tasks only to start, to yield to trio every
``Kernel.yield_every`` queue entries, and to end. trio's own instrumentation counts every task step
(every time its scheduler runs a task), an oracle independent of the kernel's counters.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import trio

from stack.runtime import build, run_async
from stack.scenario import load

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PAIRS = 150


class TaskSteps(trio.abc.Instrument):
    """Counts the task steps trio runs (each is a switch into a task)."""

    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1


def run_counted(kind: str, seed: int) -> tuple[int, int, int, int]:
    """(pairs delivered, trio task steps, kernel switches, kernel yields) of a two-QPU run."""
    scenario = load(EXAMPLES / "two-qpus.toml")
    workload = [dataclasses.replace(scenario.workload[0], type=kind, pairs=PAIRS)]
    emu = build(dataclasses.replace(scenario, workload=workload), seed)
    steps = TaskSteps()
    trio.run(run_async, emu, instruments=[steps])
    return len(emu.workloads[0].responder.records), steps.steps, emu.kernel.switches, emu.kernel.yields


def test_at_most_three_task_switches_per_delivered_pair() -> None:
    for kind in ("keep", "measure"):
        pairs, steps, switches, yields = run_counted(kind, seed=1)
        assert pairs == PAIRS
        assert steps <= 3 * pairs
        assert switches == 1                    # the start: every layer's event ran inline
        again = run_counted(kind, seed=1)
        assert again == (pairs, steps, switches, yields)        # a count of the queue's work, not of timing

