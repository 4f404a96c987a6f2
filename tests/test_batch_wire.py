"""QHP BATCH (docs/wire.md §3.3): golden bytes both ways, the codec against the scapy layer, tshark's
dissection against scapy's, malformed batches rejected by the codec exactly when tshark flags them."""

from __future__ import annotations

import doctest
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common import HERALD_PORT, LINK_SERVICE_PORT, ParseError
from protocols.packets import auth, bitpack
from protocols.packets import linkservice as ll
from protocols.packets.bitpack import constant_plane, join_planes, pack_bits, pack_uniform, unpack_bits
from protocols.packets.heralding import Herald
from protocols.packets.heralding_batch import (
    MAX_PAYLOAD,
    HeraldBatch,
    decode_qhp,
    max_count,
    packed_size,
)
from protocols.packets.scapy_layers.heralding import QHPBatch, QHPHerald
from protocols.packets.scapy_layers.linkservice import LLOkMB, LLUpward
from stack.core.capture import PcapWriter, udp_frame
from tests.tshark_util import (
    NO_TRAILER,
    SEVERITY_WARN,
    assert_matches_scapy,
    decode_with_tshark,
    have_tshark,
    read_frames,
)

needs_tshark = pytest.mark.skipif(not have_tshark(), reason="tshark is not on PATH")

GOLDEN = bytes.fromhex(
    "01"                  # version
    "03"                  # type BATCH
    "03"                  # delta bits
    "00"                  # reserved
    "0201"                # link 513
    "01"                  # double click
    "00"                  # reserved
    "fedcba9876543210"    # first attempt
    "0000000a"            # attempts
    "00000003"            # count
    "0000000000000032"    # detection time 50
    "4280"                # failures 2, 0, 5 at 3 bits: 010 000 101 + 7 zero bits
    "74"                  # Bell states 1, 3, 1: 01 11 01 + 2 zero bits
)
GOLDEN_BATCH = HeraldBatch(513, 1, 0xFEDC_BA98_7654_3210, 10, 50, np.array([2, 0, 5]), np.array([1, 3, 1]))


def test_golden_bytes_both_ways() -> None:
    assert GOLDEN_BATCH.encode() == GOLDEN
    decoded = HeraldBatch.decode(GOLDEN)
    assert decoded == GOLDEN_BATCH and decoded.delta_bits == 3
    assert decoded.successes().tolist() == [0xFEDC_BA98_7654_3210 + k for k in (2, 3, 9)]
    assert bytes(QHPBatch(delta_bits=3, link_id=513, attempt_seq=0xFEDC_BA98_7654_3210, attempts=10,
                          detection_time=50, failures=[2, 0, 5], bells=[1, 3, 1])) == GOLDEN
    layer = QHPHerald(GOLDEN)                     # the dispatch: type 3 on port 7770 is a BATCH
    assert isinstance(layer, QHPBatch) and layer.failures == [2, 0, 5] and layer.bells == [1, 3, 1]
    assert isinstance(decode_qhp(GOLDEN), HeraldBatch)
    assert isinstance(decode_qhp(Herald(1, 2, 1, 1, 4, 3, 2).encode()), Herald)


def test_an_empty_batch_and_zero_width() -> None:
    empty = HeraldBatch(1, 2, 0, 0, 0)
    assert empty.encode() == bytes.fromhex("0103000000010200") + bytes(24)
    assert HeraldBatch.decode(empty.encode()) == empty
    every = HeraldBatch(1, 4, 5, 4, 9, np.zeros(4, dtype=np.uint64), np.array([0, 1, 2, 3]))
    data = every.encode()
    assert data[2] == 0 and len(data) == 33 and data[32] == 0b00011011


@st.composite
def batches(draw: st.DrawFn) -> HeraldBatch:
    count = draw(st.integers(0, 40))
    width = draw(st.integers(0, 32))
    failures = draw(st.lists(st.integers(0, (1 << width) - 1), min_size=count, max_size=count))
    bells = draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
    attempts = sum(failures) + count + draw(st.integers(0, 5))
    return HeraldBatch(draw(st.integers(0, 0xFFFF)), draw(st.sampled_from([1, 2, 3, 4])),
                       draw(st.integers(0, 2**64 - 1)), min(attempts, 2**32 - 1), draw(st.integers(0, 2**64 - 1)),
                       np.array(failures, dtype=np.uint64), np.array(bells, dtype=np.uint8), width)


