"""PTPv2 wire format (golden bytes, codec == scapy, robust parsing), engines and servo.

The golden hex literals were written by hand from IEEE 1588-2008 clause 13 (common header
table 18, flags table 20, Sync/Delay_Req 13.6-13.7, Follow_Up 13.8, Delay_Resp 13.9,
Announce 13.5), not printed from ``encode()``.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.contrib.ptp_v2 import PTP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from protocols.common import ParseError
from protocols.packets import ptp as wire
from protocols.packets.ptp import ANNOUNCE, DELAY_REQ, DELAY_RESP, FOLLOW_UP, SYNC, Announce, PtpMessage
from protocols.sync.ptp import TransparentClock
from stack.core.capture import EPOCH_NS

HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GM_ID, SLAVE_ID = 0x020000FFFE000001, 0x020000FFFE000002
GM_IP, SLAVE_IP = "198.18.0.1", "198.18.0.2"

# Common header: transportSpecific 0 | messageType; reserved 0 | versionPTP 2; messageLength;
# domainNumber; reserved; flagField; correctionField (8); reserved (4); clockIdentity (8);
# portNumber; sequenceId; controlField; logMessageInterval. Then seconds (6) + nanoseconds (4).
TS = "000102030405" "0a0b0c0d"          # seconds 0x000102030405, nanoseconds 0x0A0B0C0D
GOLDEN = [
    # Sync, 44 bytes, domain 4, twoStep|unicast = octet0 bits 1,2 = 0x06 0x00, control 0, log -3
    (PtpMessage(SYNC, 0x1234, GM_ID, 1, 0x000102030405, 0x0A0B0C0D, flags=0x0600, domain=4, log_interval=-3),
     "00" "02" "002c" "04" "00" "0600" "0000000000000000" "00000000" "020000fffe000001" "0001" "1234" "00" "fd"
     + TS),
    # Delay_Req: type 1, unicast, correction -1 (two's complement), control 1, log 0x7F
    (PtpMessage(DELAY_REQ, 0xBEEF, SLAVE_ID, 2, 0x000102030405, 0x0A0B0C0D, flags=0x0400, correction=-1,
                log_interval=0x7F),
     "01" "02" "002c" "00" "00" "0400" "ffffffffffffffff" "00000000" "020000fffe000002" "0002" "beef" "01" "7f"
     + TS),
    # Follow_Up: type 8, correction 0x8000 = 0.5 ns, control 2, preciseOriginTimestamp
    (PtpMessage(FOLLOW_UP, 0x1234, GM_ID, 1, 0x000102030405, 0x0A0B0C0D, flags=0x0400, correction=0x8000,
                log_interval=-3),
     "08" "02" "002c" "00" "00" "0400" "0000000000008000" "00000000" "020000fffe000001" "0001" "1234" "02" "fd"
     + TS),
    # Delay_Resp: type 9, 54 bytes, control 3, receiveTimestamp + requestingPortIdentity
    (PtpMessage(DELAY_RESP, 0xBEEF, GM_ID, 1, 0x000102030405, 0x0A0B0C0D, flags=0x0400, correction=0x10000,
                log_interval=-3, requesting_identity=SLAVE_ID, requesting_port=2),
     "09" "02" "0036" "00" "00" "0400" "0000000000010000" "00000000" "020000fffe000001" "0001" "beef" "03" "fd"
     + TS + "020000fffe000002" "0002"),
    # Announce: type 0xB, 64 bytes, control 5, log 1; currentUtcOffset 37, reserved, priority1 1,
    # clockClass 6, clockAccuracy 0x21, offsetScaledLogVariance 0x4E5D, priority2 128,
    # grandmasterIdentity, stepsRemoved 0, timeSource 0x20 (GPS)
    (PtpMessage(ANNOUNCE, 7, GM_ID, 1, 0x000102030405, 0x0A0B0C0D, flags=0x0400, log_interval=1,
                announce=Announce(1, 6, 0x21, 0x4E5D, 128, GM_ID, 0, 0x20, 37)),
     "0b" "02" "0040" "00" "00" "0400" "0000000000000000" "00000000" "020000fffe000001" "0001" "0007" "05" "01"
     + TS + "0025" "00" "01" "06" "21" "4e5d" "80" "020000fffe000001" "0000" "20"),
]
IDS = ["Sync", "Delay_Req", "Follow_Up", "Delay_Resp", "Announce"]


def scapy_view(layer: PTP) -> PtpMessage:
    """The message as scapy's own field values say (independent of our codec)."""
    mtype = layer.messageType
    prefix = {FOLLOW_UP: "preciseOriginTimestamp", DELAY_RESP: "receiveTimestamp"}.get(mtype, "originTimestamp")
    signed = lambda value, bits: value - (1 << bits) if value >> (bits - 1) else value  # noqa: E731
    requesting = bytes(layer.payload) if mtype == DELAY_RESP else b"\0" * 10
    announce = None
    if mtype == ANNOUNCE:
        announce = Announce(layer.grandmasterPriority1, layer.grandmasterClockClass, layer.grandmasterClockAccuracy,
                            layer.grandmasterClockVariance, layer.grandmasterPriority2, layer.grandmasterIdentity,
                            layer.stepsRemoved, layer.timeSource, signed(layer.currentUtcOffset, 16))
    return PtpMessage(mtype, layer.sequenceId, layer.clockIdentity, layer.portNumber,
                      getattr(layer, prefix + "_seconds"), getattr(layer, prefix + "_nanoseconds"), int(layer.flags),
                      signed(layer.correctionField, 64), layer.domainNumber, signed(layer.logMessageInterval, 8),
                      int.from_bytes(requesting[:8], "big"), int.from_bytes(requesting[8:10], "big"), announce)


