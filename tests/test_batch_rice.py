"""QHP BATCH coding 1, Rice-coded failure counts (docs/wire.md §3.3; what the station sends): golden bytes
both ways, the codec against the scapy layer and an oracle written bit by bit, the checks a decoder makes
without unpacking the counts, and tshark's dissection against both."""

from __future__ import annotations

import doctest
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common import ParseError
from protocols.packets import rice
from protocols.packets.heralding_batch import MAX_PAYLOAD, RICE, HeraldBatch
from protocols.packets.scapy_layers.heralding import QHPBatch, QHPHerald
from protocols.physical.hardware import DetectionBlock
from protocols.physical.parts import part_attempts, split
from protocols.physical.station import Station
from tests.test_batch_wire import _write, disagreements, mutated
from tests.tshark_util import NO_TRAILER, assert_matches_scapy, decode_with_tshark, have_tshark

needs_tshark = pytest.mark.skipif(not have_tshark(), reason="tshark is not on PATH")

GOLDEN = bytes.fromhex(
    "01"                  # version
    "03"                  # type BATCH
    "01"                  # low bits 1
    "01"                  # coding 1, Rice
    "0201"                # link 513
    "01"                  # double click
    "00"                  # reserved
    "fedcba9876543210"    # first attempt
    "0000000a"            # attempts
    "00000003"            # count
    "0000000000000032"    # detection time 50
    "74"                  # Bell states 1, 3, 1: 01 11 01 + 2 zero bits
    "20"                  # low bits of 2, 0, 5: 0 0 1 + 5 zero bits
    "64"                  # quotients 1, 0, 2 in unary: 01 1 001 + 2 zero bits
)
GOLDEN_BATCH = HeraldBatch(513, 1, 0xFEDC_BA98_7654_3210, 10, 50, np.array([2, 0, 5]), np.array([1, 3, 1]), 1, RICE)