@settings(max_examples=150, deadline=None)
@given(batch=batches())
def test_codec_and_scapy_agree(batch: HeraldBatch) -> None:
    if int(batch.failures.sum()) + batch.count > batch.attempts:
        with pytest.raises(ValueError):
            batch.encode()
        return
    data = batch.encode()
    assert len(data) == packed_size(batch.count, batch.wire_delta_bits())
    assert HeraldBatch.decode(data) == batch
    layer = QHPHerald(data)
    assert isinstance(layer, QHPBatch)
    assert layer.failures == batch.failures.tolist() and layer.bells == batch.bells.tolist()
    assert bytes(layer) == data


def test_encode_refuses_what_decode_rejects() -> None:
    with pytest.raises(ValueError, match="fit"):
        HeraldBatch(1, 1, 0, 100, 0, np.array([8]), np.array([0]), delta_bits=3).encode()
    with pytest.raises(ValueError, match="cannot hold"):
        HeraldBatch(1, 1, 0, 3, 0, np.array([3]), np.array([0])).encode()
    with pytest.raises(ValueError, match="Bell"):
        HeraldBatch(1, 1, 0, 3, 0, np.array([0]), np.array([4])).encode()
    too_many = max_count(1) + 1
    with pytest.raises(ValueError, match="datagram"):
        HeraldBatch(1, 1, 0, 2 * too_many, 0, np.ones(too_many, dtype=np.uint64),
                    np.zeros(too_many, dtype=np.uint8)).encode()
    largest = max_count(8)
    assert packed_size(largest, 8) <= MAX_PAYLOAD < packed_size(largest + 1, 8)


MALFORMED = [
    (GOLDEN[:31], "short"),
    (GOLDEN[:-1], "short"),
    (GOLDEN + b"\0", "trailing"),
    (GOLDEN[:2] + b"\x21" + GOLDEN[3:], "delta bits"),
    (GOLDEN[:-2] + b"\x42\x81\x74", "padding"),        # a padding bit of the failures set
    (GOLDEN[:-1] + b"\x75", "padding"),                 # a padding bit of the Bell states set
    (GOLDEN[:16] + b"\0\0\0\x09" + GOLDEN[20:], "attempts"),
    (b"\x02" + GOLDEN[1:], "version"),
    (GOLDEN[:6] + b"\x09" + GOLDEN[7:], "scheme"),
]


@pytest.mark.parametrize(("data", "why"), MALFORMED)
def test_codec_rejects_malformed(data: bytes, why: str) -> None:
    with pytest.raises(ParseError):
        HeraldBatch.decode(data)


def _write(path: Path, payloads: list[bytes]) -> Path:
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for i, payload in enumerate(payloads):
            writer.write(1_000 * (i + 1), udp_frame(9, HERALD_PORT, 1, HERALD_PORT, payload, ip_id=i))
    return path


def _valid_batches() -> list[bytes]:
    rng = np.random.default_rng(7)
    out = [GOLDEN, HeraldBatch(1, 2, 0, 0, 0).encode(),
           HeraldBatch(1, 4, 5, 4, 9, np.zeros(4, dtype=np.uint64), np.array([0, 1, 2, 3])).encode(),
           HeraldBatch(2, 1, 3, 2**32 - 1, 1, np.array([2**32 - 2], dtype=np.uint64), np.array([3])).encode()]
    for width_cap, count in ((7, 100), (20, 33), (1, 5_000)):
        failures = rng.integers(0, 1 << width_cap, count).astype(np.uint64)
        out.append(HeraldBatch(3, 1, int(rng.integers(2**62)), int(failures.sum()) + count + 3, 77, failures,
                               rng.integers(0, 4, count).astype(np.uint8)).encode())
    return out




@needs_tshark
def test_tshark_dissects_batches_like_scapy(tmp_path: Path) -> None:
    path = _write(tmp_path / "batch.pcap", _valid_batches())
    kinds = assert_matches_scapy(path, trailer=False)          # every field, the packed arrays item by item
    assert kinds["BATCH"] == len(_valid_batches())
    decoded = decode_with_tshark(path, *NO_TRAILER)
    fields = decoded[0]["layers"][0][1]
    assert fields["qhp.failures"] == ["2", "0", "5"] and fields["qhp.bells"] == ["1", "3", "1"]
    assert fields["qhp.attempt_seq"] == [str(0xFEDC_BA98_7654_3210)]


