"""Wire formats: golden bytes, codec == scapy, and decoders that only ever raise ParseError.

The golden hex literals were written by hand from the bit diagrams (module docstrings,
draft-dahlberg-ll-quantum-03 figures 1-5, docs/wire.md), not printed from ``encode()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from protocols.common import EGP_PORT, HERALD_PORT, LINK_SERVICE_PORT, QFRAME_ETHERTYPE, ParseError
from protocols.packets.egp import (
    MSG_CONFIRM_ACK,
    MSG_RELEASE,
    MSG_REQ,
    MSG_REQ_ACK,
    MSG_SCHEDULE,
    MSG_SCHEDULE_ACK,
    PAIR_MESSAGES,
    RUN_MESSAGES,
    STATUS,
    EgpMessage,
)
from protocols.packets.heralding import Herald
from protocols.packets.linkservice import (
    BASES,
    ERROR_CODES,
    WINDOW_CREDIT,
    Ack,
    Create,
    Err,
    OkKeep,
    OkMeasure,
    decode_upward,
)
from protocols.packets.linkservice_create import CREDIT_BITS, CREDIT_FIELDS, WINDOW_BITS, WINDOW_BYTE
from protocols.packets.qframe import QuantumFrame
from protocols.packets.scapy_layers.egp import EGP
from protocols.packets.scapy_layers.heralding import QHPHerald
from protocols.packets.scapy_layers.linkservice import LLAck, LLCreate, LLErr, LLOkK, LLOkM, LLUpward
from protocols.packets.scapy_layers.qframe import QFrame
from stack.core.capture import node_ip, node_mac, quantum_frame, udp_frame

HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------------------------
# Golden messages: (codec value, scapy class, hex)

# HERALD: Version 1 | Type 1 | Outcome 1 (SUCCESS) | Bell 3 (PSI_MINUS)
#         Link 0x0102 | Scheme 1 | Reserved 0 | Seq 0x0102030405060708 (8 bytes)
#         Attempts 0x0A0B0C0D | Detection time 0x1112131415161718 (8 bytes)  = 28 bytes
HERALD = Herald(outcome=1, bell_state=3, link_id=0x0102, scheme=1,
                attempt_seq=0x0102030405060708, attempts=0x0A0B0C0D,
                detection_time=0x1112131415161718)
HERALD_HEX = "01010103" "01020100" "0102030405060708" "0a0b0c0d" "1112131415161718"

# REPORT (end to end, coupler scheme 4): Version 1 | Type 2 | Outcome 0 | Bell 0 | Link 0x0304 | Scheme 4 | ...
REPORT = Herald(outcome=0, bell_state=0, link_id=0x0304, scheme=4, attempt_seq=9, attempts=1,
                detection_time=0x0100, msg_type=2)
REPORT_HEX = "01020000" "03040400" "0000000000000009" "00000001" "0000000000000100"

# QFRAME: Version 1 | Frame type 1 | Link 0x0A0B | Source 0x01020304 | Seq | Time | Qubit
QFRAME = QuantumFrame(frame_type=1, link_id=0x0A0B, source_node=0x01020304,
                      attempt_seq=0x1112131415161718, emission_time=0x2122232425262728,
                      qubit_id=0xF1F2F3F4F5F6F7F8)
QFRAME_HEX = "01010a0b" "01020304" "1112131415161718" "2122232425262728" "f1f2f3f4f5f6f7f8"

# CREATE (draft-03 figure 1, 24 bytes):
#   Remote Node ID 0x00000102
#   Minimum Fidelity 0xF000 | TU 01 (ms), Max Time 0x0123 -> 01 00 0001 0010 0011 = 0x4123
#   Purpose ID 0x0ABC | Number 0x0005
#   Prio 101, TPE 1, ATO 0, CON 1, RL 10 -> 1011 0110 = 0xB6
#   RR 11, reserved 000000 -> 1100 0000 = 0xC0 | PL1 0x11 | PL2 0x12
#   PR1 0x13 | PR2 0x14 | ROTX1L 0x21 | ROTYL 0x22
#   ROTX2L 0x23 | ROTX1R 0x31 | ROTYR 0x32 | ROTX2R 0x33
CREATE = Create(remote_node_id=0x102, minimum_fidelity=0xF000, tu=1, max_time=0x123,
                purpose_id=0xABC, number=5, priority=5, tpe=1, ato=0, con=1, rl=2, rr=3,
                pl1=0x11, pl2=0x12, pr1=0x13, pr2=0x14, rotx1l=0x21, rotyl=0x22, rotx2l=0x23,
                rotx1r=0x31, rotyr=0x32, rotx2r=0x33)
CREATE_HEX = "00000102" "f0004123" "0abc0005" "b6c01112" "13142122" "23313233"
# CREATE with Window (wire.md §4.1.1): a windowed request's CREDIT of 3 pairs on Purpose ID 0x8003
#   Remote 0x00000002 | Minimum Fidelity 0 | TU 00, Max Time 0 | Purpose ID 0x8003 | Number 0x0003
#   Prio 000, TPE 0, ATO 0, CON 1, RL 00 -> 0000 0100 = 0x04
#   RR 00, Distil 00, Window 10 (CREDIT), reserved 00 -> 0000 1000 = 0x08 | the rest 0
CREATE_WINDOW = Create(remote_node_id=2, purpose_id=0x8003, number=3, window=2)
CREATE_WINDOW_HEX = "00000002" "00000000" "80030003" "04080000" "00000000" "00000000"

# ACK (figure 2): Type 0001 | Create ID 0xBEEF | Unused 0x000 -> 0x1BEEF000
ACK = Ack(create_id=0xBEEF)
ACK_HEX = "1beef000"

# OK type K (figure 3 + Bell state in bits 25-26):
#   Type 0010 | Create ID 0x1234 | LQID 1010 | D 1 | Bell 11 | unused 00000
#   = 0010 0001 0010 0011 0100 | 1010 1110 0000 = 0x21234AE0
#   Sequence 0x5678 | Purpose 0x9ABC | Remote 0x00000002 | Goodness 0xFFFE | ToG 0x0102
OK_K = OkKeep(create_id=0x1234, lqid=0xA, d=1, bell_state=3, sequence_number=0x5678,
              purpose_id=0x9ABC, remote_node_id=2, goodness=0xFFFE, time_of_goodness=0x0102)
OK_K_HEX = "21234ae0" "56789abc" "00000002" "fffe0102"

# OK type M (figure 4 + Bell state in bits 25-26):
#   Type 0011 | Create ID 0x0042 | M 1 | D 0 | Basis 011 | Bell 01 | unused 00000
#   low 12 bits 1 0 011 01 00000 = 1001 1010 0000 = 0x9A0 -> 0x300429A0
#   Sequence 0x0007 | Purpose 0x0008 | Remote 0x00010000 | Goodness 0x8000 | Unused 0
OK_M = OkMeasure(create_id=0x42, m=1, d=0, basis=3, bell_state=1, sequence_number=7,
                 purpose_id=8, remote_node_id=0x10000, goodness=0x8000)
OK_M_HEX = "300429a0" "00070008" "00010000" "80000000"

# ERR (figure 5): Type 0100 | Create ID 0xFFFF | ERR 0101 (EXPIRE) | S 1 | unused 0000000
#   low 12 bits 0101 1000 0000 = 0x580 -> 0x4FFFF580
#   Sequence low 0x0010 | high 0x0020 | Origin 0x00000003
ERR = Err(create_id=0xFFFF, err=5, s=1, sequence_number_low=0x10, sequence_number_high=0x20,
          origin_node=3)
ERR_HEX = "4ffff580" "00100020" "00000003"

# EGP REQ: Version 1 | Type 1 | Status 0 | Reserved | Create ID 0x0102 | Link 0x0003
#          Origin 0x00000004 | Queue Sequence 0 (not yet numbered) | CREATE (24 bytes)
REQ = EgpMessage(msg_type=MSG_REQ, status=0, create_id=0x102, link_id=3, origin_node=4,
                 queue_seq=0, create=CREATE)
REQ_HEX = "01010000" "01020003" "00000004" "00000000" + CREATE_HEX
# EGP REQ_ACK: Type 2, Status 8 (NORES), Queue Sequence 0x05060708
REQ_ACK = EgpMessage(msg_type=MSG_REQ_ACK, status=8, create_id=0x102, link_id=3, origin_node=4,
                     queue_seq=0x05060708)
REQ_ACK_HEX = "01020800" "01020003" "00000004" "05060708"
# EGP CONFIRM_ACK: Type 4, Status 5 (EXPIRE) | ... | Attempt Sequence 0x1112131415161718 | Seq 0x0A0B | 0
CONFIRM_ACK = EgpMessage(msg_type=MSG_CONFIRM_ACK, status=5, create_id=0x102, link_id=3, origin_node=4,
                         queue_seq=9, attempt_seq=0x1112131415161718, sequence_number=0x0A0B)
CONFIRM_ACK_HEX = "01040500" "01020003" "00000004" "00000009" "1112131415161718" "0a0b0000"
# EGP SCHEDULE: Type 5, Status 0 | ... | Queue Sequence 9 | Run 0x21222324 | Pairs 0x0004 | Reserved
SCHEDULE = EgpMessage(msg_type=MSG_SCHEDULE, status=0, create_id=0x102, link_id=3, origin_node=4, queue_seq=9,
                      run=0x21222324, pairs=4)
SCHEDULE_HEX = "01050000" "01020003" "00000004" "00000009" "21222324" "00040000"
# EGP SCHEDULE_ACK: Type 6, Status 3 (REJECTED) | ... | Run 0xFFFFFFFF | Pairs 0xFFFF | Reserved
SCHEDULE_ACK = EgpMessage(msg_type=MSG_SCHEDULE_ACK, status=3, create_id=0x102, link_id=3, origin_node=4,
                          queue_seq=9, run=0xFFFF_FFFF, pairs=0xFFFF)
SCHEDULE_ACK_HEX = "01060300" "01020003" "00000004" "00000009" "ffffffff" "ffff0000"
# EGP RELEASE: Type 7, Status 5 (EXPIRE) | ... | Attempt Sequence 0x0102030405060708 | Seq 0xFFFE | 0
RELEASE = EgpMessage(msg_type=MSG_RELEASE, status=5, create_id=0x102, link_id=3, origin_node=4,
                     queue_seq=9, attempt_seq=0x0102030405060708, sequence_number=0xFFFE)
RELEASE_HEX = "01070500" "01020003" "00000004" "00000009" "0102030405060708" "fffe0000"


def _scapy_fields(value: object) -> dict[str, Any]:
    """The codec dataclass's fields as scapy field values."""
    return {name: getattr(value, name) for name in value.__slots__}  # type: ignore[attr-defined]


