"""Application messages are `qapp` on the application ports of both run modes (docs/wire.md §11.2, §8.1), and the
applications' CREATE/ACK/ERR stay `qll`/`qns`: in `qnet run` the API's applications use 50000 + index, in `qnet up`
the node's application slots (logical ports 49152-49173 in the captures `qnet up` writes; on loopback the real
ports base + 32 × node + 9..30, with `qnetmp.base_port` set)."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.common import LINK_SERVICE_PORT, NETWORK_SERVICE_PORT
from protocols.packets import linkservice as ll
from protocols.packets.exchange import ExchangeMessage
from stack.core.capture import PcapWriter, udp_frame
from stack.multiprocess.ports import PortMap
from tests.tshark_util import NO_TRAILER, have_tshark, tshark_columns

EXCHANGE = ExchangeMessage(7, 0, bytes.fromhex("0102ff")).encode()
CREATE = ll.Create(remote_node_id=2, purpose_id=1).encode()
ACK = ll.Ack(3).encode()
ERR = ll.Err(0, ll.ERR_CREATE, origin_node=1).encode()


def _write(path: Path, frames: list[tuple[int, int, int, int, bytes]]) -> Path:
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for i, (src, sport, dst, dport, payload) in enumerate(frames):
            writer.write(1_000 * i, udp_frame(src, sport, dst, dport, payload))
    return path


def _dissected(path: Path, *options: str) -> list[tuple[str, str, str]]:
    """Per frame: the protocol tshark decoded (its Protocol column, lower case), qapp.tag and qapp.data."""
    rows = tshark_columns(path, "_ws.col.Protocol", "qapp.tag", "qapp.data", options=(*NO_TRAILER, *options))
    return [(row[0].lower(), row[1], row[2].replace(":", "")) for row in rows]


APP_TRAFFIC = [  # (source port, destination port, payload, protocol, qapp.tag, qapp.data)
    (49152, 49153, EXCHANGE, "qapp", "7", ""),
    (49153, 49152, b"hello", "qapp", "", b"hello".hex()),
    (49173, 49152, EXCHANGE, "qapp", "7", ""),
    (50000, 50001, EXCHANGE, "qapp", "7", ""),
    (49152, LINK_SERVICE_PORT, CREATE, "qll", "", ""),
    (LINK_SERVICE_PORT, 49152, ACK, "qll", "", ""),
    (49153, NETWORK_SERVICE_PORT, CREATE, "qns", "", ""),
    (NETWORK_SERVICE_PORT, 49153, ERR, "qns", "", ""),
]


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
def test_qnet_up_application_ports_are_qapp_and_service_replies_are_not(tmp_path: Path) -> None:
    frames = [(1, sport, 2 if sport >= 49152 and dport >= 49152 else 1, dport, payload)
              for sport, dport, payload, *_ in APP_TRAFFIC]
    got = _dissected(_write(tmp_path / "logical.pcap", frames))
    assert got == [(proto, tag, data) for *_, proto, tag, data in APP_TRAFFIC]


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
def test_live_loopback_application_slots_are_qapp_and_service_replies_are_not(tmp_path: Path) -> None:
    ports = PortMap(40000)
    app1, app2 = ports.real(1, 49152), ports.real(2, 49160)
    frames = [
        (1, app1, 2, app2, EXCHANGE),
        (2, app2, 1, app1, b"hello"),
        (1, app1, 1, ports.real(1, LINK_SERVICE_PORT), CREATE),
        (1, ports.real(1, LINK_SERVICE_PORT), 1, app1, ACK),
        (2, app2, 2, ports.real(2, NETWORK_SERVICE_PORT), CREATE),
        (2, ports.real(2, NETWORK_SERVICE_PORT), 2, app2, ERR),
    ]
    got = _dissected(_write(tmp_path / "live.pcap", frames), "-o", "qnetmp.base_port:40000")
    assert got == [("qapp", "7", ""), ("qapp", "", b"hello".hex()), ("qll", "", ""), ("qll", "", ""),
                   ("qns", "", ""), ("qns", "", "")]
