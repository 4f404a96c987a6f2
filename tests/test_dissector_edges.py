"""The Lua dissector at the edges a Wireshark user meets (docs/wire.md §6, §10.5): a datagram of just the
trailer, the script loaded twice, a bad ``qnetauth.key`` preference, a capture cut by its snapshot length, and
how EGP Status and the network layer's labels read."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from protocols.common import EGP_PORT, HERALD_PORT, LINK_SERVICE_PORT, QNCP_PORT, QNP_PORT, QTP_PORT
from protocols.packets.auth import SIZE as AUTH_SIZE
from protocols.packets.egp import MSG_RELEASE, MSG_REQ, EgpMessage
from protocols.packets.linkservice import Create
from protocols.packets.qnp import encode_track
from stack.core.capture import PcapWriter, udp_frame
from tests.tshark_util import (
    LUA_SCRIPT,
    NO_TRAILER,
    SEVERITY_NOTE,
    SEVERITY_WARN,
    decode_with_tshark,
    have_tshark,
    read_frames,
    run_tshark,
    tshark_columns,
    write_sample,
)

if not have_tshark():
    if os.environ.get("QNET_REQUIRE_TSHARK"):
        raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
    pytest.skip("tshark is not on PATH", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "pcaps" / "all-messages.pcap"          # keyed by the public demonstration key
DEMO_KEY = "".join(line.strip() for line in (ROOT / "examples" / "keys" / "demo.key").read_text().splitlines()
                   if not line.startswith("#"))


def _write(path: Path, frames: list[bytes]) -> Path:
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for i, frame in enumerate(frames):
            writer.write(1_000 * i, frame)
    return path


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 60 frames of the golden capture: every link-layer kind but RELEASE, with trailers."""
    path = tmp_path_factory.mktemp("edges") / "head.pcap"
    write_sample(GOLDEN, path, first=60, every=1 << 30)
    return path


@pytest.mark.parametrize(("sport", "dport", "expert"), [
    (HERALD_PORT, HERALD_PORT, "qhp.short"), (49153, LINK_SERVICE_PORT, "qll.short"),
    (LINK_SERVICE_PORT, 49153, "qll.short"), (EGP_PORT, EGP_PORT, "egp.short"), (QNCP_PORT, QNCP_PORT, "qncp.short"),
    (QTP_PORT, QTP_PORT, "qtp.short"),
])
def test_a_datagram_of_just_the_trailer_flags_its_empty_message(tmp_path: Path, sport: int, dport: int,
                                                                 expert: str) -> None:
    """28 bytes: the trailer and an empty message, which no codec decodes (e.g. a run with ``authenticate = false``
    read with the default preferences): the message's own short-message expert, not a bare trailer."""
    capture = _write(tmp_path / "empty.pcap", [udp_frame(1, sport, 2, dport, bytes(AUTH_SIZE))])
    (frame,) = decode_with_tshark(capture)
    assert [p for p, _ in frame["layers"]][-1] == "qnetauth"
    assert expert in {e.abbrev for e in frame["experts"] if e.severity >= SEVERITY_WARN}, frame["experts"]


def _tshark(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(home)) if home is not None else None
    return subprocess.run(["tshark", "-n", *args], capture_output=True, text=True, timeout=120, check=False,
                          env=env)


def test_the_script_loaded_twice_gives_no_lua_error(tmp_path: Path, head: Path) -> None:
    """Given twice with -X, or installed in the plugin folder (as the README says) and given with -X again."""
    copy = tmp_path / "copy.lua"
    shutil.copy(LUA_SCRIPT, copy)
    plugins = tmp_path / "home" / ".local" / "lib" / "wireshark" / "plugins"
    plugins.mkdir(parents=True)
    shutil.copy(LUA_SCRIPT, plugins / LUA_SCRIPT.name)
    once = _tshark("-X", f"lua_script:{LUA_SCRIPT}", "-r", str(head))
    assert once.returncode == 0 and "QLL" in once.stdout and "Lua" not in once.stderr, once.stderr
    for run in (_tshark("-X", f"lua_script:{LUA_SCRIPT}", "-X", f"lua_script:{LUA_SCRIPT}", "-r", str(head)),
                _tshark("-X", f"lua_script:{LUA_SCRIPT}", "-X", f"lua_script:{copy}", "-r", str(head)),
                _tshark("-X", f"lua_script:{LUA_SCRIPT}", "-r", str(head), home=tmp_path / "home"),
                _tshark("-r", str(head), home=tmp_path / "home")):
        assert run.returncode == 0 and "Lua" not in run.stderr, run.stderr
        assert run.stdout == once.stdout