GOLDEN = [
    pytest.param(HERALD, QHPHerald, HERALD_HEX, id="HERALD"),
    pytest.param(REPORT, QHPHerald, REPORT_HEX, id="REPORT"),
    pytest.param(QFRAME, QFrame, QFRAME_HEX, id="QFRAME"),
    pytest.param(CREATE, LLCreate, CREATE_HEX, id="CREATE"),
    pytest.param(CREATE_WINDOW, LLCreate, CREATE_WINDOW_HEX, id="CREATE_WINDOW"),
    pytest.param(ACK, LLAck, ACK_HEX, id="ACK"),
    pytest.param(OK_K, LLOkK, OK_K_HEX, id="OK_K"),
    pytest.param(OK_M, LLOkM, OK_M_HEX, id="OK_M"),
    pytest.param(ERR, LLErr, ERR_HEX, id="ERR"),
]


def _decode(value: object, data: bytes) -> object:
    if isinstance(value, Herald):
        return Herald.decode(data)
    if isinstance(value, QuantumFrame):
        return QuantumFrame.decode(data)
    if isinstance(value, Create):
        return Create.decode(data)
    if isinstance(value, EgpMessage):
        return EgpMessage.decode(data)
    return decode_upward(data)


@pytest.mark.parametrize(("value", "layer", "hexstr"), GOLDEN)
def test_golden_codec(value: object, layer: type[Packet], hexstr: str) -> None:
    golden = bytes.fromhex(hexstr)
    assert value.encode() == golden  # type: ignore[attr-defined]
    assert _decode(value, golden) == value


