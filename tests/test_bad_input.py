"""Garbage on the wire is dropped and counted by every layer it reaches; the run goes on."""

from __future__ import annotations

from protocols.common import EGP_PORT, HERALD_PORT, LINK_SERVICE_PORT, Actions, Address
from protocols.packets.ptp import EVENT_PORT, GENERAL_PORT
from stack.core.capture import node_ip
from stack.core.kernel import VirtualPort
from stack.core.layer import Layer
from stack.report import build_report
from stack.runtime import build, run_async
from stack.scenario import load_text
from tests.consistency import heralded_qubits

SCENARIO = """
[run]
duration_ms = 500
[nodes.a]
kind = "qpu"
ptp = "slave"
[nodes.b]
kind = "qpu"
ptp = "slave"
[nodes.st]
kind = "station"
ptp = "grandmaster"
[links.ab]
a = "a"
b = "b"
station = "st"
length_km = 1.0
[[workload]]
node = "a"
remote = "b"
pairs = 100
"""

GARBAGE = (b"", b"\x00", b"\xff" * 3, b"\x01\x02" * 40, bytes(range(256)))


class Vandal:
    """An engine that sprays malformed datagrams at every port of every node, now and then."""

    def __init__(self, targets: list[Address]) -> None:
        self.targets = targets
        self.rounds = 0
        self.deadline: int | None = None

    def start(self, now: int) -> Actions:
        return self.on_timer(now)

    def on_timer(self, now: int) -> Actions:
        self.rounds += 1
        sends = [(target, junk) for target in self.targets for junk in GARBAGE]
        self.deadline = now + 1_000_000 if self.rounds < 5 else None
        return Actions(send=sends, deadline=self.deadline)

    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        return Actions(deadline=self.deadline)

    def handle(self, event: object, now: int) -> Actions:
        return Actions(deadline=self.deadline)

    def held_slots(self) -> set[int]:
        return set()


async def test_malformed_datagrams_are_counted_and_nothing_breaks() -> None:
    emu = build(load_text(SCENARIO, "<bad>"))
    ports = (HERALD_PORT, LINK_SERVICE_PORT, EGP_PORT, EVENT_PORT, GENERAL_PORT)
    targets = [(node_ip(node_id), port) for node_id in (1, 2, 3) for port in ports
               if (node_ip(node_id), port) in emu.network.bindings]
    vandal = Vandal(targets)
    emu.layers.append(Layer("st/vandal", 3, vandal, VirtualPort(emu.kernel, "vandal"), emu.network, emu.medium,
                            [40000]))
    result = await run_async(emu)
    report = build_report(result)
    assert vandal.rounds == 5
    assert report["workload"][0]["pairs_delivered"] == 100
    sent_per_node = {n: sum(1 for ip, _ in targets if ip == node_ip(n)) * len(GARBAGE) * vandal.rounds
                     for n in (1, 2, 3)}
    for name, node_id in (("a", 1), ("b", 2), ("st", 3)):
        node = report["nodes"][name]         # the link service drops a stranger's datagram before parsing it
        assert node["malformed"] + node["unknown_clients"] == sent_per_node[node_id], name
    assert report["nodes"]["a"]["unknown_clients"] == len(GARBAGE) * vandal.rounds
    assert result.ledger["created"] == heralded_qubits(result) > 0    # not the ledger's sum: true by construction