def _oracle(failures: list[int], low_bits: int) -> bytes:
    """The low plane and the unary plane written bit by bit (the independent form of rice.encode)."""
    low = "".join(format(f & ((1 << low_bits) - 1), f"0{low_bits}b") if low_bits else "" for f in failures)
    unary = "".join("0" * (f >> low_bits) + "1" for f in failures)
    planes = b""
    for bits in (low, unary):
        bits += "0" * (-len(bits) % 8)
        planes += int(bits or "0", 2).to_bytes(len(bits) // 8, "big")
    return planes


def test_golden_bytes_both_ways() -> None:
    assert GOLDEN_BATCH.encode() == GOLDEN
    decoded = HeraldBatch.decode(GOLDEN)
    assert decoded == GOLDEN_BATCH and (decoded.delta_bits, decoded.coding) == (1, RICE)
    assert decoded.successes().tolist() == [0xFEDC_BA98_7654_3210 + k for k in (2, 3, 9)]
    assert bytes(QHPBatch(delta_bits=1, coding=1, link_id=513, attempt_seq=0xFEDC_BA98_7654_3210, attempts=10,
                          detection_time=50, failures=[2, 0, 5], bells=[1, 3, 1])) == GOLDEN
    layer = QHPHerald(GOLDEN)
    assert isinstance(layer, QHPBatch) and layer.failures == [2, 0, 5] and layer.bells == [1, 3, 1]
    assert GOLDEN[32:] == bytes([0x74]) + _oracle([2, 0, 5], 1)


@st.composite
def batches(draw: st.DrawFn) -> HeraldBatch:
    count = draw(st.integers(0, 40))
    low_bits = draw(st.integers(0, 32))
    top = draw(st.integers(0, min(32, low_bits + 8)))           # quotients below 2^8
    failures = draw(st.lists(st.integers(0, (1 << top) - 1), min_size=count, max_size=count))
    bells = draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
    attempts = min(sum(failures) + count + draw(st.integers(0, 5)), 2**32 - 1)
    return HeraldBatch(draw(st.integers(0, 0xFFFF)), draw(st.sampled_from([1, 2, 3, 4])),
                       draw(st.integers(0, 2**64 - 1)), attempts, draw(st.integers(0, 2**64 - 1)),
                       np.array(failures, dtype=np.uint64), np.array(bells, dtype=np.uint8), low_bits, RICE)


@settings(max_examples=150, deadline=None)
@given(batch=batches())
def test_codec_scapy_and_oracle_agree(batch: HeraldBatch) -> None:
    if int(batch.failures.sum()) + batch.count > batch.attempts:
        with pytest.raises(ValueError):
            batch.encode()
        return
    data = batch.encode()
    assert data[32 + -(-batch.count * 2 // 8):] == _oracle(batch.failures.tolist(), batch.wire_delta_bits())
    decoded = HeraldBatch.decode(data)
    assert decoded == batch and decoded.failures.tolist() == batch.failures.tolist()
    layer = QHPHerald(data)
    assert isinstance(layer, QHPBatch)
    assert layer.failures == batch.failures.tolist() and layer.bells == batch.bells.tolist()
    assert bytes(layer) == data


def test_the_encoder_picks_low_bits_that_keep_quotients_short() -> None:
    rng = np.random.default_rng(2)
    geometric = rng.geometric(1 / 43, 10_000).astype(np.uint64) - np.uint64(1)
    assert rice.low_bits_for(geometric) == 4                     # mean 42: 4 low bits, ~2.7 unary bits
    outlier = geometric.copy()
    outlier[9] = 2**31
    assert rice.low_bits_for(outlier) == 16                      # no quotient reaches 2^16
    assert rice.low_bits_for(np.zeros(5, dtype=np.uint64)) == 0
    assert rice.low_bits_for(np.zeros(0, dtype=np.uint64)) == 0
    data = HeraldBatch(1, 1, 0, 2**32 - 1, 0, outlier, np.zeros(10_000, dtype=np.uint8), coding=RICE).encode()
    assert data[2] == 16 and HeraldBatch.decode(data).failures.tolist() == outlier.tolist()


MALFORMED = [
    (GOLDEN[:-1], "no unary plane"),
    (GOLDEN + b"\0", "a zero byte after the last code"),
    (GOLDEN + b"\x80", "a fourth code"),
    (GOLDEN[:-1] + b"\x60", "two codes"),
    (GOLDEN[:-1] + b"\x65", "a fourth code in the padding"),
    (GOLDEN[:-2] + b"\x21\x64", "a low-plane padding bit"),
    (GOLDEN[:-3] + b"\x75\x20\x64", "a Bell-plane padding bit"),
    (GOLDEN[:16] + b"\0\0\0\x09" + GOLDEN[20:], "more failures than attempts allow"),
    (GOLDEN[:3] + b"\x02" + GOLDEN[4:], "coding 2"),
    (GOLDEN[:2] + b"\x21" + GOLDEN[3:], "low bits 33"),
    (GOLDEN[:20] + b"\0\0\0\0" + GOLDEN[24:33], "count 0 with planes"),
]


@pytest.mark.parametrize(("data", "why"), MALFORMED)
def test_codec_rejects_malformed(data: bytes, why: str) -> None:
    with pytest.raises(ParseError):
        HeraldBatch.decode(data)


def test_the_station_s_parts_fit_datagrams() -> None:
    """The station's parts: Rice-coded at the block's low bits, as few as the block's bits need, equal but the
    last, the counts and attempts chained as in docs/wire.md §3.3."""
    rng = np.random.default_rng(5)
    count = 200_000
    failures = rng.geometric(1 / 43, count).astype(np.uint64) - np.uint64(1)
    bells = rng.integers(0, 4, count).astype(np.uint8)
    attempts = int(failures.sum()) + count + 9
    sent = [data for end, data in Station({1: ("a", "b")}, 10).handle(
        DetectionBlock(1, 0, attempts, failures, bells), 1).send if end == "a"]
    decoded = [HeraldBatch.decode(data) for data in sent]
    bits = count * (2 + 4 + 1) + (int(failures.sum()) >> 4)          # bells, low bits, unary (bounded)
    assert len(sent) == -(-bits // ((MAX_PAYLOAD - 35) * 8)) == 4 and all(len(data) <= MAX_PAYLOAD for data in sent)
    assert {b.count for b in decoded[:-1]} == {50_000} and all(b.delta_bits == 4 for b in decoded)
    assert np.array_equal(np.concatenate([b.failures for b in decoded]), failures)
    assert sum(b.attempts for b in decoded) == attempts
    parts = split(failures, low_bits=4)
    assert [part_attempts(failures, part, 0, attempts)[0] for part in parts] == [b.attempt_seq for b in decoded]
    assert split(failures, limit=1000, low_bits=4)[0] == slice(0, 1000)
    lumpy = np.zeros(100_000, dtype=np.uint64)
    lumpy[:1000] = 2**16 - 1                                       # the first part's quotients far above the mean
    halved = split(lumpy, low_bits=0)
    assert halved[0].stop - halved[0].start < halved[-2].stop - halved[-2].start      # halved where they run long
    assert [part.start for part in halved[1:]] == [part.stop for part in halved[:-1]] and halved[-1].stop == 100_000
    assert all(len(HeraldBatch(1, 1, 0, 2**32 - 1, 0, lumpy[part], np.zeros(part.stop - part.start, dtype=np.uint8),
                               0, RICE).encode()) <= MAX_PAYLOAD for part in halved)


def test_rice_docstring_examples() -> None:
    result = doctest.testmod(rice)
    assert result.attempted > 0 and result.failed == 0


def _valid() -> list[bytes]:
    rng = np.random.default_rng(11)
    out = [GOLDEN, HeraldBatch(1, 2, 0, 0, 0, coding=RICE).encode(),
           HeraldBatch(2, 1, 3, 2**32 - 1, 1, np.array([2**32 - 2], dtype=np.uint64), np.array([3]),
                       coding=RICE).encode()]
    for scale, count in ((40, 100), (3, 33), (2**20, 500)):
        failures = (rng.geometric(1 / scale, count) - 1).astype(np.uint64)
        out.append(HeraldBatch(3, 1, int(rng.integers(2**62)), int(failures.sum()) + count + 3, 77, failures,
                               rng.integers(0, 4, count).astype(np.uint8), coding=RICE).encode())
    return out


@needs_tshark
def test_tshark_dissects_rice_batches_like_scapy(tmp_path: Path) -> None:
    path = _write(tmp_path / "rice.pcap", _valid())
    assert assert_matches_scapy(path, trailer=False)["BATCH"] == len(_valid())
    fields = decode_with_tshark(path, *NO_TRAILER)[0]["layers"][0][1]
    assert fields["qhp.failures"] == ["2", "0", "5"] and fields["qhp.bells"] == ["1", "3", "1"]
    assert fields["qhp.coding"] == ["1"]


@needs_tshark
def test_tshark_flags_exactly_what_the_codec_rejects(tmp_path: Path) -> None:
    cases = [data for data, _ in MALFORMED] + _valid()
    cases += mutated(random.Random(23), _valid(), 150)
    path = _write(tmp_path / "mutated.pcap", cases)
    decoded = decode_with_tshark(path, *NO_TRAILER)
    assert len(decoded) == len(cases)
    problems = disagreements(cases, decoded)
    assert not problems, "\n".join(problems[:10])