@pytest.mark.parametrize(("key", "status", "flagged"), [
    (DEMO_KEY, "1", False),
    ("", "0", False),
    ("0x" + DEMO_KEY, "0", True),                 # a 0x prefix
    (DEMO_KEY[:40], "0", True),                   # too short
    (DEMO_KEY[:-2] + "zz", "0", True),            # not hex
    (DEMO_KEY + "0", "0", True),                  # an odd number of digits
])
def test_a_key_preference_that_is_not_a_secret_is_flagged(head: Path, key: str, status: str, flagged: bool) -> None:
    frames = decode_with_tshark(head, "-o", f"qnetauth.key:{key}")
    datagrams = [frame for frame in frames if "qnetauth" in dict(frame["layers"])]     # not the photons
    assert len(frames) == 60 and len(datagrams) > 40
    for frame in datagrams:
        assert dict(frame["layers"])["qnetauth"]["qnetauth.icv_status"] == [status], frame["number"]
        experts = {e.abbrev for e in frame["experts"] if e.severity >= SEVERITY_WARN}
        assert experts == ({"qnetauth.bad_key"} if flagged else set()), (frame["number"], frame["experts"])


def _cut(source: Path, path: Path, snaplen: int) -> Path:
    """``editcap -s snaplen``: every record keeps its first ``snaplen`` bytes and its original length."""
    data = source.read_bytes()
    magic, major, minor, zone, sigfigs, _, linktype = struct.unpack_from("<IHHiIII", data)
    out = [struct.pack("<IHHiIII", magic, major, minor, zone, sigfigs, snaplen, linktype)]
    offset = 24
    while offset < len(data):
        sec, frac, incl, orig = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16:offset + 16 + incl]
        out.append(struct.pack("<IIII", sec, frac, min(incl, snaplen), orig) + frame[:snaplen])
        offset += 16 + incl
    path.write_bytes(b"".join(out))
    return path


def test_a_capture_cut_by_its_snapshot_length_places_the_trailer_by_the_reported_length(
        tmp_path: Path, head: Path) -> None:
    """editcap -s 80: a datagram longer than the snapshot keeps its first 38 bytes. Its trailer is not in the
    capture (a note, no trailer fields: not the last captured 28 bytes read as one), and a message cut there is
    not captured, not malformed. Frames that fit are dissected as before."""
    snaplen = 80
    cut = _cut(head, tmp_path / "cut.pcap", snaplen)
    whole = decode_with_tshark(head)
    sizes = [len(frame) for frame in read_frames(head)]
    assert any(size > snaplen for size in sizes) and any(size <= snaplen for size in sizes)
    for frame, full, size in zip(decode_with_tshark(cut), whole, sizes, strict=True):
        assert not frame["malformed"], frame["number"]
        assert not [e for e in frame["experts"] if e.severity >= SEVERITY_WARN], (frame["number"], frame["experts"])
        if size <= snaplen:
            assert frame["layers"] == full["layers"], frame["number"]
            continue
        auth = dict(frame["layers"]).get("qnetauth")
        assert auth is not None and "qnetauth.sender_id" not in auth, (frame["number"], auth)
        notes = [e for e in frame["experts"] if e.abbrev == "qnetauth.not_captured"]
        assert notes and all(e.severity == SEVERITY_NOTE for e in notes), frame["experts"]
        assert any(e.message.startswith("Trailer not captured") for e in notes), notes


def test_egp_status_zero_is_named_per_type_and_labels_are_hex(tmp_path: Path) -> None:
    """docs/wire.md §4.4: Status 0 is ACCEPTED in a REQ_ACK, 'following' in a SCHEDULE_ACK, 'deliver' in a RELEASE,
    'done' in a RELEASE_ACK, and unnamed in the others; Circuit IDs and Link Labels show in hex, as the Info column
    and the spec write them."""
    create = Create(remote_node_id=2, number=1)
    egp = [EgpMessage(msg_type=t, status=0, create_id=9, link_id=1, origin_node=1, queue_seq=3,
                      create=create if t == MSG_REQ else None) for t in range(1, 9)]
    egp.append(EgpMessage(msg_type=MSG_RELEASE, status=5, create_id=9, link_id=1, origin_node=1, queue_seq=3))
    frames = [udp_frame(1, EGP_PORT, 2, EGP_PORT, message.encode()) for message in egp]
    frames.append(udp_frame(1, QNP_PORT, 2, QNP_PORT, encode_track(0x8001, 7, 1, 0x0301, 5, 2)))
    capture = _write(tmp_path / "egp.pcap", frames)
    rows = tshark_columns(capture, "_ws.col.Info", "qnp.circuit_id", "p4egp.link_label", options=NO_TRAILER)
    assert [" ".join(info.split()[:2]) for info, _, _ in rows[:-1]] == [
        "REQ create_id=9", "REQ_ACK ACCEPTED", "CONFIRM create_id=9", "CONFIRM_ACK create_id=9",
        "SCHEDULE create_id=9", "SCHEDULE_ACK FOLLOWING", "RELEASE DELIVER", "RELEASE_ACK DONE", "RELEASE EXPIRE"]
    assert rows[-1][1:] == ["0x0301", "0x8001"]
    tree = run_tshark(capture, *NO_TRAILER, "-V")
    assert tree.count("Status: 0 (FOLLOWING)") == 1 and "Circuit ID: 0x0301" in tree