@pytest.mark.parametrize(("value", "layer", "hexstr"), GOLDEN)
def test_golden_scapy(value: object, layer: type[Packet], hexstr: str) -> None:
    golden = bytes.fromhex(hexstr)
    assert bytes(layer(**_scapy_fields(value))) == golden
    dissected = layer(golden)
    for name, want in _scapy_fields(value).items():
        assert dissected.getfieldval(name) == want, name
    assert not dissected.payload


@pytest.mark.parametrize("hexstr, layer", [(ACK_HEX, LLAck), (OK_K_HEX, LLOkK), (OK_M_HEX, LLOkM),
                                           (ERR_HEX, LLErr)])
def test_upward_dispatch_by_type_nibble(hexstr: str, layer: type[Packet]) -> None:
    assert type(LLUpward(bytes.fromhex(hexstr))) is layer


@pytest.mark.parametrize(("value", "hexstr"), [(REQ, REQ_HEX), (REQ_ACK, REQ_ACK_HEX),
                                               (CONFIRM_ACK, CONFIRM_ACK_HEX), (SCHEDULE, SCHEDULE_HEX),
                                               (SCHEDULE_ACK, SCHEDULE_ACK_HEX), (RELEASE, RELEASE_HEX)],
                         ids=["REQ", "REQ_ACK", "CONFIRM_ACK", "SCHEDULE", "SCHEDULE_ACK", "RELEASE"])
