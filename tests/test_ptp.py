"""PTPv2 wire format (golden bytes, codec == scapy, robust parsing), engines and servo.

The golden hex literals were written by hand from IEEE 1588-2008 clause 13 (common header
table 18, flags table 20, Sync/Delay_Req 13.6-13.7, Follow_Up 13.8, Delay_Resp 13.9,
Announce 13.5), not printed from ``encode()``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.contrib.ptp_v2 import PTP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from protocols.common import ParseError
from protocols.packets import ptp as wire
from protocols.packets.ptp import ANNOUNCE, DELAY_REQ, DELAY_RESP, FOLLOW_UP, SYNC, Announce, PtpMessage
from protocols.ptp import ClockAdjust, ClockQuality, OffsetSample, PortState, PtpClock, TransparentClock, TxTimestamp
from protocols.servo import PiServo, impulse_response, is_stable, noise_gain
from stack.capture import EPOCH_NS

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
    try:
        PtpMessage.decode(data)
    except ParseError:
        pass


@HYPOTHESIS
@given(st.sampled_from([bytes.fromhex(h) for _, h in GOLDEN]), st.integers(0, 63), st.integers(0, 255),
       st.integers(0, 64))
def test_mutated_messages_parse_or_raise_parse_error(data: bytes, index: int, value: int, cut: int) -> None:
    mutated = bytearray(data)
    mutated[index % len(mutated)] = value
    for candidate in (bytes(mutated), bytes(mutated[:cut])):
        try:
            PtpMessage.decode(candidate)
        except ParseError:
            pass


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
@given(st.floats(-1e12, 1e13))
def test_wire_timestamps_keep_sub_nanoseconds(local: float) -> None:
    seconds, nanoseconds, sub = wire.to_wire(local)
    assert 0 <= nanoseconds < 10**9 and 0 <= sub < wire.SCALED_NS
    assert wire.from_wire(seconds, nanoseconds, sub) == pytest.approx(local, abs=2**-17 + abs(local) * 1e-15)


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


def test_transparent_clock_corrects_event_messages_only() -> None:
    tc = TransparentClock()
    sync, follow_up = bytes.fromhex(GOLDEN[0][1]), bytes.fromhex(GOLDEN[2][1])
    assert PtpMessage.decode(tc.forward(sync, 1_000.0, 1_250.25)).correction == 250 * 65536 + 16384
    assert tc.forward(follow_up, 1_000.0, 1_250.0) == follow_up
    assert tc.corrected == 1


# -- engines ---------------------------------------------------------------------------------


def decoded(actions: object) -> list[tuple[tuple[str, int], PtpMessage]]:
    return [(dest, PtpMessage.decode(p)) for dest, p in actions.send]  # type: ignore[attr-defined]


def grandmaster() -> PtpClock:
    return PtpClock(GM_ID, peers=[SLAVE_IP], quality=ClockQuality(priority1=1, clock_class=6), listen_first=False)


def test_master_sync_follow_up_and_delay_resp() -> None:
    gm = grandmaster()
    started = gm.start(0.0)
    assert started.deadline == 125_000_000
    out = decoded(started)
    assert [(d, m.message_type) for d, m in out] == [((SLAVE_IP, 320), ANNOUNCE), ((SLAVE_IP, 319), SYNC)]
    sync = out[1][1]
    assert sync.flags == wire.FLAG_TWO_STEP | wire.FLAG_UNICAST and sync.log_interval == -3
    assert gm.state is PortState.MASTER
    follow = gm.handle(TxTimestamp((SLAVE_IP, 319), SYNC, sync.sequence_id, 1_234.75), 1_300.0)
    [(dest, fu)] = decoded(follow)
    assert dest == (SLAVE_IP, 320) and fu.message_type == FOLLOW_UP and fu.sequence_id == sync.sequence_id
    assert (fu.seconds, fu.nanoseconds, fu.correction) == (1_767_225_600, 1_234, 49_152)
    assert decoded(gm.handle(TxTimestamp((SLAVE_IP, 319), SYNC, sync.sequence_id, 1.0), 2.0)) == []  # only once
    req = PtpMessage(DELAY_REQ, 9, SLAVE_ID, 1, correction=7 * 65536)
    [(dest, resp)] = decoded(gm.receive(req.encode(), (SLAVE_IP, 319), 319, 5_000.25))
    assert dest == (SLAVE_IP, 320) and resp.message_type == DELAY_RESP and resp.sequence_id == 9
    assert (resp.nanoseconds, resp.correction) == (5_000, 7 * 65536 - 16384)
    assert (resp.requesting_identity, resp.requesting_port) == (SLAVE_ID, 1)
    timer = gm.on_timer(125e6)                                   # next Sync, 125 ms later
    assert [m.sequence_id for _, m in decoded(timer) if m.message_type == SYNC] == [1]
    assert timer.deadline == 250_000_000


def slave_with_parent() -> PtpClock:
    slave = PtpClock(SLAVE_ID, quality=ClockQuality(clock_class=255))
    assert slave.start(0.0).send == [] and slave.state is PortState.LISTENING
    announce = PtpMessage(ANNOUNCE, 0, GM_ID, announce=Announce(1, 6, grandmaster_identity=GM_ID))
    slave.receive(announce.encode(), (GM_IP, 320), 320, 10.0)
    assert slave.state is PortState.SLAVE and slave.parent == (GM_ID, 1)
    return slave


def exchange(slave: PtpClock, seq: int, t1: float, t2: float, t3: float, t4: float,
             sync_correction: int = 0) -> list[object]:
    """Feed one two-step exchange; returns the hardware commands."""
    sync = PtpMessage(SYNC, seq, GM_ID, flags=wire.FLAG_TWO_STEP, correction=sync_correction)
    assert slave.receive(sync.encode(), (GM_IP, 319), 319, t2).send == []
    s, ns, sub = wire.to_wire(t1)
    fu = PtpMessage(FOLLOW_UP, seq, GM_ID, seconds=s, nanoseconds=ns, correction=sub)
    [(dest, req)] = decoded(slave.receive(fu.encode(), (GM_IP, 320), 320, t2 + 1))
    assert dest == (GM_IP, 319) and req.message_type == DELAY_REQ
    assert slave.handle(TxTimestamp(dest, DELAY_REQ, req.sequence_id, t3), t3).hardware == []
    s, ns, sub = wire.to_wire(t4)
    resp = PtpMessage(DELAY_RESP, req.sequence_id, GM_ID, seconds=s, nanoseconds=ns, correction=-sub,
                      requesting_identity=SLAVE_ID, requesting_port=1)
    return slave.receive(resp.encode(), (GM_IP, 320), 320, t4 + 50).hardware


def test_slave_offset_delay_and_servo() -> None:
    slave = slave_with_parent()
    assert exchange(slave, 0, 1_000.0, 1_100.0, 1_200.0, 1_250.0) == []       # first sample: remembered
    assert slave.samples == [OffsetSample(1_100.0, 25.0, 75.0, 0.0)]
    # 125 ms later the offset is 25 + 250 ns (2 ppm fast); a TC added 10.5 ns on the Sync
    t1 = 125e6 + 1_000.25
    hw = exchange(slave, 1, t1, t1 + 75 + 275 + 10.5, 125e6 + 1_200.0, 125e6 + 1_200.0 + 75 - 275,
                  sync_correction=round(10.5 * 65536))
    assert slave.samples[1].offset_ns == pytest.approx(275.0, abs=1e-4)
    assert slave.samples[1].mean_path_delay_ns == pytest.approx(75.0, abs=1e-4)
    [adjust] = hw
    assert isinstance(adjust, ClockAdjust)
    assert adjust.frequency_ppb == pytest.approx(-2_000.0, rel=1e-3)
    assert adjust.phase_ns == pytest.approx(-275.0, abs=0.01)     # plus the drift since t2


def test_slave_ignores_other_masters_and_garbage() -> None:
    slave = slave_with_parent()
    other = PtpMessage(SYNC, 0, 0x99, flags=wire.FLAG_TWO_STEP)
    assert slave.receive(other.encode(), ("198.18.0.9", 319), 319, 5.0).send == []
    assert slave.receive(b"\x00\x02junk", (GM_IP, 319), 319, 6.0).send == []
    assert slave.receive(PtpMessage(SYNC, 1, GM_ID, domain=3).encode(), (GM_IP, 319), 319, 7.0).send == []
    fu = PtpMessage(FOLLOW_UP, 42, GM_ID)                       # no Sync 42 seen
    assert slave.receive(fu.encode(), (GM_IP, 320), 320, 8.0).send == []
    assert slave.counters["not_from_parent"] == 1 and slave.counters["malformed"] == 1
    assert slave.counters["other_domain"] == 1 and slave.counters["unmatched"] == 1
    with pytest.raises(TypeError):
        slave.handle("event", 0.0)


def test_one_step_sync_needs_no_follow_up() -> None:
    slave = slave_with_parent()
    s, ns, _ = wire.to_wire(1_000.0)
    sync = PtpMessage(SYNC, 0, GM_ID, seconds=s, nanoseconds=ns, correction=5 * 65536)
    [(_, req)] = decoded(slave.receive(sync.encode(), (GM_IP, 319), 319, 1_100.0))
    assert req.message_type == DELAY_REQ


def test_best_master_choice() -> None:
    a = PtpClock(0x0A, peers=["198.18.0.2"])                  # default dataset
    assert a.start(0.0).deadline == 3_000_000_000 and a.state is PortState.LISTENING
    out = a.on_timer(3e9)                                      # nobody better heard: master
    assert a.state is PortState.MASTER and {m.message_type for _, m in decoded(out)} == {ANNOUNCE, SYNC}
    worse = PtpMessage(ANNOUNCE, 0, 0x0B, announce=Announce(priority1=200, grandmaster_identity=0x0B))
    a.receive(worse.encode(), ("198.18.0.3", 320), 320, 3.1e9)
    assert a.state is PortState.MASTER
    better = PtpMessage(ANNOUNCE, 0, 0x0C, announce=Announce(priority1=100, grandmaster_identity=0x0C))
    a.receive(better.encode(), ("198.18.0.4", 320), 320, 3.2e9)
    assert a.state is PortState.SLAVE and a.parent == (0x0C, 1)
    # same dataset except identity: the lower identity wins
    tie = PtpMessage(ANNOUNCE, 0, 0x09, announce=Announce(priority1=100, grandmaster_identity=0x09))
    a.receive(tie.encode(), ("198.18.0.5", 320), 320, 3.3e9)
    assert a.parent == (0x09, 1)
    assert a.on_timer(6.35e9).deadline is not None             # both better ones expired: master again
    assert a.state is PortState.MASTER


def test_slave_only_falls_back_to_listening() -> None:
    slave = slave_with_parent()
    slave.on_timer(10.0 + 3e9)
    assert slave.state is PortState.LISTENING and slave.parent is None


# -- servo theory ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kp", "ki"), [(0.7, 0.3), (0.1, 0.01), (0.3, 0.05), (1.0, 0.5), (1.5, 0.9)])
def test_noise_gain_closed_form_equals_impulse_response(kp: float, ki: float) -> None:
    h = impulse_response(kp, ki, 5_000)
    assert noise_gain(kp, ki) == pytest.approx(sum(x * x for x in h), rel=1e-9)


def test_stability_region() -> None:
    assert is_stable(0.7, 0.3) and not is_stable(2.0, 0.1) and not is_stable(0.5, 0.0)
    assert not is_stable(1.5, 1.0)                             # 2kp + ki = 4
    with pytest.raises(ValueError):
        PiServo(1e9, kp=2.5)
    with pytest.raises(ValueError):
        noise_gain(1.9, 0.5)
