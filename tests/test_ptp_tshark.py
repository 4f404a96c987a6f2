"""Wireshark's own PTPv2 dissector reads our messages as we sent them (tshark 4.0).

The capture is a few exchanges of the harness (grandmaster and slave, real ports 319/320
both ways), written as a ns pcap with stack.core.capture. Skipped without tshark unless
QNET_REQUIRE_TSHARK is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protocols.packets.ptp import ANNOUNCE, DELAY_REQ, DELAY_RESP, FOLLOW_UP, SYNC, PtpMessage
from stack.core.capture import EPOCH_NS, PcapWriter, udp_frame
from stack.timing.ptp_harness import two_node_harness
from tests.tshark_util import NO_TRAILER, have_tshark, read_frames, tshark_columns

if not have_tshark():
    if os.environ.get("QNET_REQUIRE_TSHARK"):
        pytest.fail("tshark is required (QNET_REQUIRE_TSHARK is set) but not on PATH", pytrace=False)
    pytest.skip("tshark not installed", allow_module_level=True)

FIELDS = (
    "udp.srcport", "udp.dstport", "ptp.v2.messagetype", "ptp.v2.versionptp", "ptp.v2.messagelength",
    "ptp.v2.sequenceid", "ptp.v2.flags.twostep", "ptp.v2.flags.unicast", "ptp.v2.clockidentity",
    "ptp.v2.sourceportid", "ptp.v2.controlfield", "ptp.v2.logmessageperiod", "ptp.v2.correction.ns",
    "ptp.v2.correction.subns", "ptp.v2.sdr.origintimestamp.seconds", "ptp.v2.sdr.origintimestamp.nanoseconds",
    "ptp.v2.fu.preciseorigintimestamp.seconds", "ptp.v2.fu.preciseorigintimestamp.nanoseconds",
    "ptp.v2.dr.receivetimestamp.seconds", "ptp.v2.dr.receivetimestamp.nanoseconds",
    "ptp.v2.dr.requestingsourceportidentity", "ptp.v2.dr.requestingsourceportid",
    "ptp.v2.an.origintimestamp.seconds", "ptp.v2.an.origintimestamp.nanoseconds", "ptp.v2.an.priority1",
    "ptp.v2.an.grandmasterclockclass", "ptp.v2.an.grandmasterclockidentity", "_ws.malformed", "_ws.expert",
)
TIMESTAMP_FIELD = {SYNC: "ptp.v2.sdr.origintimestamp", DELAY_REQ: "ptp.v2.sdr.origintimestamp",
                   FOLLOW_UP: "ptp.v2.fu.preciseorigintimestamp", DELAY_RESP: "ptp.v2.dr.receivetimestamp",
                   ANNOUNCE: "ptp.v2.an.origintimestamp"}


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = two_node_harness(seed=4, jitter_ps=10.0, slave_offset_ns=1_000.5, frequency_ppm=3.0, record=True)
    h.run(0.3e9)
    assert h.sent is not None
    path = tmp_path_factory.mktemp("ptp") / "ptp.pcap"
    with path.open("wb") as stream:
        writer = PcapWriter(stream)
        for i, (t, src, dst, port, payload) in enumerate(h.sent):
            frame = udp_frame(int(src.rsplit(".", 1)[1]), port, int(dst.rsplit(".", 1)[1]), port, payload, ip_id=i)
            writer.write(round(t), frame)
    return path


def correction_of(row: dict[str, str]) -> int:
    """correctionField from tshark's ns (printed unsigned 64-bit) and sub-ns parts."""
    ns = int(row["ptp.v2.correction.ns"])
    ns = ns - (1 << 64) if ns >= 1 << 63 else ns
    return ns * 65536 + round(float(row["ptp.v2.correction.subns"]) * 65536)