def mutated(rng: random.Random, pool: list[bytes], count: int) -> list[bytes]:
    """``count`` random mutations of batches from ``pool``: 1-3 bit flips, truncations or appended bytes each."""
    cases = []
    for _ in range(count):
        data = bytearray(rng.choice(pool))
        for _ in range(rng.randint(1, 3)):
            choice = rng.random()
            if choice < 0.6:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif choice < 0.8:
                del data[rng.randrange(2, len(data)):]
            else:
                data += bytes([rng.randrange(256)])
        data[1] = 3
        cases.append(bytes(data))
    return cases


def disagreements(cases: list[bytes], decoded: list[dict]) -> list[str]:
    """The cases where the codec's verdict (HeraldBatch.decode) and tshark's warnings disagree."""
    problems = []
    for data, frame in zip(cases, decoded, strict=True):
        flagged = [e for e in frame["experts"] if e.severity >= SEVERITY_WARN]
        assert not any(e.abbrev.startswith("_ws.lua") for e in frame["experts"]), frame["experts"]
        try:
            HeraldBatch.decode(data)
            accepted = True
        except ParseError:
            accepted = False
        if accepted == bool(flagged):
            problems.append(f"{data.hex()[:200]}: codec accepts={accepted}, tshark experts={flagged}")
    return problems


@needs_tshark
def test_tshark_flags_exactly_what_the_codec_rejects(tmp_path: Path) -> None:
    cases = [data for data, _ in MALFORMED] + _valid_batches()[:4]
    cases += mutated(random.Random(17), _valid_batches()[:5], 150)
    path = _write(tmp_path / "mutated.pcap", cases)
    decoded = decode_with_tshark(path, *NO_TRAILER)
    assert len(decoded) == len(cases) == len(read_frames(path))
    problems = disagreements(cases, decoded)
    assert not problems, "\n".join(problems[:10])


# -- OK-MB: a block of measure-directly pairs from the link layer (docs/wire.md §4.6) -------------------

OK_MB_GOLDEN = bytes.fromhex(
    "5" "0007" "800"          # type 5, Create ID 7, D 1, unused 0
    "fffa" "0003"             # first sequence number 65530, Purpose ID 3
    "00000002"                # remote node 2
    "ea60" "0000"             # goodness 60000, unused
    "00000009"                # count 9
    "b180"                    # outcomes 1 0 1 1 0 0 0 1 | 1 + 7 zero bits
    "1861" "80"               # bases 0 1 2 0 | 1 2 0 1 | 2 + 6 zero bits
    "771b" "40"               # Bell states 1 3 1 3 | 0 1 2 3 | 1 + 6 zero bits
)
OK_MB = ll.OkMeasureBlock(7, 1, 65530, 3, 2, 60000, np.array([1, 0, 1, 1, 0, 0, 0, 1, 1], dtype=np.uint8),
                          np.array([0, 1, 2, 0, 1, 2, 0, 1, 2], dtype=np.uint8),
                          np.array([1, 3, 1, 3, 0, 1, 2, 3, 1], dtype=np.uint8))


def test_ok_mb_golden_bytes_both_ways() -> None:
    assert OK_MB.encode() == OK_MB_GOLDEN
    assert ll.decode_upward(OK_MB_GOLDEN) == OK_MB
    layer = LLUpward(OK_MB_GOLDEN)
    assert isinstance(layer, LLOkMB) and layer.outcomes == [1, 0, 1, 1, 0, 0, 0, 1, 1]
    assert bytes(LLOkMB(create_id=7, d=1, sequence_number=65530, purpose_id=3, remote_node_id=2, goodness=60000,
                        outcomes=OK_MB.outcomes.tolist(), bases=OK_MB.bases.tolist(),
                        bell_states=OK_MB.bell_states.tolist())) == OK_MB_GOLDEN
    assert ll.block_size(9) == len(OK_MB_GOLDEN)


OK_MB_MALFORMED = [
    OK_MB_GOLDEN[:19], OK_MB_GOLDEN[:-1], OK_MB_GOLDEN + b"\0",
    OK_MB_GOLDEN[:21] + b"\x81" + OK_MB_GOLDEN[22:],      # an outcome padding bit
    OK_MB_GOLDEN[:22] + b"\x1b" + OK_MB_GOLDEN[23:],      # basis 3 (the fourth pair)
    OK_MB_GOLDEN[:-1] + b"\x41",                          # a Bell-state padding bit
]


