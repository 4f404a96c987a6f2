"""Applications pair the two ends' halves by serial, never by the 16-bit Sequence Number alone.

A request that shares its link with a higher-priority one can be delivered the same Sequence Number twice
(65,536 link pairs later). The runs here make that happen without running 65,536 pairs: each end's collection
is the real one, its pairs renumbered the same way at both ends (by their rank in the request) as if another
request had taken 32,767 link pairs between each two of them, so the request's numbers come round every two
pairs, as the link layer would number them (serial = turn · 2^16 + Sequence Number). Two runs forge nothing:
two requests of 65,535 pairs at priority 7 take the link in the middle of a CHSH block or a teleport stream
(``SHARED``), and the link layer itself numbers two of its pairs alike.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from protocols.apps.chsh import MAX_BLOCK, decode_block, encode_block
from protocols.apps.serials import SPAN
from protocols.common import Basis, ParseError
from protocols.packets import linkservice as ll
from stack.api import AppContext, run_apps
from stack.api.apps import chsh, teleport_states
from stack.api.epr import EPRSocket, MeasuredPairs
from stack.scenario import load_text
from tests.test_transport import SCENARIO

STRIDE = 32768
"""Link pairs from one of the request's pairs to its next: every Sequence Number comes twice in four pairs."""


def _renumbered(pairs: MeasuredPairs) -> MeasuredPairs:
    """``pairs`` as if its k-th pair (by serial, the same at both ends) had link number k · STRIDE + 5."""
    def forged(serials: np.ndarray) -> np.ndarray:
        return np.searchsorted(pairs.settled, serials).astype(np.int64) * STRIDE + 5

    serials = forged(pairs.serials)
    return MeasuredPairs(serials % SPAN, pairs.bases, pairs.outcomes, pairs.bell_states, forged(pairs.settled),
                         pairs.remote, pairs.create_id, pairs.corrected, serials)


@pytest.fixture
def wrapping_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    collect = EPRSocket._collect_measured

    async def renumbering(self: EPRSocket, *args: Any) -> MeasuredPairs:
        return _renumbered(await collect(self, *args))

    monkeypatch.setattr(EPRSocket, "_collect_measured", renumbering)


@pytest.fixture
def wrapping_kept_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every OK of a kept pair reaches the application renumbered: the pair the link numbered n (a stream's
    request numbers its pairs 0, 1, 2, ... on a link of its own) gets n · STRIDE + 5, the same at both ends."""
    decode = ll.decode_upward

    def renumbering(data: bytes) -> ll.Upward:
        message = decode(data)
        if isinstance(message, ll.OkKeep):
            return replace(message, sequence_number=(message.sequence_number * STRIDE + 5) % SPAN)
        return message

    monkeypatch.setattr(ll, "decode_upward", renumbering)


def _both(app: Any, skipped: dict[str, int] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run ``app`` at both ends; ``skipped`` gets each end's Teleporter's ``renamed``, if it has one."""
    results: dict[str, Any] = {}

    def end(role: str, remote: str):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            results[role] = await app(ctx, remote, role=role, **kwargs)
            if skipped is not None and ctx.teleporter is not None:
                skipped[role] = ctx.teleporter.renamed
        return run

    run_apps(load_text(SCENARIO, "<pairing>"), {"alice": end("create", "bob"), "bob": end("recv", "alice")},
             seed=3)
    return results


def test_the_forged_numbers_do_repeat_within_a_block(wrapping_numbers: None) -> None:
    """The renumbering is what the fix must survive: a block's Sequence Numbers repeat, its serials do not."""
    got: list[MeasuredPairs] = []

    async def alice(ctx: AppContext) -> None:
        got.append(await ctx.epr_socket("bob").create_measure_arrays(8, random_basis="XZ"))

    async def bob(ctx: AppContext) -> None:
        got.append(await ctx.epr_socket("alice").recv_measure_arrays(8))

    run_apps(load_text(SCENARIO, "<pairing>"), {"alice": alice, "bob": bob}, seed=3)
    for pairs in got:
        assert len(set(pairs.sequence_numbers.tolist())) == 2
        assert len(set(pairs.serials.tolist())) == 8


