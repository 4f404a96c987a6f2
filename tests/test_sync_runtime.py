"""Time synchronisation in the emulator: clocks per node, PTP over the emulated network,
heralding gated by the photons' arrival times, the report and Wireshark's own decoding."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from protocols.packets.heralding import OUTCOME_FAILURE, OUTCOME_SUCCESS, Herald
from protocols.packets.ptp import DELAY_REQ, SYNC, PtpMessage
from stack.cli import main
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_text
from tests.pcap_util import read_pcap, udp_payloads
from tests.scenarios import keyed
from tests.tshark_util import have_tshark, read_frames, tshark_columns

SCENARIO = """
[run]
duration_ms = {duration}
seed = {seed}
[sync]
sample_interval_ms = 5
[nodes.alice]
kind = "qpu"
ptp = "{ptp}"
clock_offset_ns = 1000.0
clock_frequency_ppm = 20.0
timestamp_jitter_ps = {jitter}
[nodes.bob]
kind = "qpu"
ptp = "{ptp}"
clock_offset_ns = -500.0
clock_frequency_ppm = -10.0
clock_wander_ppb = 0.1
timestamp_jitter_ps = {jitter}
[nodes.mid]
kind = "station"
ptp = "{grandmaster}"
timestamp_jitter_ps = {jitter}
detection_window_ns = 1
[links.ab]
a = "alice"
b = "bob"
station = "mid"
length_km = 2.0
[[workload]]
node = "alice"
remote = "bob"
type = "measure"
pairs = {pairs}
"""


def scenario(ptp: bool, *, duration: float = 600.0, pairs: int = 1000, jitter: float = 10.0, seed: int = 1):  # type: ignore[no-untyped-def]
    text = SCENARIO.format(ptp="slave" if ptp else "off", grandmaster="grandmaster" if ptp else "off",
                           duration=duration, pairs=pairs, jitter=jitter, seed=seed)
    return load_text(text, "<sync>")


def heralds_to_alice(pcap: bytes) -> list[Herald]:
    return [Herald.decode(p) for dst, port, p in udp_payloads(read_pcap(pcap)) if port == 7770 and dst == "198.18.0.1"]


def test_unsynchronised_clocks_never_herald() -> None:
    capture = io.BytesIO()
    result = run_scenario(scenario(False, duration=100.0), pcap=capture)
    state = result.emulation.heralding.links[1]
    heralds = heralds_to_alice(capture.getvalue())
    assert state.successes == 0 and state.window_failures > 20
    assert heralds and all(h.outcome == OUTCOME_FAILURE for h in heralds)
    assert not result.emulation.workloads[0].origin.records


def test_heralds_recover_once_ptp_converges() -> None:
    capture = io.BytesIO()
    result = run_scenario(scenario(True), pcap=capture)
    report = build_report(result)
    converged = max(n["converged_at_ns"] for n in report["sync"]["nodes"].values())
    assert converged is not None and converged < 400e6
    heralds = heralds_to_alice(capture.getvalue())
    failures = [h.detection_time for h in heralds if h.outcome == OUTCOME_FAILURE]
    successes = [h.detection_time for h in heralds if h.outcome == OUTCOME_SUCCESS]
    assert failures and max(failures) < converged + 10e6        # misses only before sync (station clock)
    assert len(successes) == 1000 and min(successes) > min(failures)


def test_ptp_reaches_white_rabbit_class_with_10_ps_jitter() -> None:
    report = build_report(run_scenario(scenario(True, duration=3000.0, pairs=3000)))
    for node in report["sync"]["nodes"].values():
        assert node["ptp_state"] == "slave"
        assert node["rms_offset_after_convergence_ns"] < 0.1
        assert 0 < node["converged_at_ns"] < 1e9
        assert len(node["offset_ns"]) > 100


def test_clocks_keep_runs_reproducible(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(keyed(SCENARIO.format(ptp="slave", grandmaster="grandmaster", duration=300.0, pairs=200,
                                          jitter=10.0, seed=5), tmp_path))
    outputs = []
    for name in ("one", "two"):
        pcap, report = tmp_path / f"{name}.pcap", tmp_path / f"{name}.json"
        assert main(["run", str(path), "--quiet", "--pcap", str(pcap), "--json", str(report)]) == 0
        outputs.append((pcap.read_bytes(), report.read_bytes()))
    assert outputs[0] == outputs[1]


@pytest.mark.skipif(not have_tshark() and not os.environ.get("QNET_REQUIRE_TSHARK"), reason="tshark not installed")
def test_wireshark_decodes_the_runs_ptp_natively(tmp_path: Path) -> None:
    pcap = tmp_path / "sync.pcap"
    with pcap.open("wb") as stream:
        run_scenario(scenario(True, duration=400.0, pairs=50), pcap=stream)
    fields = ("udp.dstport", "ptp.v2.messagetype", "ptp.v2.sequenceid", "ptp.v2.flags.twostep",
              "ptp.v2.sdr.origintimestamp.seconds", "ptp.v2.sdr.origintimestamp.nanoseconds",
              "ptp.v2.fu.preciseorigintimestamp.seconds", "ptp.v2.fu.preciseorigintimestamp.nanoseconds",
              "_ws.malformed")
    rows = [dict(zip(fields, cols, strict=True)) for cols in tshark_columns(pcap, *fields)]
    frames = read_frames(pcap)
    seen = set()
    for row, frame in zip(rows, frames, strict=True):
        if row["udp.dstport"] not in ("319", "320"):
            continue
        sent = PtpMessage.decode(frame[42:])
        seen.add(sent.message_type)
        assert row["_ws.malformed"] == ""
        assert int(row["ptp.v2.messagetype"], 16) == sent.message_type
        assert int(row["ptp.v2.sequenceid"]) == sent.sequence_id
        assert row["ptp.v2.flags.twostep"] == ("1" if sent.message_type == SYNC else "0")
        prefix = "ptp.v2.sdr.origintimestamp" if sent.message_type in (SYNC, DELAY_REQ) else \
            "ptp.v2.fu.preciseorigintimestamp" if row["ptp.v2.fu.preciseorigintimestamp.seconds"] else None
        if prefix:
            assert int(row[f"{prefix}.seconds"]) == sent.seconds
            assert int(row[f"{prefix}.nanoseconds"]) == sent.nanoseconds
    assert {0x0, 0x8, 0x1, 0x9, 0xB} <= seen            # Sync, Follow_Up, Delay_Req, Delay_Resp, Announce