@pytest.mark.parametrize("data", OK_MB_MALFORMED)
def test_ok_mb_codec_rejects_malformed(data: bytes) -> None:
    with pytest.raises(ParseError):
        ll.decode_upward(data)


def test_ok_mb_refuses_to_encode_what_it_cannot_decode() -> None:
    with pytest.raises(ValueError, match="range"):
        ll.OkMeasureBlock(1, 0, 0, 0, 0, 0, np.array([0]), np.array([3]), np.array([0])).encode()
    with pytest.raises(ValueError, match="length"):
        ll.OkMeasureBlock(1, 0, 0, 0, 0, 0, np.array([0, 1]), np.array([0]), np.array([0])).encode()


@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 70), seed=st.integers(0, 2**32 - 1))
def test_ok_mb_codec_and_scapy_agree(count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ok = ll.OkMeasureBlock(int(rng.integers(1 << 16)), int(rng.integers(2)), int(rng.integers(1 << 16)),
                           int(rng.integers(1 << 16)), int(rng.integers(1 << 32)), int(rng.integers(1 << 16)),
                           rng.integers(0, 2, count).astype(np.uint8), rng.integers(0, 3, count).astype(np.uint8),
                           rng.integers(0, 4, count).astype(np.uint8))
    data = ok.encode()
    assert ll.decode_upward(data) == ok
    layer = LLUpward(data)
    assert layer.bases == ok.bases.tolist() and layer.bell_states == ok.bell_states.tolist()
    assert bytes(layer) == data


def _write_link(path: Path, payloads: list[bytes]) -> Path:
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for i, payload in enumerate(payloads):
            writer.write(1_000 * (i + 1), udp_frame(1, LINK_SERVICE_PORT, 1, 49153, payload, ip_id=i))
    return path


@needs_tshark
def test_tshark_dissects_ok_mb_like_scapy_and_flags_malformed(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    big = ll.OkMeasureBlock(1, 0, 5, 1, 2, 3, rng.integers(0, 2, 3000).astype(np.uint8),
                            rng.integers(0, 3, 3000).astype(np.uint8), rng.integers(0, 4, 3000).astype(np.uint8))
    empty = ll.OkMeasureBlock(1, 0, 5, 1, 2, 3, *(np.zeros(0, dtype=np.uint8),) * 3)
    path = _write_link(tmp_path / "okmb.pcap", [OK_MB_GOLDEN, big.encode(), empty.encode()])
    assert assert_matches_scapy(path, trailer=False)["OK_MB"] == 3
    fields = decode_with_tshark(path, *NO_TRAILER)[0]["layers"][0][1]
    assert fields["qll.bases"] == ["0", "1", "2"] * 3 and fields["qll.count"] == ["9"]
    bad = _write_link(tmp_path / "bad.pcap", OK_MB_MALFORMED)
    for frame in decode_with_tshark(bad, *NO_TRAILER):
        assert [e for e in frame["experts"] if e.severity >= SEVERITY_WARN], frame
        assert not any(e.abbrev.startswith("_ws.lua") for e in frame["experts"]), frame["experts"]


@pytest.mark.parametrize("width", [1, 10, 32])
def test_the_largest_batch_fits_a_capture_whole(width: int, tmp_path: Path) -> None:
    """A BATCH of max_count(width) successes is one datagram whose frame, with its authentication trailer,
    fits the capture's 65,535-byte snapshot length: a reader gets it whole."""
    count = max_count(width)
    failures = np.zeros(count, dtype=np.uint64)
    failures[0] = 1 << (width - 1)                   # the width the block needs
    data = HeraldBatch(1, 1, 0, 2**32 - 1, 0, failures, np.ones(count, dtype=np.uint8)).encode()
    sealed = data + bytes(auth.SIZE)                  # with its authentication trailer
    assert len(data) <= MAX_PAYLOAD and len(udp_frame(9, HERALD_PORT, 1, HERALD_PORT, sealed)) <= 65_535
    (frame,) = read_frames(_write(tmp_path / "max.pcap", [data]))
    assert HeraldBatch.decode(frame[42:]).count == count
    assert packed_size(count + 1, width) > MAX_PAYLOAD


def test_ok_mb_from_packed_arrays_is_the_same_message() -> None:
    """The link layer builds an OK-MB from packed arrays (no per-pair unpacking); it is the golden message, its
    arrays unpack to the same values, and the same checks as decoding refuse bad arrays."""
    body = OK_MB_GOLDEN[20:]
    planes = (body[:2], body[2:5], body[5:])
    packed = ll.OkMeasureBlock.from_planes(7, 1, 65530, 3, 2, 60000, 9, *planes)
    assert packed.encode() == OK_MB_GOLDEN and packed == OK_MB and packed.count == 9
    assert packed.bases.tolist() == OK_MB.bases.tolist() and packed.planes() == planes
    for bad in ((b"\xb1\x81", *planes[1:]), (planes[0], b"\x1b\x61\x80", planes[2]), (planes[0][:1], *planes[1:])):
        with pytest.raises(ParseError):
            ll.OkMeasureBlock.from_planes(7, 1, 65530, 3, 2, 60000, 9, *bad)


def _bits_oracle(values: np.ndarray, width: int) -> bytes:
    """Fields packed bit by bit (most significant first, zero-padded): the independent form of pack_bits."""
    bits = [(int(v) >> (width - 1 - k)) & 1 for v in values for k in range(width)]
    return np.packbits(np.array(bits, dtype=np.uint8)).tobytes()


@settings(max_examples=200, deadline=None)
@given(width=st.sampled_from([1, 2]), runs=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3),
                                                             st.booleans()), min_size=1, max_size=5),
       seed=st.integers(0, 2**32 - 1))