def test_chsh_pairs_perfect_pairs_right_when_sequence_numbers_repeat(wrapping_numbers: None) -> None:
    """Perfect pairs (no depolarisation), corrected to |Φ+⟩: every sifted parity is even, so S is 2√2 exactly.
    Matched by Sequence Number, four pairs of a block share each number and halves of different pairs meet:
    about half the parities are odd, S near √2, and no error says so."""
    got = _both(chsh, pairs=256, block=128)
    alice, bob = got["create"], got["recv"]
    assert (alice.zz, alice.xx) == (bob.zz, bob.xx)
    sifted = len(alice.zz) + len(alice.xx)
    assert abs(sifted - 128) < 4 * math.sqrt(256 * 0.25)    # half the pairs have equal bases at both ends
    assert set(alice.zz) == set(alice.xx) == {0}
    assert alice.s == pytest.approx(2 * math.sqrt(2), abs=1e-12)


SHARED = """
[run]
duration_ms = 60000.0
[nodes.carol]
kind = "qpu"
[nodes.dave]
kind = "qpu"
[nodes.mid]
kind = "station"
[links.cd]
a = "carol"
b = "dave"
station = "mid"
length_km = 2.0
depolarizing = 0.0
batch = 4096
queue_priority_pairs = 200000
""" + '''
[[workload]]
node = "carol"
remote = "dave"
type = "measure"
basis = "Z"
pairs = 65535
priority = 7
start_us = 20000
''' * 2
"""Perfect pairs; 20 ms into a CHSH block of 512 pairs, two requests of 65,535 pairs at priority 7 take the link
(in blocks of 4,096): the block's later pairs get the numbers of its earlier ones again (131,070 ≡ −2)."""


def test_chsh_beside_a_higher_priority_request_pairs_right(monkeypatch: pytest.MonkeyPatch) -> None:
    """No forged numbers: the link layer itself numbers two of the block's pairs alike. Matched by Sequence
    Number (the old code, seed 3), carol's S was 2.806 and dave's 2.828, their parities different, no error."""
    collected: list[MeasuredPairs] = []
    collect = EPRSocket._collect_measured

    async def watching(self: EPRSocket, *args: Any) -> MeasuredPairs:
        collected.append(await collect(self, *args))
        return collected[-1]

    monkeypatch.setattr(EPRSocket, "_collect_measured", watching)
    results: dict[str, Any] = {}

    def end(role: str, remote: str):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            results[role] = await chsh(ctx, remote, 512, role)
        return run

    run_apps(load_text(SHARED, "<shared>"), {"carol": end("create", "dave"), "dave": end("recv", "carol")}, seed=3)
    for pairs in collected:
        assert len(pairs) == 512 and len(set(pairs.sequence_numbers.tolist())) < 512   # numbers came round
    carol, dave = results["create"], results["recv"]
    assert (carol.zz, carol.xx) == (dave.zz, dave.xx) and len(carol.zz) + len(carol.xx) > 200
    assert set(carol.zz) == set(carol.xx) == {0}
    assert carol.s == dave.s == pytest.approx(2 * math.sqrt(2), abs=1e-12)


def test_teleported_states_are_right_when_a_streams_sequence_numbers_repeat(wrapping_kept_numbers: None) -> None:
    """Perfect pairs, no decoherence: every teleported state is measured right. QTP names a pair by (origin,
    Create ID, Sequence Number); a stream's request whose numbers come round every two pairs would give the
    receiver two held pairs under one name (the corrections of one applied to the other's half, or a
    retransmission's remembered answer given for a new qubit). Both ends skip a pair whose name its request
    already used, and the run still teleports every state right, each exactly once."""
    skipped: dict[str, int] = {}
    got = _both(teleport_states, skipped, per_state=4)
    alice, bob = got["create"], got["recv"]
    assert [n for _, n in bob.right.values()] == [4] * 6
    assert bob.fidelity == 1.0
    assert alice.lost == bob.lost == 0
    assert skipped["create"] == skipped["recv"] > 0


