"""The kernel, ports and ``Layer`` alone, in a create-and-keep pair's pattern, with engines that do nothing.

    python bench/bench_kernel.py [--cycles 20000] [--repeats 5]

One cycle is what the runtime does for a kept pair on two QPUs (counted in a ``qnet run``): 17 queue entries
(6 callbacks, 11 deliveries, 6 of them at the running instant, 2 through the ready queue), 13 layer steps, 2
hand-offs up, 8 timer calls (4 armed, 4 cancelled before they are due). Prints CPU µs per cycle (median of the
repeats) and the entries run; under valgrind (``--repeats 1``, minus ``--cycles 0``) the instructions per cycle.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import trio

sys.path.insert(0, os.getcwd())

from protocols.common import Actions
from stack.core.kernel import Kernel, VirtualPort
from stack.core.layer import Layer

CYCLE_NS = 1_000


class _Network:
    def bind(self, *_: Any) -> None:
        pass

    def send(self, *_: Any) -> None:
        pass


class _Engine:
    """Returns what the layer of its name returns for each event of a pair (outputs other than hand-offs
    and deadlines left out)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def start(self, now: int) -> Actions:
        return Actions()

    def on_timer(self, now: int) -> Actions:
        return Actions()

    def receive(self, payload: bytes, source: Any, port: int, now: int) -> Actions:
        return Actions()

    def handle(self, event: Any, now: int) -> Actions:
        if self.kind == "physical":
            if event == "emitted":
                return Actions(deadline=now + 50_000)       # armed
            if event == "herald":
                return Actions(up=["ready"])                 # cancelled, one event handed up
        elif self.kind == "link" and event == "ready":
            return Actions(deadline=now + 40_000)            # armed; cancelled by the "answer"
        return Actions()

    def held_slots(self) -> set[int]:
        return set()


def one_run(cycles: int) -> tuple[float, int]:
    """CPU seconds of ``cycles`` cycles (set-up excluded) and the entries run."""
    kernel = Kernel()
    network: Any = _Network()

    def layer(name: str, kind: str) -> Layer:
        return Layer(name, 0, _Engine(kind), VirtualPort(kernel, name), network, None, [1])  # type: ignore[arg-type]

    physical = [layer(f"physical{i}", "physical") for i in range(2)]
    link = [layer(f"link{i}", "link") for i in range(2)]
    apps = [layer(f"app{i}", "app") for i in range(2)]
    station = layer("station", "station")
    for below, above in zip(physical, link, strict=True):
        below.above, above.below = above, below
    done = [0]

    def emit(side: int) -> None:
        physical[side].port.deliver("emitted")

    def nothing(_: Any) -> None:
        pass

    def cycle(_: Any) -> None:
        t = kernel.now
        kernel.call_at(t, emit, 0)
        kernel.call_at(t, emit, 1)
        kernel.deliver_at(t + 100, station.port, "detection")
        kernel.call_at(t + 120, nothing, None)
        for i in range(2):
            kernel.deliver_at(t + 150, physical[i].port, "herald")
            kernel.deliver_at(t + 300, link[i].port, "answer")
            kernel.deliver_at(t + 300, apps[i].port, "ok")
            kernel.deliver_at(t + 400, apps[i].port, "result")
            kernel.call_at(t + 500, nothing, None)
        done[0] += 1
        if done[0] < cycles:
            kernel.call_at(t + CYCLE_NS, cycle, None)

    elapsed = [0.0]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for each in physical + link + apps + [station]:
                nursery.start_soon(each.run)
            await kernel.run(until=0)
            if cycles:
                kernel.call_at(10, cycle, None)
            started = time.process_time()
            await kernel.run(until=(cycles + 2) * CYCLE_NS)
            elapsed[0] = time.process_time() - started
            nursery.cancel_scope.cancel()

    trio.run(main)
    return elapsed[0], kernel.events_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    runs = [one_run(args.cycles) for _ in range(args.repeats)]
    per_cycle = [cpu / args.cycles * 1e6 for cpu, _ in runs] if args.cycles else [0.0]
    print(f"{args.cycles} cycles, {runs[0][1]} entries run; CPU µs per cycle: median "
          f"{statistics.median(per_cycle):.2f} ({', '.join(f'{x:.2f}' for x in per_cycle)}); "
          f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
