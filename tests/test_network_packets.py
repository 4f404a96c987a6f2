"""Network-layer wire formats: TRACK (P4 EGP + QNP), QNCP, the network service's view of the link service.

Golden hex literals were written by hand from the bit diagrams of docs/wire.md §9 (the
TRACK, EXPIRE and CONFIRM ones are those of the network-layer design), not printed from
``encode()``. The Bell-index mapping is checked against a state-vector simulation of
v1quantum's swap circuit (``qnode.py: execute_swap``: CX, H, measure q0 then q1, index
``2*bsm_1 + bsm_0``), an oracle independent of the code under test.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Padding

from protocols.common import (
    ETHERTYPE_P4_EGP,
    ETHERTYPE_P4_QNP,
    LINK_SERVICE_PORT,
    NETWORK_SERVICE_PORT,
    QNCP_PORT,
    QNP_PORT,
    BellState,
    ParseError,
)
from protocols.packets import egp, linkservice
from protocols.packets.linkservice import Create
from protocols.packets.qncp import CircuitEnd, Confirm, Distil, HopAck, PairMessage, QncpMessage, decode_qncp
from protocols.packets.qncp_caps import MAX_OPTIONS, HopRule, LinkCap, LinkOption, NodeCap, QCap
from protocols.packets.qncp_common import (
    CONFIRM_TYPES,
    CREDIT,
    CREDIT_ACK,
    CREDIT_READY,
    CREDIT_RELEASED,
    CREDIT_TYPES,
    DISTIL,
    DISTIL_ACK,
    DISTIL_TYPES,
    END_TYPES,
    EXPIRE,
    HOP_ACK_TYPES,
    INFINITE_NS,
    PAIR_TYPES,
    REASON_CUTOFF,
    REASONS,
    SCOPE_END_TO_END,
    SCOPE_HOP,
    SETUP_ACK,
    STATUS,
    TEARDOWN,
    TRACK_ACK,
    decode_probability,
    encode_probability,
)
from protocols.packets.qncp_setup import Setup, SetupReply
from protocols.packets.qnp import EgpHeader, TrackFrame, from_p4, to_p4
from protocols.packets.scapy_layers.linkservice import LLAck, LLCreate, LLOkK
from protocols.packets.scapy_layers.netservice import NSCreate, NSErr, NSOkM
from protocols.packets.scapy_layers.qncp import QNCP, QncpConfirm, QncpEnd, QncpHopAck, QncpPair
from protocols.packets.scapy_layers.qncp_caps import QncpHopRule, QncpLinkOption, QncpQCap
from protocols.packets.scapy_layers.qncp_distil import QncpDistil
from protocols.packets.scapy_layers.qncp_setup import QncpSetup, QncpSetupReply
from protocols.packets.scapy_layers.qnp import P4Egp, P4Qnp
from stack.core.capture import udp_frame

HYPOTHESIS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------------------------
# Golden messages

# TRACK (design §3.2): label 0x8001 | seq 7 | BI 10 (PSI_PLUS, ours 1) + 30 zero bits = 0x80000000
#                      circuit 0x0101 | pair_id 7 | BI 01 (PHI_MINUS, ours 2) = 0x40000000
TRACK = TrackFrame(link_label=0x8001, pair_seq=7, link_bell=BellState.PSI_PLUS, circuit_id=0x0101, pair_id=7,
                   bell=BellState.PHI_MINUS)
TRACK_HEX = "80010007" "80000000" "01010007" "40000000"
# EGP alone (EtherType 0x4401): label 0xC001 | seq 0x0102 | BI 11 (PSI_MINUS, ours 3) = 0xC0000000
EGP_ONLY = EgpHeader(link_label=0xC001, pair_seq=0x0102, link_bell=BellState.PSI_MINUS)
EGP_ONLY_HEX = "c0010102" "c0000000"

HEAD = "00000001"  # Head Node 1 in every QNCP golden message; circuit 0x0101

# EXPIRE (design §3.5.7): V1 | type 6 | status 0 | reason 1 CUTOFF | circuit 0x0101 | length 20 | head 1
#   label 0x8001 | seq 7 | link 2 | window 0 | reserved 0
EXPIRE_MSG = PairMessage(EXPIRE, 0x0101, 1, link_label=0x8001, pair_seq=7, link_id=2, reason=REASON_CUTOFF)
EXPIRE_HEX = "01060001" "01010014" + HEAD + "80010007" "00020000"
# CONFIRM (design §3.5.7): type 10 | length 24 | n 0 | head pair 7 | tail pair 9 | bell 2 (ours) | 0 | 0xF000 | 0
CONFIRM_MSG = Confirm(10, 0x0101, 1, e2e_seq=0, head_pair_seq=7, tail_pair_seq=9, bell_state=2, goodness=0xF000)
CONFIRM_HEX = "010a0000" "01010018" + HEAD + "00000007" "00090200" "f0000000"
# CONFIRM_ACK with Status 5 EXPIRE (the head no longer holds the pair)
CONFIRM_ACK_MSG = Confirm(11, 0x0101, 1, e2e_seq=0, head_pair_seq=7, tail_pair_seq=9, bell_state=2,
                          goodness=0xF000, status=5)
CONFIRM_ACK_HEX = "010b0500" "01010018" + HEAD + "00000007" "00090200" "f0000000"
# SETUP_ACK: type 2 | length 16 | hop index 1 | reserved 24
SETUP_ACK_MSG = HopAck(SETUP_ACK, 0x0101, 1, hop_index=1)
SETUP_ACK_HEX = "01020000" "01010010" + HEAD + "01000000"
# TRACK_ACK: type 5 | label 0x8001 | seq 7 | link 2 | window 0 | reserved 0
TRACK_ACK_MSG = PairMessage(TRACK_ACK, 0x0101, 1, link_label=0x8001, pair_seq=7, link_id=2)
TRACK_ACK_HEX = "01050000" "01010014" + HEAD + "80010007" "00020000"
# CREDIT READY, W = 2: type 8 | label 0xC001 | seq 0 | link 1 | window 2 | credit 1 (READY)
CREDIT_MSG = PairMessage(CREDIT, 0x0101, 1, link_label=0xC001, pair_seq=0, link_id=1, window=2, credit=CREDIT_READY)
CREDIT_HEX = "01080000" "01010014" + HEAD + "c0010000" "00010201"
# CREDIT_ACK RELEASED seq 9: type 9 | credit 0
CREDIT_ACK_MSG = PairMessage(CREDIT_ACK, 0x0101, 1, link_label=0xC001, pair_seq=9, link_id=1,
                             credit=CREDIT_RELEASED)
CREDIT_ACK_HEX = "01090000" "01010014" + HEAD + "c0010009" "00010000"
# TEARDOWN Status 10 (DOWN) from node 3: type 14 | length 16 | sender 3
TEARDOWN_MSG = CircuitEnd(TEARDOWN, 0x0101, 1, sender_node=3, status=10)
TEARDOWN_HEX = "010e0a00" "01010010" + HEAD + "00000003"

# DISTIL: type 16 | length 24 | label 0x8001 | kept pair 7 | link 2 | scope 0 HOP | protocol 2 DEJMPS |
#   sacrificed pair 8 | level 1 | outcome 1
DISTIL_MSG = Distil(DISTIL, 0x0101, 1, link_label=0x8001, kept_pair_seq=7, link_id=2, scope=SCOPE_HOP, protocol=2,
                    sacrificed_pair_seq=8, level=1, outcome=1)
DISTIL_HEX = "01100000" "01010018" + HEAD + "80010007" "00020002" "00080101"
# DISTIL_ACK with Status 5 EXPIRE, end to end (scope 1), BBPSSW (1): Pair IDs 0x0102 and 0x0103 on the head's
#   first hop (link 1, label 0xC001), level 0, outcome 0
DISTIL_ACK_MSG = Distil(DISTIL_ACK, 0x0101, 1, link_label=0xC001, kept_pair_seq=0x0102, link_id=1,
                        scope=SCOPE_END_TO_END, protocol=1, sacrificed_pair_seq=0x0103, level=0, outcome=0, status=5)
DISTIL_ACK_HEX = "01110500" "01010018" + HEAD + "c0010102" "00010101" "01030000"

# SETUP from head 1 to repeater 3 (route 1, 3, 2: hop count 2, hop index 1), length 48 + 12 + 36 + 20 + 12 = 128
#   tail 2 | create id 5 | hop count 2 | hop index 1 | window 1 | reserved
#   CREATE: remote 2 | min fid 0xE666 | TU 01 + max time 500 = 0x41F4 | purpose 7 | number 100 | CON=1: 0x04 | 0...
#   route 1, 3, 2
#   NodeCap: node 1 | comm 2 storage 2 free 4 bsm 255 | T1 infinite | T2 1e9 ns = 0x3B9ACA00 |
#            gate 0xFFBE readout 0xFFBE | gate time 20000 = 0x4E20 | readout time 10000 = 0x2710
#   LinkCap: link 1 | label 0xC001 | peer 3 | cycle 10000 = 0x2710 | delay 61000 = 0xEE48 | 1 option
#            p = 0x051EB852 (0.02) | F 0xFD70 | X 0x00DA | Z 0x00DA | Y 0x00DB  (sum 65535)
CREATE = Create(remote_node_id=2, minimum_fidelity=0xE666, tu=1, max_time=500, purpose_id=7, number=100)
CREATE_HEX = "00000002" "e66641f4" "00070064" "04000000" "00000000" "00000000"
NODE_1 = NodeCap(node_id=1, comm_qubits=2, storage_qubits=2, free_qubits=4, bsm_success=255, t1_ns=INFINITE_NS,
                 t2_ns=1_000_000_000, gate_fidelity=0xFFBE, readout_fidelity=0xFFBE, gate_time_ns=20_000,
                 readout_time_ns=10_000)
LINK_1 = LinkCap(link_id=1, link_label=0xC001, peer_node=3, attempt_cycle_ns=10_000, one_way_delay_ns=61_000,
                 options=(LinkOption(0x051EB852, 0xFD70, 0xDA, 0xDA, 0xDB),))
SETUP_MSG = Setup(0x0101, 1, tail_node=2, create_id=5, window=1, create=CREATE, route=(1, 3, 2),
                  qcaps=(QCap(NODE_1, LINK_1),))
SETUP_HEX = ("01010000" "01010080" + HEAD + "00000002" "00050201" "01000000" + CREATE_HEX
             + "00000001" "00000003" "00000002"
             + "00000001" "020204ff" "ffffffffffffffff" "000000003b9aca00" "ffbeffbe" "00004e20" "00002710"
             + "0001c001" "00000003" "00002710" "0000ee48" "01000000"
             + "051eb852" "fd7000da" "00da00db")
# SETUP_REPLY accepted: tail 2 reporting 2 | hop count 2 window 1 | cutoff 5 ms | end cutoff 6 ms | expected 2.5 ms
#   model F 0xF000 X 0x0555 Z 0x0555 Y 0x0555 | route 1, 3, 2 | rules: (link 1, 0xC001, origin 3, 0xF333),
#   (link 2, 0x8001, origin 3, 0xF333); length 56 + 12 + 24 = 92
SETUP_REPLY_MSG = SetupReply(0x0101, 1, tail_node=2, reporting_node=2, window=1, cutoff_ns=5_000_000,
                             end_cutoff_ns=6_000_000, expected_pair_time_ns=2_500_000, model_fidelity=0xF000,
                             model_error_x=0x555, model_error_z=0x555, model_error_y=0x555, route=(1, 3, 2),
                             rules=(HopRule(1, 0xC001, 3, 0xF333), HopRule(2, 0x8001, 3, 0xF333)))
SETUP_REPLY_HEX = ("01030000" "0101005c" + HEAD + "00000002" "00000002" "02010000"
                   "00000000004c4b40" "00000000005b8d80" "00000000002625a0" "f0000555" "05550555"
                   "00000001" "00000003" "00000002"
                   "0001c001" "00000003" "f3330000" "00028001" "00000003" "f3330000")
# SETUP_REPLY refused by node 3 with NORES (8): hop count 0, no route, no rules: 56 bytes
SETUP_REFUSED_MSG = SetupReply(0x0101, 1, tail_node=2, reporting_node=3, status=8)
SETUP_REFUSED_HEX = "01030800" "01010038" + HEAD + "00000002" "00000003" "00000000" + "00" * 32

QNCP_GOLDEN = [
    pytest.param(EXPIRE_MSG, EXPIRE_HEX, id="EXPIRE"),
    pytest.param(CONFIRM_MSG, CONFIRM_HEX, id="CONFIRM"),
    pytest.param(CONFIRM_ACK_MSG, CONFIRM_ACK_HEX, id="CONFIRM_ACK"),
    pytest.param(SETUP_ACK_MSG, SETUP_ACK_HEX, id="SETUP_ACK"),
    pytest.param(TRACK_ACK_MSG, TRACK_ACK_HEX, id="TRACK_ACK"),
    pytest.param(CREDIT_MSG, CREDIT_HEX, id="CREDIT"),
    pytest.param(CREDIT_ACK_MSG, CREDIT_ACK_HEX, id="CREDIT_ACK"),
    pytest.param(TEARDOWN_MSG, TEARDOWN_HEX, id="TEARDOWN"),
    pytest.param(DISTIL_MSG, DISTIL_HEX, id="DISTIL"),
    pytest.param(DISTIL_ACK_MSG, DISTIL_ACK_HEX, id="DISTIL_ACK"),
    pytest.param(SETUP_MSG, SETUP_HEX, id="SETUP"),
    pytest.param(SETUP_REPLY_MSG, SETUP_REPLY_HEX, id="SETUP_REPLY"),
    pytest.param(SETUP_REFUSED_MSG, SETUP_REFUSED_HEX, id="SETUP_REPLY_refused"),
]


# --------------------------------------------------------------------------------------------
# Codec value <-> scapy layer, field by field

def _fields(value: object, *skip: str) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__ if name not in skip}  # type: ignore[attr-defined]


def _qcap_layer(q: QCap) -> QncpQCap:
    return QncpQCap(**_fields(q.node), **_fields(q.link, "options"),
                    options=[QncpLinkOption(**_fields(o)) for o in q.link.options])


def scapy_of(m: QncpMessage) -> Packet:
    """The scapy layer built from a codec value (every field explicit, Length included)."""
    length = len(m.encode())
    if isinstance(m, Setup):
        return QncpSetup(**_fields(m, "create", "route", "qcaps", "msg_type"), length=length, hop_count=m.hop_count,
                         hop_index=m.hop_index, create=LLCreate(**_fields(m.create)), route_node=list(m.route),
                         qcaps=[_qcap_layer(q) for q in m.qcaps])
    if isinstance(m, SetupReply):
        return QncpSetupReply(**_fields(m, "route", "rules", "msg_type"), length=length, hop_count=m.hop_count,
                              route_node=list(m.route), rules=[QncpHopRule(**_fields(r)) for r in m.rules])
    layer = {HopAck: QncpHopAck, PairMessage: QncpPair, Confirm: QncpConfirm, CircuitEnd: QncpEnd,
             Distil: QncpDistil}[type(m)]
    skip = ("credit",) if isinstance(m, PairMessage) and m.msg_type not in CREDIT_TYPES else ()
    return layer(**_fields(m, *skip), length=length)


def _values(pkt: Packet, cls: type, *skip: str) -> dict[str, Any]:
    return {name: pkt.getfieldval(name) for name in cls.__slots__ if name not in skip}  # type: ignore[attr-defined]


def codec_of(pkt: Packet) -> QncpMessage:
    """The codec value scapy's dissection describes."""
    assert not pkt.payload or isinstance(pkt.payload, Padding)
    if isinstance(pkt, QncpSetup):
        qcaps = tuple(QCap(NodeCap(**_values(q, NodeCap)),
                           LinkCap(**_values(q, LinkCap, "options"),
                                   options=tuple(LinkOption(**_values(o, LinkOption)) for o in q.options)))
                      for q in pkt.qcaps)
        return Setup(**_values(pkt, Setup, "create", "route", "qcaps", "msg_type"),
                     create=Create(**_values(pkt.create, Create)), route=tuple(pkt.route_node), qcaps=qcaps)
    if isinstance(pkt, QncpSetupReply):
        return SetupReply(**_values(pkt, SetupReply, "route", "rules", "msg_type"), route=tuple(pkt.route_node),
                          rules=tuple(HopRule(**_values(r, HopRule)) for r in pkt.rules))
    cls = {QncpHopAck: HopAck, QncpPair: PairMessage, QncpConfirm: Confirm, QncpEnd: CircuitEnd,
           QncpDistil: Distil}[type(pkt)]
    values = _values(pkt, cls, "credit")
    if cls is PairMessage:
        values["credit"] = pkt.credit if pkt.msg_type in CREDIT_TYPES else 0
    return cls(**values)  # type: ignore[no-any-return]


