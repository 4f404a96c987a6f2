"""Emulated datagram sockets: fibre delays, seeded loss, undeliverable datagrams, capture."""

from __future__ import annotations

import io
import math
import struct
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.physical.physics import fibre_delay_ns
from protocols.security import Authenticator
from stack.core.capture import PcapWriter
from stack.core.kernel import STARTUP, Kernel, VirtualPort
from stack.core.network import Datagram, Fibre, Network, shortest_path

C_KM_PER_S = 299_792.458


def ip(node_id: int) -> str:
    return f"198.18.{node_id >> 8}.{node_id & 255}"


def fibre(length_km: float, loss: float = 0.0, jitter_ns: int = 0) -> Fibre:
    return Fibre(length_km, fibre_delay_ns(length_km), loss, jitter_ns)


def test_fibre_delay_is_length_times_index_over_c() -> None:
    expected = round(10 * 1.468 / C_KM_PER_S * 1e9)
    assert fibre_delay_ns(10.0, 1.468) == expected
    assert abs(expected - 48_967) <= 1
    assert fibre_delay_ns(10.0) == expected               # 1.468 is the default index
    assert fibre_delay_ns(1.0, 1.5) == round(1.5 / C_KM_PER_S * 1e9) == 5_003
    assert 4_850 < fibre_delay_ns(1.0) < 4_950            # "about 4.9 µs per km"
    assert fibre_delay_ns(0.0) == 0


def three_nodes(seed: int = 1, loss: tuple[float, float] = (0.0, 0.0), pcap: PcapWriter | None = None,
                jitter: int = 0) -> tuple[Kernel, Network]:
    """Node 1 —5 km— station 3 —7 km— node 2, plus a direct 100 km fibre 1–2 (never the shortest)."""
    kernel = Kernel()
    net = Network(kernel, np.random.SeedSequence(seed), pcap)
    for node in (1, 2, 3):
        net.add_node(node)
    net.add_fibre(1, 3, fibre(5.0, loss[0], jitter))
    net.add_fibre(3, 2, fibre(7.0, loss[1], jitter))
    net.add_fibre(1, 2, fibre(100.0))
    return kernel, net


async def collect(kernel: Kernel, port: VirtualPort, until: int) -> list[tuple[int, Any]]:
    got: list[tuple[int, Any]] = []

    async def receiver() -> None:
        while True:
            event = await port.next()
            if event is not STARTUP:
                got.append((kernel.now, event))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver)
            await kernel.run(until=until)
            nursery.cancel_scope.cancel()
    return got


async def test_delay_is_the_sum_of_fibre_delays_on_the_shortest_path() -> None:
    kernel, net = three_nodes()
    port = VirtualPort(kernel, "n2")
    assert net.bind(2, 7000, port) == (ip(2), 7000)
    kernel.call_at(1_000, lambda _: net.send(1, 6000, (ip(2), 7000), b"hello"))
    kernel.call_at(1_000, lambda _: net.send(1, 6001, (ip(2), 7000), b"again"))
    got = await collect(kernel, port, until=10**7)
    expected_delay = round(5 * 1.468 / C_KM_PER_S * 1e9) + round(7 * 1.468 / C_KM_PER_S * 1e9)
    assert got == [(1_000 + expected_delay, Datagram((ip(1), 6000), 7000, b"hello")),
                   (1_000 + expected_delay, Datagram((ip(1), 6001), 7000, b"again"))]
    assert net.route(1, 2).delay_ns == expected_delay
    assert net.route(2, 1).delay_ns == expected_delay
    assert net.route(1, 3).delay_ns == round(5 * 1.468 / C_KM_PER_S * 1e9)
    assert (net.counters[1].sent, net.counters[2].received) == (2, 2)


async def test_jitter_stays_within_bounds() -> None:
    kernel, net = three_nodes(jitter=50)
    port = VirtualPort(kernel, "n2")
    net.bind(2, 7000, port)
    for k in range(200):
        net.send(1, 6000, (ip(2), 7000), k.to_bytes(2, "big"))
    got = await collect(kernel, port, until=10**7)
    base = net.route(1, 2).delay_ns
    delays = [t for t, _ in got]             # all sent at time 0
    assert len(got) == 200
    assert all(base <= d <= base + 100 for d in delays)    # two fibres, 50 ns each
    assert len(set(delays)) > 10


