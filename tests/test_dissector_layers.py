"""The authentication trailer in ``frame.protocols`` (docs/wire.md §10.5): every frame whose datagram carries it
lists ``qnetauth`` there, after the message's protocol (``udp:qhp:qnetauth``; on PTP's ports, where qnetauth is
the port's dissector, before it: ``udp:qnetauth:ptp``), and no other frame does. Wireshark builds that list from
the dissectors called through their handles, not from the tree, so the ``qnetauth`` display filter matching a
frame does not make it true: ``-T fields -e frame.protocols``, ``frame.protocols contains "qnetauth"`` and
anything else reading the list missed the trailer of every datagram but PTP's.

The oracle is the capture's own bytes: an IPv4/UDP frame between two nodes carries a trailer (every shipped
capture is of an authenticated run), a QFRAME none."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from protocols.common import HERALD_PORT, LINK_SERVICE_PORT
from protocols.packets.auth import SIZE as AUTH_SIZE
from stack.core.capture import PcapWriter, udp_frame
from tests.tshark_util import NO_TRAILER, have_tshark, read_frames, run_tshark, tshark_columns

if not have_tshark():
    if os.environ.get("QNET_REQUIRE_TSHARK"):
        raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
    pytest.skip("tshark is not on PATH", allow_module_level=True)

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"
PTP_PORTS = (319, 320)
BASE = 40000


def _write(path: Path, frames: list[bytes]) -> Path:
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for i, frame in enumerate(frames):
            writer.write(1_000 * i, frame)
    return path


def _dport(frame: bytes) -> int | None:
    """The UDP destination port of an IPv4/UDP frame, None for any other frame (a QFRAME)."""
    if frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    return int(struct.unpack_from("!H", frame, 14 + 4 * (frame[14] & 0x0F) + 2)[0])


def _want(frame: bytes) -> str | None:
    """Where ``qnetauth`` must be in the frame's ``frame.protocols``: right after ``udp`` on PTP's ports, last on
    any other datagram, nowhere (None) in a frame that is not UDP."""
    dport = _dport(frame)
    if dport is None:
        return None
    return "udp:qnetauth:" if dport in PTP_PORTS else ":qnetauth"


def _check(capture: Path, frames: list[bytes]) -> None:
    rows = tshark_columns(capture, "frame.number", "frame.protocols")
    assert len(rows) == len(frames)
    udp = 0
    for (number, protocols), frame in zip(rows, frames, strict=True):
        want = _want(frame)
        if want is None:
            assert "qnetauth" not in protocols.split(":"), (number, protocols)
            continue
        udp += 1
        assert protocols.split(":").count("qnetauth") == 1, (number, protocols)
        if want.startswith("udp"):
            assert want in protocols, (number, protocols)
        else:
            assert protocols.endswith(want) and not protocols.endswith("udp:qnetauth"), (number, protocols)
    assert udp > 0
    # The display filters agree: the trailer's protocol in the tree and in the list, on the same frames.
    for expression in ("qnetauth", 'frame.protocols contains "qnetauth"'):
        assert len(run_tshark(capture, "-Y", expression).splitlines()) == udp, expression


@pytest.mark.parametrize("name", ["all-messages.pcap", "up-small.pcap"])
def test_every_authenticated_frame_of_a_golden_capture_lists_the_trailer(name: str) -> None:
    _check(PCAPS / name, read_frames(PCAPS / name))


def test_the_default_capture_lists_it_on_ptp_and_every_other_protocol(tmp_path: Path) -> None:
    """Its PTP messages (Wireshark's dissector, behind qnetauth on 319/320) and every 25th other frame."""
    frames = [f for i, f in enumerate(read_frames(PCAPS / "default.pcap")) if _dport(f) in PTP_PORTS or i % 25 == 0]
    assert sum(_dport(f) in PTP_PORTS for f in frames) > 100
    _check(_write(tmp_path / "sample.pcap", frames), frames)


def test_short_cut_and_mapped_datagrams_list_it_and_without_the_trailer_none_does(tmp_path: Path) -> None:
    """A datagram too short for a trailer (its subtree flags it missing), one whose trailer the snapshot length
    cut off, and ``qnet up``'s mapped ports (``qnetmp``) list it too; with the preference off nothing does."""
    herald = udp_frame(1, HERALD_PORT, 2, HERALD_PORT, bytes(24 + AUTH_SIZE))
    frames = [udp_frame(1, HERALD_PORT, 2, HERALD_PORT, bytes(10)), herald[:60],
              udp_frame(1, BASE + 32 + 1, 2, BASE + 64 + 9, bytes(40 + AUTH_SIZE))]
    path = tmp_path / "edges.pcap"                         # a pcap by hand: the cut record keeps its orig_len
    records = [struct.pack("<IIII", 0, i, len(f), len(herald) if i == 1 else len(f)) + f for i, f in enumerate(frames)]
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 60, 1) + b"".join(records))
    rows = tshark_columns(path, "frame.protocols", options=("-o", f"qnetmp.base_port:{BASE}"))
    assert [row[0] for row in rows] == ["eth:ethertype:ip:udp:qhp:qnetauth"] * 2 + [
        "eth:ethertype:ip:udp:qnetmp:qnetauth"]
    plain = _write(tmp_path / "plain.pcap", [udp_frame(1, 49153, 2, LINK_SERVICE_PORT, bytes(40))])
    assert [row[0] for row in tshark_columns(plain, "frame.protocols", options=NO_TRAILER)] == [
        "eth:ethertype:ip:udp:qll"]