@pytest.mark.parametrize(("message", "hexstr"), GOLDEN, ids=IDS)
def test_golden_codec(message: PtpMessage, hexstr: str) -> None:
    assert message.encode().hex() == hexstr
    assert PtpMessage.decode(bytes.fromhex(hexstr)) == message


@pytest.mark.parametrize(("message", "hexstr"), GOLDEN, ids=IDS)
def test_golden_scapy(message: PtpMessage, hexstr: str) -> None:
    assert bytes(message.to_scapy()).hex() == hexstr
    assert scapy_view(PTP(bytes.fromhex(hexstr))) == message


def test_flag_values_follow_ieee_not_scapy_names() -> None:
    assert wire.FLAG_TWO_STEP == 0x0200 and wire.FLAG_UNICAST == 0x0400
    # scapy's names are byte-swapped: its "twoStepFlag" is IEEE's leap59 bit
    assert int(PTP(flags="twoStepFlag").flags) == wire.FLAG_LEAP59


def test_scapy_binds_ptp_only_with_both_ports() -> None:
    body = GOLDEN[0][0].encode()
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=GM_IP, dst=SLAVE_IP)
    assert PTP in Ether(bytes(frame / UDP(sport=319, dport=319) / body))
    assert PTP not in Ether(bytes(frame / UDP(sport=40000, dport=319) / body))


def messages() -> st.SearchStrategy[PtpMessage]:
    u = lambda bits: st.integers(0, (1 << bits) - 1)  # noqa: E731
    announce = st.builds(Announce, u(8), u(8), u(8), u(16), u(8), u(64), u(16), u(8), st.integers(-32768, 32767))

    def build(mtype: int, seq: int, ident: int, port: int, sec: int, ns: int, flags: int, corr: int, domain: int,
              log: int, req: int, req_port: int, body: Announce) -> PtpMessage:
        return PtpMessage(mtype, seq, ident, port, sec, ns, flags, corr, domain, log,
                          req if mtype == DELAY_RESP else 0, req_port if mtype == DELAY_RESP else 0,
                          body if mtype == ANNOUNCE else None)

    return st.builds(build, st.sampled_from([SYNC, DELAY_REQ, FOLLOW_UP, DELAY_RESP, ANNOUNCE]), u(16), u(64),
                     u(16), u(48), st.integers(0, 999_999_999), u(16), st.integers(-(1 << 63), (1 << 63) - 1),
                     u(8), st.integers(-128, 127), u(64), u(16), announce)