async def send_many(seed: int, n: int, loss: tuple[float, float]) -> tuple[set[int], Network]:
    kernel, net = three_nodes(seed=seed, loss=loss)
    port = VirtualPort(kernel, "n2")
    net.bind(2, 7000, port)
    for k in range(n):
        net.send(1, 6000, (ip(2), 7000), k.to_bytes(4, "big"))
    got = await collect(kernel, port, until=10**7)
    return {int.from_bytes(d.payload, "big") for _, d in got}, net


async def test_loss_fraction_matches_configured_loss() -> None:
    n = 4_000
    delivered, net = await send_many(seed=11, n=n, loss=(0.1, 0.2))
    loss = 1 - (1 - 0.1) * (1 - 0.2)                      # two lossy fibres in series: 0.28
    lost = n - len(delivered)
    stderr = math.sqrt(loss * (1 - loss) / n)
    assert abs(lost / n - loss) < 4 * stderr
    assert net.counters[1].lost == lost
    assert net.counters[1].sent == n
    assert net.counters[2].received == len(delivered)


async def test_same_seed_same_losses_different_seed_different() -> None:
    first, _ = await send_many(seed=5, n=500, loss=(0.3, 0.0))
    again, _ = await send_many(seed=5, n=500, loss=(0.3, 0.0))
    other, _ = await send_many(seed=6, n=500, loss=(0.3, 0.0))
    assert first == again
    assert first != other
    assert 0 < len(first) < 500


async def test_no_loss_configured_loses_nothing() -> None:
    delivered, net = await send_many(seed=5, n=300, loss=(0.0, 0.0))
    assert delivered == set(range(300))
    assert net.counters[1].lost == 0