def test_teleport_beside_a_higher_priority_request_skips_the_renamed_pairs_at_both_ends() -> None:
    """No forged numbers: 2 ms into a six-state stream, two 65,535-pair requests at priority 7 take the link; the
    stream's request is then delivered two numbers it already used. Before, the sender left those OKs waiting
    forever and the run ended in ERR TIMEOUT at both ends; now both ends skip the same two pairs."""
    memories = 'kind = "qpu"\nt1_ms = 1e9\nt2_ms = 1e9\n'
    scenario = SHARED.replace('kind = "qpu"\n', memories).replace("start_us = 20000", "start_us = 2000") \
        .replace("[nodes.carol]\n", "[nodes.carol]\ndata_qubits = 2\n")
    results: dict[str, Any] = {}
    skipped: dict[str, int] = {}

    def end(role: str, remote: str):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            results[role] = await teleport_states(ctx, remote, 10, role)
            assert ctx.teleporter is not None
            skipped[role] = ctx.teleporter.renamed
        return run

    run_apps(load_text(scenario, "<shared>"), {"carol": end("create", "dave"), "dave": end("recv", "carol")},
             seed=3)
    assert [n for _, n in results["recv"].right.values()] == [10] * 6 and results["recv"].fidelity == 1.0
    assert results["create"].lost == results["recv"].lost == 0
    assert skipped["create"] == skipped["recv"] > 0


def test_a_collection_of_kept_pairs_counts_pairs_not_sequence_numbers(wrapping_kept_numbers: None) -> None:
    """Four kept pairs under two Sequence Numbers: both collections return all four (counted by distinct
    numbers, they waited for two more until the run's end), the same pairs at both ends (each end measures its
    halves in Z: perfect |Φ+⟩ pairs agree pair by pair, in the order both ends were delivered them)."""
    got: dict[str, list[tuple[int, int]]] = {}

    async def alice(ctx: AppContext) -> None:
        pairs = await ctx.epr_socket("bob").create_keep(4)
        got["alice"] = [(p.sequence_number, await ctx.measure(p.slot, Basis.Z)) for p in pairs]

    async def bob(ctx: AppContext) -> None:
        pairs = await ctx.epr_socket("alice").recv_keep(4)
        got["bob"] = [(p.sequence_number, await ctx.measure(p.slot, Basis.Z)) for p in pairs]

    roomy = SCENARIO.replace('kind = "qpu"', 'kind = "qpu"\nstorage_qubits = 4')
    run_apps(load_text(roomy, "<pairing>"), {"alice": alice, "bob": bob}, seed=3)
    assert [seq for seq, _ in got["alice"]] == [5, 32773, 5, 32773]
    assert got["alice"] == got["bob"]


def test_chsh_block_golden_bytes_both_ways() -> None:
    """docs/wire.md §11.2's example: three pairs from Sequence Number 65534, the middle one retracted here."""
    present, bases, outcomes = np.array([1, 0, 1], bool), np.array([1, 1, 0], np.uint8), np.array([0, 1, 1], np.uint8)
    assert encode_block(65534, present, bases, outcomes).hex() == "fffe0003a08020"
    first, count, got_present, got_bases, got_outcomes = decode_block(bytes.fromhex("fffe0003a08020"))
    assert (first, count) == (65534, 3)
    assert got_present.tolist() == [True, False, True]
    assert got_bases.tolist() == [1, 0, 0] and got_outcomes.tolist() == [0, 0, 1]   # nothing sent for the middle


@pytest.mark.parametrize("bad", ["fffe", "fffe0003a080", "fffe0003a0802000", "00000201" + "00" * 3 * 65])
def test_malformed_chsh_blocks_are_refused(bad: str) -> None:
    """Too short, a byte missing or over, 513 pairs (over MAX_BLOCK, though the size fits): ParseError."""
    with pytest.raises(ParseError, match="CHSH block"):
        decode_block(bytes.fromhex(bad))


def test_encode_block_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="at most 512"):
        encode_block(0, np.ones(MAX_BLOCK + 1, bool), np.zeros(MAX_BLOCK + 1, np.uint8), np.zeros(MAX_BLOCK + 1,
                                                                                                   np.uint8))
    with pytest.raises(ValueError, match="bits for 2, 3, 2"):
        encode_block(0, np.ones(2, bool), np.zeros(3, np.uint8), np.zeros(2, np.uint8))
