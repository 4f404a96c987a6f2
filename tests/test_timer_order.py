"""A port's timer runs in exactly ``(time, seq)`` order with every other entry of the kernel's queue, however it
is armed, moved and cancelled (stack/core/port.py ``set_timer``: a timer joins its instant's FIFO in the calendar and
leaves it when cancelled or moved; branch timer-lazy's heap of timers, which these tests were written for, is not
merged: bench/README.md), and a timer cancelled or moved before it is due is never an entry: not run, not counted
in ``events_run``, not a turn of the yield budget."""

from __future__ import annotations

import heapq
import random
from typing import Any

import pytest
import trio

from stack.core.kernel import STARTUP, TIMER, Kernel, VirtualPort

PORTS = 4


def run(kernel: Kernel, ports: list[VirtualPort], step: Any, until: int) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for port in ports:
                nursery.start_soon(port.serve, lambda event, port=port: step(port, event))
            await kernel.run(until=until)
            nursery.cancel_scope.cancel()

    trio.run(main)


def timer_and_delivery_at_one_instant(timer_first: bool) -> list[tuple[int, str, Any]]:
    kernel = Kernel()
    ports = [VirtualPort(kernel, "timed"), VirtualPort(kernel, "other")]
    seen: list[tuple[int, str, Any]] = []
    if timer_first:
        ports[0].set_timer(100)                     # no entry at 100 yet: the timer is the instant's first
        kernel.deliver_at(100, ports[1], "datagram")
    else:
        kernel.deliver_at(100, ports[1], "datagram")
        ports[0].set_timer(100)                     # an entry at 100 already: joins its FIFO, behind it
    run(kernel, ports, lambda port, event: seen.append((kernel.now, port.name, event)), 1_000)
    return [entry for entry in seen if entry[2] is not STARTUP]


def test_a_timer_armed_before_a_delivery_at_its_instant_runs_first_and_after_it_runs_after() -> None:
    assert timer_and_delivery_at_one_instant(True) == [(100, "timed", TIMER), (100, "other", "datagram")]
    assert timer_and_delivery_at_one_instant(False) == [(100, "other", "datagram"), (100, "timed", TIMER)]


def test_a_timer_rearmed_at_the_same_instant_after_a_cancel_runs_behind_what_was_queued_meanwhile() -> None:
    kernel = Kernel()
    ports = [VirtualPort(kernel, name) for name in ("a", "b", "c")]
    seen: list[tuple[int, str, Any]] = []
    ports[0].set_timer(100)
    ports[1].set_timer(100)                         # armed after a's: runs after it
    ports[0].set_timer(None)
    ports[0].set_timer(100)                         # re-armed: now after b's
    ports[2].set_timer(200)
    kernel.deliver_at(200, ports[1], "datagram")
    ports[2].set_timer(None)
    ports[2].set_timer(200)                         # re-armed after the datagram was queued: behind it
    run(kernel, ports, lambda port, event: seen.append((kernel.now, port.name, event)), 1_000)
    assert [entry for entry in seen if entry[2] is not STARTUP] == [
        (100, "b", TIMER), (100, "a", TIMER), (200, "b", "datagram"), (200, "c", TIMER)]
    assert kernel.events_run == 3 + 4               # the STARTUPs and four entries: no cancelled timer counted


def test_an_instant_of_cancelled_timers_is_no_entry_and_no_turn_of_the_yield_budget() -> None:
    kernel = Kernel()
    kernel.yield_every = 2
    ports = [VirtualPort(kernel, name) for name in ("a", "b")]
    seen: list[Any] = []
    for at in (10, 20, 30, 40):                     # cancelled and moved: four stale timers, none an entry
        ports[0].set_timer(at)
    ports[0].set_timer(None)
    ports[1].set_timer(25)
    kernel.deliver_at(35, ports[0], "x")
    run(kernel, ports, lambda port, event: seen.append((kernel.now, port.name, event)), 1_000)
    assert seen[2:] == [(25, "b", TIMER), (35, "a", "x")]
    assert kernel.events_run == 4 and kernel.yields == 1      # two STARTUPs | the timer, "x": one checkpoint