def _assert_both_ways(m: QncpMessage, data: bytes) -> None:
    assert m.encode() == data
    assert decode_qncp(data) == m
    assert bytes(scapy_of(m)) == data
    dissected = QNCP(data)
    assert type(dissected) is type(scapy_of(m))
    assert codec_of(dissected) == m


@pytest.mark.parametrize(("message", "hexstr"), QNCP_GOLDEN)
def test_qncp_golden(message: QncpMessage, hexstr: str) -> None:
    _assert_both_ways(message, bytes.fromhex(hexstr))


def test_track_golden() -> None:
    golden = bytes.fromhex(TRACK_HEX)
    assert TRACK.encode() == golden
    assert TrackFrame.decode(golden) == TRACK
    built = P4Egp(link_label=0x8001, pair_seq=7, bell_index=0b10) / P4Qnp(circuit_id=0x0101, pair_id=7,
                                                                           bell_index=0b01)
    assert bytes(built) == golden
    frame = Ether(udp_frame(1, QNP_PORT, 3, QNP_PORT, golden))
    egp_layer, qnp_layer = frame[P4Egp], frame[P4Qnp]
    assert (egp_layer.link_label, egp_layer.pair_seq, egp_layer.bell_index, egp_layer.reserved) == (0x8001, 7, 2, 0)
    assert (qnp_layer.circuit_id, qnp_layer.pair_id, qnp_layer.bell_index, qnp_layer.reserved) == (0x0101, 7, 1, 0)
    assert TRACK.egp == EgpHeader(0x8001, 7, BellState.PSI_PLUS)