def test_golden_egp(value: EgpMessage, hexstr: str) -> None:
    golden = bytes.fromhex(hexstr)
    assert value.encode() == golden
    assert EgpMessage.decode(golden) == value
    header = EGP(msg_type=value.msg_type, status=value.status, create_id=value.create_id,
                 link_id=value.link_id, origin_node=value.origin_node, queue_seq=value.queue_seq,
                 attempt_seq=value.attempt_seq, sequence_number=value.sequence_number, run=value.run,
                 pairs=value.pairs)
    built = header / LLCreate(**_scapy_fields(value.create)) if value.create else header
    assert bytes(built) == golden
    dissected = EGP(golden)
    if value.msg_type in PAIR_MESSAGES:
        assert (dissected.attempt_seq, dissected.sequence_number) == (value.attempt_seq, value.sequence_number)
    if value.msg_type in RUN_MESSAGES:
        assert (dissected.run, dissected.pairs) == (value.run, value.pairs)
    assert (dissected.msg_type, dissected.status, dissected.create_id, dissected.link_id,
            dissected.origin_node, dissected.queue_seq) == (
        value.msg_type, value.status, value.create_id, value.link_id, value.origin_node,
        value.queue_seq)
    if value.create is None:
        assert not dissected.payload
    else:
        create = dissected[LLCreate]
        for name, want in _scapy_fields(value.create).items():
            assert create.getfieldval(name) == want, name


def test_golden_bell_state_bits() -> None:
    """The Bell-state extension sits at bit offsets 25-26 of word 0 (draft 'Unused' bits)."""
    for bell in range(4):
        w0 = int.from_bytes(OkKeep(0, 0, 0, bell, 0, 0, 0, 0, 0).encode()[:4], "big")
        assert (w0 >> (31 - 26)) & 3 == bell  # bit 26 is the LSB of the 2-bit field
        w0 = int.from_bytes(OkMeasure(0, 0, 0, 0, bell, 0, 0, 0, 0).encode()[:4], "big")
        assert w0 == 0x3 << 28 | bell << 5