def with_kernel(seed: int) -> tuple[list[tuple[int, int, Any]], int]:
    """Entries queue deliveries and callbacks and arm, move and cancel ports' timers, drawn from ``seed``."""
    kernel, rng = Kernel(), random.Random(seed)
    kernel.yield_every = 7
    ports = [VirtualPort(kernel, str(index)) for index in range(PORTS)]
    seen: list[tuple[int, int, Any]] = []
    count = 0

    def act() -> None:
        nonlocal count
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            kind, index, at = rng.choice(("deliver", "call", "timer", "timer", "cancel")), rng.randrange(PORTS), \
                kernel.now + rng.choice((0, 0, 1, 5, 5, 40, -3))
            count += 1
            if kind == "deliver":
                kernel.deliver_at(at, ports[index], count)
            elif kind == "call":
                kernel.call_at(at, entry, count)
            else:
                ports[index].set_timer(at if kind == "timer" else None)

    def entry(name: int) -> None:
        seen.append((kernel.now, -1, name))
        act()

    def step(port: VirtualPort, event: Any) -> None:
        if event is not STARTUP:
            seen.append((kernel.now, int(port.name), "timer" if event is TIMER else event))
            act()

    for _ in range(30):
        count += 1
        kernel.call_at(rng.randrange(50), entry, count)
    run(kernel, ports, step, 2_000)
    return seen, kernel.events_run


def with_heap(seed: int) -> tuple[list[tuple[int, int, Any]], int]:
    """The same draws on a plain heap of ``(time, seq, entry)``, a cancelled timer taken out of it."""
    rng, heap, seq, now = random.Random(seed), [], 0, 0
    seen: list[tuple[int, int, Any]] = []
    armed: dict[int, tuple[int, int, Any]] = {}
    deadline: dict[int, int | None] = {}
    count = 0

    def queue(at: int, item: Any) -> tuple[int, int, Any]:
        nonlocal seq
        seq += 1
        entry = (max(at, now), seq, item)
        heapq.heappush(heap, entry)
        return entry

    def act() -> None:
        nonlocal count
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            kind, index, at = rng.choice(("deliver", "call", "timer", "timer", "cancel")), rng.randrange(PORTS), \
                now + rng.choice((0, 0, 1, 5, 5, 40, -3))
            count += 1
            if kind == "deliver":
                queue(at, ("deliver", index, count))
            elif kind == "call":
                queue(at, ("call", -1, count))
            else:
                new = at if kind == "timer" else None
                if new == deadline.get(index):
                    continue                        # the port's timer is already that
                deadline[index] = new
                if index in armed:
                    heap.remove(armed.pop(index))
                    heapq.heapify(heap)
                if new is not None:
                    armed[index] = queue(new, ("timer", index, "timer"))

    for _ in range(30):
        count += 1
        queue(rng.randrange(50), ("call", -1, count))
    run_count = PORTS                               # the STARTUPs
    while heap and heap[0][0] <= 2_000:
        now, _, (kind, index, name) = heapq.heappop(heap)
        if kind == "timer":
            del armed[index]
            deadline[index] = None
        seen.append((now, index, name))
        run_count += 1
        act()
    return seen, run_count


@pytest.mark.parametrize("seed", range(8))
def test_timers_armed_moved_and_cancelled_run_in_time_then_queued_order(seed: int) -> None:
    expected, entries = with_heap(seed)
    assert len(expected) > 80 and sum(1 for _, _, name in expected if name == "timer") > 20
    assert with_kernel(seed) == (expected, entries)


def test_pending_next_due_and_pop_entry_see_live_timers_only_while_stale_ones_are_queued() -> None:
    """Timers re-armed while their port's earlier (cancelled, moved) entries are still queued: the queue's readers
    see the live ones, in order, and none of the stale."""
    kernel = Kernel()
    port, other = VirtualPort(kernel, "p"), VirtualPort(kernel, "q")
    while kernel.pop_entry() is not None:          # the STARTUPs
        pass
    port.set_timer(100)
    port.set_timer(None)
    port.set_timer(300)                             # its entry at 100 is stale, still queued
    other.set_timer(200)
    assert [at for at, _, _ in kernel.pending()] == [200, 300]
    assert kernel.next_due() == 200
    port.set_timer(150)
    port.set_timer(250)                             # later than its stale entry at 150
    assert [at for at, _, _ in kernel.pending()] == [200, 250]
    popped = [kernel.pop_entry() for _ in range(3)]
    assert [entry[0] for entry in popped if entry is not None] == [200, 250]
    assert popped[2] is None and kernel.next_due() is None
