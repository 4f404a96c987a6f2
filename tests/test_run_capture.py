"""A capture produced by ``qnet run`` decodes in tshark with the shipped dissector, every field
equal to scapy's dissection, every message type the scenario sends present (examples/all-messages.toml: all
but BATCH, OK_MB, REPORT, PTP, QTP and application messages, which docs/wire.md §6 shows elsewhere), nothing
malformed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from protocols.packets.qncp_common import MESSAGE_TYPES as QNCP_TYPES
from stack.cli import main
from tests.conftest import DefaultRun
from tests.tshark_util import assert_matches_scapy, have_tshark, tshark_message_counts, write_sample

if not have_tshark():
    if os.environ.get("QNET_REQUIRE_TSHARK"):
        raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
    pytest.skip("tshark is not on PATH", allow_module_level=True)

ALL_MESSAGES = Path(__file__).resolve().parent.parent / "examples" / "all-messages.toml"

LINK_KINDS = {"HERALD", "QFRAME", "CREATE", "ACK", "OK_K", "OK_M", "ERR", "REQ", "REQ_ACK", "CONFIRM", "CONFIRM_ACK",
              "SCHEDULE", "SCHEDULE_ACK", "RELEASE", "RELEASE_ACK"}
NETWORK_KINDS = {f"QNCP_{name}" for name in QNCP_TYPES.values()} | {
    "TRACK", "P4_EGP", "NS_CREATE", "NS_ACK", "NS_OK_K", "NS_OK_M", "NS_ERR"}
"""Every network-layer kind (DISTIL and DISTIL_ACK from the circuit whose hops distil)."""


def test_qnet_run_capture_decodes_like_scapy(tmp_path: Path) -> None:
    pcap, report_path = tmp_path / "run.pcap", tmp_path / "run.json"
    assert main(["run", str(ALL_MESSAGES), "--quiet", "--pcap", str(pcap), "--json", str(report_path)]) == 0
    kinds = assert_matches_scapy(pcap)
    assert set(kinds) == LINK_KINDS | NETWORK_KINDS
    report = json.loads(report_path.read_text())
    # two photons and two heralds per pair: the link entries' 40 + 40 + the atomic request's 4 and the one
    # its cutoff replaced, and the pairs the circuits' hops made
    assert kinds["QFRAME"] == kinds["HERALD"] == 2 * sum(link["successes"] for link in report["links"])
    assert sum(link["successes"] for link in report["links"]) > 85
    # REJECTED, the cut-off pair's EXPIRE at both ends, and the ERR TIMEOUT at the granter of each of the run's 8
    # windowed hop requests (4 circuits x 2 hops) that its origin's CLOSE ended with the master's abort: the
    # report counts those as closes, not errors
    hops = [hop for circuit in report["circuits"] for hop in circuit["hops_detail"]]
    assert sum(hop["request_closes"] for hop in hops) == 8 and not any(hop["request_errors"] for hop in hops)
    assert kinds["ERR"] == 3 + 8
    assert kinds["RELEASE"] == kinds["RELEASE_ACK"] == 5
    assert kinds["NS_ERR"] == 3                            # REJECTED at the head, TIMEOUT at both ends


def test_default_scenario_capture_decodes_like_scapy(tmp_path: Path, default_run: DefaultRun) -> None:
    """The whole capture (63,000 frames) decodes cleanly in tshark and its message counts match the report; a
    sample of it (every message kind of the run included) is compared with scapy field by field."""
    pcap, report = default_run.pcap, default_run.report
    counts = tshark_message_counts(pcap)
    (circuit,) = json.loads(report.read_text())["circuits"]          # qpu3 -> remote across qpu4
    hop_pairs = sum(hop["link_pairs"] for hop in circuit["hops_detail"])
    # the applications' link pairs and the circuit's hop pairs, an OK at both ends of each
    assert counts[("qll", "OK_K")] == 2 * 5 * 300 + 2 * hop_pairs and counts[("qll", "OK_M")] == 2 * 300
    assert counts[("qns", "OK_K")] == 2 * circuit["pairs_delivered"] == 2 * 50
    assert counts[("qnp", "TRACK")] == circuit["messages"]["TRACK"]
    assert counts[("qhp", "REPORT")] > 0                  # the coupler link's: no other shipped capture has them
    sample = tmp_path / "sample.pcap"
    assert write_sample(pcap, sample, first=1500, every=23) < sum(counts.values()) // 10
    kinds = assert_matches_scapy(sample)
    assert {"OK_K", "OK_M", "NS_OK_K", "TRACK", "P4_EGP", "HERALD", "QFRAME", "CONFIRM", "SCHEDULE",
            "QNCP_CREDIT", "QNCP_EXPIRE", "QNCP_TRACK_ACK"} <= set(kinds)