@given(st.integers(0, 0xFFFF), st.integers(0, 40), st.integers(0, 0xFFFF))
def test_err_expire_range(low: int, span: int, seq: int) -> None:
    """An ERR EXPIRE's range, listed (``sequences``) and asked of one number (``retracts``), is Low up to High
    modulo 2^16, every number when Low = High."""
    err = Err(1, 5, 1, low, (low + span) % 0x10000)
    count = span or 0x10000
    assert list(err.sequences()) == [(low + i) % 0x10000 for i in range(count)]
    assert err.retracts(seq) is ((seq - low) % 0x10000 < count)
    assert err.retracts((low + count - 1) % 0x10000) and err.retracts((low + count) % 0x10000) is (count == 0x10000)


def test_decode_rejects() -> None:
    for bad in [HERALD_HEX[:-2], "02" + HERALD_HEX[2:], HERALD_HEX[:6] + "04" + HERALD_HEX[8:]]:
        with pytest.raises(ParseError):
            Herald.decode(bytes.fromhex(bad))
    with pytest.raises(ParseError):
        QuantumFrame.decode(bytes.fromhex(QFRAME_HEX + "00"))
    with pytest.raises(ParseError):
        Create.decode(bytes.fromhex(CREATE_HEX[:-2]))
    for bad in ["", "1beef0", "1beef00000", "30042ba0" + OK_M_HEX[8:], "4ffff080" + ERR_HEX[8:],
                "5beef000", OK_K_HEX[:-2]]:
        with pytest.raises(ParseError):
            decode_upward(bytes.fromhex(bad))
    for bad in [REQ_HEX[:-2], REQ_ACK_HEX + "00", "02" + REQ_ACK_HEX[2:], REQ_ACK_HEX[:4] + "09" +
                REQ_ACK_HEX[6:], "0103" + REQ_ACK_HEX[4:], REQ_ACK_HEX[:-2]]:
        with pytest.raises(ParseError):
            EgpMessage.decode(bytes.fromhex(bad))


# --------------------------------------------------------------------------------------------
# Random valid values: codec round trip == scapy bytes

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 2**64 - 1)
bit = st.integers(0, 1)

heralds = st.builds(Herald, outcome=bit, bell_state=st.integers(0, 3), link_id=u16,
                    scheme=st.integers(1, 4), attempt_seq=u64, attempts=u32, detection_time=u64,
                    msg_type=st.integers(1, 2))
qframes = st.builds(QuantumFrame, frame_type=st.just(1), link_id=u16, source_node=u32,
                    attempt_seq=u64, emission_time=u64, qubit_id=u64)
creates = st.builds(Create, remote_node_id=u32, minimum_fidelity=u16, tu=st.integers(0, 3),
                    max_time=st.integers(0, 0x3FFF), purpose_id=u16, number=u16,
                    priority=st.integers(0, 7), tpe=bit, ato=bit, con=bit, rl=st.integers(0, 3),
                    rr=st.integers(0, 3), pl1=u8, pl2=u8, pr1=u8, pr2=u8, rotx1l=u8, rotyl=u8,
                    rotx2l=u8, rotx1r=u8, rotyr=u8, rotx2r=u8)
acks = st.builds(Ack, create_id=u16)
ok_ks = st.builds(OkKeep, create_id=u16, lqid=st.integers(0, 15), d=bit,
                  bell_state=st.integers(0, 3), sequence_number=u16, purpose_id=u16,
                  remote_node_id=u32, goodness=u16, time_of_goodness=u16)
ok_ms = st.builds(OkMeasure, create_id=u16, m=bit, d=bit, basis=st.sampled_from(sorted(BASES)),
                  bell_state=st.integers(0, 3), sequence_number=u16, purpose_id=u16,
                  remote_node_id=u32, goodness=u16)
errs = st.builds(Err, create_id=u16, err=st.sampled_from(sorted(ERROR_CODES)), s=bit,
                 sequence_number_low=u16, sequence_number_high=u16, origin_node=u32)