def test_egp_only_golden() -> None:
    golden = bytes.fromhex(EGP_ONLY_HEX)
    assert EGP_ONLY.encode() == golden and EgpHeader.decode(golden) == EGP_ONLY
    assert bytes(P4Egp(link_label=0xC001, pair_seq=0x0102, bell_index=0b11)) == golden


def test_raw_ethernet_frames_bind() -> None:
    macs = bytes.fromhex("020000000003" "020000000001")
    egp_only = Ether(macs + struct.pack("!H", ETHERTYPE_P4_EGP) + bytes.fromhex(EGP_ONLY_HEX) + bytes(38))
    assert egp_only[P4Egp].pair_seq == 0x0102 and P4Qnp not in egp_only and Padding in egp_only
    both = Ether(macs + struct.pack("!H", ETHERTYPE_P4_QNP) + bytes.fromhex(TRACK_HEX) + bytes(30))
    assert both[P4Qnp].circuit_id == 0x0101 and Padding in both


# --------------------------------------------------------------------------------------------
# The Bell-index mapping

def _bell_state(ours: int) -> np.ndarray:
    """(I ⊗ X^x Z^z)|Φ+⟩ for our index x | z << 1; basis |q0 q1⟩, q0 the more significant bit."""
    x, z = ours & 1, ours >> 1
    pauli_x, pauli_z = np.array([[0, 1], [1, 0]]), np.diag([1, -1])
    op = np.kron(np.eye(2), np.linalg.matrix_power(pauli_x, x) @ np.linalg.matrix_power(pauli_z, z))
    return op @ (np.array([1, 0, 0, 1]) / np.sqrt(2))


