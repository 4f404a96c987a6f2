"""CPU per create-and-keep pair in the sans-IO engines alone: no runtime, no medium, no capture.

    python bench/bench_engines.py [--pairs 20000] [--repeats 5]

Two nodes' physical layers (:class:`NodePhysical`) and link layers (:class:`LinkLayer`), their station and
the two applications (:class:`EntanglementUser`, origin and responder) are wired by a small pump that hands
each datagram, event and measurement straight to its engine, as the runtime would (without its kernel,
network, capture or authentication). One CREATE of ``--pairs`` pairs; per pair both ends emit, the station
heralds, the master numbers and CONFIRMs, the other end answers, both applications get their OK and measure.
Virtual time advances 100 µs a pair (the link layers' memories of answers are forgotten as in a run). Prints
the CPU µs per pair (median of ``--repeats`` runs in this process, each on fresh engines) and checks that
every pair was delivered at both ends.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import deque
from typing import Any

from protocols.apps.workload import EntanglementUser
from protocols.common import EGP_PORT, HERALD_PORT, LINK_SERVICE_PORT, Actions, Address
from protocols.fastinit import fast_new
from protocols.link.layer import LinkConfig, LinkLayer
from protocols.packets.linkservice import Create
from protocols.physical.hardware import Detection, Emitted, MeasureResult
from protocols.physical.hardware import Measure as MeasureCommand
from protocols.physical.node import NodePhysical, Station

LINK = 1
IPS = {1: "198.18.0.1", 2: "198.18.0.2"}
STATION_IP = "198.18.0.3"
APP_PORT = 49152
PURPOSE = 5
DISTRIBUTION = (0.9625, 0.0125, 0.0125, 0.0125)
STEP_NS = 100_000
HERALD_DELAY_NS = 25_000

# built as the medium builds them (stack/quantum/emission.py, operations.py), so the figures are the runtime's
new_emitted = fast_new(Emitted)
new_detection = fast_new(Detection)
new_measure_result = fast_new(MeasureResult)


class Wiring:
    """The engines of one link and the pump between them."""

    def __init__(self, pairs: int) -> None:
        config = {node: LinkConfig(LINK, 3 - node, (IPS[3 - node], EGP_PORT), 1e6, 1e6) for node in (1, 2)}
        self.links = {node: LinkLayer(node, [config[node]], {PURPOSE: (IPS[node], APP_PORT)}, retransmit_ns=50_000)
                      for node in (1, 2)}
        self.phys = {node: NodePhysical(herald_timeout_ns=200_000) for node in (1, 2)}
        self.station = Station({LINK: ((IPS[1], HERALD_PORT), (IPS[2], HERALD_PORT))}, detection_window_ns=1)
        create = Create(remote_node_id=2, purpose_id=PURPOSE, number=pairs)
        self.apps = {1: EntanglementUser((IPS[1], LINK_SERVICE_PORT), create),
                     2: EntanglementUser((IPS[2], LINK_SERVICE_PORT), None)}
        self.engines: dict[Address, Any] = {}
        self.sources: dict[int, tuple[int, Address, Address]] = {}   # engine -> (node, source, to its app)
        for node in (1, 2):
            ip = IPS[node]
            self.engines[(ip, EGP_PORT)] = self.engines[(ip, LINK_SERVICE_PORT)] = self.links[node]
            self.engines[(ip, HERALD_PORT)] = self.phys[node]
            self.engines[(ip, APP_PORT)] = self.apps[node]
            self.sources[id(self.links[node])] = (node, (ip, EGP_PORT), (ip, LINK_SERVICE_PORT))
            self.sources[id(self.phys[node])] = (node, (ip, HERALD_PORT), (ip, HERALD_PORT))
            self.sources[id(self.apps[node])] = (node, (ip, APP_PORT), (ip, APP_PORT))
        self.sources[id(self.station)] = (0, (STATION_IP, HERALD_PORT), (STATION_IP, HERALD_PORT))
        self.queue: deque[tuple[Any, Any, Address | None, int]] = deque()

    def pump(self, now: int) -> None:
        """Hand everything in flight to its engine, and what that returns, until nothing is left."""
        queue, apply = self.queue, self.apply
        while queue:
            engine, item, source, port = queue.popleft()
            if source is None:
                apply(engine, engine.handle(item, now))
            else:
                apply(engine, engine.receive(item, source, port, now))

    def apply(self, engine: Any, actions: Actions) -> None:
        """Queue what an engine asked for: datagrams to their engines, events up and down, measurements."""
        node, source, to_app = self.sources[id(engine)]
        queue = self.queue
        for destination, payload in actions.send:
            port = destination[1]
            queue.append((self.engines[destination], payload, to_app if port == APP_PORT else source, port))
        for event in actions.up:                    # only the physical layer hands events up here
            queue.append((self.links[node], event, None, 0))
        for event in actions.down:                  # Start/StopGeneration: the physical layer's Arm/Disarm
            queue.append((self.phys[node], event, None, 0))
        for command in actions.hardware:
            if type(command) is MeasureCommand:
                queue.append((engine, new_measure_result(command.slot, 0, command.basis, 0), None, 0))

    def start(self) -> None:
        """The origin's CREATE, and everything until both ends generate."""
        origin = self.apps[1]
        self.apply(origin, origin.start(0))
        self.apply(origin, origin.on_timer(0))
        self.pump(0)

    def pair(self, attempt: int, now: int) -> None:
        """One heralded attempt: both ends emit, the station heralds, and everything that follows."""
        for node in (1, 2):
            emitted = new_emitted(LINK, 0, attempt, attempt, now, DISTRIBUTION)
            self.apply(self.phys[node], self.phys[node].handle(emitted, now))
        detection = new_detection(LINK, attempt, 1, ((1, 0, now), (2, 1, now)), (now, now))
        self.apply(self.station, self.station.handle(detection, now + HERALD_DELAY_NS))
        self.pump(now + HERALD_DELAY_NS)


def one_run(pairs: int) -> float:
    """CPU µs per pair of ``pairs`` create-and-keep pairs through the engines."""
    wiring = Wiring(pairs)
    wiring.start()
    started = time.process_time()
    for attempt in range(1, pairs + 1):
        wiring.pair(attempt, 1_000_000 + attempt * STEP_NS)
    cpu = time.process_time() - started
    for app in wiring.apps.values():
        if len(app.records) != pairs:
            raise RuntimeError(f"{len(app.records)} of {pairs} pairs delivered")
    return cpu / pairs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    one_run(100)
    runs = [one_run(args.pairs) for _ in range(args.repeats)]
    print(f"engines alone, {args.pairs} create-and-keep pairs: {statistics.median(runs):.2f} CPU µs per pair "
          f"(median of {args.repeats}; min {min(runs):.2f}, max {max(runs):.2f})")


if __name__ == "__main__":
    main()
