"""The shipped dissector on live-capture traffic of ``qnet up``: real ports on 127.0.0.1.

The oracle is the dissector's own reading of the same messages at their logical addresses:
an in-process capture is rewritten the way the loopback interface shows a multi-process
run (127.0.0.1, ports through the port map, the PTP timestamp sideband added), and tshark
with ``-o qnetmp.base_port:B`` must give every message the same protocol and summary.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from stack.core.capture import PcapWriter, read_pcap
from stack.multiprocess.udp import SIDEBAND, PortMap, payload_digest
from stack.runtime import run_scenario
from stack.scenario import load_text
from tests.mp_util import two_node_toml
from tests.network_scenarios import chain_text, entry
from tests.tshark_util import have_tshark, run_tshark

if not have_tshark():
    if os.environ.get("QNET_REQUIRE_TSHARK"):
        raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
    pytest.skip("tshark not installed", allow_module_level=True)

BASE = 40000
SECRET = bytes(range(32, 64))
"""The run secret: the dissector verifies the ICVs with it, at logical and at mapped ports alike (the ICV covers
the logical ports, docs/wire.md §10.1)."""


def _scenario_text() -> str:
    text = two_node_toml(pairs=4, duration_ms=300.0)
    for name, role in (("alice", "slave"), ("bob", "slave"), ("mid", "grandmaster")):
        text = text.replace(f"[nodes.{name}]\n", f"[nodes.{name}]\nptp = \"{role}\"\n")
    return text


def _to_loopback(records: list[tuple[int, bytes]], ports: PortMap) -> tuple[list[tuple[int, bytes]], int]:
    node_of = {f"198.18.0.{i}": i for i in range(1, 250)}
    out, sidebands = [], 0
    for stamp, frame in records:
        packet = Ether(frame)
        if UDP not in packet:
            continue
        src, dst = node_of[packet[IP].src], node_of[packet[IP].dst]
        udp = packet[UDP]
        sport, dport = ports.real(src, udp.sport), ports.real(dst, udp.dport)
        payload = bytes(udp.payload)
        record = SIDEBAND.pack(stamp, payload_digest(payload))       # every datagram has one
        out.append((stamp, bytes(Ether() / IP(src="127.0.0.1", dst="127.0.0.1") /
                                 UDP(sport=sport, dport=ports.sideband(dst)) / record)))
        sidebands += 1
        out.append((stamp, bytes(Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=sport, dport=dport)
                                 / payload)))
    return out, sidebands


def test_live_loopback_traffic_decodes_like_the_logical_capture(tmp_path: Path) -> None:
    _compare(tmp_path, _scenario_text(), {"QHP", "QLL", "EGP", "PTPv2"})


def test_the_network_layer_slots_decode_like_the_logical_capture(tmp_path: Path) -> None:
    """Slots 5-7: the network-layer service, TRACK and QNCP (and the link requests between 7773 and 7771)."""
    text = chain_text(2, workload=entry(pairs=3) + entry("measure", pairs=3, node="b", remote="a"))
    _compare(tmp_path, text, {"QNS", "QNP", "QNCP", "QLL", "EGP", "QHP"})


def _compare(tmp_path: Path, text: str, protocols: set[str]) -> None:
    stream = io.BytesIO()
    run_scenario(load_text(text, "s.toml"), pcap=stream, secret=SECRET)
    records = [r for r in read_pcap(stream.getvalue()) if Ether(r[1]).haslayer(UDP)]
    logical = tmp_path / "logical.pcap"
    with logical.open("wb") as f:
        writer = PcapWriter(f)
        for stamp, frame in records:
            writer.write(stamp, frame)
    loopback = tmp_path / "loopback.pcap"
    frames, sidebands = _to_loopback(records, PortMap(BASE))
    with loopback.open("wb") as f:
        writer = PcapWriter(f)
        for stamp, frame in frames:
            writer.write(stamp, frame)
    columns = ("-o", f"qnetauth.key:{SECRET.hex()}", "-T", "fields", "-E", "separator=/t", "-e", "_ws.col.Protocol",
               "-e", "_ws.col.Info", "-e", "qnetauth.icv_status")
    want = [line.split("\t") for line in run_tshark(logical, *columns).splitlines()]
    assert want and all(row[2] == "1" for row in want)      # every ICV verifies under the run's secret
    got = [line.split("\t") for line in run_tshark(loopback, "-o", f"qnetmp.base_port:{BASE}", *columns)
           .splitlines()]
    side = [row for row in got if row[0] == "QNETMP"]
    assert len(side) == sidebands > 0
    assert all(row[1].startswith("timestamp sideband arrival=") for row in side)
    got = [row for row in got if row[0] != "QNETMP"]
    assert {row[0] for row in want} >= protocols
    assert got == want
    plain = run_tshark(loopback, *columns)                   # without the preference: plain UDP
    assert "QHP" not in plain and "EGP" not in plain