def test_to_p4_is_v1quantum_swap_outcome() -> None:
    """v1quantum's BSM: CX(q0 -> q1), H(q0), bell_index = 2*bsm_1 + bsm_0. On each of our Bell states the
    circuit ends in one basis state: its index is to_p4(ours), and its name matches V1QuantumBellIndex."""
    cx = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    h = np.kron(np.array([[1, 1], [1, -1]]) / np.sqrt(2), np.eye(2))
    p4_names = {0b00: "PHI_PLUS", 0b01: "PHI_MINUS", 0b10: "PSI_PLUS", 0b11: "PSI_MINUS"}  # PHI_MINS, PSI_MINS
    for ours in range(4):
        amplitudes = h @ cx @ _bell_state(ours)
        (basis_state,) = np.flatnonzero(np.abs(amplitudes) > 1e-9)
        bsm_0, bsm_1 = basis_state >> 1, basis_state & 1
        assert to_p4(ours) == 2 * bsm_1 + bsm_0
        assert p4_names[to_p4(ours)] == BellState(ours).name


def test_bell_mapping_is_an_involution_that_commutes_with_xor() -> None:
    assert [to_p4(b) for b in range(4)] == [0b00, 0b10, 0b01, 0b11]
    for a in range(4):
        assert from_p4(to_p4(a)) == a == to_p4(to_p4(a))
        for b in range(4):
            assert to_p4(a ^ b) == to_p4(a) ^ to_p4(b)


