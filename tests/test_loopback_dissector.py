"""The shipped dissector on live-capture traffic of ``qnet up``: real ports on 127.0.0.1.

The oracle is the dissector's own reading of the same messages at their logical addresses:
an in-process capture is rewritten the way the loopback interface shows a multi-process
run (127.0.0.1, ports through the port map, the PTP timestamp sideband added), and tshark
with ``-o qnetmp.base_port:B`` must give every message the same protocol and summary.
"""

from __future__ import annotations

import io
import os
import struct
from collections import Counter
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


_HEADERS = struct.Struct("!12sHBBHHHBBH4s4sHHHH")
"""Ethernet (MACs, EtherType), IPv4 (no options) and UDP headers."""
_LOOPBACK = bytes((127, 0, 0, 1))


def _checksum(words: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``words`` (even length)."""
    total = sum(struct.unpack(f"!{len(words) // 2}H", words))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _loopback_frame(sport: int, dport: int, payload: bytes) -> bytes:
    """Ether()/IP(127.0.0.1 -> 127.0.0.1)/UDP(sport, dport)/payload as the loopback interface shows it (zero
    MACs), both checksums filled in, built with struct: scapy's build costs ~1 ms a frame, the bulk of this
    module's time on the ~20,000 frames of a run."""
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 1, 0, 64, 17, 0, _LOOPBACK, _LOOPBACK)
    ip_sum = _checksum(ip)
    pseudo = _LOOPBACK + _LOOPBACK + struct.pack("!HHHHHH", 17, udp_len, sport, dport, udp_len, 0)
    udp_sum = _checksum(pseudo + payload + b"\0" * (len(payload) % 2)) or 0xFFFF
    return _HEADERS.pack(bytes(12), 0x0800, 0x45, 0, 20 + udp_len, 1, 0, 64, 17, ip_sum, _LOOPBACK, _LOOPBACK,
                         sport, dport, udp_len, udp_sum) + payload


def _udp(frame: bytes) -> tuple[int, int, int, int, bytes] | None:
    """(source node, source port, destination node, destination port, payload) of an IPv4/UDP frame between
    two nodes (198.18.x.y), None for any other frame (a QFRAME)."""
    if frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    udp = 14 + 4 * (frame[14] & 0x0F)
    sport, dport, length = struct.unpack_from("!HHH", frame, udp)
    src, dst = frame[26:30], frame[30:34]
    assert src[:2] == dst[:2] == b"\xc6\x12"
    return (src[2] << 8 | src[3], sport, dst[2] << 8 | dst[3], dport, frame[udp + 8:udp + length])


def test_the_struct_frames_are_scapys() -> None:
    """The struct-built frames and the struct parsing agree with scapy on a sample of frames."""
    frame = _loopback_frame(40001, 40017, b"abc")
    want = Ether(dst="00:00:00:00:00:00", src="00:00:00:00:00:00") / IP(src="127.0.0.1", dst="127.0.0.1", id=1,
                                                                          flags=0) / UDP(sport=40001, dport=40017)
    assert frame == bytes(want / b"abc")
    logical = bytes(Ether() / IP(src="198.18.1.2", dst="198.18.0.7") / UDP(sport=7771, dport=7773) / b"xy")
    assert _udp(logical) == (258, 7771, 7, 7773, b"xy")
    assert _udp(bytes(Ether(type=0x88B5) / (b"q" * 40))) is None


PER_SHAPE = 32
"""Datagrams kept per shape (the sockets, the first payload byte and the length): the chain run has 10,514
datagrams of 56 shapes, mostly the ~580 link pairs a 1 ms circuit makes, each the same 18 messages; tshark's
Lua ICV check costs ~0.8 ms a frame, so all of them took ~20 s of tshark for no shape more."""


def _sample(records: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """The first :data:`PER_SHAPE` datagrams of each shape, in capture order: every kind of message between
    every pair of sockets, at each length it has, still decoded both ways."""
    seen: Counter[tuple[object, ...]] = Counter()
    kept = []
    for stamp, frame in records:
        src, sport, dst, dport, payload = _udp(frame) or (0, 0, 0, 0, b"")
        shape = (src, sport, dst, dport, payload[:1], len(payload))
        seen[shape] += 1
        if seen[shape] <= PER_SHAPE:
            kept.append((stamp, frame))
    return kept


def _to_loopback(records: list[tuple[int, bytes]], ports: PortMap) -> tuple[list[tuple[int, bytes]], int]:
    out, sidebands = [], 0
    for stamp, frame in records:
        udp = _udp(frame)
        if udp is None:
            continue
        src, lsport, dst, ldport, payload = udp
        sport, dport = ports.real(src, lsport), ports.real(dst, ldport)
        record = SIDEBAND.pack(stamp, payload_digest(payload))       # every datagram has one
        out.append((stamp, _loopback_frame(sport, ports.sideband(dst), record)))
        sidebands += 1
        out.append((stamp, _loopback_frame(sport, dport, payload)))
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
    records = _sample([r for r in read_pcap(stream.getvalue()) if _udp(r[1]) is not None])
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
