"""The runtime's own cost per datagram: Network.send -> kernel -> arrival -> a serving port that does nothing.

    python bench/bench_datagram.py [--datagrams 100000] [--repeats 5] [--capture]

Two nodes, one 10 km fibre, a sender that sends 10 datagrams of 24 bytes every µs of virtual time, a receiver
whose step does nothing: no engine, no medium, capture off (``--capture``: on, to a ``BytesIO``). CPU µs per
datagram (``time.process_time``), median of ``--repeats`` runs, with authentication on (the run's default: sealed
at the send, opened at the arrival; without capture, nothing reads the sealed bytes and they are not computed)
and off. Deterministic in what it runs; for a figure that does not move with the machine's load, count
instructions: ``valgrind --tool=callgrind python bench/bench_datagram.py --datagrams N --repeats 1`` for two
values of N, and divide the difference by the difference of N.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time

import numpy as np
import trio

from protocols.security import Authenticator
from stack.core.capture import PcapWriter, node_ip
from stack.core.kernel import Kernel, VirtualPort
from stack.core.network import Fibre, Network

BURST = 10


def one_run(datagrams: int, authenticate: bool, capture: bool = False) -> float:
    """CPU µs per datagram of one run."""
    kernel = Kernel()
    network = Network(kernel, np.random.SeedSequence(1), PcapWriter(io.BytesIO()) if capture else None)
    for node in (1, 2):
        network.add_node(node)
    network.add_fibre(1, 2, Fibre(10.0, 49_000))
    if authenticate:
        network.auth = Authenticator(bytes(32))
    received = [0]
    sender, receiver = VirtualPort(kernel, "a"), VirtualPort(kernel, "b")
    network.bind(1, 7772, sender)
    network.bind(2, 7772, receiver)
    destination, payload = (node_ip(2), 7772), bytes(24)

    def burst(_: object) -> None:
        for _ in range(BURST):
            network.send(1, 7772, destination, payload)

    def count(_: object) -> None:
        received[0] += 1

    for index in range(datagrams // BURST):
        kernel.call_at(index * 1000, burst)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver.serve, count)
            nursery.start_soon(sender.serve, lambda _: None)
            await kernel.run(until=10**15)
            nursery.cancel_scope.cancel()

    started = time.process_time()
    trio.run(main)
    cpu = time.process_time() - started
    sent = datagrams // BURST * BURST
    if received[0] != sent + 1:                 # + its STARTUP
        raise SystemExit(f"{received[0] - 1} of {sent} datagrams arrived")
    return cpu / sent * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datagrams", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--capture", action="store_true", help="capture every datagram (to memory)")
    args = parser.parse_args()
    print(f"{args.datagrams} datagrams per run, capture {'on' if args.capture else 'off'}, median of {args.repeats} "
          f"(load average {os.getloadavg()[0]:.1f})")
    for authenticate in (True, False):
        runs = [one_run(args.datagrams, authenticate, args.capture) for _ in range(args.repeats)]
        print(f"authentication {'on ' if authenticate else 'off'}: {statistics.median(runs):6.2f} CPU µs per "
              f"datagram (min {min(runs):.2f}, max {max(runs):.2f})")


if __name__ == "__main__":
    main()
