"""A block larger than one datagram, heralded in consecutive BATCHes (protocols/physical/parts.py): the
station's split, an end's assembly in any order, losses, and whole runs (one block per request, every pair
at both ends; lost, duplicated and reordered parts keep the link layer's promises)."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import numpy as np
import pytest

from protocols.common import HERALD_PORT
from protocols.packets.bitpack import pack_bits
from protocols.packets.heralding_batch import MAX_PAYLOAD, RICE, HeraldBatch
from protocols.physical import parts, station
from protocols.physical.hardware import DetectionBlock, EmittedBlock
from protocols.physical.node import AttemptLost, BlockReady, NodePhysical
from protocols.physical.station import Station
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_text
from tests.consistency import broken_promises, with_faults
from tests.test_batch_run import SCENARIO
from tests.test_batch_wire import _write
from tests.tshark_util import NO_TRAILER, SEVERITY_WARN, decode_with_tshark, have_tshark

STATION = ("198.18.0.3", HERALD_PORT)
ENDS = (("198.18.0.1", HERALD_PORT), ("198.18.0.2", HERALD_PORT))


def test_the_station_splits_a_block_into_consecutive_batches_that_fit_a_datagram() -> None:
    rng = np.random.default_rng(1)
    count = 40_000
    failures = rng.integers(0, 1000, count).astype(np.uint64)
    failures[123] = 2**31                                    # 32-bit fields: ~15,400 a datagram
    bells = rng.integers(0, 4, count).astype(np.uint8)
    attempts = int(failures.sum()) + count + 17             # the block runs on after its last success
    actions = Station({1: ENDS}, 10).handle(DetectionBlock(1, 1_000, attempts, failures, bells), 5_000)
    sent = [payload for end, payload in actions.send if end == ENDS[0]]
    assert [payload for end, payload in actions.send if end == ENDS[1]] == sent
    batches = [HeraldBatch.decode(data) for data in sent]
    assert len(batches) == 2 and all(len(data) <= MAX_PAYLOAD for data in sent)     # Rice-coded at 16 low bits:
    assert all((b.coding, b.delta_bits) == (RICE, 16) for b in batches)               # ~19 bits a success
    assert batches[0].count == 20_000                                                  # two equal parts
    assert batches[0].attempt_seq == 1_000 and sum(b.attempts for b in batches) == attempts
    for before, after in itertools.pairwise(batches):          # each part starts where the last ended
        assert after.attempt_seq == before.attempt_seq + before.attempts == int(before.successes()[-1]) + 1
    assert np.array_equal(np.concatenate([b.failures for b in batches]), failures)
    assert np.array_equal(np.concatenate([b.bells for b in batches]), bells)
    small = Station({1: ENDS}, 10).handle(DetectionBlock(1, 0, 9, np.array([2, 0, 4], dtype=np.uint64),
                                                         np.array([1, 3, 1], dtype=np.uint8)), 600)
    assert len(small.send) == 2                               # a block that fits: one BATCH each, as before


@pytest.mark.skipif(not have_tshark(), reason="tshark is not on PATH")
def test_tshark_dissects_a_block_s_parts_as_consecutive_batches(tmp_path: Path) -> None:
    """The parts are ordinary BATCHes: the dissector shows each (no warning), and their first attempts and
    attempts chain (wireshark/qnetstack.lua against the station's split). 19 bits a success (Rice-coded at 16
    low bits for the outlier): three datagrams."""
    count = 60_000
    failures = np.full(count, 7, dtype=np.uint64)
    failures[5] = 2**31
    bells = np.tile(np.array([1, 3], dtype=np.uint8), count // 2)
    actions = Station({1: ENDS}, 10).handle(DetectionBlock(1, 77, int(failures.sum()) + count, failures, bells), 9)
    path = _write(tmp_path / "parts.pcap", [payload for end, payload in actions.send if end == ENDS[0]])
    frames = decode_with_tshark(path, *NO_TRAILER)
    fields = [frame["layers"][0][1] for frame in frames]
    assert len(fields) == 3 and not [e for frame in frames for e in frame["experts"] if e.severity >= SEVERITY_WARN]
    seqs = [int(f["qhp.attempt_seq"][0]) for f in fields]
    spans = [int(f["qhp.attempts"][0]) for f in fields]
    assert seqs[0] == 77 and all(seqs[i + 1] == seqs[i] + spans[i] for i in range(2))
    assert sum(int(f["qhp.count"][0]) for f in fields) == count


BELLS = [1, 3, 1, 3, 3, 1]
FAILURES = [2, 0, 4, 1, 0, 3]


def _block(seq: int = 40) -> EmittedBlock:
    return EmittedBlock(1, seq, 20, 6, 500, (0.9, 0.05, 0.05, 0.0), np.packbits([1, 0, 1, 1, 0, 0]),
                        np.zeros(6, dtype=np.uint8))


def _parts(seq: int = 40, sizes: tuple[int, ...] = (2, 3, 1), t: int = 600) -> list[bytes]:
    """The BATCHes of a block of 6 pairs in 20 attempts from ``seq``, in parts of ``sizes`` pairs."""
    failures = np.array(FAILURES, dtype=np.uint64)
    out, start = [], 0
    for size in sizes:
        part = slice(start, start + size)
        first, attempts = parts.part_attempts(failures, part, seq, 20)
        out.append(HeraldBatch(1, 1, first, attempts, t, failures[part], np.array(BELLS[part])).encode())
        start += size
    return out


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (0, 0, 2, 1, 1)])
@pytest.mark.parametrize("before", [0, 1, 3])
def test_an_end_assembles_a_block_s_parts_in_any_order(order: tuple[int, ...], before: int) -> None:
    """The block goes up once, whole, with its Bell states in order, whether its parts come before or after
    its own event, in or out of order, some twice."""
    engine = NodePhysical(herald_timeout_ns=1_000)
    batches = _parts()
    ups = []
    for step, index in enumerate(order):
        if step == before:
            ups += engine.handle(_block(), 560).up
        ups += engine.receive(batches[index], STATION, HERALD_PORT, 550 + step).up
    if before >= len(order):
        ups += engine.handle(_block(), 560).up
    (ready,) = ups
    assert isinstance(ready, BlockReady) and ready.count == 6 and ready.bells.tolist() == BELLS
    assert ready.bell_plane == pack_bits(np.array(BELLS), 2)             # the parts' planes joined, as one BATCH's
    assert not engine.pending and not engine.parts and not engine.next_part
    assert engine.on_timer(10_000).up == []


def test_a_block_with_a_missing_or_wrong_part_is_lost() -> None:
    engine = NodePhysical(herald_timeout_ns=1_000)
    engine.handle(_block(), 500)
    first, _, last = _parts()
    engine.receive(first, STATION, HERALD_PORT, 600)
    engine.receive(last, STATION, HERALD_PORT, 600)          # the middle part never comes
    assert engine.on_timer(1_499).up == []
    assert engine.on_timer(1_500).up == [AttemptLost(1, 40, 6)]
    assert not engine.pending and not engine.parts and not engine.next_part
    engine.handle(_block(seq=90), 1_600)                       # parts naming more pairs than the block has
    wrong = _parts(seq=90, sizes=(2, 3, 1))
    too_many = HeraldBatch.decode(wrong[1])
    too_many = HeraldBatch(1, 1, too_many.attempt_seq, too_many.attempts, 1_700,
                           np.array([0, 0, 0, 0, 0], dtype=np.uint64), np.ones(5, dtype=np.uint8))
    engine.receive(wrong[0], STATION, HERALD_PORT, 1_700)
    (lost,) = engine.receive(too_many.encode(), STATION, HERALD_PORT, 1_700).up
    assert lost == AttemptLost(1, 90, 6) and engine.unexpected >= 1 and not engine.parts


def test_one_request_is_one_block_however_many_datagrams_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    """65,535 pairs in two BATCHes (the station's split narrowed to 40,000 a part: Rice-coded, this link's pairs
    would fit one datagram) make one block."""
    splits: list[int] = []

    def recorded(failures: np.ndarray, **kwargs: int) -> list[slice]:
        made = parts.split(failures, limit=40_000, **kwargs)
        splits.append(len(made))
        return made

    monkeypatch.setattr(station, "split", recorded)
    text = SCENARIO.format(pairs=65_535, basis="Z", batch="batch = 65535", seed=4)
    result = run_scenario(load_text(text, "<one block>"))
    assert splits == [2] and broken_promises(result) == []
    report = build_report(result)
    assert report["workload"][0]["pairs_matched"] == 65_535 and report["links"][0]["successes"] == 65_535
    assert result.emulation.heralding.links[1].successes == 65_535


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(("loss", "duplication", "jitter_ns"), [(0.2, 0.2, 20_000), (0.1, 0.0, 0)])
def test_parts_keep_the_link_layer_s_promises_on_a_faulty_channel(loss: float, duplication: float, jitter_ns: int,
                                                                  seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 500 pairs in parts of at most 120 (the station's split narrowed): lost, duplicated and
    reordered parts lose whole blocks at one end, never a pair at one end only (tests/consistency.py)."""
    monkeypatch.setattr(station, "split", functools.partial(parts.split, limit=120))
    text = with_faults(SCENARIO.format(pairs=3_000, basis="XZ", batch="batch = 500", seed=seed), loss, duplication,
                       jitter_ns)
    result = run_scenario(load_text(text, "<faulty parts>"))
    assert broken_promises(result) == []
    report = build_report(result)
    assert report["workload"][0]["pairs_disagreeing"] == 0
    assert sum(node["lost"] for node in report["nodes"].values()) > 0
