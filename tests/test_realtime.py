"""The real-time kernel: entries run when the dilated wall clock reaches them; lateness is counted."""

from __future__ import annotations

import time
from typing import Any

import trio

from stack.core.kernel import STARTUP, VirtualPort
from stack.multiprocess.realtime import RealtimeKernel

MS = 1_000_000


async def test_entries_run_at_their_dilated_wall_time() -> None:
    kernel = RealtimeKernel(time.time_ns(), dilation=0.5, tolerance_ns=5 * MS)   # 1 emulated ms per 2 wall ms
    ran: list[tuple[int, float]] = []
    start = time.monotonic()
    for at in (10 * MS, 5 * MS, 20 * MS):
        kernel.call_at(at, lambda at: ran.append((at, time.monotonic() - start)), at)
    await kernel.run_realtime(until=25 * MS)
    assert [at for at, _ in ran] == [5 * MS, 10 * MS, 20 * MS]
    for at, wall in ran:
        assert wall >= at / 0.5 / 1e9 - 1e-3          # never early (1 ms for clock granularity)
    assert kernel.now == 25 * MS
    assert kernel.missed_deadlines == 0


async def test_a_blocked_process_counts_missed_deadlines() -> None:
    kernel = RealtimeKernel(time.time_ns(), dilation=1.0, tolerance_ns=5 * MS)
    kernel.call_at(1 * MS, lambda _: time.sleep(0.05))       # hogs the process for 50 ms
    for k in range(3):
        kernel.call_at(2 * MS + k, lambda _: None)            # all due while it was blocked
    kernel.call_at(200 * MS, lambda _: None)                  # due long after: on time
    await kernel.run_realtime(until=210 * MS)
    assert kernel.missed_deadlines == 3
    assert kernel.worst_lateness_ns >= 40 * MS


async def test_external_inputs_wait_for_their_stamp_and_late_ones_count() -> None:
    kernel = RealtimeKernel(time.time_ns(), dilation=1.0, tolerance_ns=5 * MS)
    port = VirtualPort(kernel, "p")
    seen: list[tuple[int, Any]] = []

    async def layer() -> None:
        while True:
            event = await port.next()
            if event is not STARTUP:
                seen.append((kernel.now, event))

    async def outside() -> None:
        await trio.sleep(0.01)
        kernel.inject(30 * MS, port, "future")               # stamped ahead: delivered at 30 ms
        kernel.inject(None, port, "now")
        await trio.sleep(0.05)
        kernel.inject(1 * MS, port, "late")                   # stamped ~59 ms ago

    async with trio.open_nursery() as nursery:
        nursery.start_soon(layer)
        nursery.start_soon(outside)
        await kernel.run_realtime(until=100 * MS)
        nursery.cancel_scope.cancel()
    assert [event for _, event in seen] == ["now", "future", "late"]
    assert seen[1][0] == 30 * MS
    assert 10 * MS <= seen[0][0] < 30 * MS
    assert kernel.late_inputs == 1


async def test_halt_returns_early() -> None:
    kernel = RealtimeKernel(time.time_ns(), dilation=1.0)
    kernel.call_at(5 * MS, lambda _: kernel.halt())
    started = time.monotonic()
    await kernel.run_realtime(until=10_000 * MS)
    assert time.monotonic() - started < 1.0
    assert 5 * MS <= kernel.now < 1000 * MS