def test_tracking_rule_on_the_wire() -> None:
    """A repeater's outgoing TRACK bytes: qnp bell = in ⊕ swap ⊕ egp_out, computed in P4 encoding on the
    wire, equal the XOR in ours, for all 64 (in, m, b_out)."""
    for b_in in range(4):
        for m in range(4):
            for b_out in range(4):
                incoming = TrackFrame(0x8001, 7, 0, 0x0101, 7, b_in).encode()
                p4_in = incoming[12] >> 6
                p4_out = p4_in ^ to_p4(m) ^ to_p4(b_out)  # v1quantum's add_bell_index is a bitwise XOR
                wire = TrackFrame(0xC002, 9, b_out, 0x0101, 7, b_in ^ m ^ b_out).encode()
                assert wire[12] >> 6 == p4_out and wire[4] >> 6 == to_p4(b_out)


# --------------------------------------------------------------------------------------------
# Random valid values: codec round trip == scapy, both ways

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 2**64 - 1)
bell = st.integers(0, 3)
status = st.sampled_from(sorted(STATUS))
reason = st.sampled_from(sorted(REASONS))

tracks = st.builds(TrackFrame, u16, u16, bell, u16, u16, bell)
creates = st.builds(Create, remote_node_id=u32, minimum_fidelity=u16, tu=st.integers(0, 3),
                    max_time=st.integers(0, 0x3FFF), purpose_id=u16, number=u16, priority=st.integers(0, 7),
                    tpe=st.integers(0, 1), ato=st.integers(0, 1), con=st.integers(0, 1), rl=st.integers(0, 3),
                    rr=st.integers(0, 3), rotx2r=u8)
options = st.builds(LinkOption, u32, u16, u16, u16, u16)
qcaps = st.builds(QCap, st.builds(NodeCap, u32, u8, u8, u8, u8, u64, u64, u16, u16, u32, u32),
                  st.builds(LinkCap, u16, u16, u32, u32, u32,
                            st.one_of(st.lists(options, max_size=3), st.lists(options, min_size=MAX_OPTIONS,
                                                                             max_size=MAX_OPTIONS)).map(tuple)))