async def test_a_duplicated_authenticated_datagram_arrives_once_and_its_copy_counts_as_replayed() -> None:
    """With authentication on, the second copy a duplicating fibre makes carries the same sequence number: the
    receiver's anti-replay window refuses it. A clean route beside it delivers every datagram once."""
    kernel = Kernel()
    net = Network(kernel, np.random.SeedSequence(3))
    for node in (1, 2, 3):
        net.add_node(node)
    net.add_fibre(1, 2, Fibre(10.0, 49_000, duplication=1.0))
    net.add_fibre(1, 3, Fibre(10.0, 49_000))
    net.auth = Authenticator(bytes(32))
    port = VirtualPort(kernel, "n2 and n3")
    net.bind(2, 7000, port)
    net.bind(3, 7000, port)
    for k in range(3):
        net.send(1, 6000, (ip(2), 7000), bytes([k]))
        net.send(1, 6000, (ip(3), 7000), bytes([k]))
    got = await collect(kernel, port, until=10**7)
    assert [(d.source[0], d.payload) for _, d in got] == [(ip(1), bytes([k // 2])) for k in range(6)]
    assert (net.counters[2].received, net.counters[2].replayed) == (6, 3)
    assert (net.counters[3].received, net.counters[3].replayed) == (3, 0)
    assert all(d.source == (ip(1), 6000) and d.port == 7000 for _, d in got)


@pytest.mark.parametrize("duplication", [0.0, 1.0])
async def test_an_authenticated_run_without_capture_delivers_and_counts_as_one_with_capture(duplication: float) -> None:
    """With capture off no sealed byte is read in one process (the network does not compute them): what arrives,
    when, and every counter are those of the same run with capture on, on a clean route and a duplicating one."""
    runs = []
    for pcap in (PcapWriter(io.BytesIO()), None):
        kernel = Kernel()
        net = Network(kernel, np.random.SeedSequence(3), pcap=pcap)
        for node in (1, 2):
            net.add_node(node)
        net.add_fibre(1, 2, Fibre(10.0, 49_000, duplication=duplication))
        net.auth = Authenticator(bytes(32))
        port = VirtualPort(kernel, "n2")
        net.bind(2, 7000, port)
        for k in range(40):
            net.send(1, 6000 + k % 3, (ip(2), 7000), bytes([k]))
        runs.append((await collect(kernel, port, until=10**7), [net.counters[n] for n in (1, 2)],
                     net.auth._pair(1, 2).seq, net.auth._pair(1, 2).window.top))
    assert runs[0] == runs[1]
    assert len(runs[0][0]) == 40 and runs[0][1][1].replayed == (40 if duplication else 0)


def test_datagram_to_unbound_address_is_undeliverable() -> None:
    kernel, net = three_nodes()
    net.bind(2, 7000, VirtualPort(kernel, "n2"))
    net.send(1, 6000, (ip(2), 7001), b"wrong port")
    net.send(1, 6000, ("10.0.0.1", 7000), b"no such node")
    assert net.counters[1].undeliverable == 2
    assert net.counters[1].sent == 2
    assert net.counters[2].received == 0


def test_binding_an_address_twice_fails() -> None:
    kernel, net = three_nodes()
    net.bind(2, 7000, VirtualPort(kernel, "a"))
    with pytest.raises(ValueError, match="already bound"):
        net.bind(2, 7000, VirtualPort(kernel, "b"))


def read_pcap(data: bytes) -> tuple[tuple[int, ...], list[tuple[int, int, bytes]]]:
    header = struct.unpack("<IHHiIII", data[:24])
    records, offset = [], 24
    while offset < len(data):
        sec, nsec, incl, orig = struct.unpack("<IIII", data[offset:offset + 16])
        assert incl == orig
        records.append((sec, nsec, data[offset + 16:offset + 16 + incl]))
        offset += 16 + incl
    return header, records


async def test_capture_written_at_send_even_when_lost() -> None:
    buffer = io.BytesIO()
    kernel, net = three_nodes(loss=(1.0, 0.0), pcap=PcapWriter(buffer))
    port = VirtualPort(kernel, "n2")
    net.bind(2, 7000, port)
    sent_at = 1_234_567_890_123
    payloads = [b"one", b"two!", b"three"]
    for payload in payloads:
        kernel.call_at(sent_at, lambda p: net.send(1, 6000, (ip(2), 7000), p), payload)
    got = await collect(kernel, port, until=sent_at + 10**8)
    assert got == []
    assert net.counters[1].lost == 3
    header, records = read_pcap(buffer.getvalue())
    assert header[0] == 0xA1B23C4D and header[1:3] == (2, 4) and header[6] == 1
    assert len(records) == 3 == net.pcap.frames  # type: ignore[union-attr]
    epoch = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    for (sec, nsec, frame), payload in zip(records, payloads, strict=True):
        total = epoch * 10**9 + sent_at
        assert (sec, nsec) == (total // 10**9, total % 10**9)
        assert frame[0:6] == bytes.fromhex("020000000002")                # dst MAC: node 2
        assert frame[6:12] == bytes.fromhex("020000000001")               # src MAC: node 1
        assert frame[12:14] == b"\x08\x00"
        ip_header = frame[14:34]
        assert ip_header[9] == 17
        assert ip_header[12:16] == bytes((198, 18, 0, 1)) and ip_header[16:20] == bytes((198, 18, 0, 2))
        sport, dport, length = struct.unpack("!HHH", frame[34:40])
        assert (sport, dport, length) == (6000, 7000, 8 + len(payload))
        assert frame[42:] == payload


@settings(max_examples=300, deadline=None)
@given(nodes=st.integers(2, 9), data=st.data())
def test_shortest_path_picks_networkx_path_among_ties(nodes: int, data: st.DataObject) -> None:
    """Equal-delay paths can differ in loss and jitter: the route must be the one networkx's Dijkstra
    (which this emulator used before) picks, ties included (small delays, zeros: many ties)."""
    import networkx as nx

    edges = data.draw(st.lists(st.tuples(st.integers(1, nodes), st.integers(1, nodes), st.integers(0, 3)),
                               max_size=3 * nodes))
    graph, fibres = nx.Graph(), {}
    for node in range(1, nodes + 1):
        graph.add_node(node)
        fibres[node] = {}
    for a, b, delay in edges:
        if a == b:
            continue
        fibre = Fibre(1.0, delay)
        graph.add_edge(a, b, weight=delay)
        fibres[a][b] = fibres[b][a] = fibre
    for source in range(1, nodes + 1):
        for target in range(1, nodes + 1):
            if source == target:
                continue
            try:
                expected = nx.shortest_path(graph, source, target, weight="weight")
            except nx.NetworkXNoPath:
                expected = None
            assert shortest_path(fibres, source, target) == expected
