"""Real UDP on 127.0.0.1: the port map, and datagrams between UdpNetworks with emulated fibre delay."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import numpy as np
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from protocols.common import (
    EGP_PORT,
    HERALD_PORT,
    LINK_SERVICE_PORT,
    NETWORK_SERVICE_PORT,
    QNCP_PORT,
    QNP_PORT,
    QTP_PORT,
)
from protocols.packets.ptp import EVENT_PORT, GENERAL_PORT
from stack.core.capture import node_ip
from stack.core.kernel import STARTUP, VirtualPort
from stack.core.network import Datagram, Fibre
from stack.multiprocess.launcher import allocate_base
from stack.multiprocess.realtime import RealtimeKernel
from stack.multiprocess.udp import SIDEBAND, Arrivals, PortMap, PortMapError, UdpNetwork, payload_digest
from stack.scenario import load_text
from tests.mp_util import two_node_toml

TWO_NODES = load_text(two_node_toml(pairs=1), "two.toml")
"""alice is node 1, bob node 2."""

logical_ports = st.sampled_from([HERALD_PORT, LINK_SERVICE_PORT, EGP_PORT, EVENT_PORT, GENERAL_PORT,
                                 NETWORK_SERVICE_PORT, QNP_PORT, QNCP_PORT, QTP_PORT]) | st.integers(49152, 49173)


@given(st.integers(1, 1000), logical_ports, st.integers(1024, 40000))
def test_port_map_round_trips(node_id: int, port: int, base: int) -> None:
    ports = PortMap(base)
    try:
        real = ports.real(node_id, port)
    except PortMapError:
        assert base + 32 * node_id + 31 > 65535
        return
    assert ports.logical(real) == ((node_ip(node_id), port), node_id)


def test_port_map_layout_and_errors() -> None:
    ports = PortMap(40000)
    services = (HERALD_PORT, LINK_SERVICE_PORT, EGP_PORT, EVENT_PORT, GENERAL_PORT, NETWORK_SERVICE_PORT, QNP_PORT,
                QNCP_PORT, QTP_PORT, 49152, 49173)
    assert [ports.real(2, p) for p in services] == [40064 + slot for slot in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 30)]
    with pytest.raises(PortMapError, match="port 50000"):
        ports.real(1, 50000)
    with pytest.raises(PortMapError, match="port 49174"):      # slot 31 is the timestamp sideband
        ports.real(1, 49174)
    assert ports.sideband(2) == 40095 and ports.logical(40095) is None
    with pytest.raises(PortMapError, match="65535"):
        ports.real(2000, HERALD_PORT)
    assert ports.logical(39999) is None


async def _one_datagram(number: int, before: Callable[[PortMap, list[UdpNetwork]], None] | None = None,
                        ) -> tuple[int, Datagram, list[UdpNetwork]]:
    """Node 1 sends one datagram to node 2's port ``number`` over 10 km, between two UdpNetworks.

    The run lasts until the datagram is handled, however loaded the machine (a hang guard bounds it).
    """
    dilation = 0.01                                           # 10 km = 49 µs emulated = 4.9 ms wall
    kernel = RealtimeKernel(time.time_ns(), dilation)
    base, held = allocate_base(TWO_NODES, ["alice", "bob"])  # bound and kept, as qnet up's launcher does
    ports = PortMap(base)
    networks = []
    for block in held.values():                               # two processes' worth, each with its own sockets
        net = UdpNetwork(kernel, np.random.SeedSequence(1), None, ports=ports, held=block)
        for node in (1, 2):
            net.add_node(node)
        net.add_fibre(1, 2, Fibre(10.0, 49_000))
        networks.append(net)
    a, b = VirtualPort(kernel, "a"), VirtualPort(kernel, "b")
    networks[0].bind(1, number, a)
    networks[1].bind(2, number, b)
    got: list[tuple[int, Datagram]] = []

    async def receiver() -> None:
        while True:
            event = await b.next()
            if event is not STARTUP:
                got.append((kernel.now, event))
                kernel.halt()

    async def idle() -> None:
        while True:
            await a.next()

    with trio.fail_after(60):                                 # a hang guard only
        async with trio.open_nursery() as nursery:
            for net in networks:
                nursery.start_soon(net.serve)
            nursery.start_soon(receiver)
            nursery.start_soon(idle)
            if before is not None:
                kernel.call_at(500_000, lambda _: before(ports, networks))
            kernel.call_at(1_000_000, lambda _: networks[0].send(1, number, (node_ip(2), number), b"hello"))
            await kernel.run_realtime(until=1 << 50)
            nursery.cancel_scope.cancel()
    for net in networks:
        net.close()
    assert len(got) == 1
    return got[0][0], got[0][1], networks


async def test_datagrams_cross_real_sockets_after_the_fibre_delay() -> None:
    at, datagram, networks = await _one_datagram(EGP_PORT)
    assert datagram == Datagram((node_ip(1), EGP_PORT), EGP_PORT, b"hello", arrival=1_049_000)
    assert at >= 1_049_000                                   # never before the fibre delay; later if the
    assert networks[0].counters[1].sent == 1 and networks[1].counters[2].received == 1    # machine is slow


async def test_datagrams_carry_their_exact_arrival_time() -> None:
    """The timestamp sideband: what a PTP layer's hardware timestamp uses."""
    at, datagram, networks = await _one_datagram(EVENT_PORT)
    assert datagram.arrival == 1_049_000                     # send time + fibre delay, to the nanosecond
    assert at >= datagram.arrival                            # handled when it got there, or later
    assert networks[1].udp.unstamped == 0