@st.composite
def setups(draw: st.DrawFn) -> Setup:
    route = tuple(draw(st.lists(u32, min_size=2, max_size=6)))
    caps = tuple(draw(st.lists(qcaps, min_size=1, max_size=len(route) - 1)))
    return Setup(draw(u16), draw(u32), draw(u32), draw(u16), draw(u8), draw(creates), route, caps, draw(status),
                 draw(reason))


@st.composite
def setup_replies(draw: st.DrawFn) -> SetupReply:
    refused = draw(st.booleans())
    rules = () if refused else tuple(draw(st.lists(st.builds(HopRule, u16, u16, u32, u16), min_size=1,
                                                   max_size=5)))
    route = tuple(draw(st.lists(u32, min_size=len(rules) + 1, max_size=len(rules) + 1))) if rules else ()
    code = draw(st.sampled_from(sorted(set(STATUS) - {0}))) if refused else 0
    return SetupReply(draw(u16), draw(u32), draw(u32), draw(u32), draw(u8), draw(u64), draw(u64), draw(u64),
                      draw(u16), draw(u16), draw(u16), draw(u16), route, rules, code, draw(reason))


@st.composite
def pair_messages(draw: st.DrawFn) -> PairMessage:
    kind = draw(st.sampled_from(PAIR_TYPES))
    credit = draw(st.sampled_from([CREDIT_RELEASED, CREDIT_READY])) if kind in CREDIT_TYPES else 0
    return PairMessage(kind, draw(u16), draw(u32), draw(u16), draw(u16), draw(u16), draw(status), draw(reason),
                       draw(u8), credit)


qncp_messages = st.one_of(
    setups(), setup_replies(), pair_messages(),
    st.builds(HopAck, st.sampled_from(HOP_ACK_TYPES), u16, u32, u8, status, reason),
    st.builds(Confirm, st.sampled_from(CONFIRM_TYPES), u16, u32, u16, u16, u16, bell, u16, status, reason),
    st.builds(CircuitEnd, st.sampled_from(END_TYPES), u16, u32, u32, status, reason),
    st.builds(Distil, st.sampled_from(DISTIL_TYPES), u16, u32, u16, u16, u16, st.sampled_from([0, 1]),
              st.sampled_from([1, 2]), u16, u8, st.integers(0, 1), status, reason),
)


@HYPOTHESIS
@given(qncp_messages)
def test_random_qncp_equals_scapy(message: QncpMessage) -> None:
    _assert_both_ways(message, message.encode())


@HYPOTHESIS
@given(tracks)
def test_random_track_equals_scapy(track: TrackFrame) -> None:
    data = track.encode()
    assert TrackFrame.decode(data) == track
    built = (P4Egp(link_label=track.link_label, pair_seq=track.pair_seq, bell_index=to_p4(track.link_bell))
             / P4Qnp(circuit_id=track.circuit_id, pair_id=track.pair_id, bell_index=to_p4(track.bell)))
    assert bytes(built) == data
    frame = Ether(udp_frame(2, 50000, 3, QNP_PORT, data))
    assert (frame[P4Egp].link_label, frame[P4Egp].pair_seq, from_p4(frame[P4Egp].bell_index)) == (
        track.link_label, track.pair_seq, track.link_bell)
    assert (frame[P4Qnp].circuit_id, frame[P4Qnp].pair_id, from_p4(frame[P4Qnp].bell_index)) == (
        track.circuit_id, track.pair_id, track.bell)


@HYPOTHESIS
@given(tracks, u32, u32)
def test_track_reserved_bits_are_ignored(track: TrackFrame, egp_reserved: int, qnp_reserved: int) -> None:
    data = bytearray(track.encode())
    for offset, noise in ((4, egp_reserved), (12, qnp_reserved)):
        word = int.from_bytes(data[offset:offset + 4], "big") | noise & 0x3FFF_FFFF
        data[offset:offset + 4] = word.to_bytes(4, "big")
    assert TrackFrame.decode(bytes(data)) == track


def test_largest_setup_fits_the_length_field() -> None:
    """255 hops, every node's QCap with 16 options: 48 + 4·256 + 255·(56 + 192) = 64,312 bytes ≤ 65,535."""
    cap = QCap(NODE_1, LinkCap(1, 0x8001, 2, 1, 1, (LinkOption(1, 2, 3, 4, 5),) * MAX_OPTIONS))
    big = Setup(0xFFFF, 1, 2, 3, 1, CREATE, tuple(range(1, 257)), (cap,) * 255)
    data = big.encode()
    assert len(data) == 64_312 == int.from_bytes(data[6:8], "big")
    assert decode_qncp(data) == big


