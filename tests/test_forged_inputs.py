"""Forged datagrams in an in-process run: nothing a datagram says can crash or stall a run.

Control messages are not authenticated yet (docs/architecture.md, "Security"), so a forged message can
change what a node believes; what it must never do is end the run, freeze it, or unbalance the qubit ledger.
The forgeries here are well-formed messages of every type with random fields, and random bytes, sent to
every bound port from every node.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import trio

from protocols.common import EGP_PORT, HERALD_PORT, LINK_SERVICE_PORT
from protocols.packets import linkservice as ll
from protocols.packets.egp import EgpMessage
from protocols.packets.heralding import MSG_HERALD, MSG_REPORT, OUTCOMES, SCHEMES, Herald
from stack.core.capture import node_ip
from stack.report import build_report
from stack.runtime import APP_PORT_BASE, Emulation, RunResult, build, run_async
from stack.scenario import load, load_text
from tests.consistency import heralded_qubits
from tests.mp_util import ROOT, two_node_toml


def forgery(rng: random.Random) -> bytes:
    """A well-formed message of a random type with random fields, or random bytes."""
    word = lambda bits: rng.randrange(1 << bits)                     # noqa: E731
    small = lambda: rng.choice([0, 1, 2, 3, word(8), word(16)])      # noqa: E731
    makers: list[Callable[[], bytes]] = [
        lambda: ll.OkKeep(small(), small() & 0xF, word(1), word(2), small(), small(), rng.choice([1, 2, 3]),
                          word(16), word(16)).encode(),
        lambda: ll.OkMeasure(create_id=small(), m=word(1), d=word(1), basis=word(2), bell_state=word(2),
                             sequence_number=small(), purpose_id=small(), remote_node_id=rng.choice([1, 2, 3]),
                             goodness=word(16)).encode(),
        lambda: ll.Err(small(), rng.randrange(1, 9), origin_node=rng.choice([1, 2, 3])).encode(),
        lambda: ll.Ack(small()).encode(),
        lambda: ll.Create(remote_node_id=rng.choice([1, 2, 3]), purpose_id=rng.choice([1, 2, small()]),
                          number=rng.choice([1, 5, 65535]), priority=word(3), tpe=word(1), ato=word(1)).encode(),
        lambda: bytes([1, rng.randrange(1, 9), rng.choice([0, 0, word(8)])]) + rng.randbytes(
            rng.choice([13, 21, 25, 37])),                                   # EGP header + a body of some size
        lambda: Herald(rng.choice(sorted(OUTCOMES)), word(2), rng.choice([1, 2, small()]), rng.choice(sorted(SCHEMES)),
                       small(), rng.choice([1, small()]), word(30), rng.choice([MSG_HERALD, MSG_REPORT])).encode(),
        lambda: rng.randbytes(rng.randrange(1, 60)),
    ]
    return rng.choice(makers)()


def run_with_forgeries(emu: Emulation, seed: int, count: int, within_ns: int) -> RunResult:
    """Run ``emu`` with ``count`` forgeries sent at random times in the first ``within_ns``."""
    rng = random.Random(seed)
    bound = list(emu.network.bindings)
    node_of = {node_ip(node.node_id): node.node_id for node in emu.scenario.nodes.values()}
    senders = sorted({node_of[ip] for ip, _ in bound})
    ports = [HERALD_PORT, LINK_SERVICE_PORT, EGP_PORT, APP_PORT_BASE, APP_PORT_BASE + 1, 50000]

    def forge(_: object) -> None:
        emu.network.send(rng.choice(senders), rng.choice(ports), rng.choice(bound), forgery(rng))

    for _ in range(count):
        emu.kernel.call_at(rng.randrange(within_ns), forge, None)
    return trio.run(run_async, emu)          # Medium.finish inside checks the ledger: it raises if unbalanced


@pytest.mark.parametrize(("scenario", "seed"), [("two", 1), ("two", 2), ("two", 3), ("all-messages", 1),
                                                ("all-messages", 2)])
def test_forged_datagrams_never_crash_or_stall_a_run(scenario: str, seed: int) -> None:
    if scenario == "two":
        emu = build(load_text(two_node_toml(pairs=30, duration_ms=300.0), "two.toml"), 3)
    else:
        emu = build(load(ROOT / "examples" / f"{scenario}.toml"), 3)
    result = run_with_forgeries(emu, seed, count=500, within_ns=20_000_000)
    ledger = result.ledger
    assert ledger["created"] == heralded_qubits(result) > 0      # not the ledger's sum: true by construction
    assert result.generation_end_ns <= emu.scenario.run.duration_ns       # it ended by itself, in time
    report = build_report(result, None)
    assert sum(n["malformed"] for n in report["nodes"].values()) > 0      # the forgeries arrived


def test_a_forged_ok_to_an_application_is_withdrawn_not_fatal() -> None:
    """The issue's one-datagram crash: an OK_K naming an empty slot made the medium raise. Now the medium
    refuses the Measure (counted), the application withdraws the phantom pair, and the run's results are
    those of a run without the forgery."""
    text = two_node_toml(pairs=20, duration_ms=300.0)
    clean = trio.run(run_async, build(load_text(text, "two.toml"), 3))
    emu = build(load_text(text, "two.toml"), 3)
    origin = emu.workloads[0].origin
    app = next(address for address, port in emu.network.bindings.items() if port.name == "alice/app1")
    phantom = ll.OkKeep(create_id=1, lqid=9, d=0, bell_state=0, sequence_number=7, purpose_id=1,
                        remote_node_id=2, goodness=60000, time_of_goodness=0).encode()
    emu.kernel.call_at(2_000_000, lambda _: emu.network.send(1, LINK_SERVICE_PORT, app, phantom), None)
    result = trio.run(run_async, emu)
    report, reference = build_report(result, None), build_report(clean, None)
    assert report["medium"]["rejected_commands"] == 1 and reference["medium"]["rejected_commands"] == 0
    assert report["nodes"]["alice"]["phantom_oks"] == 1 and origin.phantoms == 1
    for key in ("pairs_delivered", "pairs_delivered_remote", "pairs_matched", "pairs_disagreeing", "errors"):
        assert report["workload"][0][key] == reference["workload"][0][key], key
    assert report["workload"][0]["pairs_delivered"] == 20
    assert {k: v for k, v in report["medium"].items() if k != "rejected_commands"} == \
        {k: v for k, v in reference["medium"].items() if k != "rejected_commands"}


def test_a_high_priority_flood_is_refused_and_the_workload_is_served() -> None:
    """A CREATE for 65,535 pairs at Priority 7 would hold the link for all of them. From an address that is
    none of the node's higher layers it is dropped; from one of them (a misbehaving application, or a forger
    that can send from its address) the per-source quota refuses it with NORES. Both are counted, and the
    scenario's own requests are served as without them."""
    text = two_node_toml(pairs=20, duration_ms=300.0)
    emu = build(load_text(text, "two.toml"), 3)
    flood = ll.Create(remote_node_id=2, purpose_id=1, number=65535, priority=7).encode()
    service = ("198.18.0.1", LINK_SERVICE_PORT)
    link_layer = emu.link_layers[0]
    assert link_layer.clients is not None and link_layer.node_id == 1
    link_layer.clients.add(("198.18.0.1", 50000))                  # a third application on alice, unbound
    emu.kernel.call_at(0, lambda _: emu.network.send(1, 50000, service, flood), None)
    emu.kernel.call_at(0, lambda _: emu.network.send(2, 50000, service, flood), None)
    report = build_report(trio.run(run_async, emu), None)
    assert report["nodes"]["alice"]["over_quota"] == 1 and report["nodes"]["alice"]["unknown_clients"] == 1
    for entry in report["workload"]:
        assert entry["pairs_delivered"] == entry["pairs_delivered_remote"] == 20 and entry["errors"] == []


