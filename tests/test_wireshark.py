"""The Lua dissector (wireshark/qnetstack.lua) against scapy, through tshark."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from scapy.layers.inet import UDP
from scapy.layers.l2 import Ether

from protocols.common import EGP_PORT, HERALD_PORT, LINK_SERVICE_PORT, NETWORK_SERVICE_PORT, ParseError
from protocols.packets.egp import MSG_RELEASE_ACK, MSG_REQ, MSG_REQ_ACK, MSG_SCHEDULE, EgpMessage
from protocols.packets.heralding import Herald
from protocols.packets.linkservice import Ack, Create, Err, OkKeep, OkMeasure, decode_upward
from protocols.packets.qframe import QuantumFrame
from protocols.packets.scapy_layers.heralding import QHPHerald
from protocols.packets.scapy_layers.linkservice import LLCreate, LLErr, LLOkK, LLOkM
from stack.core.capture import EPOCH_NS, PcapWriter, quantum_frame, udp_frame
from tests.tshark_util import (
    NO_TRAILER,
    SEVERITY_WARN,
    assert_matches_scapy,
    decode_with_tshark,
    field_mismatches,
    have_tshark,
    read_frames,
    tshark_columns,
)

if not have_tshark():
    if os.environ.get("QNET_REQUIRE_TSHARK"):  # CI (.ci/run) must not skip these tests
        raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
    pytest.skip("tshark is not on PATH", allow_module_level=True)

APP_PORT = 49153
ALL_KINDS = {"HERALD", "QFRAME", "CREATE", "ACK", "OK_K", "OK_M", "ERR", "REQ", "REQ_ACK", "SCHEDULE", "RELEASE_ACK"}
BIG = 0xFEDC_BA98_7654_3210  # 64-bit values above 2^63 must survive as uint64

CREATE = Create(remote_node_id=0x0102_0304, minimum_fidelity=0xF0F0, tu=2, max_time=0x2ABC,
                purpose_id=0x1234, number=77, priority=6, tpe=1, ato=1, con=0, rl=3, rr=2,
                pl1=1, pl2=2, pr1=3, pr2=4, rotx1l=5, rotyl=6, rotx2l=7, rotx1r=8, rotyr=9,
                rotx2r=250)

# (virtual ns, frame bytes, expected start of the Info column)
MESSAGES: list[tuple[int, bytes, str]] = [
    (1_500, udp_frame(9, HERALD_PORT, 1, HERALD_PORT, Herald(
        outcome=1, bell_state=3, link_id=513, scheme=1, attempt_seq=BIG, attempts=0xDEADBEEF,
        detection_time=BIG - 1).encode(), ip_id=1),
     f"HERALD SUCCESS PSI_MINUS link=513 seq={BIG} attempts={0xDEADBEEF}"),
    (2_000, udp_frame(9, HERALD_PORT, 2, HERALD_PORT, Herald(
        outcome=0, bell_state=0, link_id=513, scheme=1, attempt_seq=1, attempts=1,
        detection_time=3).encode(), ip_id=2),
     "HERALD FAILURE link=513 seq=1"),
    (3_000, quantum_frame(258, 9, QuantumFrame(
        frame_type=1, link_id=513, source_node=258, attempt_seq=BIG, emission_time=BIG + 1,
        qubit_id=2**64 - 1).encode()),
     f"PHOTON link=513 src=258 seq={BIG} qubit={2**64 - 1}"),
    (4_000, udp_frame(1, APP_PORT, 1, LINK_SERVICE_PORT, CREATE.encode(), ip_id=3),
     "CREATE remote=16909060 number=77 tpe=M"),
    (5_000, udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, Ack(create_id=0xBEEF).encode(), ip_id=4),
     "ACK create_id=48879"),
    (6_000, udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, OkKeep(
        create_id=0xBEEF, lqid=13, d=1, bell_state=2, sequence_number=0xCAFE, purpose_id=0x1234,
        remote_node_id=0x0102_0304, goodness=0xFFFF, time_of_goodness=0xABCD).encode(), ip_id=5),
     "OK_K create_id=48879 seq=51966 lqid=13 bell=PHI_MINUS"),
    (7_000, udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, OkMeasure(
        create_id=0xBEEF, m=1, d=1, basis=4, bell_state=1, sequence_number=0xCAFF,
        purpose_id=0x1234, remote_node_id=7, goodness=0x7FFF).encode(), ip_id=6),
     "OK_M create_id=48879 seq=51967 m=1 basis=Z_ROT_MINUS_PI4_Y bell=PSI_PLUS"),
    (8_000, udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, Err(
        create_id=0xBEEF, err=8, s=1, sequence_number_low=0x10, sequence_number_high=0xFFFF,
        origin_node=0xFFFF_FFFF).encode(), ip_id=7),
     "ERR NORES create_id=48879"),
    (9_000, udp_frame(1, EGP_PORT, 2, EGP_PORT, EgpMessage(
        msg_type=MSG_REQ, status=0, create_id=0xBEEF, link_id=513, origin_node=1,
        create=CREATE).encode(), ip_id=8),
     "REQ create_id=48879 link=513 origin=1 qseq=0 | CREATE remote=16909060"),
    (10_000, udp_frame(2, EGP_PORT, 1, EGP_PORT, EgpMessage(
        msg_type=MSG_REQ_ACK, status=6, create_id=0xBEEF, link_id=513, origin_node=1,
        queue_seq=0xFFFF_FFFE).encode(), ip_id=9),
     f"REQ_ACK TIMEOUT create_id=48879 link=513 origin=1 qseq={0xFFFF_FFFE}"),
    (10_500, udp_frame(1, EGP_PORT, 2, EGP_PORT, EgpMessage(
        msg_type=MSG_SCHEDULE, status=0, create_id=0xBEEF, link_id=513, origin_node=2, queue_seq=7,
        run=0xFFFF_FFFF, pairs=0xFFFF).encode(), ip_id=15),
     f"SCHEDULE create_id=48879 link=513 origin=2 qseq=7 run={0xFFFF_FFFF} pairs=65535"),
    (10_600, udp_frame(2, EGP_PORT, 1, EGP_PORT, EgpMessage(
        msg_type=MSG_RELEASE_ACK, status=5, create_id=0xBEEF, link_id=513, origin_node=2, queue_seq=7,
        attempt_seq=BIG, sequence_number=0xFFFF).encode(), ip_id=16),
     f"RELEASE_ACK EXPIRE create_id=48879 link=513 origin=2 qseq=7 attempt={BIG} seq=65535"),
    # scapy-built, every reserved/unused bit set: the masks must isolate each field
    (11_000, udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, bytes(LLOkM(
        create_id=1, m=1, d=0, basis=2, bell_state=3, unused=0x1F, sequence_number=2,
        purpose_id=3, remote_node_id=4, goodness=5, unused2=0xFFFF)), ip_id=10),
     "OK_M create_id=1"),
    (12_000, udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, bytes(LLOkK(
        create_id=0xFFFF, lqid=15, d=0, bell_state=0, unused=0x1F)), ip_id=11),
     "OK_K create_id=65535"),
    (13_000, udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, bytes(LLErr(
        create_id=2, err=1, s=0, unused=0x7F)), ip_id=12),
     "ERR UNSUPP create_id=2"),
    (14_000, udp_frame(1, APP_PORT, 1, LINK_SERVICE_PORT, bytes(LLCreate(
        remote_node_id=2, tu=3, max_time=0x3FFF, priority=7, reserved=0x3)), ip_id=13),
     "CREATE remote=2"),
    (14_500, udp_frame(1, NETWORK_SERVICE_PORT, 1, LINK_SERVICE_PORT, Create(
        remote_node_id=2, purpose_id=0x8003, number=3, window=2).encode(), ip_id=17),
     "CREATE remote=2 number=3 tpe=K purpose=32771 min_fidelity=0.0000 window=CREDIT"),
    (3_000_000_123, udp_frame(9, HERALD_PORT, 1, HERALD_PORT, bytes(QHPHerald(reserved=0xFF)),
                              ip_id=14),
     "HERALD SUCCESS PHI_PLUS link=0"),
]


def _write(path: Path, frames: list[tuple[int, bytes]]) -> Path:
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for t, frame in frames:
            writer.write(t, frame)
    return path


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wireshark") / "messages.pcap"
    return _write(path, [(t, frame) for t, frame, _ in MESSAGES])


def test_every_message_matches_scapy(capture: Path) -> None:
    kinds = assert_matches_scapy(capture, trailer=False)
    assert set(kinds) == ALL_KINDS
    assert sum(kinds.values()) == len(MESSAGES) + 1  # the REQ also carries a CREATE


def test_layers_and_protocol_stack(capture: Path) -> None:
    decoded = decode_with_tshark(capture, *NO_TRAILER)
    layers = [[p for p, _ in d["layers"]] for d in decoded]
    assert layers[0] == ["qhp"] and layers[2] == ["qframe"] and layers[8] == ["egp", "qll"]
    assert decoded[2]["protocols"] == "eth:ethertype:qframe"
    assert decoded[3]["protocols"] == "eth:ethertype:ip:udp:qll"
    egp = dict(decoded[8]["layers"])["egp"]
    assert egp["egp.msg_type"] == ["1"] and egp["egp.create_id"] == [str(0xBEEF)]
    assert dict(decoded[8]["layers"])["qll"]["qll.rotx2r"] == ["250"]
    assert decoded[0]["layers"][0][1]["qhp.attempt_seq"] == [str(BIG)]


def test_info_column(capture: Path) -> None:
    rows = tshark_columns(capture, "frame.number", "_ws.col.Protocol", "_ws.col.Info", options=NO_TRAILER)
    assert len(rows) == len(MESSAGES)
    protocols = {"HERALD": "QHP", "PHOTON": "QFRAME", "REQ": "EGP", "REQ_ACK": "EGP", "SCHEDULE": "EGP",
                 "RELEASE_ACK": "EGP"}
    for (_, _, want), (_, proto, info) in zip(MESSAGES, rows, strict=True):
        assert info.startswith(want), (info, want)
        assert proto == protocols.get(want.split()[0], "QLL")


def test_time_epoch_keeps_nanoseconds(capture: Path) -> None:
    decoded = decode_with_tshark(capture, *NO_TRAILER)
    for (t, _, _), d in zip(MESSAGES, decoded, strict=True):
        sec, nsec = divmod(EPOCH_NS + t, 1_000_000_000)
        assert d["time_epoch"] == f"{sec}.{nsec:09d}"
    assert decoded[0]["time_epoch"] == "1767225600.000001500"
    assert decoded[-1]["time_epoch"] == "1767225603.000000123"


# --------------------------------------------------------------------------------------------
# Malformed input: flagged with expert info, never a Lua error

MALFORMED = [
    (udp_frame(9, HERALD_PORT, 1, HERALD_PORT, b"\x01\x01\x01"), "qhp.short"),
    (udp_frame(9, HERALD_PORT, 1, HERALD_PORT, Herald(1, 0, 1, 1, 1, 1, 1).encode() + b"\0"),
     "qhp.trailing"),
    (udp_frame(9, HERALD_PORT, 1, HERALD_PORT, b"\x02" + Herald(1, 0, 1, 1, 1, 1, 1).encode()[1:]),
     "qhp.bad_version"),
    (udp_frame(9, HERALD_PORT, 1, HERALD_PORT, bytes(QHPHerald(bell_state=4))), "qhp.undefined_value"),
    (quantum_frame(1, 9, b"\x01\x01\x00"), "qframe.short"),
    (quantum_frame(1, 9, QuantumFrame(1, 1, 1, 1, 1, 1).encode() + b"\0\1"), "qframe.trailing"),
    (udp_frame(1, APP_PORT, 1, LINK_SERVICE_PORT, CREATE.encode()[:23]), "qll.short"),
    (udp_frame(1, APP_PORT, 1, LINK_SERVICE_PORT, CREATE.encode() + b"\0"), "qll.trailing"),
    (udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, b"\x20"), "qll.short"),
    (udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, b"\x1b\xee\xf0"), "qll.short"),
    (udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, b"\x90\0\0\0"), "qll.unknown_type"),
    (udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, b"\x00\0\0\0"), "qll.unknown_type"),
    (udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, bytes(LLOkM(basis=7))), "qll.undefined_value"),
    (udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, bytes(LLErr(err=0))), "qll.undefined_value"),
    (udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, Ack(1).encode() + b"\0"), "qll.trailing"),
    (udp_frame(1, EGP_PORT, 2, EGP_PORT, b"\x01\x01"), "egp.short"),
    (udp_frame(1, EGP_PORT, 2, EGP_PORT, EgpMessage(MSG_REQ, 0, 1, 1, 1, create=CREATE).encode()[:10]),
     "egp.short"),
    (udp_frame(1, EGP_PORT, 2, EGP_PORT, EgpMessage(MSG_REQ, 0, 1, 1, 1, create=CREATE).encode()[:16]),
     "egp.short"),
    (udp_frame(1, EGP_PORT, 2, EGP_PORT, EgpMessage(MSG_REQ, 0, 1, 1, 1, create=CREATE).encode()[:30]),
     "qll.short"),
    (udp_frame(1, EGP_PORT, 2, EGP_PORT, EgpMessage(MSG_REQ_ACK, 0, 1, 1, 1, queue_seq=1).encode() + b"\0"),
     "egp.trailing"),
    (udp_frame(1, EGP_PORT, 2, EGP_PORT, b"\x01\x02\x63" + bytes(13)), "egp.undefined_value"),
]


def test_malformed_is_flagged(tmp_path: Path) -> None:
    path = _write(tmp_path / "malformed.pcap", [(i, f) for i, (f, _) in enumerate(MALFORMED)])
    decoded = decode_with_tshark(path, *NO_TRAILER)
    assert len(decoded) == len(MALFORMED)
    for d, (_, abbrev) in zip(decoded, MALFORMED, strict=True):
        found = {e.abbrev for e in d["experts"] if e.severity >= SEVERITY_WARN}
        assert abbrev in found, (d["number"], abbrev, d["experts"])
        assert not any(e.abbrev.startswith("_ws.lua") for e in d["experts"]), d["experts"]
        assert d["layers"], d["number"]


# --------------------------------------------------------------------------------------------
# Random payloads: tshark flags a message exactly when the codec rejects it, else agrees
# with scapy field by field

_VALID_PREFIX = {
    "qhp": [b"\x01\x01"], "qframe": [b"\x01\x01"], "create": [b""],
    "upward": [b"\x10", b"\x20", b"\x30", b"\x40"], "egp": [b"\x01\x01\x00", b"\x01\x02\x00", b"\x01\x05\x00",
                                                                    b"\x01\x06\x03", b"\x01\x07\x05",
                                                                    b"\x01\x08\x00"],
}
_SIZES = {"qhp": [28], "qframe": [32], "create": [24], "upward": [4, 16, 12], "egp": [40, 16, 24, 28]}


def _codec_accepts(kind: str, payload: bytes) -> bool:
    decode = {"qhp": Herald.decode, "qframe": QuantumFrame.decode, "create": Create.decode,
              "upward": decode_upward, "egp": EgpMessage.decode}[kind]
    try:
        decode(payload)
    except ParseError:
        return False
    return True


def _fuzz_frame(kind: str, payload: bytes) -> bytes:
    if kind == "qhp":
        return udp_frame(9, HERALD_PORT, 1, HERALD_PORT, payload)
    if kind == "qframe":
        return quantum_frame(1, 9, payload)
    if kind == "create":
        return udp_frame(1, APP_PORT, 1, LINK_SERVICE_PORT, payload)
    if kind == "upward":
        return udp_frame(1, LINK_SERVICE_PORT, 1, APP_PORT, payload)
    return udp_frame(1, EGP_PORT, 2, EGP_PORT, payload)


def test_random_payloads_agree_with_codec(tmp_path: Path) -> None:
    rng = random.Random(20260101)
    cases: list[tuple[str, bytes]] = []
    for kind in _SIZES:
        for _ in range(60):
            prefix = rng.choice(_VALID_PREFIX[kind]) if rng.random() < 0.8 else b""
            sizes = _SIZES[kind]
            if kind == "egp" and len(prefix) > 1:          # the size of that message type
                sizes = [{1: 40, 2: 16, 5: 24, 6: 24}.get(prefix[1], 28)]
            size = max(1, rng.choice(sizes) + rng.choice([0, 0, 0, -1, 1, -5]))
            if rng.random() < 0.1:
                size = rng.randrange(1, 48)
            body = bytes(rng.randrange(256) if rng.random() < 0.5 else rng.choice([0, 1, 2, 3])
                         for _ in range(max(0, size - len(prefix))))
            payload = (prefix + body)[:max(size, 1)]
            cases.append((kind, payload))
    path = _write(tmp_path / "fuzz.pcap", [(i, _fuzz_frame(k, p)) for i, (k, p) in enumerate(cases)])
    decoded = decode_with_tshark(path, *NO_TRAILER)
    frames = read_frames(path)
    assert len(decoded) == len(cases)
    problems = []
    accepted = 0
    for (kind, payload), d, frame in zip(cases, decoded, frames, strict=True):
        flagged = [e for e in d["experts"] if e.severity >= SEVERITY_WARN]
        assert not any(e.abbrev.startswith("_ws.lua") for e in d["experts"]), d["experts"]
        ok = _codec_accepts(kind, payload)
        accepted += ok
        if ok == bool(flagged):
            problems.append(f"frame {d['number']} {kind} {payload.hex()}: codec accepts={ok}, "
                            f"tshark experts={flagged}")
        if ok:
            problems.extend(field_mismatches(d, frame, trailer=False))
    assert not problems, "\n".join(problems[:20])
    assert accepted > len(cases) // 4  # the valid path was exercised too


def test_scapy_sees_udp_payload_layers(capture: Path) -> None:
    """Sanity of the reference side: scapy dissects the capture into the expected layers."""
    frames = [Ether(f) for f in read_frames(capture)]
    assert isinstance(frames[0][UDP].payload, QHPHerald)
    assert isinstance(frames[5][UDP].payload, LLOkK)
    assert frames[8][LLCreate].rotx2r == 250
