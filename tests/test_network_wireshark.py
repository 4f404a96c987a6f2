"""The Lua dissector on the network layer's messages: qns (7773), TRACK (p4egp + qnp on 7774 and raw
Ethernet 0x4401/0x4402) and qncp (7775), against scapy through tshark.

The capture is built by hand, so that it holds every QNCP type, reason and status (a run sends only
some), TRACKs, raw P4 frames, and the network service's messages, each with its expected Info
(tests/test_network_capture.py decodes a real run's capture).
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from protocols.common import (
    ETHERTYPE_P4_EGP,
    ETHERTYPE_P4_QNP,
    LINK_SERVICE_PORT,
    NETWORK_SERVICE_PORT,
    QNCP_PORT,
    QNP_PORT,
    ParseError,
)
from protocols.packets.linkservice import Ack, Create, Err, OkKeep, OkMeasure, decode_upward
from protocols.packets.qncp import (
    CircuitEnd,
    Confirm,
    Distil,
    HopAck,
    HopRule,
    LinkCap,
    LinkOption,
    NodeCap,
    PairMessage,
    QCap,
    QncpMessage,
    Setup,
    SetupReply,
    decode_qncp,
)
from protocols.packets.qncp_common import (
    COMPLETE,
    COMPLETE_ACK,
    CONFIRM,
    CONFIRM_ACK,
    CREDIT,
    CREDIT_ACK,
    CREDIT_READY,
    DISTIL,
    DISTIL_ACK,
    EXPIRE,
    EXPIRE_ACK,
    INFINITE_NS,
    MESSAGE_TYPES,
    REASON_UNKNOWN,
    REASONS,
    SCOPE_END_TO_END,
    SCOPE_HOP,
    SETUP_ACK,
    SETUP_REPLY_ACK,
    STATUS,
    TEARDOWN,
    TEARDOWN_ACK,
    TRACK_ACK,
)
from protocols.packets.qnp import TrackFrame
from stack.core.capture import PcapWriter, udp_frame
from tests.tshark_codec import assert_network_matches_codec, codec_mismatches
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
HEAD, REPEATER, TAIL = 1, 3, 2
C = 0xBEEF  # circuit id

CREATE = Create(remote_node_id=TAIL, minimum_fidelity=0xE666, tu=1, max_time=500, purpose_id=7, number=100)
NODE = NodeCap(node_id=HEAD, comm_qubits=2, storage_qubits=3, free_qubits=4, bsm_success=128, t1_ns=INFINITE_NS,
               t2_ns=2**63 + 5, gate_fidelity=0xFFBE, readout_fidelity=0xFFBD, gate_time_ns=0xFFFF_FFFF,
               readout_time_ns=10_000)
LINK = LinkCap(link_id=0xA1, link_label=0xC001, peer_node=REPEATER, attempt_cycle_ns=10_000, one_way_delay_ns=61_000,
               options=(LinkOption(0xFFFF_FFFF, 0xFD70, 0xDA, 0xDA, 0xDB), LinkOption(0x051EB852, 1, 2, 3, 4)))
REPEATER_CAP = QCap(NodeCap(REPEATER, 2, 0, 2, 255, 10**9, 10**8, 1, 2, 3, 4),
                    LinkCap(0xA2, 0x8001, TAIL, 5_000, 50_000, ()))
SETUP = Setup(C, HEAD, tail_node=TAIL, create_id=5, window=2, create=CREATE, route=(HEAD, REPEATER, TAIL),
              qcaps=(QCap(NODE, LINK), REPEATER_CAP))
REPLY = SetupReply(C, HEAD, tail_node=TAIL, reporting_node=TAIL, window=1, cutoff_ns=5_000_000,
                   end_cutoff_ns=2**64 - 1, expected_pair_time_ns=2_500_000, model_fidelity=0xF000,
                   model_error_x=0x555, model_error_z=0x555, model_error_y=0x555, route=(HEAD, REPEATER, TAIL),
                   rules=(HopRule(0xA1, 0xC001, REPEATER, 0xF333), HopRule(0xA2, 0x8001, REPEATER, 0xF334, 0x93)),
                   end_distil=0x41)


def _qncp(src: int, dst: int, message: QncpMessage) -> bytes:
    return udp_frame(src, QNCP_PORT, dst, QNCP_PORT, message.encode())


def _raw(src: int, dst: int, ethertype: int, payload: bytes) -> bytes:
    """A raw Ethernet frame as a v1quantum switch sends it, padded to the 60-byte minimum."""
    frame = struct.pack("!6s6sH", bytes((2, 0, 0, 0, 0, dst)), bytes((2, 0, 0, 0, 0, src)), ethertype) + payload
    return frame + bytes(max(0, 60 - len(frame)))


def _pair(kind: int, **kw: int) -> PairMessage:
    return PairMessage(kind, C, HEAD, link_label=0xC001, pair_seq=0xFFFE, link_id=0xA1, **kw)


def _distil(kind: int, scope: int = SCOPE_HOP, protocol: int = 2, outcome: int = 1, **kw: int) -> Distil:
    return Distil(kind, C, HEAD, link_label=0xC001, kept_pair_seq=0xFFFE, link_id=0xA1, scope=scope,
                  protocol=protocol, sacrificed_pair_seq=0xFFFF, level=255, outcome=outcome, **kw)


# (frame bytes, expected start of the Info column)
MESSAGES: list[tuple[bytes, str]] = [
    (_qncp(HEAD, REPEATER, SETUP), "SETUP circuit=0xbeef head=1 tail=2 hop=2/2 create_id=5 window=2 route=1,3,2 | "
                                   "CREATE remote=2 number=100"),
    (_qncp(REPEATER, HEAD, HopAck(SETUP_ACK, C, HEAD, hop_index=1)), "SETUP_ACK circuit=0xbeef head=1 hop=1"),
    (_qncp(REPEATER, HEAD, REPLY), "SETUP_REPLY circuit=0xbeef head=1 tail=2 reporting=2 window=1 cutoff=5000000ns"),
    (_qncp(HEAD, REPEATER, HopAck(SETUP_REPLY_ACK, C, HEAD, hop_index=0)), "SETUP_REPLY_ACK circuit=0xbeef"),
    (udp_frame(HEAD, QNP_PORT, REPEATER, QNP_PORT, TrackFrame(0xC001, 0xFFFE, 1, C, 0xFFFE, 1).encode()),
     "TRACK circuit=0xbeef pair_id=65534 bell=PSI_PLUS | link=0xc001 seq=65534 bell=PSI_PLUS"),
    (udp_frame(REPEATER, QNP_PORT, TAIL, QNP_PORT, TrackFrame(0x8001, 9, 3, C, 0xFFFE, 2).encode()),
     "TRACK circuit=0xbeef pair_id=65534 bell=PHI_MINUS | link=0x8001 seq=9 bell=PSI_MINUS"),
    (_qncp(REPEATER, HEAD, _pair(TRACK_ACK)), "TRACK_ACK circuit=0xbeef head=1 link=161 label=0xc001 seq=65534"),
    (_qncp(REPEATER, HEAD, _pair(CREDIT, window=255, credit=CREDIT_READY)),
     "CREDIT READY circuit=0xbeef head=1 link=161 label=0xc001 seq=65534 window=255"),
    (_qncp(HEAD, REPEATER, _pair(CREDIT_ACK)), "CREDIT_ACK RELEASED circuit=0xbeef"),
    (_qncp(TAIL, HEAD, Confirm(CONFIRM, C, HEAD, 0xFFFF, 0xFFFE, 9, 3, 0xFFFF)),
     "CONFIRM circuit=0xbeef head=1 n=65535 head_seq=65534 tail_seq=9 bell=PSI_MINUS goodness=1.0000"),
    (_qncp(HEAD, TAIL, Confirm(CONFIRM_ACK, C, HEAD, 0xFFFF, 0xFFFE, 9, 3, 0xFFFF, status=5)),
     "CONFIRM_ACK EXPIRE circuit=0xbeef"),
    # a repeater that relayed a CONFIRM and never heard back from the head
    (_qncp(REPEATER, TAIL, Confirm(CONFIRM_ACK, C, HEAD, 3, 7, 9, 1, 4, status=5, reason=REASON_UNKNOWN)),
     "CONFIRM_ACK EXPIRE UNKNOWN circuit=0xbeef head=1 n=3"),
    (_qncp(TAIL, REPEATER, CircuitEnd(COMPLETE, C, HEAD, sender_node=TAIL)), "COMPLETE circuit=0xbeef head=1 sender=2"),
    (_qncp(REPEATER, TAIL, CircuitEnd(COMPLETE_ACK, C, HEAD, sender_node=REPEATER)), "COMPLETE_ACK circuit=0xbeef"),
    (_qncp(HEAD, TAIL, CircuitEnd(TEARDOWN_ACK, C, 0xFFFF_FFFF, sender_node=TAIL, status=6)),
     f"TEARDOWN_ACK TIMEOUT circuit=0xbeef head={0xFFFF_FFFF} sender=2"),
    # distillation: both ends' outcomes, per hop and end to end, and a refused round
    (_qncp(HEAD, REPEATER, _distil(DISTIL)),
     "DISTIL circuit=0xbeef head=1 link=161 label=0xc001 kept=65534 sacrificed=65535 scope=HOP protocol=DEJMPS "
     "level=255 outcome=1"),
    (_qncp(REPEATER, HEAD, _distil(DISTIL, outcome=0)), "DISTIL circuit=0xbeef"),
    (_qncp(TAIL, HEAD, _distil(DISTIL, scope=SCOPE_END_TO_END, protocol=1, outcome=0, keep_parity=1, survivor=3)),
     "DISTIL circuit=0xbeef head=1 link=161 label=0xc001 kept=65534 sacrificed=65535 scope=END_TO_END "
     "protocol=BBPSSW level=255 outcome=0 keep_parity=1 survivor=PSI_MINUS"),
    (_qncp(HEAD, TAIL, _distil(DISTIL_ACK, scope=SCOPE_END_TO_END, protocol=1, outcome=0)),
     "DISTIL_ACK circuit=0xbeef head=1 link=161"),
    (_qncp(REPEATER, HEAD, _distil(DISTIL_ACK, status=5)), "DISTIL_ACK EXPIRE circuit=0xbeef"),
    # every EXPIRE reason, and its ACK
    *((_qncp(REPEATER, HEAD, _pair(EXPIRE, reason=r)), f"EXPIRE {name} circuit=0xbeef")
      for r, name in REASONS.items() if r),
    (_qncp(HEAD, REPEATER, _pair(EXPIRE_ACK, reason=2)), "EXPIRE_ACK SWAP_FAILED circuit=0xbeef"),
    # every status: refusals in SETUP_REPLY, failures in TEARDOWN
    *((_qncp(REPEATER, HEAD, SetupReply(C, HEAD, TAIL, REPEATER, status=code)),
       f"SETUP_REPLY {name} circuit=0xbeef head=1 tail=2 reporting=3") for code, name in STATUS.items() if code),
    *((_qncp(REPEATER, TAIL, CircuitEnd(TEARDOWN, C, HEAD, REPEATER, status=code)),
       f"TEARDOWN {name} circuit=0xbeef") for code, name in STATUS.items() if code and code != 11),
    # raw v1quantum frames
    (_raw(9, HEAD, ETHERTYPE_P4_EGP, bytes.fromhex("c0010102" "c0000000")),
     "P4 EGP link=0xc001 seq=258 bell=PSI_MINUS"),
    (_raw(HEAD, REPEATER, ETHERTYPE_P4_QNP, TrackFrame(0x8001, 7, 1, 0x0101, 7, 2).encode()),
     "TRACK circuit=0x0101 pair_id=7 bell=PHI_MINUS | link=0x8001 seq=7 bell=PSI_PLUS"),
    # the network service (qns), and the network layer's own link requests (qll)
    (udp_frame(HEAD, APP_PORT, HEAD, NETWORK_SERVICE_PORT, CREATE.encode()), "CREATE remote=2 number=100"),
    (udp_frame(HEAD, NETWORK_SERVICE_PORT, HEAD, APP_PORT, Ack(0xBEEF).encode()), "ACK create_id=48879"),
    (udp_frame(TAIL, NETWORK_SERVICE_PORT, TAIL, APP_PORT, OkKeep(
        create_id=5, lqid=2, d=1, bell_state=2, sequence_number=0, purpose_id=7, remote_node_id=HEAD,
        goodness=0xF000, time_of_goodness=0x1234).encode()), "OK_K create_id=5 seq=0 lqid=2 bell=PHI_MINUS remote=1"),
    (udp_frame(TAIL, NETWORK_SERVICE_PORT, TAIL, APP_PORT, OkMeasure(
        create_id=5, m=1, d=1, basis=1, bell_state=3, sequence_number=1, purpose_id=7, remote_node_id=HEAD,
        goodness=0xF000).encode()), "OK_M create_id=5 seq=1 m=1 basis=X bell=PSI_MINUS"),
    (udp_frame(HEAD, NETWORK_SERVICE_PORT, HEAD, APP_PORT, Err(5, 9, origin_node=HEAD).encode()),
     "ERR NOPATH create_id=5 origin=1"),
    (udp_frame(HEAD, NETWORK_SERVICE_PORT, HEAD, APP_PORT, Err(5, 10, origin_node=HEAD).encode()),
     "ERR DOWN create_id=5 origin=1"),
    (udp_frame(TAIL, NETWORK_SERVICE_PORT, TAIL, APP_PORT, Err(5, 5, 1, 0, 1, HEAD).encode()),
     "ERR EXPIRE create_id=5 origin=1 seq=[0,1)"),
    (udp_frame(REPEATER, NETWORK_SERVICE_PORT, REPEATER, LINK_SERVICE_PORT, Create(
        remote_node_id=TAIL, purpose_id=0x8001, number=1, priority=7).encode()), "CREATE remote=2 number=1"),
    (udp_frame(REPEATER, LINK_SERVICE_PORT, REPEATER, NETWORK_SERVICE_PORT, OkKeep(
        create_id=1, lqid=1, d=0, bell_state=1, sequence_number=9, purpose_id=0x8001, remote_node_id=TAIL,
        goodness=0xF000, time_of_goodness=1).encode()), "OK_K create_id=1 seq=9"),
]
KINDS = {f"QNCP_{name}" for name in MESSAGE_TYPES.values()} | {
    "TRACK", "P4_EGP", "NS_CREATE", "NS_ACK", "NS_OK_K", "NS_OK_M", "NS_ERR", "CREATE", "OK_K"}


def _expected_protocol(frame: bytes) -> tuple[str, list[str]]:
    """(Protocol column, tshark layers) a frame must get: by EtherType, then by the lower UDP port."""
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == ETHERTYPE_P4_EGP:
        return "P4EGP", ["p4egp"]
    if ethertype == ETHERTYPE_P4_QNP:
        return "QNP", ["p4egp", "qnp"]
    port = min(struct.unpack_from("!HH", frame, 34))
    return {LINK_SERVICE_PORT: ("QLL", ["qll"]), NETWORK_SERVICE_PORT: ("QNS", ["qns"]),
            QNP_PORT: ("QNP", ["p4egp", "qnp"]),
            QNCP_PORT: ("QNCP", ["qncp", "qll"] if frame[43] == 1 else ["qncp"])}[port]


def _write(path: Path, frames: list[bytes]) -> Path:
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for i, frame in enumerate(frames):
            writer.write(1_000 * i, frame)
    return path


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("network") / "network.pcap", [frame for frame, _ in MESSAGES])


def test_every_message_matches_scapy(capture: Path) -> None:
    kinds = assert_matches_scapy(capture, trailer=False)
    assert set(kinds) == KINDS
    assert kinds["QNCP_EXPIRE"] == len(REASONS) - 1
    assert kinds["QNCP_SETUP_REPLY"] == len(STATUS)


def test_every_message_matches_the_struct_codec(capture: Path) -> None:
    kinds = assert_network_matches_codec(capture, trailer=False)
    assert set(kinds) == {f"QNCP_{name}" for name in MESSAGE_TYPES.values()} | {
        "TRACK", "P4_EGP", "NS_CREATE", "NS_ACK", "NS_OK_K", "NS_OK_M", "NS_ERR"}
    assert kinds["TRACK"] == 3 and kinds["P4_EGP"] == 1          # two on UDP, one raw 0x4402; one raw 0x4401


def test_the_codec_comparison_sees_a_wrong_or_missing_field(capture: Path) -> None:
    decoded, frames = decode_with_tshark(capture, *NO_TRAILER), read_frames(capture)
    assert codec_mismatches(decoded[0], frames[0], trailer=False) == ("QNCP_SETUP", [])
    layers = [(proto, dict(fields)) for proto, fields in decoded[0]["layers"]]
    layers[0][1]["qncp.t1_ns"] = [layers[0][1]["qncp.t1_ns"][0], "7"]            # the repeater's T1
    kind, problems = codec_mismatches({**decoded[0], "layers": layers}, frames[0], trailer=False)
    assert kind == "QNCP_SETUP" and len(problems) == 1 and "qncp.t1_ns" in problems[0]
    del layers[1][1]["qll.number"]                                               # the embedded CREATE's
    assert len(codec_mismatches({**decoded[0], "layers": layers}, frames[0], trailer=False)[1]) == 2
    track = next(i for i, (_, info) in enumerate(MESSAGES) if info.startswith("TRACK"))
    layers = [(proto, dict(fields)) for proto, fields in decoded[track]["layers"]]
    layers[1][1]["qnp.bell_index"] = ["1"]                   # Ψ+ is 2 in P4's encoding (our 1)
    assert codec_mismatches({**decoded[track], "layers": layers}, frames[track], trailer=False)[1]


def test_layers_and_info_column(capture: Path) -> None:
    decoded = decode_with_tshark(capture, *NO_TRAILER)
    rows = tshark_columns(capture, "_ws.col.Protocol", "_ws.col.Info", options=NO_TRAILER)
    assert len(rows) == len(MESSAGES) == len(decoded)
    for (frame, want), (proto, info), d in zip(MESSAGES, rows, decoded, strict=True):
        assert info.startswith(want), (info, want)
        assert (proto, [p for p, _ in d["layers"]]) == _expected_protocol(frame), (d["number"], info)
    assert [row[0] for row in rows[-9:]] == ["QNS"] * 7 + ["QLL"] * 2
    setup = dict(decoded[0]["layers"])["qncp"]
    assert setup["qncp.route_node"] == ["1", "3", "2"] and setup["qncp.node_id"] == ["1", "3"]
    assert setup["qncp.t1_ns"] == [str(INFINITE_NS), str(10**9)] and setup["qncp.option_count"] == ["2", "0"]
    assert setup["qncp.success_probability"] == [str(0xFFFF_FFFF), str(0x051EB852)]
    assert dict(decoded[0]["layers"])["qll"]["qll.purpose_id"] == ["0x0007"]          # hex, like the labels


def test_raw_frames_protocol_stack(capture: Path) -> None:
    decoded = decode_with_tshark(capture, *NO_TRAILER)
    stacks = {d["protocols"] for d in decoded}
    assert {"eth:ethertype:p4egp", "eth:ethertype:qnp", "eth:ethertype:ip:udp:qnp", "eth:ethertype:ip:udp:qncp",
            "eth:ethertype:ip:udp:qns", "eth:ethertype:ip:udp:qll"} <= stacks


# --------------------------------------------------------------------------------------------
# Malformed input: flagged with expert info, never a Lua error

def _with_length(data: bytes) -> bytes:
    return data[:6] + struct.pack("!H", len(data)) + data[8:]


def _patch(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1:]


SETUP_BYTES, EXPIRE_BYTES = SETUP.encode(), _pair(EXPIRE, reason=1).encode()
DISTIL_BYTES = _distil(DISTIL).encode()
TRACK_BYTES = TrackFrame(1, 2, 3, 4, 5, 0).encode()
MALFORMED = [
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, EXPIRE_BYTES[:11]), "qncp.short"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _with_length(EXPIRE_BYTES[:18])), "qncp.short"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _with_length(EXPIRE_BYTES + b"\0")), "qncp.trailing"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, EXPIRE_BYTES + b"\0"), "qncp.bad_length"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(EXPIRE_BYTES, 0, 2)), "qncp.bad_version"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(EXPIRE_BYTES, 1, 18)), "qncp.unknown_type"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(EXPIRE_BYTES, 1, 16)), "qncp.short"),     # a DISTIL is 24 bytes
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(DISTIL_BYTES, 18, 2)), "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(DISTIL_BYTES, 19, 0)), "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(DISTIL_BYTES, 23, 2)), "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(_patch(DISTIL_BYTES, 18, 1), 23, 0x10)), "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _with_length(DISTIL_BYTES + b"\0")), "qncp.trailing"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(EXPIRE_BYTES, 2, 12)), "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(EXPIRE_BYTES, 3, 6)), "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(_pair(CREDIT).encode(), 19, 2)), "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(Confirm(CONFIRM, 1, 1, 0, 0, 0, 0, 0).encode(), 18, 4)),
     "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(SETUP_BYTES, 19, 3)), "qncp.bad_count"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(SETUP_BYTES, 18, 0)), "qncp.bad_count"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _with_length(SETUP_BYTES[:30])), "qll.short"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _with_length(SETUP_BYTES[:30])), "qncp.short"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _with_length(SETUP_BYTES[:-5])), "qncp.short"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(SETUP_BYTES, 112, 17)), "qncp.bad_count"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(REPLY.encode(), 2, 8)), "qncp.bad_count"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(SetupReply(1, 1, 2, 3, status=8).encode(), 2, 0)),
     "qncp.bad_count"),
    # undefined distillation rules (§9.3.3): the End-to-End Distil byte, and a hop rule's Distil byte
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(REPLY.encode(), 22, 0xFF)), "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(REPLY.encode(), 22, 0x03)), "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(REPLY.encode(), 56 + 12 + 10, 0x90)), "qncp.undefined_value"),
    (udp_frame(1, QNCP_PORT, 2, QNCP_PORT, _patch(REPLY.encode(), 56 + 12 + 12 + 10, 0xC1)), "qncp.undefined_value"),
    (udp_frame(1, QNP_PORT, 2, QNP_PORT, TRACK_BYTES[:5]), "p4egp.short"),
    (udp_frame(1, QNP_PORT, 2, QNP_PORT, TRACK_BYTES[:8]), "qnp.short"),
    (udp_frame(1, QNP_PORT, 2, QNP_PORT, TRACK_BYTES[:12]), "qnp.short"),
    (udp_frame(1, QNP_PORT, 2, QNP_PORT, TRACK_BYTES + b"\0"), "qnp.trailing"),
    (struct.pack("!6s6sH", bytes(6), bytes(6), ETHERTYPE_P4_EGP) + b"\x80\x01", "p4egp.short"),
    (struct.pack("!6s6sH", bytes(6), bytes(6), ETHERTYPE_P4_QNP) + TRACK_BYTES[:10], "qnp.short"),
    (udp_frame(1, APP_PORT, 1, NETWORK_SERVICE_PORT, CREATE.encode()[:23]), "qns.short"),
    (udp_frame(1, NETWORK_SERVICE_PORT, 1, APP_PORT, b"\x90\0\0\0"), "qns.unknown_type"),
    (udp_frame(1, NETWORK_SERVICE_PORT, 1, APP_PORT, Err(1, 12).encode()), "qns.undefined_value"),
    (udp_frame(1, NETWORK_SERVICE_PORT, 1, APP_PORT, Ack(1).encode() + b"\0"), "qns.trailing"),
]


def test_malformed_is_flagged(tmp_path: Path) -> None:
    decoded = decode_with_tshark(_write(tmp_path / "malformed.pcap", [f for f, _ in MALFORMED]), *NO_TRAILER)
    assert len(decoded) == len(MALFORMED)
    for d, (_, abbrev) in zip(decoded, MALFORMED, strict=True):
        found = {e.abbrev for e in d["experts"] if e.severity >= SEVERITY_WARN}
        assert abbrev in found, (d["number"], abbrev, d["experts"])
        assert not any(e.abbrev.startswith("_ws.lua") for e in d["experts"]), d["experts"]
        assert d["layers"], d["number"]


# --------------------------------------------------------------------------------------------
# Fuzzing: tshark flags a message exactly when the codec rejects it, else agrees with scapy field by
# field; raw Ethernet frames and random bytes never raise a Lua error

def _valid_qncp(rng: random.Random) -> bytes:
    choices: list[Callable[[], QncpMessage]] = [
        lambda: SETUP, lambda: REPLY, lambda: SetupReply(C, HEAD, TAIL, REPEATER, status=rng.randrange(1, 12)),
        lambda: HopAck(rng.choice([SETUP_ACK, SETUP_REPLY_ACK]), C, HEAD, rng.randrange(256)),
        lambda: _pair(rng.choice([TRACK_ACK, EXPIRE, EXPIRE_ACK, CREDIT, CREDIT_ACK]), reason=rng.randrange(6),
                      credit=rng.randrange(2), window=rng.randrange(256)),
        lambda: Confirm(rng.choice([CONFIRM, CONFIRM_ACK]), C, HEAD, 1, 2, 3, rng.randrange(4), 4),
        lambda: CircuitEnd(rng.choice([COMPLETE, COMPLETE_ACK, TEARDOWN, TEARDOWN_ACK]), C, HEAD, 3),
        lambda: _distil(rng.choice([DISTIL, DISTIL_ACK]), scope=rng.randrange(2), protocol=rng.randrange(1, 3),
                        outcome=rng.randrange(2), status=rng.choice([0, 5])),
    ]
    message = rng.choice(choices)()
    if isinstance(message, PairMessage) and message.msg_type not in (CREDIT, CREDIT_ACK):
        message = _pair(message.msg_type, reason=message.reason)
    return message.encode()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    roll = rng.random()
    if roll < 0.3:
        return data
    if roll < 0.6:
        at = rng.randrange(len(data))
        data = data[:at] + bytes([rng.choice([0, 1, 2, 3, 4, 5, 6, 11, 12, 16, 17, 255, rng.randrange(256)])]) \
            + data[at + 1:]
    elif roll < 0.8:
        data = data[:rng.randrange(1, len(data))]  # an empty UDP payload is not handed to any dissector
    else:
        data = data + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 14)))
    return _with_length(data) if len(data) >= 8 and rng.random() < 0.7 else data


def _cases(rng: random.Random) -> list[tuple[str, bytes]]:
    cases: list[tuple[str, bytes]] = []
    for _ in range(150):
        cases.append(("qncp", _mutate(rng, _valid_qncp(rng))))
    for _ in range(20):
        cases.append(("qncp", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 70)))))
    for _ in range(50):
        size = rng.choice([16, 16, 16, 15, 17, 8, rng.randrange(1, 40)])
        cases.append(("track", bytes(rng.randrange(256) for _ in range(size))))
    for _ in range(40):
        size = rng.choice([24, 24, 23, 25, rng.randrange(1, 40)])
        cases.append(("ns_create", bytes(rng.randrange(256) for _ in range(size))))
    for _ in range(40):
        kind = rng.choice([0x1, 0x2, 0x3, 0x4, rng.randrange(16)])
        size = rng.choice([4, 16, 12, rng.randrange(1, 20)])
        body = bytes(rng.randrange(256) for _ in range(size - 1))
        cases.append(("ns_upward", bytes([kind << 4 | rng.randrange(16)]) + body))
    for _ in range(40):
        ethertype = rng.choice([ETHERTYPE_P4_EGP, ETHERTYPE_P4_QNP])
        cases.append(("raw", struct.pack("!H", ethertype) + bytes(rng.randrange(256)
                                                                  for _ in range(rng.randrange(0, 50)))))
    return cases


def _frame(kind: str, payload: bytes) -> bytes:
    if kind == "qncp":
        return udp_frame(1, QNCP_PORT, 2, QNCP_PORT, payload)
    if kind == "track":
        return udp_frame(1, 50000, 2, QNP_PORT, payload)
    if kind == "ns_create":
        return udp_frame(1, APP_PORT, 1, NETWORK_SERVICE_PORT, payload)
    if kind == "ns_upward":
        return udp_frame(1, NETWORK_SERVICE_PORT, 1, APP_PORT, payload)
    return struct.pack("!6s6s", bytes((2, 0, 0, 0, 0, 2)), bytes((2, 0, 0, 0, 0, 1))) + payload


def _codec_accepts(kind: str, payload: bytes) -> bool | None:
    decode: Callable[[bytes], object] | None = {
        "qncp": decode_qncp, "track": TrackFrame.decode, "ns_create": Create.decode, "ns_upward": decode_upward,
    }.get(kind)
    if decode is None:
        return None  # raw frames: Ethernet padding makes "exact length" moot; only no Lua error
    try:
        decode(payload)
    except ParseError:
        return False
    return True


def test_fuzzed_payloads_agree_with_codec(tmp_path: Path) -> None:
    cases = _cases(random.Random(20260113))
    path = _write(tmp_path / "fuzz.pcap", [_frame(k, p) for k, p in cases])
    decoded, frames = decode_with_tshark(path, *NO_TRAILER), read_frames(path)
    assert len(decoded) == len(cases)
    problems, accepted, rejected = [], 0, 0
    for (kind, payload), d, frame in zip(cases, decoded, frames, strict=True):
        assert not any(e.abbrev.startswith("_ws.lua") for e in d["experts"]), d["experts"]
        assert d["layers"] or (kind == "raw" and len(payload) <= 2), (d["number"], kind, payload.hex())
        ok = _codec_accepts(kind, payload)
        if ok is None:
            continue
        accepted, rejected = accepted + ok, rejected + (not ok)
        flagged = [e for e in d["experts"] if e.severity >= SEVERITY_WARN]
        if ok == bool(flagged):
            problems.append(f"frame {d['number']} {kind} {payload.hex()}: codec accepts={ok}, tshark experts={flagged}")
        if ok:
            problems.extend(field_mismatches(d, frame, trailer=False))
    assert not problems, "\n".join(problems[:20])
    assert accepted > 60 and rejected > 60  # both paths exercised