def test_link_services_never_answer_each_other_s_replies() -> None:
    """A CREATE forged with another link service as its source made two link layers answer each other's ERRs
    forever (at one instant, when both were one node's: the run froze). A reply is never answered."""
    emu = build(load_text(two_node_toml(pairs=1, duration_ms=50.0), "two.toml"), 3)
    service = ("198.18.0.1", LINK_SERVICE_PORT)
    emu.kernel.call_at(0, lambda _: emu.network.send(1, LINK_SERVICE_PORT, service, b"\x01" * 10), None)
    emu.kernel.call_at(0, lambda _: emu.network.send(2, LINK_SERVICE_PORT, service, b"\x01" * 10), None)
    result = trio.run(run_async, emu)
    assert result.ledger["created"] > 0 and emu.kernel.now < 50_000_000
    sent = build_report(result, None)["nodes"]
    assert sent["alice"]["sent"] < 1000 and sent["bob"]["sent"] < 1000
    for reply in (ll.Ack(3).encode(), ll.Err(3, ll.ERR_NORES).encode()):
        layer = emu.link_layers[0]
        assert layer.receive(reply, ("198.18.0.2", LINK_SERVICE_PORT), LINK_SERVICE_PORT, now=0).send == []


def test_forgery_makers_cover_every_message_type() -> None:
    rng = random.Random(5)
    kinds = set()
    for _ in range(400):
        payload = forgery(rng)
        for name, decode in (("upward", ll.decode_upward), ("create", ll.Create.decode),
                             ("egp", EgpMessage.decode), ("herald", Herald.decode)):
            try:
                decode(payload)
            except Exception:
                continue
            kinds.add(name)
    assert kinds == {"upward", "create", "egp", "herald"}


def test_a_station_whose_clock_reads_before_zero_heralds() -> None:
    """A station with a negative clock offset sent a negative Detection Time, which the codec could not encode
    (a crash of any such scenario). It is sent saturated at 0."""
    text = two_node_toml(pairs=5, duration_ms=50.0).replace('[nodes.mid]\nkind = "station"\n',
                                                            '[nodes.mid]\nkind = "station"\nclock_offset_ns = -1e9\n')
    assert "clock_offset_ns" in text
    result = trio.run(run_async, build(load_text(text, "neg.toml"), 3))
    assert build_report(result, None)["workload"][0]["pairs_delivered"] == 5
    assert Herald(1, 0, 1, 1, 2, 1, -5).encode() == Herald(1, 0, 1, 1, 2, 1, 0).encode()
    assert Herald.decode(Herald(1, 0, 1, 1, 2, 1, 1 << 70).encode()).detection_time == (1 << 64) - 1
