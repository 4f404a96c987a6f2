"""What the installed dissector claims (docs/wire.md §6, "What the dissector claims"): datagrams on the qnetstack
ports only between two addresses of the emulator's 198.18.0.0/15, so that other traffic on the same ports (a real
PTP network on 319/320, ephemeral ports in the application ranges, anything on 7770-7776) reads in Wireshark as it
does without the plugin. The oracle is tshark without the plugin."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from protocols.common import QNCP_PORT
from protocols.packets.qncp import CircuitEnd
from protocols.packets.qncp_common import COMPLETE
from stack.core.capture import PcapWriter, udp_frame
from tests.tshark_util import LUA_SCRIPT, have_tshark

if not have_tshark():
    if os.environ.get("QNET_REQUIRE_TSHARK"):
        raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
    pytest.skip("tshark is not on PATH", allow_module_level=True)

# A standard 44-byte PTPv2 Sync (one-step, domain 0, sequence 7), as a boundary clock on a real network sends it.
SYNC = (bytes([0x00, 0x02]) + struct.pack(">H", 44) + bytes(2) + b"\x02\x00" + bytes(12)
        + bytes.fromhex("001122fffe334455") + b"\x00\x01" + struct.pack(">H", 7) + bytes(2)
        + struct.pack(">HI", 0, 1_700_000_000) + struct.pack(">I", 5))
COMPLETE_BYTES = CircuitEnd(COMPLETE, 0x0101, 1, sender_node=2).encode() + bytes(28)   # with a (zero) trailer


def _udp(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    return bytes(Ether(src="00:11:22:33:44:55", dst="00:11:22:33:44:66") / IP(src=src, dst=dst)
                 / UDP(sport=sport, dport=dport) / payload)


FOREIGN = [
    _udp("10.0.0.1", 319, "224.0.1.129", 319, SYNC),                     # real PTP: no trailer to cut
    _udp("10.0.0.1", 50123, "10.0.0.2", 50007, b"\x12\x34" * 20),        # qnet run's application range
    _udp("192.168.1.5", 49160, "192.168.1.6", 49152, b"\xe7\xc4" + bytes(30)),   # qnet up's application slots
    _udp("10.0.0.1", QNCP_PORT, "10.0.0.2", QNCP_PORT, COMPLETE_BYTES),   # a qnetstack message, other addresses
    _udp("198.18.0.1", 7770, "10.0.0.2", 7770, bytes(56)),               # one end ours is not enough
]


def _write(path: Path, frames: list[bytes]) -> Path:
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for i, frame in enumerate(frames):
            writer.write(1_000 * i, frame)
    return path


def _columns(capture: Path, *options: str, plugin: bool = True) -> list[list[str]]:
    lua = ("-X", f"lua_script:{LUA_SCRIPT}") if plugin else ()
    out = subprocess.run(["tshark", "-n", *lua, *options, "-r", str(capture), "-T", "fields", "-E", "separator=/t",
                          "-e", "frame.protocols", "-e", "_ws.col.Protocol", "-e", "_ws.col.Info",
                          "-e", "_ws.expert.message"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_other_traffic_on_our_ports_reads_as_without_the_plugin(tmp_path: Path) -> None:
    capture = _write(tmp_path / "foreign.pcap", FOREIGN)
    plain, with_plugin = _columns(capture, plugin=False), _columns(capture)
    assert len(plain) == len(with_plugin) == len(FOREIGN)
    assert plain[0][:2] == ["eth:ethertype:ip:udp:ptp", "PTPv2"] and "Malformed" not in plain[0][2]
    for number, (want, got) in enumerate(zip(plain, with_plugin, strict=True), 1):
        # on 319/320 the plugin's qnetauth is the port's dissector: it hands someone else's PTP to Wireshark's
        # whole, and is listed in frame.protocols (nothing else of it shows)
        want_protocols = want[0].replace(":udp:ptp", ":udp:qnetauth:ptp")
        assert [want_protocols, *want[1:]] == got, (number, want, got)


def test_the_ptp_fields_are_wireshark_own(tmp_path: Path) -> None:
    capture = _write(tmp_path / "ptp.pcap", FOREIGN[:1])

    def tree(*lua: str) -> list[str]:
        out = subprocess.run(["tshark", "-n", *lua, "-r", str(capture), "-V"], capture_output=True, text=True,
                             timeout=120, check=True).stdout
        return [line for line in out.splitlines() if "[Protocols in frame:" not in line]

    with_plugin = tree("-X", f"lua_script:{LUA_SCRIPT}")
    assert with_plugin == tree() and any("sequenceId: 7" in line for line in with_plugin)


def test_any_address_preference_claims_them(tmp_path: Path) -> None:
    capture = _write(tmp_path / "foreign.pcap", FOREIGN)
    rows = _columns(capture, "-o", "qnetauth.any_address:TRUE")
    assert [row[1] for row in rows[1:4]] == ["QAPP", "QAPP", "QNCP"]
    assert rows[3][2].startswith("COMPLETE circuit=0x0101")


def test_our_addresses_are_claimed(tmp_path: Path) -> None:
    """Node 1 to node 258 (198.18.0.1 to 198.18.1.2): both in 198.18.0.0/15."""
    capture = _write(tmp_path / "ours.pcap", [udp_frame(1, QNCP_PORT, 258, QNCP_PORT, COMPLETE_BYTES)])
    ((protocols, column, info, _),) = _columns(capture)
    assert (protocols, column) == ("eth:ethertype:ip:udp:qncp:qnetauth", "QNCP") and info.startswith("COMPLETE")