def test_wireshark_decodes_every_message_as_sent(capture: Path) -> None:
    payloads = [frame[42:] for frame in read_frames(capture)]          # Ether 14 + IPv4 20 + UDP 8
    rows = [dict(zip(FIELDS, cols, strict=True)) for cols in tshark_columns(capture, *FIELDS, options=NO_TRAILER)]
    assert len(rows) == len(payloads) == 13                             # Announce + 3 × 4 messages
    kinds = []
    for row, payload in zip(rows, payloads, strict=True):
        sent = PtpMessage.decode(payload)
        kinds.append(sent.message_type)
        assert row["_ws.malformed"] == "" and row["_ws.expert"] == "", row
        port = "319" if sent.message_type in (SYNC, DELAY_REQ) else "320"
        assert (row["udp.srcport"], row["udp.dstport"]) == (port, port)
        assert int(row["ptp.v2.messagetype"], 16) == sent.message_type
        assert row["ptp.v2.versionptp"] == "2"
        assert int(row["ptp.v2.messagelength"]) == len(payload)
        assert int(row["ptp.v2.sequenceid"]) == sent.sequence_id
        assert row["ptp.v2.flags.twostep"] == ("1" if sent.message_type == SYNC else "0")
        assert row["ptp.v2.flags.unicast"] == "1"
        assert int(row["ptp.v2.clockidentity"], 16) == sent.clock_identity
        assert int(row["ptp.v2.sourceportid"]) == sent.port_number
        assert int(row["ptp.v2.logmessageperiod"]) == sent.log_interval
        assert correction_of(row) == sent.correction
        prefix = TIMESTAMP_FIELD[sent.message_type]
        assert int(row[prefix + ".seconds"]) == sent.seconds
        assert int(row[prefix + ".nanoseconds"]) == sent.nanoseconds
        if sent.message_type == DELAY_RESP:
            assert int(row["ptp.v2.dr.requestingsourceportidentity"], 16) == sent.requesting_identity
            assert int(row["ptp.v2.dr.requestingsourceportid"]) == sent.requesting_port
        if sent.message_type == ANNOUNCE:
            assert sent.announce is not None
            assert int(row["ptp.v2.an.priority1"]) == sent.announce.priority1 == 1
            assert int(row["ptp.v2.an.grandmasterclockclass"]) == sent.announce.clock_class == 6
            assert int(row["ptp.v2.an.grandmasterclockidentity"], 16) == sent.announce.grandmaster_identity
    assert kinds == [ANNOUNCE] + [SYNC, FOLLOW_UP, DELAY_REQ, DELAY_RESP] * 3


def test_timestamps_are_local_readings_on_the_capture_epoch(capture: Path) -> None:
    """Timestamps are local clock readings on the capture's epoch: within the slave's offset
    (about 1 µs) of the frame time. The grandmaster's clock is perfect but for 10 ps of
    jitter, so t1 = preciseOriginTimestamp + correctionField, as Wireshark reads it, is the
    Sync's frame time to a fraction of a nanosecond."""
    rows = [dict(zip(FIELDS, cols, strict=True)) for cols in tshark_columns(capture, *FIELDS, options=NO_TRAILER)]
    times = [int(cols[0].replace(".", "")) for cols in tshark_columns(capture, "frame.time_epoch", options=NO_TRAILER)]
    sync_time = {}
    for row, frame_ns in zip(rows, times, strict=True):
        mtype = int(row["ptp.v2.messagetype"], 16)
        prefix = TIMESTAMP_FIELD[mtype]
        wire_ns = int(row[prefix + ".seconds"]) * 10**9 + int(row[prefix + ".nanoseconds"])
        assert abs(wire_ns - frame_ns) < 2_000, (mtype, wire_ns - EPOCH_NS, frame_ns - EPOCH_NS)
        if mtype == SYNC:
            sync_time[row["ptp.v2.sequenceid"]] = frame_ns
        if mtype == FOLLOW_UP:
            t1 = wire_ns + correction_of(row) / 65536
            assert abs(t1 - sync_time[row["ptp.v2.sequenceid"]]) < 0.1
    assert len(sync_time) == 3
