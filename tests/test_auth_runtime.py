"""Authenticated classical control in a run (docs/wire.md §10): every datagram of a capture carries a trailer
that verifies under the key file's keys (recomputed here with hmac, independently of protocols/security), runs
differ only in their ICVs without a key file, `authenticate = false` sends bare datagrams, the engines drop a
valid datagram from a node that may not send it, key files are checked, and tshark shows the trailer."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import struct
from pathlib import Path

import pytest
import trio

from protocols.packets.heralding import Herald
from stack.cli import main
from stack.core.capture import PcapWriter, node_ip
from stack.report import build_report, summary
from stack.runtime import build, run_async, run_scenario
from stack.scenario import ScenarioError, load, load_text
from tests.pcap_util import read_pcap
from tests.scenarios import TEST_KEY, keyed
from tests.tshark_util import assert_matches_scapy, have_tshark, tshark_columns

SCENARIO = """
[run]
duration_ms = 200.0
seed = {seed}

[nodes.alice]
kind = "qpu"
ptp = "slave"
[nodes.bob]
kind = "qpu"
ptp = "slave"
[nodes.mid]
kind = "station"
ptp = "grandmaster"
detection_window_ns = 1

[links.ab]
a = "alice"
b = "bob"
station = "mid"
length_km = 2.0

[[workload]]
node = "alice"
remote = "bob"
type = "keep"
pairs = 20

[[workload]]
node = "alice"
remote = "bob"
type = "measure"
pairs = 20
"""


def _hkdf_pair_key(secret: bytes, sender: int, receiver: int) -> bytes:
    """RFC 5869 written out for one 32-byte block (the oracle: no code of protocols/security)."""
    prk = hmac.new(b"qnetstack classical control v1", secret, hashlib.sha256).digest()
    info = b"qnetstack pair key" + struct.pack("!HH", sender, receiver)
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def _udp(frame: bytes) -> tuple[int, int, int, int, bytes] | None:
    """(source node, destination node, source port, destination port, UDP payload) of an IPv4/UDP frame."""
    if frame[12:14] != b"\x08\x00":
        return None
    sport, dport, length = struct.unpack_from("!HHH", frame, 34)
    src_id, dst_id = frame[28] << 8 | frame[29], frame[32] << 8 | frame[33]      # 198.18.(i >> 8).(i & 255)
    return src_id, dst_id, sport, dport, frame[42:34 + length]


def _run(tmp_path: Path, name: str, text: str) -> tuple[bytes, dict]:  # type: ignore[type-arg]
    scenario = tmp_path / "s.toml"
    scenario.write_text(text)
    pcap, report = tmp_path / f"{name}.pcap", tmp_path / f"{name}.json"
    assert main(["run", str(scenario), "--quiet", "--pcap", str(pcap), "--json", str(report)]) == 0
    return pcap.read_bytes(), json.loads(report.read_text())


def test_every_datagram_carries_a_trailer_that_verifies(tmp_path: Path) -> None:
    pcap, report = _run(tmp_path, "keyed", keyed(SCENARIO.format(seed=2), tmp_path))
    secret = bytes.fromhex(TEST_KEY)
    last_seq: dict[tuple[int, int], int] = {}
    ports = set()
    for _, frame in read_pcap(pcap):
        udp = _udp(frame)
        if udp is None:
            continue
        src, dst, sport, dport, payload = udp
        body, trailer = payload[:-28], payload[-28:]
        sender, receiver, seq = struct.unpack_from("!HHQ", trailer)
        assert (sender, receiver) == (src, dst)
        assert seq == last_seq.get((src, dst), 0) + 1          # captured as sent: 1, 2, 3 ... per node pair
        last_seq[(src, dst)] = seq
        header = struct.pack("!HHHHQ", src, dst, sport, dport, seq)
        icv = hmac.new(_hkdf_pair_key(secret, src, dst), header + body, hashlib.sha256).digest()[:16]
        assert trailer[12:] == icv
        ports.add(dport)
    assert {7770, 7771, 7772, 319, 320} <= ports
    assert report["authentication"] is True
    for node in report["nodes"].values():
        assert set(node["auth_dropped"].values()) == {0} and node["wrong_sender"] == 0


def test_without_a_key_file_runs_differ_only_in_their_icvs(tmp_path: Path) -> None:
    """The secret is drawn from the OS, not the seed: the ICVs (and so the UDP checksums) differ, nothing else."""
    text = SCENARIO.format(seed=3)
    first, second = _run(tmp_path, "one", text), _run(tmp_path, "two", text)
    assert first[1] == second[1]

    def masked(pcap: bytes) -> list[bytes]:
        frames = []
        for _, frame in read_pcap(pcap):
            if _udp(frame) is not None:
                frame = frame[:40] + b"\0\0" + frame[42:-16] + bytes(16)     # UDP checksum and ICV
            frames.append(frame)
        return frames

    assert first[0] != second[0] and masked(first[0]) == masked(second[0])


def test_authentication_off_sends_bare_datagrams(tmp_path: Path) -> None:
    text = SCENARIO.format(seed=2) + "\n[security]\nauthenticate = false\n"
    pcap, report = _run(tmp_path, "bare", text)
    heralds = [udp[4] for _, frame in read_pcap(pcap) if (udp := _udp(frame)) is not None and udp[3] == 7770]
    assert heralds and all(len(h) == 28 for h in heralds) and all(Herald.decode(h) for h in heralds)
    assert report["authentication"] is False
    keyed_report = _run(tmp_path, "keyed", keyed(SCENARIO.format(seed=2), tmp_path))[1]
    assert report["workload"] == keyed_report["workload"]      # the same run, but for the bytes on the wire


def test_a_valid_datagram_from_a_node_that_may_not_send_it_is_dropped_by_the_engine() -> None:
    """A compromised bob holds its own keys: its HERALD to alice authenticates, and alice's physical layer drops
    it (only the link's station heralds), counted as wrong_sender; the run is otherwise the same."""
    def run(forge: bool) -> dict:  # type: ignore[type-arg]
        scenario = load_text(SCENARIO.format(seed=2), "<test>")
        emu = build(scenario, secret=bytes(32))
        alice, bob = (scenario.nodes[name].node_id for name in ("alice", "bob"))
        herald = Herald(1, 2, 1, 1, 5, 1, 0).encode()
        if forge:
            emu.kernel.call_at(1_000_000, lambda _: emu.network.send(bob, 7770, (node_ip(alice), 7770), herald))
        return build_report(trio.run(run_async, emu))

    clean, forged = run(False), run(True)
    assert clean["nodes"]["alice"]["wrong_sender"] == 0 and forged["nodes"]["alice"]["wrong_sender"] == 1
    assert forged["workload"] == clean["workload"]
    assert "1 wrong_sender" in summary(forged, 0.0, None)


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot read"), ("abcd\n", "holds a 2-byte secret"), ("zz" * 32, "is not hex"),
    ("# a comment\n" + "ab" * 31, "holds a 31-byte secret"),
])
def test_a_bad_key_file_is_one_error_naming_the_key(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(seed=1) + '\n[security]\nkey_file = "k.key"\n')
    if content is not None:
        (tmp_path / "k.key").write_text(content)
    with pytest.raises(ScenarioError, match=f"security.key_file: .*{problem}"):
        load(path)


