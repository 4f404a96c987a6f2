"""A network-layer run's capture: the same seed gives the same bytes (capture and report), and tshark with
the shipped dissector decodes every frame of it exactly as scapy does (TRACK, every QNCP message a run
sends, the network service, and the link-layer requests whose Purpose ID is a link label), and every
network-layer message exactly as the runtime's struct codecs decode the same bytes
(examples/all-messages.toml sends every type, DISTIL and DISTIL_ACK from a circuit whose hops distil)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from protocols.packets.qncp_common import MESSAGE_TYPES
from stack.cli import main
from tests.consistency import shortened, with_faults
from tests.network_scenarios import chain_text, entry
from tests.scenarios import keyed
from tests.tshark_codec import assert_network_matches_codec
from tests.tshark_util import assert_matches_scapy, have_tshark

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE = EXAMPLES / "repeater-chain.toml"
NETWORK_KINDS = {f"QNCP_{name}" for name in MESSAGE_TYPES.values()} | {
    "TRACK", "NS_CREATE", "NS_ACK", "NS_OK_K", "NS_OK_M", "NS_ERR"}
"""Every network-layer message a run can send: all QNCP types, TRACK, and the network service's messages."""


def require_tshark() -> None:
    if not have_tshark():
        if os.environ.get("QNET_REQUIRE_TSHARK"):
            raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
        pytest.skip("tshark is not on PATH")


def run(tmp_path: Path, name: str, text: str, *options: str) -> tuple[bytes, bytes]:
    scenario = tmp_path / "scenario.toml"           # the report names it: the same file for every run
    scenario.write_text(keyed(text, tmp_path))
    pcap, report = tmp_path / f"{name}.pcap", tmp_path / f"{name}.json"
    assert main(["run", str(scenario), "--quiet", "--pcap", str(pcap), "--json", str(report), *options]) == 0
    return pcap.read_bytes(), report.read_bytes()


def test_a_repeater_chain_run_is_reproducible_byte_for_byte(tmp_path: Path) -> None:
    text = shortened(with_faults(EXAMPLE.read_text(), 0.0, 0.0, 2_000), 12, 2_000.0)   # jitter reorders
    first, second = run(tmp_path, "one", text), run(tmp_path, "two", text)
    assert len(first[0]) > 10_000 and b'"circuits"' in first[1]
    assert first == second
    other = run(tmp_path, "three", text, "--seed", "5")
    assert other[0] != first[0] and other[1] != first[1]


def test_a_network_run_capture_decodes_like_scapy(tmp_path: Path) -> None:
    """4 pairs each way: 807 frames with every kind the assertions name (12 pairs made 16,453 frames of the
    same kinds, 95 % of them the link pairs of a circuit that ran ~20 times longer, at ~1.3 ms a frame)."""
    require_tshark()
    pairs = 4
    workload = entry(pairs=pairs) + entry("measure", pairs=pairs, node="b", remote="a", basis="XZ")
    text = chain_text(3, workload=workload, qpu="bsm_success_probability = 0.7\n")     # failed swaps: EXPIRE
    run(tmp_path, "chain", text)
    kinds = assert_matches_scapy(tmp_path / "chain.pcap")
    qncp = {kind for kind in kinds if kind.startswith("QNCP_")}
    assert qncp == {f"QNCP_{name}" for name in ("SETUP", "SETUP_ACK", "SETUP_REPLY", "SETUP_REPLY_ACK", "TRACK_ACK",
                                                "EXPIRE", "EXPIRE_ACK", "CREDIT", "CREDIT_ACK", "CONFIRM",
                                                "CONFIRM_ACK", "COMPLETE", "COMPLETE_ACK")}
    assert kinds["TRACK"] >= 2 * 2 * pairs and kinds["P4_EGP"] == kinds["TRACK"]
    assert kinds["NS_CREATE"] == kinds["NS_ACK"] == 2
    assert kinds["NS_OK_K"] == kinds["NS_OK_M"] == 2 * pairs
    assert kinds["OK_K"] > 0 and kinds["CREATE"] > 0           # the hops' link requests (Purpose ID = label)


def test_all_messages_sends_every_network_message_and_tshark_decodes_it_as_the_codec(tmp_path: Path) -> None:
    require_tshark()
    run(tmp_path, "all", (EXAMPLES / "all-messages.toml").read_text())
    kinds = assert_network_matches_codec(tmp_path / "all.pcap")
    assert set(kinds) == NETWORK_KINDS, f"missing {sorted(NETWORK_KINDS - set(kinds))}"
    report = json.loads((tmp_path / "all.json").read_text())
    circuits = report["circuits"]
    assert [c["ended"] for c in circuits] == ["REJECTED", "complete", "complete", "TIMEOUT", "complete"]
    assert circuits[0]["errors"]["head"] == ["REJECTED"]                     # SETUP_REPLY REJECTED
    assert circuits[3]["errors"] == {"head": ["TIMEOUT"], "tail": ["TIMEOUT"]}   # TEARDOWN TIMEOUT
    assert circuits[3]["expired_by_reason"]["CUTOFF"] > 0                    # EXPIRE CUTOFF
    assert circuits[4]["distillation"]["rounds_succeeded"] >= 2                # DISTIL and DISTIL_ACK
    assert kinds["NS_OK_K"] == 2 * (circuits[1]["pairs_delivered"] + circuits[4]["pairs_delivered"]) == 2 * 8
    assert kinds["NS_OK_M"] == 2 * circuits[2]["pairs_delivered"] == 2 * 6
    # the report counts what is on the wire, what the refusing tail sent included
    sent = sum((Counter(c["messages"]) for c in circuits), Counter())
    assert {kind: kinds[kind if kind == "TRACK" else f"QNCP_{kind}"] for kind in sent} == dict(sent)