egps = st.one_of(
    st.builds(EgpMessage, msg_type=st.just(MSG_REQ), status=st.sampled_from(sorted(STATUS)),
              create_id=u16, link_id=u16, origin_node=u32, queue_seq=u32, create=creates),
    st.builds(EgpMessage, msg_type=st.just(MSG_REQ_ACK), status=st.sampled_from(sorted(STATUS)),
              create_id=u16, link_id=u16, origin_node=u32, queue_seq=u32, create=st.none()),
    st.builds(EgpMessage, msg_type=st.sampled_from(PAIR_MESSAGES), status=st.sampled_from(sorted(STATUS)),
              create_id=u16, link_id=u16, origin_node=u32, queue_seq=u32, create=st.none(), attempt_seq=u64,
              sequence_number=u16),
    st.builds(EgpMessage, msg_type=st.sampled_from(RUN_MESSAGES), status=st.sampled_from(sorted(STATUS)),
              create_id=u16, link_id=u16, origin_node=u32, queue_seq=u32, create=st.none(), run=u32,
              pairs=u16),
)

_LAYER = {Herald: QHPHerald, QuantumFrame: QFrame, Create: LLCreate, Ack: LLAck, OkKeep: LLOkK,
          OkMeasure: LLOkM, Err: LLErr}


@HYPOTHESIS
@given(creates, st.integers(0, 3), st.integers(0, 2))
def test_credit_fields_read_a_create(create: Create, window: int, distil: int) -> None:
    """The CREDIT fast path (``CREDIT_FIELDS``, ``WINDOW_BYTE``) reads what ``Create.decode`` reads, whatever the
    other fields hold."""
    wire = replace(create, window=window, distil=distil).encode()
    decoded = Create.decode(wire)
    assert CREDIT_FIELDS.unpack_from(wire) == (decoded.remote_node_id, decoded.purpose_id, decoded.number)
    assert (wire[WINDOW_BYTE] & WINDOW_BITS == CREDIT_BITS) is (decoded.window == WINDOW_CREDIT)


@given(st.one_of(heralds, qframes, creates, acks, ok_ks, ok_ms, errs))
def test_random_round_trip_equals_scapy(value: object) -> None:
    data = value.encode()  # type: ignore[attr-defined]
    assert _decode(value, data) == value
    layer = _LAYER[type(value)]
    assert bytes(layer(**_scapy_fields(value))) == data
    dissected = layer(data)
    for name, want in _scapy_fields(value).items():
        assert dissected.getfieldval(name) == want, name


@HYPOTHESIS
@given(egps)
def test_random_egp_round_trip_equals_scapy(value: EgpMessage) -> None:
    data = value.encode()
    assert EgpMessage.decode(data) == value
    header = EGP(msg_type=value.msg_type, status=value.status, create_id=value.create_id,
                 link_id=value.link_id, origin_node=value.origin_node, queue_seq=value.queue_seq,
                 attempt_seq=value.attempt_seq, sequence_number=value.sequence_number, run=value.run,
                 pairs=value.pairs)
    built = header / LLCreate(**_scapy_fields(value.create)) if value.create else header
    assert bytes(built) == data
    dissected = EGP(data)
    assert (dissected.run, dissected.pairs) == ((value.run, value.pairs) if value.msg_type in RUN_MESSAGES
                                                else (None, None))


# --------------------------------------------------------------------------------------------
# Decoders on arbitrary bytes: a value or ParseError, nothing else

def _near(size: int, prefix: bytes = b"") -> st.SearchStrategy[bytes]:
    """Bytes around ``size`` long, often starting with a valid ``prefix``."""
    lengths = st.sampled_from([size - 1, size, size, size + 1])
    tail = lengths.flatmap(lambda n: st.binary(min_size=max(0, n - len(prefix)),
                                               max_size=max(0, n - len(prefix))))
    return st.one_of(st.binary(max_size=2 * size), tail, tail.map(lambda t: prefix + t))


