"""The virtual-time kernel under trio: the ``(time, insertion)`` queue alone decides the order."""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio
import trio.testing

from stack.core.kernel import STARTUP, TIMER, Kernel, VirtualPort


async def recorder(kernel: Kernel, port: VirtualPort, log: list[tuple[int, str, Any]]) -> None:
    """A layer-like task: record every event with the virtual time it arrived at."""
    try:
        while True:
            event = await port.next()
            log.append((kernel.now, port.name, event))
            await trio.lowlevel.checkpoint()      # yield to trio: others could run now if they were ready
            await trio.lowlevel.checkpoint()
    finally:
        port.close()


async def run_recorded(events: list[tuple[int, int, str]], n_ports: int, start_order: list[int],
                       until: int) -> list[tuple[int, str, Any]]:
    kernel = Kernel()
    ports = [VirtualPort(kernel, f"p{i}") for i in range(n_ports)]
    log: list[tuple[int, str, Any]] = []
    async with trio.open_nursery() as nursery:
        for i in start_order:
            nursery.start_soon(recorder, kernel, ports[i], log)
        for at, target, label in events:
            kernel.deliver_at(at, ports[target], label)
        await kernel.run(until=until)
        nursery.cancel_scope.cancel()
    return log


def interleaved_events(rng: random.Random, n_ports: int, n: int) -> list[tuple[int, int, str]]:
    """Events at few distinct times (many ties), queued in no particular time order."""
    return [(rng.choice((0, 5, 5, 10, 10, 10, 30, 1_000)), rng.randrange(n_ports), f"e{k}") for k in range(n)]


