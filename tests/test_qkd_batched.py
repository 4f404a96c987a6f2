"""BBM92 on a link that serves measure-directly pairs in blocks (``batch``): the application gets OK-MBs, sifts
them window by window, and its statistics still match the closed forms (QBER = 2(1 − F)/3 in each basis, key
fraction 1 − 2h(e)); the per-pair socket API gets the same blocks as pairs."""

from __future__ import annotations

import io
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from protocols.apps.qkd import WINDOW, decode_window_arrays, encode_window, werner_qber
from protocols.common import Basis, ParseError
from stack.api import AppContext, run_apps
from stack.api.apps import bbm92
from stack.scenario import load_text
from tests.test_apps import WERNER, F
from tests.tshark_util import message_kind, read_frames, scapy_layers

BATCHED = WERNER.replace("depolarizing = 0.12", "depolarizing = 0.12\nbatch = 8192")
PAIRS = 70_000
"""Two requests: 65,535 pairs, then 4,465 (asking for the link's 8,192 so that they too come in blocks)."""


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Counter[str]]:
    results: dict[str, Any] = {}

    def end(role: str, remote: str):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            results[role] = await bbm92(ctx, remote, PAIRS, role, sample_fraction=0.3, seed=3)
        return run

    buffer = io.BytesIO()
    run_apps(load_text(BATCHED, "<qkd>"), {"alice": end("create", "bob"), "bob": end("recv", "alice")}, seed=4,
             pcap=buffer)
    path: Path = tmp_path_factory.mktemp("qkd") / "run.pcap"
    path.write_bytes(buffer.getvalue())
    kinds = Counter(message_kind(layer) for frame in read_frames(path) for _, layer in scapy_layers(frame))
    return results, kinds


def test_batched_bbm92_gets_its_pairs_in_blocks(batched: tuple[dict[str, Any], Counter[str]]) -> None:
    results, kinds = batched
    assert results["create"].pairs == results["recv"].pairs == PAIRS
    blocks = math.ceil(65_535 / 8192) + 1
    assert kinds["OK_MB"] == 2 * blocks and kinds["OK_M"] == 0


def test_batched_bbm92_qber_and_key_match_the_closed_forms(batched: tuple[dict[str, Any], Counter[str]]) -> None:
    results, _ = batched
    alice, bob = results["create"], results["recv"]
    assert (alice.sifted, alice.sample, alice.sample_errors, alice.errors_by_basis) == \
        (bob.sifted, bob.sample, bob.sample_errors, bob.errors_by_basis)
    assert abs(alice.sifted / alice.pairs - 0.5) < 4 * math.sqrt(0.25 / alice.pairs)
    assert abs(alice.sample / alice.sifted - 0.3) < 4 * math.sqrt(0.21 / alice.sifted)
    expected = werner_qber(F)
    for errors, n in alice.errors_by_basis.values():
        assert abs(errors / n - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    assert len(alice.key) == len(bob.key) == alice.sifted - alice.sample
    mismatch = np.mean(np.array(alice.key) != np.array(bob.key))
    assert abs(mismatch - expected) < 4 * math.sqrt(expected * (1 - expected) / len(alice.key))
    e = alice.sample_errors / alice.sample
    assert alice.qber == e and 0 < e < 0.11
    h = -e * math.log2(e) - (1 - e) * math.log2(1 - e)     # binary entropy in bits, written out (not key_fraction)
    assert alice.secret_bits == pytest.approx(len(alice.key) * (1 - 2 * h), rel=1e-12)
    assert alice.secret_bits > 0


def test_the_per_pair_socket_api_takes_blocks_too() -> None:
    """create_measure / recv_measure of a request the link serves in blocks return its pairs one by one, with
    the creating end's outcomes corrected to |Φ+⟩: in a shared basis they disagree at the QBER only."""
    got: dict[str, Any] = {}

    async def alice(ctx: AppContext) -> None:
        got["alice"] = await ctx.epr_socket("bob").create_measure(9000, random_basis="XZ")

    async def bob(ctx: AppContext) -> None:
        got["bob"] = await ctx.epr_socket("alice").recv_measure(9000)

    run_apps(load_text(BATCHED, "<qkd>"), {"alice": alice, "bob": bob}, seed=5)
    a, b = got["alice"], got["bob"]
    assert len(a) == len(b) == 9000 and [p.sequence_number for p in a] == [p.sequence_number for p in b]
    assert {p.basis for p in a} == {Basis.Z, Basis.X}
    shared = [(p.outcome, q.outcome) for p, q in zip(a, b, strict=True) if p.basis == q.basis]
    errors = sum(x != y for x, y in shared) / len(shared)
    expected = werner_qber(F)
    assert abs(errors - expected) < 4 * math.sqrt(expected * (1 - expected) / len(shared))


def test_sifting_windows_round_trip_and_refuse_bad_sizes() -> None:
    rng = np.random.default_rng(1)
    present, bases = rng.random(WINDOW) < 0.9, rng.integers(0, 2, WINDOW).astype(np.uint8)
    first, count, got_present, got_bases = decode_window_arrays(encode_window(65000, present, bases))
    assert (first, count) == (65000, WINDOW) and np.array_equal(got_present, present)
    assert np.array_equal(got_bases, bases & present)
    data = encode_window(3, present[:11], bases[:11])
    for bad in (data[:-1], data + b"\0", data[:3]):
        with pytest.raises(ParseError):
            decode_window_arrays(bad)
    with pytest.raises(ValueError, match="at most"):
        encode_window(0, np.ones(WINDOW + 1, bool), np.zeros(WINDOW + 1, np.uint8))


def test_batched_bbm92_agrees_at_both_ends_under_classical_loss() -> None:
    """Lost CONFIRMs retract whole blocks (ERR EXPIRE at both ends, maybe after one end has its OK-MB): the
    sifting windows carry which pairs each end holds, so both keep the same pairs and the key's errors stay
    at the QBER."""
    results: dict[str, Any] = {}

    def end(role: str, remote: str):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            results[role] = await bbm92(ctx, remote, 30_000, role)
        return run

    lossy = BATCHED.replace("batch = 8192", "batch = 8192\nclassical_loss = 0.2")
    run_apps(load_text(lossy, "<qkd>"), {"alice": end("create", "bob"), "bob": end("recv", "alice")}, seed=2)
    alice, bob = results["create"], results["recv"]
    assert 0 < alice.pairs == bob.pairs <= 30_000
    assert (alice.sifted, alice.sample_errors, len(alice.key)) == (bob.sifted, bob.sample_errors, len(bob.key))
    mismatch = np.mean(np.array(alice.key) != np.array(bob.key))
    expected = werner_qber(F)
    assert abs(mismatch - expected) < 4 * math.sqrt(expected * (1 - expected) / len(alice.key))
