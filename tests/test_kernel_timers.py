"""A port's cancelled or moved timer leaves the kernel's queue (stack/core/port.py) without moving any other
entry; entries still due at the running instant stay visible to ``next_due`` (the heralding's retry at the end of an
entry asks it) and, left by a stopped run, run before those queued since; the run-end check turned off on all
but the workload origins' layers ends a run after the same event."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import trio

import stack.emulation as emulation
from stack.core.kernel import STARTUP, TIMER, Kernel, VirtualPort
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_a_cancelled_timer_leaves_the_queue_and_is_not_an_event() -> None:
    kernel = Kernel()
    port = VirtualPort(kernel, "p")
    other = VirtualPort(kernel, "q")
    port.set_timer(500)
    assert [(at, arg) for at, _, arg in kernel.pending() if at == 500] == [(500, 1)]
    port.set_timer(None)
    assert [at for at, _, _ in kernel.pending()] == [0, 0]          # the two STARTUPs
    kernel.deliver_at(300, other, "a")
    port.set_timer(300)                                              # after "a", at the same instant
    kernel.deliver_at(300, other, "b")                               # queued after the timer
    port.set_timer(400)                                              # taken out from between "a" and "b"
    pending = kernel.pending()
    assert [(at, arg) for at, _, arg in pending[:4]] == [(0, STARTUP), (0, STARTUP), (300, "a"), (300, "b")]
    assert [at for at, _, _ in pending[4:]] == [400]
    assert kernel.next_due() == 0


def test_timers_fire_once_at_their_last_deadline_and_cancelled_ones_are_not_counted() -> None:
    kernel = Kernel()
    port = VirtualPort(kernel, "p")
    seen: list[tuple[int, Any]] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(port.serve, lambda event: seen.append((kernel.now, event)))
            await kernel.run(until=0)
            for deadline in (100, 50, 200, None, 300, 250):
                port.set_timer(deadline)
            kernel.deliver_at(250, port, "after the timer")
            port.set_timer(None)
            port.set_timer(250)                                      # now after "after the timer"
            await kernel.run(until=1_000)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert seen == [(0, STARTUP), (250, "after the timer"), (250, TIMER)]
    assert kernel.events_run == 3                                    # six cancelled timers ran nothing


def test_next_due_sees_the_entries_still_due_at_the_running_instant() -> None:
    """stack/quantum/retry.py retries inline only when no other entry is due now; a kernel that hid the rest of
    the running instant's entries from ``next_due`` made it jump ahead of them (the chain runs of
    tests/test_heralding_retry.py then differed from the queued retry's bytes)."""
    kernel = Kernel()
    seen: list[tuple[str, int | None]] = []

    def note(label: str) -> None:
        seen.append((label, kernel.next_due()))

    for label in ("first", "second"):
        kernel.call_at(10, note, label)
    kernel.call_at(20, note, "later")
    trio.run(kernel.run, 100)
    assert seen == [("first", 10), ("second", 20), ("later", None)]


def test_entries_left_by_a_stop_run_before_those_queued_since_for_the_same_instant() -> None:
    kernel = Kernel()
    port = VirtualPort(kernel, "p")
    seen: list[Any] = []

    def step(event: Any) -> None:
        seen.append(event)
        if event == "stop":
            kernel.stop()
            kernel.deliver_at(kernel.now, port, "queued on the stop")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(port.serve, step)
            for label in ("a", "stop", "b", "c"):
                kernel.deliver_at(10, port, label)
            await kernel.run(until=100)
            assert seen == [STARTUP, "a", "stop"] and kernel.now == 10
            assert [arg for _, _, arg in kernel.pending()] == ["b", "c", "queued on the stop"]
            await kernel.run(until=100)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert seen == [STARTUP, "a", "stop", "b", "c", "queued on the stop"]


def test_the_run_ends_after_the_same_event_with_the_end_check_on_every_layer(monkeypatch: Any) -> None:
    scenario = load(EXAMPLES / "two-qpus.toml")
    scenario = dataclasses.replace(scenario, workload=[dataclasses.replace(scenario.workload[0], pairs=40)])
    quiet = build_report(run_scenario(scenario, seed=3))
    monkeypatch.setattr(emulation, "_quiet", lambda emu: setattr(emu, "quieted", True))
    everywhere = build_report(run_scenario(scenario, seed=3))
    assert quiet == everywhere