async def test_forged_sideband_records_are_rejected_and_counted() -> None:
    """The issue's attack: records stamped 2^62 for a coming datagram held it for ever. A record from outside
    the port map, of the wrong size, or stamped outside the window a real one can have is rejected."""
    forger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def forge(ports: PortMap, networks: list[UdpNetwork]) -> None:
        mapped = networks[0].held[ports.real(1, 49161)]            # node 1's application slot nobody uses
        target = ("127.0.0.1", ports.sideband(2))
        digest = payload_digest(b"hello")
        forger.sendto(SIDEBAND.pack(5, digest), target)             # from outside the port map
        mapped.sendto(SIDEBAND.pack(5, digest)[:15], target)        # a short record
        mapped.sendto(SIDEBAND.pack(1 << 62, digest), target)       # far in the future
        mapped.sendto(SIDEBAND.pack(-(1 << 62), digest), target)    # far in the past

    try:
        at, datagram, networks = await _one_datagram(EVENT_PORT, forge)
    finally:
        forger.close()
    assert datagram.arrival == 1_049_000 and at < 1 << 40          # its own stamp, not the forged one
    assert networks[1].udp.sideband_rejected == 4 and networks[1].stats()["sideband_rejected"] == 4
    assert networks[1].arrivals.size == 0


def test_the_sideband_table_is_bounded() -> None:
    """1.27 M random records grew a node by 530 MB: now the table keeps at most ``limit``, forgetting stale
    stamps first (searched once per limit/16 refusals) and counting every stamp it drops."""
    table = Arrivals(limit=64)
    for i in range(200):
        table.add(i.to_bytes(8, "big"), arrival=1_000 + i, stale_before=0)   # all fresh: the later ones dropped
    assert table.size == 64 and table.dropped == 136
    assert sum(len(q) for q in table.by_digest.values()) == 64
    table.add(b"new", arrival=5_000, stale_before=1_032)       # stale ones go once the scan is due
    for i in range(8):
        table.add(b"later", arrival=6_000 + i, stale_before=1_032)
    assert table.size <= 64 and table.take(b"new") in (5_000, None)
    assert table.size == sum(len(q) for q in table.by_digest.values())
    assert all(t >= 1_032 for q in table.by_digest.values() for t in q)
    assert table.take((1_040 - 1_000).to_bytes(8, "big")) == 1_040 and table.take(b"absent") is None


def test_binding_a_used_port_names_it() -> None:
    kernel = RealtimeKernel(time.time_ns(), 1.0)
    base, held = allocate_base(TWO_NODES, ["alice"])
    nets = [UdpNetwork(kernel, np.random.SeedSequence(1), None, ports=PortMap(base), held=block)
            for block in (held["alice"], {})]
    for net in nets:
        net.add_node(1)
    nets[0].bind(1, HERALD_PORT, VirtualPort(kernel, "x"))
    try:
        with pytest.raises(OSError, match=rf"127\.0\.0\.1:{base + 32}"):
            nets[1].bind(1, HERALD_PORT, VirtualPort(kernel, "y"))
    finally:
        nets[0].close()
