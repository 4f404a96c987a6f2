"""The kernel's calendar queue runs entries in exactly ``(time, seq)`` order: held against a plain heap of
``(time, seq, entry)`` (the queue it replaced) on random schedules with many entries due at one instant,
entries queued for now while it runs, and entries queued in the past."""

from __future__ import annotations

import heapq
import random

import pytest
import trio

from stack.core.kernel import Kernel

DELAYS = (0, 0, 0, 1, 5, 5, 40, 1000, -3)
"""Many ties, entries for the instant being run, and a few in the past (due now, as the kernel says)."""


def schedule(rng: random.Random, now: int) -> list[int]:
    """The due times of the entries one entry queues when it runs (the same draws in both queues)."""
    return [now + rng.choice(DELAYS) for _ in range(rng.choice((0, 0, 1, 1, 1, 2)))]


def with_kernel(seed: int, first: int, until: int) -> list[tuple[int, int]]:
    kernel, rng, seen = Kernel(), random.Random(seed), []
    count = 0

    def entry(name: int) -> None:
        nonlocal count
        seen.append((kernel.now, name))
        for at in schedule(rng, kernel.now):
            count += 1
            kernel.call_at(at, entry, count)

    for _ in range(first):
        count += 1
        kernel.call_at(rng.randrange(50), entry, count)
    trio.run(kernel.run, until)
    return seen


def with_heap(seed: int, first: int, until: int) -> list[tuple[int, int]]:
    rng, seen, heap, seq = random.Random(seed), [], [], 0
    for _ in range(first):
        seq += 1
        heapq.heappush(heap, (rng.randrange(50), seq, seq))
    now = 0
    while heap and heap[0][0] <= until:
        now, _, name = heapq.heappop(heap)
        seen.append((now, name))
        for at in schedule(rng, now):
            seq += 1
            heapq.heappush(heap, (max(at, now), seq, seq))
    return seen


@pytest.mark.parametrize("seed", range(6))
def test_the_calendar_runs_entries_in_time_then_queued_order(seed: int) -> None:
    expected = with_heap(seed, 40, 3000)
    assert len(expected) > 100
    assert with_kernel(seed, 40, 3000) == expected


def test_pending_pop_and_clear_follow_the_same_order() -> None:
    kernel = Kernel()
    for at, name in ((7, "c"), (3, "a"), (7, "d"), (3, "b"), (9, "e")):
        kernel.call_at(at, print, name)
    assert [(at, arg) for at, _, arg in kernel.pending()] == [(3, "a"), (3, "b"), (7, "c"), (7, "d"), (9, "e")]
    assert kernel.next_due() == 3
    first = kernel.pop_entry()
    assert first is not None and (first[0], first[2]) == (3, "a")
    kernel.clear()
    assert kernel.pending() == [] and kernel.next_due() is None and kernel.pop_entry() is None