def test_fixed_point_helpers() -> None:
    assert encode_probability(0.02) == 0x051EB852 and encode_probability(1.5) == 2**32 - 1
    assert encode_probability(-1) == 0 and abs(decode_probability(0x051EB852) - 0.02) < 1e-9


# --------------------------------------------------------------------------------------------
# Rejections: exact lengths, Version, defined values, Length field, counts

def _patch(hexstr: str, offset: int, new: str) -> bytes:
    data = bytearray.fromhex(hexstr)
    data[offset:offset + len(new) // 2] = bytes.fromhex(new)
    return bytes(data)


def _with_length(data: bytes) -> bytes:
    return data[:6] + struct.pack("!H", len(data)) + data[8:]


BAD_QNCP = [
    pytest.param(b"", id="empty"),
    pytest.param(bytes.fromhex(EXPIRE_HEX)[:11], id="short header"),
    pytest.param(bytes.fromhex(EXPIRE_HEX)[:-1], id="truncated"),
    pytest.param(bytes.fromhex(EXPIRE_HEX) + b"\0", id="over-long"),
    pytest.param(_with_length(bytes.fromhex(EXPIRE_HEX)[:-2]), id="truncated, Length agrees"),
    pytest.param(_with_length(bytes.fromhex(EXPIRE_HEX) + b"\0\0"), id="over-long, Length agrees"),
    pytest.param(_patch(EXPIRE_HEX, 0, "02"), id="version 2"),
    pytest.param(_patch(EXPIRE_HEX, 1, "00"), id="type 0"),
    pytest.param(_patch(EXPIRE_HEX, 1, "12"), id="type 18"),
    pytest.param(_patch(EXPIRE_HEX, 1, "10"), id="type 16 (DISTIL) on 20 bytes"),
    pytest.param(_patch(DISTIL_HEX, 18, "02"), id="DISTIL scope 2"),
    pytest.param(_patch(DISTIL_HEX, 19, "00"), id="DISTIL protocol 0"),
    pytest.param(_patch(DISTIL_HEX, 19, "03"), id="DISTIL protocol 3"),
    pytest.param(_patch(DISTIL_HEX, 23, "02"), id="DISTIL outcome 2"),
    pytest.param(_with_length(bytes.fromhex(DISTIL_HEX)[:-1]), id="DISTIL 23 bytes, Length agrees"),
    pytest.param(_patch(EXPIRE_HEX, 2, "0c"), id="status 12"),
    pytest.param(_patch(EXPIRE_HEX, 3, "06"), id="reason 6"),
    pytest.param(_patch(EXPIRE_HEX, 6, "0015"), id="Length 21 on 20 bytes"),
    pytest.param(_patch(CREDIT_HEX, 19, "02"), id="credit kind 2"),
    pytest.param(_patch(CONFIRM_HEX, 18, "04"), id="Bell state 4"),
    pytest.param(_patch(SETUP_HEX, 18, "00"), id="SETUP hop count 0"),
    pytest.param(_patch(SETUP_HEX, 19, "00"), id="SETUP hop index 0"),
    pytest.param(_patch(SETUP_HEX, 19, "03"), id="SETUP hop index > hop count"),
    pytest.param(_patch(SETUP_HEX, 19, "02"), id="SETUP hop index 2, one QCap"),
    pytest.param(_patch(SETUP_HEX, 112, "11"), id="LinkCap with 17 options"),
    pytest.param(_patch(SETUP_HEX, 112, "02"), id="LinkCap says 2 options, has 1"),
    pytest.param(_patch(SETUP_REPLY_HEX, 2, "08"), id="SETUP_REPLY error with rules"),
    pytest.param(_patch(SETUP_REFUSED_HEX, 2, "00"), id="SETUP_REPLY accepted without rules"),
    pytest.param(_patch(SETUP_REPLY_HEX, 20, "03"), id="SETUP_REPLY hop count 3, rules for 2"),
]


@pytest.mark.parametrize("data", BAD_QNCP)
def test_qncp_rejects(data: bytes) -> None:
    with pytest.raises(ParseError):
        decode_qncp(data)


@pytest.mark.parametrize("data", [b"", bytes.fromhex(TRACK_HEX)[:15], bytes.fromhex(TRACK_HEX) + b"\0",
                                  bytes.fromhex(EGP_ONLY_HEX)])
def test_track_rejects(data: bytes) -> None:
    with pytest.raises(ParseError):
        TrackFrame.decode(data)
    with pytest.raises(ParseError):
        EgpHeader.decode(data + b"\0")


def test_encode_refuses_inconsistent_counts() -> None:
    with pytest.raises(ValueError):
        Setup(1, 1, 2, 1, 1, CREATE, (1, 2), ()).encode()                         # no QCap
    with pytest.raises(ValueError):
        SetupReply(1, 1, 2, 2, route=(1, 2), rules=()).encode()                   # accepted, no rules
    with pytest.raises(ValueError):
        SetupReply(1, 1, 2, 2, route=(1, 2), rules=(HopRule(1, 2, 3, 4),), status=8).encode()
    with pytest.raises(ValueError):
        LinkCap(1, 1, 1, 1, 1, (LinkOption(1, 1, 1, 1, 1),) * 17).encode()


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """Near-valid variants: a byte changed, cut short or extended, with the Length field kept or fixed up."""
    def change(args: tuple[int, int]) -> bytes:
        at, value = args
        return data[:at % len(data)] + bytes([value]) + data[at % len(data) + 1:]
    variants = st.one_of(
        st.tuples(st.integers(0, 10_000), u8).map(change),
        st.integers(0, len(data)).map(lambda n: data[:n]),
        st.binary(min_size=1, max_size=16).map(lambda extra: data + extra),
    )
    return st.one_of(variants, variants.filter(lambda d: len(d) >= 8).map(_with_length))


@HYPOTHESIS
@given(qncp_messages.flatmap(lambda m: _mutations(m.encode())))
def test_decode_qncp_near_valid_bytes(data: bytes) -> None:
    """A value or ParseError; what decodes re-encodes to a message of the same length that decodes the
    same (the bytes may differ only in Reserved fields, which decoders ignore)."""
    with contextlib.suppress(ParseError):
        message = decode_qncp(data)
        again = message.encode()
        assert len(again) == len(data) and decode_qncp(again) == message


@HYPOTHESIS
@given(st.binary(max_size=80))
def test_decoders_on_arbitrary_bytes(data: bytes) -> None:
    for decode in (decode_qncp, TrackFrame.decode, EgpHeader.decode):
        with contextlib.suppress(ParseError):
            decode(data)


# --------------------------------------------------------------------------------------------
# Ports, bindings, error codes

@pytest.mark.parametrize(("sport", "dport", "payload", "layer"), [
    (QNP_PORT, QNP_PORT, TRACK_HEX, P4Egp),
    (QNCP_PORT, QNCP_PORT, SETUP_HEX, QncpSetup),
    (QNCP_PORT, QNCP_PORT, CONFIRM_HEX, QncpConfirm),
    (QNCP_PORT, QNCP_PORT, DISTIL_HEX, QncpDistil),
    (49152, NETWORK_SERVICE_PORT, CREATE_HEX, NSCreate),
    (NETWORK_SERVICE_PORT, 49152, "300429a0" "00070008" "00010000" "80000000", NSOkM),
    (NETWORK_SERVICE_PORT, 49152, "4ffff900" "00000000" "00000003", NSErr),
    (NETWORK_SERVICE_PORT, LINK_SERVICE_PORT, CREATE_HEX, LLCreate),       # the network layer's link request
    (LINK_SERVICE_PORT, NETWORK_SERVICE_PORT, "1beef000", LLAck),          # and the link layer's answer
    (LINK_SERVICE_PORT, NETWORK_SERVICE_PORT, "21234ae0" "56789abc" "00000002" "fffe0102", LLOkK),
])
def test_udp_ports_bind_layers(sport: int, dport: int, payload: str, layer: type[Packet]) -> None:
    frame = Ether(udp_frame(1, sport, 2, dport, bytes.fromhex(payload)))
    assert type(frame[UDP].payload) is layer


def test_network_error_codes() -> None:
    assert {9: "NOPATH", 10: "DOWN", 11: "INUSE"}.items() <= linkservice.ERROR_CODES.items()
    assert set(egp.STATUS) == set(range(9))                  # the link layer never sends 9-11
    err = linkservice.Err(create_id=4, err=linkservice.ERR_NOPATH, origin_node=1)
    assert linkservice.decode_upward(err.encode()) == err
    assert STATUS[11] == "INUSE" and STATUS[0] == "OK"


@pytest.mark.parametrize("module", ["protocols.packets.qnp", "protocols.packets.qncp", "protocols.packets.qncp_setup",
                                    "protocols.packets.qncp_distil",
                                    "protocols.packets.qncp_caps", "protocols.packets.qncp_common",
                                    "protocols.packets.scapy_layers.netservice", "protocols.packets.linkservice",
                                    "protocols.packets.linkservice_codes", "protocols.packets.linkservice_block",
                                    "protocols.packets.linkservice_create"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("hexstr", [TRACK_HEX, EXPIRE_HEX, CONFIRM_HEX, CREDIT_HEX, SETUP_REFUSED_HEX, DISTIL_HEX])
def test_wire_md_golden_bytes_are_these(hexstr: str) -> None:
    """docs/wire.md §9 prints these messages; its bytes must be the ones tested here."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "wire.md").read_text()
    section = text[text.index("## 9. Network layer"):]
    spaced = " ".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2))
    assert spaced in " ".join(section.split())
