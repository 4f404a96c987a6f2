"""Application exchange messages (E7 C4, docs/wire.md §11.2): golden bytes both ways, refusals naming the fault,
and the Lua dissector through tshark against the codec, on hand-made messages and on a CHSH run's capture."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from protocols.common import ParseError
from protocols.packets.exchange import FLAG_REPLY, HEADER, MAX_MESSAGE, ExchangeMessage, is_exchange
from stack.core.capture import PcapWriter, udp_frame
from tests.tshark_util import NO_TRAILER, SEVERITY_WARN, decode_with_tshark, have_tshark, read_frames, tshark_columns

APP = 50000
GOLDEN = [
    (ExchangeMessage(1, 0, b""), "e7c40000000100"),
    (ExchangeMessage(7, FLAG_REPLY, bytes.fromhex("0102ff")), "e7c400000007010102ff"),
    (ExchangeMessage(0xFFFFFFFF, 0, b"\xe7\xc4"), "e7c4ffffffff00e7c4"),
]
FIELDS = ("qapp.magic", "qapp.tag", "qapp.flags", "qapp.reply", "qapp.reserved", "qapp.payload_length",
          "qapp.payload", "qapp.data", "_ws.col.Info")


@pytest.mark.parametrize(("message", "golden"), GOLDEN)
def test_golden_bytes_both_ways(message: ExchangeMessage, golden: str) -> None:
    assert message.encode().hex() == golden
    assert ExchangeMessage.decode(bytes.fromhex(golden)) == message
    assert is_exchange(bytes.fromhex(golden))


@pytest.mark.parametrize(("bad", "why"), [
    ("e7c4000000", "at least 7"),
    ("e7c5000000010000", "magic"),
    ("e7c40000000102", "reserved"),
    ("e7c4000000010000" + "00" * MAX_MESSAGE, "at most"),
])
def test_malformed_messages_are_refused_naming_the_fault(bad: str, why: str) -> None:
    with pytest.raises(ParseError, match=why):
        ExchangeMessage.decode(bytes.fromhex(bad))


def test_encode_refuses_what_does_not_fit() -> None:
    for message, why in ((ExchangeMessage(1 << 32, 0, b""), "32 bits"), (ExchangeMessage(1, 2, b""), "bit 0"),
                         (ExchangeMessage(1, 0, bytes(MAX_MESSAGE - HEADER.size + 1)), "at most")):
        with pytest.raises(ValueError, match=why):
            message.encode()


def _write(path: Path, payloads: list[bytes]) -> Path:
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for i, payload in enumerate(payloads):
            writer.write(1_000 * i, udp_frame(1 + i % 2, APP + i % 2, 2 - i % 2, APP + 1 - i % 2, payload))
    return path


def _expected(payload: bytes) -> list[str]:
    """The FIELDS tshark must show for ``payload``, from the codec."""
    if not is_exchange(payload):
        return [""] * 7 + [payload.hex(), f"Application data, {len(payload)} bytes"]
    m = ExchangeMessage.decode(payload)
    info = f"Exchange tag={m.tag}{' reply' if m.flags & FLAG_REPLY else ''} payload={len(m.payload)} bytes"
    return [str(0xE7C4), str(m.tag), str(m.flags), str(m.flags & 1), str(m.flags >> 1),
            str(len(m.payload)), m.payload.hex(), "", info]


def _normal(row: list[str]) -> list[str]:
    return [value.replace(":", "") if name in ("qapp.payload", "qapp.data") else value
            for name, value in zip(FIELDS, row, strict=True)]


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
def test_tshark_decodes_exchange_messages_like_the_codec(tmp_path: Path) -> None:
    payloads = [m.encode() for m, _ in GOLDEN] + [ExchangeMessage(42, 0, bytes(range(200))).encode(), b"hello"]
    capture = _write(tmp_path / "qapp.pcap", payloads)              # hand-made: no authentication trailers
    rows = tshark_columns(capture, *FIELDS, options=NO_TRAILER)
    assert [_normal(row) for row in rows] == [_expected(p) for p in payloads]
    assert all(not frame["experts"] for frame in decode_with_tshark(capture, *NO_TRAILER))


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
def test_tshark_flags_malformed_exchanges_without_lua_errors(tmp_path: Path) -> None:
    bad = ["e7c4000000", "e7c40000000102", "e7c4000000010000" + "00" * MAX_MESSAGE]
    capture = _write(tmp_path / "bad.pcap", [bytes.fromhex(b) for b in bad])
    for frame in decode_with_tshark(capture, *NO_TRAILER):
        assert any(e.severity >= SEVERITY_WARN and e.abbrev.startswith("qapp") for e in frame["experts"]), frame


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
def test_a_chsh_runs_exchanges_decode_like_the_codec(tmp_path: Path) -> None:
    """A real run (classical loss: retransmissions and replies), authentication trailers on: every datagram
    between the applications' ports is an exchange message whose fields tshark shows as the codec decodes
    them, and its trailer verifies."""
    from protocols.packets.auth import split
    from stack.api import AppContext, run_apps
    from stack.api.apps import chsh
    from stack.scenario import load_text
    from tests.test_apps import WERNER

    def end(role: str, remote: str):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            await chsh(ctx, remote, 200, role, block=50)
        return run

    lossy = WERNER.replace("depolarizing = 0.12", "depolarizing = 0.12\nclassical_loss = 0.2")
    buffer, secret = io.BytesIO(), bytes(range(32))
    run_apps(load_text(lossy, "<qapp>"), {"alice": end("create", "bob"), "bob": end("recv", "alice")}, seed=9,
             pcap=buffer, secret=secret)
    capture = tmp_path / "chsh.pcap"
    capture.write_bytes(buffer.getvalue())
    frames = read_frames(capture)
    rows = tshark_columns(capture, "udp.srcport", "udp.dstport", *FIELDS, "qnetauth.icv_status",
                          options=("-o", f"qnetauth.key:{secret.hex()}"))
    checked = replies = 0
    for frame, row in zip(frames, rows, strict=True):
        if not (row[0].isdigit() and int(row[0]) >= APP and int(row[1]) >= APP):
            continue
        payload, _ = split(frame[42:])                                  # Ethernet + IPv4 + UDP headers
        assert _normal(row[2:-1]) == _expected(payload), row
        assert row[-1] == "1", row                                      # the trailer's ICV verifies
        checked += 1
        replies += ExchangeMessage.decode(payload).flags & FLAG_REPLY
    assert checked >= 2 * 200 // 50 * 1 and replies > 0


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
def test_fuzzed_application_messages_cause_no_lua_error(tmp_path: Path) -> None:
    """Random bytes and mutated exchanges on the applications' ports: tshark dissects them all without a Lua
    error (run_tshark fails on one), an exchange's malformations marked, never anything else."""
    import random

    from tests.fuzz_targets import TARGETS, mutate

    rng = random.Random(5)
    seeds = TARGETS["exchange"].seeds
    payloads = [mutate(rng.choice(seeds), [(rng.randrange(5), rng.randrange(1 << 16), rng.randrange(256))
                                           for _ in range(rng.randrange(1, 4))]) for _ in range(150)]
    payloads += [rng.randbytes(rng.randrange(0, 40)) for _ in range(50)]
    frames = decode_with_tshark(_write(tmp_path / "fuzz.pcap", payloads), *NO_TRAILER)
    assert len(frames) == len(payloads)
    for frame, payload in zip(frames, payloads, strict=True):
        try:
            ExchangeMessage.decode(payload)
            valid = True
        except ParseError:
            valid = not is_exchange(payload) and len(payload) <= MAX_MESSAGE   # plain application data
        assert valid == (not frame["experts"]), (payload.hex(), frame["experts"])
