"""Runs one after another in one process (a sweep's worker, a benchmark's repeats) keep nothing of each other.

A run's objects form cycles (engines, their nodes and their tables point at each other), so they are freed by
the cyclic collector, not when the run's result is dropped; these tests collect, then count what is left.
Module-level caches (sampling's last generator, the shared HERALD decodings, ``functools`` caches) are
bounded, so after the first run nothing more is kept: the same number of live objects, and the traced memory
within a few hundred bytes (trio keeps ~40 B a run, at its cancel scope's exception split).
"""

from __future__ import annotations

import gc
import tracemalloc

from protocols.network.layer import NetworkLayer
from protocols.network.types import Half
from stack.runtime import run_scenario
from tests.network_scenarios import chain, entry


def one_run() -> None:
    result = run_scenario(chain(3, workload=entry(pairs=10)))
    assert len(result.emulation.workloads[0].responder.records) == 10


def live(kind: type) -> int:
    return sum(1 for thing in gc.get_objects() if type(thing) is kind)


def test_a_run_keeps_nothing_once_collected() -> None:
    gc.collect()
    before = live(NetworkLayer), live(Half)     # other tests' in this process may still hold some (pytest's reports)
    one_run()
    gc.collect()
    assert (live(NetworkLayer), live(Half)) == before


def test_repeated_runs_do_not_grow_the_live_objects_or_memory() -> None:
    one_run()                                   # the first run fills the module-level caches
    gc.collect()
    tracemalloc.start()
    try:
        counts, traced = [], []
        for _ in range(4):
            one_run()
            gc.collect()
            counts.append(len(gc.get_objects()))
            traced.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert max(counts) - min(counts) <= 20, counts
    # ~40 B a run is trio's (its cancel scope's exception split at the run's end); a half's key kept would be ~2.6 kB
    assert traced[-1] - traced[0] <= 1536, traced