async def test_same_time_events_run_in_insertion_order() -> None:
    kernel = Kernel()
    port = VirtualPort(kernel, "p")
    log: list[tuple[int, str, Any]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(recorder, kernel, port, log)
        for label in ("c", "a", "b"):
            kernel.deliver_at(50, port, label)
        kernel.deliver_at(20, port, "first")
        await kernel.run(until=100)
        nursery.cancel_scope.cancel()
    assert log == [(0, "p", STARTUP), (20, "p", "first"), (50, "p", "c"), (50, "p", "a"), (50, "p", "b")]


async def test_global_order_is_time_then_insertion_and_reproducible() -> None:
    n_ports = 20
    events = interleaved_events(random.Random(1234), n_ports, 300)
    # The order the kernel must impose, computed independently: startups in port creation order,
    # then every delivery by (time, position in the insertion sequence).
    expected = [(0, f"p{i}", STARTUP) for i in range(n_ports)]
    expected += [(at, f"p{target}", label)
                 for _, (at, target, label) in sorted(enumerate(events), key=lambda e: (e[1][0], e[0]))]
    runs = []
    for trial in range(4):
        start_order = list(range(n_ports))
        random.Random(trial).shuffle(start_order)   # trio starts tasks in yet another order
        runs.append(await run_recorded(events, n_ports, start_order, until=10_000))
    for log in runs:
        assert log == expected


async def test_events_scheduled_while_handling_go_after_earlier_ties() -> None:
    """A handler that queues an event for *now* does not overtake events already queued for now."""
    kernel = Kernel()
    ping, pong, other = (VirtualPort(kernel, name) for name in ("ping", "pong", "other"))
    log: list[tuple[int, str, Any]] = []

    async def forwarder() -> None:
        while True:
            event = await ping.next()
            log.append((kernel.now, "ping", event))
            if event is not STARTUP:
                kernel.deliver_at(kernel.now, pong, f"fwd-{event}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(recorder, kernel, other, log)
        nursery.start_soon(recorder, kernel, pong, log)
        nursery.start_soon(forwarder)
        kernel.deliver_at(7, ping, "x")
        kernel.deliver_at(7, other, "y")
        kernel.deliver_at(7, other, "z")
        kernel.deliver_at(8, other, "later")
        await kernel.run(until=100)
        nursery.cancel_scope.cancel()
    after_startup = [entry for entry in log if entry[2] is not STARTUP]
    assert after_startup == [(7, "ping", "x"), (7, "other", "y"), (7, "other", "z"), (7, "pong", "fwd-x"),
                             (8, "other", "later")]


async def test_set_timer_replaces_and_cancels() -> None:
    kernel = Kernel()
    later, earlier, cancelled, rearmed = (VirtualPort(kernel, n) for n in ("later", "earlier", "cancelled",
                                                                          "rearmed"))
    log: list[tuple[int, str, Any]] = []
    async with trio.open_nursery() as nursery:
        for port in (later, earlier, cancelled, rearmed):
            nursery.start_soon(recorder, kernel, port, log)
        later.set_timer(500)
        later.set_timer(800)          # moved later: 500 must not fire
        earlier.set_timer(500)
        earlier.set_timer(300)        # moved earlier: fires at 300 only
        cancelled.set_timer(400)
        cancelled.set_timer(None)     # never fires
        rearmed.set_timer(100)
        rearmed.set_timer(None)
        rearmed.set_timer(100)        # the same deadline again after a cancel: fires once
        await kernel.run(until=10_000)
        nursery.cancel_scope.cancel()
    timers = [(t, name) for t, name, event in log if event is TIMER]
    assert timers == [(100, "rearmed"), (300, "earlier"), (800, "later")]


async def test_timer_set_from_a_handler_and_in_the_past() -> None:
    kernel = Kernel()
    port = VirtualPort(kernel, "p")
    log: list[tuple[int, Any]] = []

    async def layer() -> None:
        while True:
            event = await port.next()
            log.append((kernel.now, event))
            if event == "arm":
                port.set_timer(kernel.now + 250)
            elif event == "rearm-past":
                port.set_timer(kernel.now - 1_000)     # never earlier than now
            elif event == "disarm":
                port.set_timer(None)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(layer)
        kernel.deliver_at(1_000, port, "arm")          # timer due 1_250
        kernel.deliver_at(2_000, port, "arm")          # timer due 2_250 ...
        kernel.deliver_at(2_100, port, "disarm")       # ... cancelled
        kernel.deliver_at(3_000, port, "rearm-past")   # fires at 3_000, after this event
        await kernel.run(until=5_000)
        nursery.cancel_scope.cancel()
    assert log == [(0, STARTUP), (1_000, "arm"), (1_250, TIMER), (2_000, "arm"), (2_100, "disarm"),
                   (3_000, "rearm-past"), (3_000, TIMER)]


async def test_run_until_stops_there_and_sets_now() -> None:
    kernel = Kernel()
    port = VirtualPort(kernel, "p")
    log: list[tuple[int, str, Any]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(recorder, kernel, port, log)
        for at in (100, 250, 251, 400):
            kernel.deliver_at(at, port, at)
        await kernel.run(until=250)                    # inclusive
        assert [e for _, _, e in log] == [STARTUP, 100, 250]
        assert kernel.now == 250
        await kernel.run(until=399)
        assert [e for _, _, e in log][-1] == 251
        assert kernel.now == 399
        await kernel.run(until=10_000)
        assert [e for _, _, e in log] == [STARTUP, 100, 250, 251, 400]
        assert kernel.now == 10_000                    # an empty queue still advances time
        assert kernel.events_run == 5
        nursery.cancel_scope.cancel()


async def test_stop_makes_run_return_early() -> None:
    kernel = Kernel()
    port = VirtualPort(kernel, "p")
    seen: list[tuple[int, Any]] = []

    async def layer() -> None:
        while True:
            event = await port.next()
            seen.append((kernel.now, event))
            if event == "stop":
                kernel.stop()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(layer)
        kernel.deliver_at(100, port, "a")
        kernel.deliver_at(150, port, "stop")
        kernel.deliver_at(150, port, "same-time-after-stop")
        kernel.deliver_at(200, port, "b")
        await kernel.run(until=1_000)
        assert kernel.now == 150
        assert [e for _, e in seen] == [STARTUP, "a", "stop"]
        await kernel.run(until=1_000)                  # a new run continues where it stopped
        assert seen[3:] == [(150, "same-time-after-stop"), (200, "b")]
        assert kernel.now == 1_000
        nursery.cancel_scope.cancel()


async def test_stop_finishing_the_instant_runs_what_is_due_then_and_no_more() -> None:
    kernel = Kernel()
    port = VirtualPort(kernel, "p")
    seen: list[tuple[int, Any]] = []

    async def layer() -> None:
        while True:
            event = await port.next()
            seen.append((kernel.now, event))
            if event == "stop":
                kernel.stop(finish_instant=True)
                kernel.deliver_at(kernel.now, port, "sent-on-the-stop")    # e.g. an answer to a local app

    async with trio.open_nursery() as nursery:
        nursery.start_soon(layer)
        kernel.deliver_at(150, port, "stop")
        kernel.deliver_at(150, port, "same-time-after-stop")
        kernel.deliver_at(151, port, "later")
        await kernel.run(until=1_000)
        assert kernel.now == 150
        assert [e for _, e in seen] == [STARTUP, "stop", "same-time-after-stop", "sent-on-the-stop"]
        await kernel.run(until=1_000)
        assert seen[4:] == [(151, "later")]
        nursery.cancel_scope.cancel()


async def test_closed_port_drops_and_counts_deliveries() -> None:
    kernel = Kernel()
    port = VirtualPort(kernel, "short-lived")
    keeper = VirtualPort(kernel, "keeper")
    got: list[Any] = []
    log: list[tuple[int, str, Any]] = []

    async def one_shot() -> None:
        try:
            assert await port.next() is STARTUP
            got.append(await port.next())
        finally:
            port.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one_shot)
        nursery.start_soon(recorder, kernel, keeper, log)
        kernel.deliver_at(10, port, "only")
        kernel.deliver_at(20, port, "dropped-1")
        kernel.deliver_at(30, port, "dropped-2")
        kernel.deliver_at(40, keeper, "still-delivered")
        await kernel.run(until=35)
        port.set_timer(38)                              # a timer of a closed port is dropped too
        await kernel.run(until=100)
        nursery.cancel_scope.cancel()
    assert got == ["only"]
    assert port.closed
    assert port.dropped == 3
    assert [e for _, _, e in log] == [STARTUP, "still-delivered"]


async def test_port_never_started_does_not_stall_once_closed() -> None:
    kernel = Kernel()
    port = VirtualPort(kernel, "orphan")
    port.close()
    kernel.deliver_at(5, port, "x")
    with trio.fail_after(5):
        await kernel.run(until=10)
    assert port.dropped == 2                            # its STARTUP and "x"
    assert kernel.now == 10


async def test_virtual_time_is_independent_of_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    """Ten virtual seconds take no trio time; trio time passing moves no virtual time."""
    kernel = Kernel()
    port = VirtualPort(kernel, "ticker")
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            event = await port.next()
            ticks.append(kernel.now)
            if event is TIMER or event is STARTUP:
                port.set_timer(kernel.now + 100_000_000)  # every 100 ms of virtual time

    trio_start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await kernel.run(until=10_000_000_000)
        assert trio.current_time() == trio_start
        assert kernel.now == 10_000_000_000
        assert ticks == [k * 100_000_000 for k in range(101)]
        await trio.sleep(3_600)                         # an hour of trio time (autojumped) ...
        assert trio.current_time() == trio_start + 3_600
        assert kernel.now == 10_000_000_000             # ... and virtual time has not moved
        assert len(ticks) == 101
        nursery.cancel_scope.cancel()


async def test_ten_virtual_seconds_never_wait_for_a_clock(autojump_clock: trio.testing.MockClock) -> None:
    """A thousand deliveries over ten virtual seconds: no sleep at all (trio's clock does not move), so
    their wall time is only the work, however loaded the machine."""
    kernel = Kernel()
    ports = [VirtualPort(kernel, f"p{i}") for i in range(4)]
    log: list[tuple[int, str, Any]] = []
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for port in ports:
            nursery.start_soon(recorder, kernel, port, log)
        for k in range(1_000):
            kernel.deliver_at(k * 10_000_000, ports[k % 4], k)
        await kernel.run(until=10_000_000_000)
        nursery.cancel_scope.cancel()
    assert len(log) == 4 + 1_000
    assert kernel.now == 10_000_000_000
    assert trio.current_time() == started


async def test_a_run_cancelled_midway_ends_cleanly() -> None:
    """A deadline around a run that would never end (a sweep point's --timeout) cancels it: the cancelled
    kernel is never handed the baton again. trio wakes the cancelled tasks in random order and only some
    orders used to fail (about one in six), so the run is cancelled 40 times, each time by a task that
    cancels once the run has run a random number of events (not by a wall-clock deadline: on a busy
    machine one might expire before the first event)."""
    rng = random.Random(7)
    for _ in range(40):
        kernel = Kernel()
        ping, pong = VirtualPort(kernel, "ping"), VirtualPort(kernel, "pong")
        kernel.deliver_at(0, ping, "ball")
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(bounce, kernel, ping, pong)
                nursery.start_soon(bounce, kernel, pong, ping)
                nursery.start_soon(cancel_after, kernel, scope, rng.randrange(1, 5_000))
                await kernel.run(until=10**18)
        assert scope.cancelled_caught and kernel.events_run > 0


async def cancel_after(kernel: Kernel, scope: trio.CancelScope, events: int) -> None:
    while kernel.events_run < events:
        await trio.sleep(0)
    scope.cancel()


async def bounce(kernel: Kernel, port: VirtualPort, other: VirtualPort) -> None:
    try:
        while True:
            await port.next()
            kernel.deliver_at(kernel.now + 1, other, "ball")
    finally:
        port.close()


async def run_mixed(events: list[tuple[int, int, str]], serving: set[int], n_ports: int,
                    until: int) -> tuple[Kernel, list[tuple[int, str, Any]]]:
    """Ports in ``serving`` are served by a step (run inline by the baton holder); the others await."""
    kernel = Kernel()
    ports = [VirtualPort(kernel, f"p{i}") for i in range(n_ports)]
    log: list[tuple[int, str, Any]] = []
    async with trio.open_nursery() as nursery:
        for i, port in enumerate(ports):
            if i in serving:
                nursery.start_soon(port.serve, lambda event, name=port.name: log.append((kernel.now, name, event)))
            else:
                nursery.start_soon(recorder, kernel, port, log)
        for at, target, label in events:
            kernel.deliver_at(at, ports[target], label)
        await kernel.run(until=until)
        nursery.cancel_scope.cancel()
    return kernel, log


async def test_serving_ports_keep_the_order_and_cost_no_task_switch() -> None:
    """Steps run inline in queue order; only events for awaiting tasks switch tasks: one switch each time
    the baton moves to another awaiting task, one to give it back at the end, one to start the run."""
    n_ports = 12
    events = interleaved_events(random.Random(99), n_ports, 400)
    expected = [(0, f"p{i}", STARTUP) for i in range(n_ports)]
    expected += [(at, f"p{target}", label)
                 for _, (at, target, label) in sorted(enumerate(events), key=lambda e: (e[1][0], e[0]))]
    awaiting = {"p3", "p7"}
    holders = ["main"]
    for _, name, _ in expected:
        if name in awaiting and holders[-1] != name:
            holders.append(name)
    serving = {i for i in range(n_ports) if f"p{i}" not in awaiting}
    kernel, log = await run_mixed(events, serving, n_ports, until=10_000)
    assert log == expected
    assert kernel.switches == 1 + (len(holders) - 1) + 1       # start, each hand-off, the end
    everyone_serves, log = await run_mixed(events, set(range(n_ports)), n_ports, until=10_000)
    assert log == expected
    assert everyone_serves.switches == 1                        # only the start: every event ran inline


async def test_a_failing_step_raises_in_its_own_task_and_ends_the_run() -> None:
    kernel = Kernel()
    bad, good = VirtualPort(kernel, "bad"), VirtualPort(kernel, "good")
    seen: list[Any] = []
    raised_in: list[str] = []

    def explode(event: Any) -> None:
        if event == "boom":
            raise ValueError("boom")

    async def serve(port: VirtualPort, step: Any) -> None:
        try:
            await port.serve(step)
        except ValueError:
            raised_in.append(port.name)
            raise
        finally:
            port.close()

    with pytest.raises(ExceptionGroup) as group:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve, bad, explode)
            nursery.start_soon(serve, good, seen.append)
            kernel.deliver_at(5, good, "before")
            kernel.deliver_at(10, bad, "boom")
            kernel.deliver_at(10, good, "same time, after")
            kernel.deliver_at(20, good, "later")
            await kernel.run(until=100)
            await kernel.run(until=200)             # a failed run does not start again: this is cancelled
    assert group.value.subgroup(ValueError) is not None
    assert raised_in == ["bad"]
    assert seen == [STARTUP, "before"]


async def test_a_timeout_cancels_a_run_that_never_switches_tasks() -> None:
    """Two serving ports bouncing an event forever: the run yields to trio every ``yield_every`` entries,
    so a deadline around it takes effect."""
    kernel = Kernel()
    ping, pong = VirtualPort(kernel, "ping"), VirtualPort(kernel, "pong")
    kernel.deliver_at(0, ping, "ball")

    def bounce_to(other: VirtualPort) -> Any:
        return lambda event: kernel.deliver_at(kernel.now + 1, other, "ball")

    with pytest.raises(trio.TooSlowError), trio.fail_after(0.05):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ping.serve, bounce_to(pong))
            nursery.start_soon(pong.serve, bounce_to(ping))
            await kernel.run(until=10**18)
    assert kernel.events_run > kernel.yield_every
    assert kernel.switches == 1 and kernel.yields >= 1
