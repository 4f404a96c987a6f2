"""The peer side of bench/bench_transport.py's QKD row: SeQUeNCe 1.3.1's BB84 between two QKD nodes 10 km apart.

    /tmp/seq/bin/python bench/peer_sequence_bb84.py --keys 200 --key-bits 512

Needs SeQUeNCe 1.3.1 on Python 3.12 (not a dependency of qnetstack; none of its code is here; bench/README.md
says how to install it). SeQUeNCe's own BB84 set-up (its example and tests): two QKDNodes (polarization
encoding, their default light source and detectors), a quantum channel each way of 10 km at 0.2 dB/km, a
classical channel each way, the BB84 instances paired, and a key manager on each asking for ``--keys`` keys of
``--key-bits`` sifted bits. Prints the sifted bits, the error rate, the emulated seconds and the wall (and CPU)
seconds of the emulation (building the nodes included, imports excluded) as one JSON line; bench_transport.py runs it.
"""

from __future__ import annotations

import argparse
import json
import time

from sequence.components.optical_channel import ClassicalChannel, QuantumChannel
from sequence.kernel.timeline import Timeline
from sequence.qkd.BB84 import pair_bb84_protocols
from sequence.topology.node import QKDNode


class KeyManager:
    """The protocol above BB84 (as in SeQUeNCe's examples): asks for keys and counts what it gets."""

    def __init__(self, timeline: Timeline, key_bits: int, keys: int) -> None:
        self.timeline, self.key_bits, self.keys = timeline, key_bits, keys
        self.lower_protocols: list[object] = []
        self.got: list[int] = []

    def send_request(self) -> None:
        for protocol in self.lower_protocols:
            protocol.push(self.key_bits, self.keys)  # type: ignore[attr-defined]

    def pop(self, info: int) -> None:
        self.got.append(info)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--key-bits", type=int, default=512)
    parser.add_argument("--km", type=float, default=10.0)
    args = parser.parse_args()
    started, cpu = time.perf_counter(), time.process_time()
    tl = Timeline(1e14)                                    # ps: 100 s of emulated time at most
    alice, bob = QKDNode("alice", tl, seed=0), QKDNode("bob", tl, seed=1)
    for name, (a, b) in {"ab": (alice, bob), "ba": (bob, alice)}.items():
        QuantumChannel(f"qc_{name}", tl, attenuation=0.0002, distance=args.km * 1e3).set_ends(a, b.name)
        ClassicalChannel(f"cc_{name}", tl, distance=args.km * 1e3).set_ends(a, b.name)
    pair_bb84_protocols(alice.protocol_stack[0], bob.protocol_stack[0])
    managers = []
    for node in (alice, bob):
        manager = KeyManager(tl, args.key_bits, args.keys)
        manager.lower_protocols.append(node.protocol_stack[0])
        node.protocol_stack[0].upper_protocols.append(manager)
        managers.append(manager)
    tl.init()
    managers[0].send_request()
    tl.run()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    protocol = alice.protocol_stack[0]
    sifted = len(managers[0].got) * args.key_bits
    errors = sum(protocol.error_rates) / len(protocol.error_rates) if protocol.error_rates else None
    print(json.dumps({"sifted_bits": sifted, "keys": len(managers[0].got), "error_rate": errors,
                      "emulated_s": tl.now() * 1e-12, "wall_s": wall, "cpu_s": cpu}))


if __name__ == "__main__":
    main()