@HYPOTHESIS
@given(messages())
def test_codec_equals_scapy_both_directions(message: PtpMessage) -> None:
    data = message.encode()
    assert bytes(message.to_scapy()) == data                 # same bytes built
    assert scapy_view(PTP(data)) == message                  # scapy reads our bytes as we meant
    assert PtpMessage.decode(bytes(message.to_scapy())) == message
    assert PtpMessage.from_scapy(PTP(data)) == message


@HYPOTHESIS
@given(st.binary(max_size=80))
def test_decode_raises_only_parse_error(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        PtpMessage.decode(data)


@HYPOTHESIS
@given(st.sampled_from([bytes.fromhex(h) for _, h in GOLDEN]), st.integers(0, 63), st.integers(0, 255),
       st.integers(0, 64))
def test_mutated_messages_parse_or_raise_parse_error(data: bytes, index: int, value: int, cut: int) -> None:
    mutated = bytearray(data)
    mutated[index % len(mutated)] = value
    for candidate in (bytes(mutated), bytes(mutated[:cut])):
        with contextlib.suppress(ParseError):
            PtpMessage.decode(candidate)


def test_decode_rejects() -> None:
    good = bytes.fromhex(GOLDEN[0][1])
    for bad in (good[:43], b"\x02" + good[1:],                      # too short; type 2 unsupported
                good[:1] + b"\x01" + good[2:],                      # version 1
                good[:2] + b"\x00\x40" + good[4:],                  # messageLength past the end
                good[:40] + b"\x3b\x9a\xca\x00"):                   # 10^9 nanoseconds
        with pytest.raises(ParseError):
            PtpMessage.decode(bad)
    assert PtpMessage.decode(good + b"\0" * 6) == GOLDEN[0][0]      # Ethernet padding is fine


@HYPOTHESIS
@given(st.floats(-1e12, 1e13), st.booleans())
def test_wire_timestamps_keep_sub_nanoseconds(local: float, up: bool) -> None:
    seconds, nanoseconds, sub = wire.to_wire(local, up=up)
    assert 0 <= nanoseconds < 10**9 and 0 <= sub < wire.SCALED_NS
    back = wire.from_wire(seconds, nanoseconds, -sub if up else sub)
    assert back == pytest.approx(local, abs=2**-17 + abs(local) * 1e-15)


def test_epoch_matches_the_capture_epoch() -> None:
    assert wire.PTP_EPOCH_NS == EPOCH_NS


def test_event_key_and_add_correction() -> None:
    sync, delay_req, follow_up = (bytes.fromhex(GOLDEN[i][1]) for i in range(3))
    assert wire.event_key(sync) == (SYNC, 0x1234)
    assert wire.event_key(delay_req) == (DELAY_REQ, 0xBEEF)
    assert wire.event_key(follow_up) is None and wire.event_key(b"\0") is None
    assert PtpMessage.decode(wire.add_correction(delay_req, 3)).correction == 2
    with pytest.raises(ParseError):
        wire.add_correction(b"\0" * 20, 1)


@given(st.integers(-(1 << 63), (1 << 63) - 1), st.integers(-(1 << 80), 1 << 80))
def test_add_correction_saturates_at_the_field_s_range(start: int, added: int) -> None:
    """IEEE 1588-2008 §5.3.2: a TimeInterval beyond the range is the largest positive or negative value."""
    sync = bytes.fromhex(GOLDEN[0][1])
    message = sync[:8] + start.to_bytes(8, "big", signed=True) + sync[16:]
    out = wire.add_correction(message, added)
    assert out[:8] == message[:8] and out[16:] == message[16:]
    assert int.from_bytes(out[8:16], "big", signed=True) == min(wire.CORRECTION_MAX, max(wire.CORRECTION_MIN,
                                                                                         start + added))


def test_transparent_clock_corrects_event_messages_only() -> None:
    tc = TransparentClock()
    sync, follow_up = bytes.fromhex(GOLDEN[0][1]), bytes.fromhex(GOLDEN[2][1])
    assert PtpMessage.decode(tc.forward(sync, 1_000.0, 1_250.25)).correction == 250 * 65536 + 16384
    assert tc.forward(follow_up, 1_000.0, 1_250.0) == follow_up
    assert tc.corrected == 1