def test_a_key_file_is_found_next_to_its_scenario(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "k.key").write_text("# comment\n" + "01" * 16 + "\n" + "02" * 16 + "\n")
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(seed=1) + '\n[security]\nkey_file = "keys/k.key"\nreplay_window = 64\n')
    security = load(path).security
    assert security.secret == bytes([1] * 16 + [2] * 16) and security.replay_window == 64
    assert "01" not in repr(security)                              # the secret is not printed


def test_the_demo_key_is_the_examples_and_keeps_their_runs_reproducible() -> None:
    scenario = load(Path(__file__).resolve().parent.parent / "examples" / "all-messages.toml")
    assert scenario.security.key_file == "keys/demo.key" and scenario.security.secret is not None
    captures = []
    for _ in range(2):
        stream = io.BytesIO()
        run_scenario(scenario, pcap=stream)
        captures.append(stream.getvalue())
    assert captures[0] == captures[1]


@pytest.mark.skipif(not have_tshark(), reason="tshark not installed")
def test_tshark_shows_the_trailer_and_ptp_behind_it(tmp_path: Path) -> None:
    _run(tmp_path, "keyed", keyed(SCENARIO.format(seed=2), tmp_path))
    pcap = tmp_path / "keyed.pcap"
    kinds = assert_matches_scapy(pcap)          # every message and every trailer field, icv included
    assert kinds["HERALD"] > 0 and kinds["OK_K"] > 0
    rows = tshark_columns(pcap, "udp.dstport", "qnetauth.seq", "ptp.v2.messagetype", "_ws.malformed")
    ptp = [row for row in rows if row[0] in ("319", "320")]
    assert ptp and all(row[1] and row[2] and not row[3] for row in ptp)     # Wireshark's PTP, then the trailer
    assert all(row[1] for row in rows if row[0])


@pytest.mark.skipif(not have_tshark(), reason="tshark not installed")
def test_the_dissector_verifies_icvs_given_the_run_secret(tmp_path: Path) -> None:
    """Its pure-Lua HMAC-SHA256 and HKDF agree with Python's on every datagram; a wrong secret or one altered
    byte fails."""
    _run(tmp_path, "keyed", keyed(SCENARIO.format(seed=2), tmp_path))
    pcap = tmp_path / "keyed.pcap"
    frames = read_pcap(pcap.read_bytes())
    udp = [i for i, (_, frame) in enumerate(frames) if _udp(frame) is not None]
    status = [row[0] for row in tshark_columns(pcap, "qnetauth.icv_status", options=("-o", f"qnetauth.key:{TEST_KEY}"))]
    assert [status[i] for i in udp] == ["1"] * len(udp) and len(udp) > 100
    wrong = "5f" + TEST_KEY[2:]
    status = [row[0] for row in tshark_columns(pcap, "qnetauth.icv_status", options=("-o", f"qnetauth.key:{wrong}"))]
    assert {status[i] for i in udp} == {"2"}
    assert {row[0] for row in tshark_columns(pcap, "qnetauth.icv_status")} <= {"0", ""}    # no key: unverified
    altered = tmp_path / "altered.pcap"
    stamp, frame = frames[udp[3]]
    frames[udp[3]] = (stamp, frame[:42] + bytes([frame[42] ^ 1]) + frame[43:])
    with altered.open("wb") as stream:
        writer = PcapWriter(stream)
        for t, f in frames:
            writer.write(t - 1_767_225_600 * 10**9, f)
    status = [row[0] for row in tshark_columns(altered, "qnetauth.icv_status",
                                               options=("-o", f"qnetauth.key:{TEST_KEY}"))]
    assert [i for i in udp if status[i] == "2"] == [udp[3]]