def test_planes_joined_or_constant_are_the_fields_packed(width: int, runs: list[tuple[int, int, bool]],
                                                         seed: int) -> None:
    """A block's parts' planes joined (an end's Assembly) and a plane of one repeated value (a fixed basis)
    are the fields packed bit by bit."""
    rng = np.random.default_rng(seed)
    fields = [np.full(count, value % (1 << width), dtype=np.uint8) if same
              else rng.integers(0, 1 << width, count).astype(np.uint8) for count, value, same in runs]
    planes = [pack_bits(values, width) for values in fields]
    assert planes == [pack_uniform(values, width) for values in fields] == [_bits_oracle(values, width)
                                                                            for values in fields]
    assert join_planes(planes, [len(values) for values in fields], width) == _bits_oracle(np.concatenate(fields),
                                                                                          width)
    count, value, _ = runs[0]
    value %= 1 << width
    assert constant_plane(value, count, width) == _bits_oracle(np.full(count, value), width)


@settings(max_examples=150, deadline=None)
@given(width=st.integers(1, 32), count=st.integers(0, 70), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.uint8, np.uint16, np.uint32, np.uint64]))
def test_fields_of_every_width_are_packed_bit_by_bit(width: int, count: int, seed: int, dtype: type) -> None:
    """pack_bits (32-bit words up to 16 bits a field, 64-bit above) against the bit-by-bit oracle, and back."""
    top = min(width, np.iinfo(dtype).bits)
    values = np.random.default_rng(seed).integers(0, 1 << top, count, dtype=np.uint64).astype(dtype)
    data = pack_bits(values, width)
    assert data == _bits_oracle(values, width)
    assert unpack_bits(data, count, width).tolist() == values.tolist()


def test_bitpack_docstring_examples() -> None:
    result = doctest.testmod(bitpack)
    assert result.attempted > 0 and result.failed == 0


def test_both_ends_share_one_decoding_of_the_same_batch() -> None:
    """decode_qhp decodes a BATCH's bytes once for every receiver (a station sends both ends the same bytes):
    the same read-only batch, equal to a fresh decoding; other bytes are decoded afresh."""
    data = HeraldBatch(1, 1, 7, 10, 50, np.array([2, 0, 5]), np.array([1, 3, 1])).encode()
    first, second = decode_qhp(data), decode_qhp(bytes(bytearray(data)))     # another object, the same bytes
    assert first is second and first == HeraldBatch.decode(data)
    assert isinstance(first, HeraldBatch)
    assert not first.failures.flags.writeable and not first.bells.flags.writeable
    other = HeraldBatch(1, 1, 7, 10, 51, np.array([2, 0, 5]), np.array([1, 3, 1])).encode()
    assert decode_qhp(other) is not first and decode_qhp(other) == HeraldBatch.decode(other)