DECODERS = [
    pytest.param(Herald.decode, _near(28, b"\x01\x01"), id="Herald"),
    pytest.param(QuantumFrame.decode, _near(32, b"\x01\x01"), id="QuantumFrame"),
    pytest.param(Create.decode, _near(24), id="Create"),
    pytest.param(decode_upward, st.one_of(_near(4, b"\x10"), _near(16, b"\x20"), _near(16, b"\x30"),
                                          _near(12, b"\x40")), id="decode_upward"),
    pytest.param(EgpMessage.decode, st.one_of(_near(40, b"\x01\x01\x00"), _near(16, b"\x01\x02\x00"),
                                              _near(24, b"\x01\x05\x00"), _near(24, b"\x01\x06\x03"),
                                              _near(28, b"\x01\x07\x05"), _near(28, b"\x01\x08\x00")),
                 id="EgpMessage"),
]


@pytest.mark.parametrize(("decode", "data_strategy"), DECODERS)
def test_decode_arbitrary_bytes(decode: Callable[[bytes], object],
                                data_strategy: st.SearchStrategy[bytes]) -> None:
    @HYPOTHESIS
    @given(data_strategy)
    def check(data: bytes) -> None:
        with contextlib.suppress(ParseError):
            decode(data)

    check()


# --------------------------------------------------------------------------------------------
# Capture framing: stack.core.capture builds the same bytes as scapy

@HYPOTHESIS
@given(src=st.integers(1, 0xFFFF), dst=st.integers(1, 0xFFFF), sport=u16, dport=u16,
       payload=st.binary(max_size=64), ip_id=st.integers(0, 0x1FFFF))
def test_udp_frame_equals_scapy(src: int, dst: int, sport: int, dport: int, payload: bytes,
                                ip_id: int) -> None:
    want = (Ether(src=node_mac(src), dst=node_mac(dst))
            / IP(src=node_ip(src), dst=node_ip(dst), flags="DF", ttl=64, id=ip_id & 0xFFFF)
            / UDP(sport=sport, dport=dport) / Raw(payload))
    assert udp_frame(src, sport, dst, dport, payload, ip_id=ip_id) == bytes(want)


def test_udp_frame_checksums_verify() -> None:
    frame = Ether(udp_frame(1, 50000, 258, LINK_SERVICE_PORT, bytes.fromhex(CREATE_HEX), ip_id=7))
    ip, udp = frame[IP], frame[UDP]
    assert (ip.src, ip.dst, ip.id, ip.flags, ip.ttl) == ("198.18.0.1", "198.18.1.2", 7, "DF", 64)
    assert frame.src == "02:00:00:00:00:01" and frame.dst == "02:00:00:00:01:02"
    chk_ip, chk_udp = ip.chksum, udp.chksum
    del ip.chksum, udp.chksum
    rebuilt = Ether(bytes(frame))
    assert (rebuilt[IP].chksum, rebuilt[UDP].chksum) == (chk_ip, chk_udp)
    assert isinstance(frame[UDP].payload, LLCreate)


@pytest.mark.parametrize(("sport", "dport", "layer", "hexstr"), [
    (HERALD_PORT, HERALD_PORT, QHPHerald, HERALD_HEX),
    (50000, LINK_SERVICE_PORT, LLCreate, CREATE_HEX),
    (LINK_SERVICE_PORT, 50000, LLOkK, OK_K_HEX),
    (LINK_SERVICE_PORT, 50000, LLErr, ERR_HEX),
    (EGP_PORT, EGP_PORT, EGP, REQ_HEX),
])
def test_udp_ports_bind_layers(sport: int, dport: int, layer: type[Packet], hexstr: str) -> None:
    frame = Ether(udp_frame(1, sport, 2, dport, bytes.fromhex(hexstr)))
    assert type(frame[UDP].payload) is layer


@HYPOTHESIS
@given(src=st.integers(1, 0xFFFF), dst=st.integers(1, 0xFFFF), value=qframes)
def test_quantum_frame_equals_scapy(src: int, dst: int, value: QuantumFrame) -> None:
    want = Ether(src=node_mac(src), dst=node_mac(dst), type=QFRAME_ETHERTYPE) / QFrame(
        **_scapy_fields(value))
    got = quantum_frame(src, dst, value.encode())
    assert got == bytes(want)
    assert Ether(got)[QFrame].qubit_id == value.qubit_id
