"""The report joins the two ends' pairs by serial, not by the 16-bit Sequence Number, which can come round within a
request on a link other requests share (protocols/apps/serials.py; docs/report.md).

Before, `two-qpus.toml` with 40 000 pairs in each of its two entries (80 000 link pairs on one link) reported a kept
pair fidelity of 0.774 for a link of 0.925: pairs 65 536 link pairs apart were matched with each other. Here the two
ends' applications are driven directly with OK-Ms whose outcomes agree exactly with the heralded Bell state, so every
pair matched right disagrees never, and a pair matched wrong disagrees half the time.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from protocols.apps.workload import EntanglementUser
from protocols.common import BASES
from protocols.packets import linkservice as ll
from protocols.packets.linkservice_block import OkMeasureBlock
from protocols.physical import physics
from stack.report_pairs import disagreeing, disagreement, expired_pairs, joined

SERVICE = ("198.18.0.1", 7771)
PAIRS = 40_000
"""Every second link pair is this request's (another request takes the others): 80 000 link pairs, one wrap."""


def _ok(seq: int, basis: int, m: int) -> bytes:
    return ll.ok_measure(1, m, 0, basis, 0, seq, 5, 2, 65535)


def _ends(first_link_seq: int, swaps: list[int], jump_at: int | None = None, jump: int = 0) -> SimpleNamespace:
    """An origin and a responder that heard of the same PAIRS pairs, the responder with neighbours ``swaps``
    (indices i: pairs i and i + 1) in the other order, as a reordered CONFIRM gives; from pair ``jump_at`` on,
    the link numbers ``jump`` more pairs of other requests first (a higher priority's run)."""
    origin = EntanglementUser(SERVICE, ll.Create(remote_node_id=2, number=PAIRS, tpe=ll.TPE_MEASURE))
    responder = EntanglementUser(SERVICE, None)
    rng = np.random.default_rng(7)
    pairs = []
    for k in range(PAIRS):
        seq = (first_link_seq + 2 * k + (jump if jump_at is not None and k >= jump_at else 0)) & 0xFFFF
        basis = int(BASES[seq % 3])          # as a kept pair's (keep_basis): both ends alike
        m = int(rng.integers(2))
        pairs.append((seq, basis, m, m ^ physics.expected_parity(0, basis)))
    for seq, basis, m, _ in pairs:
        origin.receive(_ok(seq, basis, m), SERVICE, 0, 0)
    heard = list(pairs)
    for i in swaps:
        heard[i], heard[i + 1] = heard[i + 1], heard[i]
    for seq, basis, _, m in heard:
        responder.receive(_ok(seq, basis, m), SERVICE, 0, 0)
    return SimpleNamespace(origin=origin, responder=responder, config=SimpleNamespace(listen=True))


def test_pairs_a_wrap_apart_are_told_apart() -> None:
    workload = _ends(0, swaps=[5, 100, 33_000])
    pairs = joined(workload)
    assert len(pairs) == PAIRS
    assert all(mine.sequence_number == theirs.sequence_number for mine, theirs in pairs)
    assert {name: rate["rate"] for name, rate in disagreement(pairs).items()} == {"X": 0.0, "Y": 0.0, "Z": 0.0}
    assert disagreeing(workload) == 0
    assert len({r.sequence_number for r in workload.origin.records}) < PAIRS       # the numbers did repeat
    assert workload.origin.done()           # every pair asked for settled (before: 32 768 distinct numbers)


def test_the_ends_start_on_either_side_of_a_wrap() -> None:
    """The request's first pair is link pair 65 534; the responder hears of the second (number 0) first."""
    workload = _ends(65_534, swaps=[0])
    assert workload.responder.records[0].sequence_number == 0
    pairs = joined(workload)
    assert len(pairs) == PAIRS and disagreeing(workload) == 0
    assert {name: rate["rate"] for name, rate in disagreement(pairs).items()} == {"X": 0.0, "Y": 0.0, "Z": 0.0}


def test_a_number_an_expiry_named_is_left_out_of_the_join_whole() -> None:
    """An ERR EXPIRE at both ends for the second pair numbered 12,928 (after the wrap): which turn of the number it
    withdraws cannot be told from the number, so both pairs of that number leave the join; every other pair is
    still matched right, and the number counts once as expired."""
    workload = _ends(0, swaps=[])
    late = PAIRS - 2                        # the pair on link number 2 * late mod 2^16 = 12 928, its second time
    seq = (2 * late) & 0xFFFF
    err = ll.Err(1, ll.ERR_EXPIRE, 1, seq, (seq + 1) & 0xFFFF).encode()
    workload.origin.receive(err, SERVICE, 0, 0)
    workload.responder.receive(err, SERVICE, 0, 0)
    pairs = joined(workload)
    assert len(pairs) == PAIRS - 2 and expired_pairs(workload) == 1 and disagreeing(workload) == 0
    assert {name: rate["rate"] for name, rate in disagreement(pairs).items()} == {"X": 0.0, "Y": 0.0, "Z": 0.0}


def test_a_jump_of_more_than_half_the_numbers_is_no_step_back() -> None:
    """After 1,000 pairs another request takes 40,000 numbers in a row: the next pair's number is 40,001 on,
    which no distance rule tells from an old number; the turns do (review: before, Z disagreement 0.17)."""
    workload = _ends(0, swaps=[3, 20_000], jump_at=1_000, jump=40_000)
    pairs = joined(workload)
    assert len(pairs) == PAIRS and disagreeing(workload) == 0 and workload.origin.done()
    assert {name: rate["rate"] for name, rate in disagreement(pairs).items()} == {"X": 0.0, "Y": 0.0, "Z": 0.0}


def test_blocks_of_more_than_half_the_numbers_are_told_apart() -> None:
    """Three OK-MB blocks of 40,000 pairs each, a block of another request's 40,000 numbers between each two:
    every number comes round, some twice; each block's pairs keep their own serials at both ends."""
    origin = EntanglementUser(SERVICE, ll.Create(remote_node_id=2, number=3 * 40_000, tpe=ll.TPE_MEASURE))
    responder = EntanglementUser(SERVICE, None)
    rng = np.random.default_rng(3)
    for block in range(3):
        seq = (block * 80_000) & 0xFFFF
        outcomes = rng.integers(2, size=40_000, dtype=np.uint8)
        bases = np.zeros(40_000, dtype=np.uint8)                # Z: Φ+ agrees
        bells = np.zeros(40_000, dtype=np.uint8)
        for user in (origin, responder):
            ok = OkMeasureBlock(1, 0, seq, 5, 2, 65535, outcomes, bases, bells)
            user.receive(ok.encode(), SERVICE, 0, 0)
    workload = SimpleNamespace(origin=origin, responder=responder, config=SimpleNamespace(listen=True))
    pairs = joined(workload)
    assert len(pairs) == 3 * 40_000 and disagreeing(workload) == 0 and origin.done()
    assert disagreement(pairs) == {"Z": {"pairs": 3 * 40_000, "rate": 0.0}}


def _pair_of_ends(number: int) -> SimpleNamespace:
    origin = EntanglementUser(SERVICE, ll.Create(remote_node_id=2, number=number, tpe=ll.TPE_MEASURE))
    return SimpleNamespace(origin=origin, responder=EntanglementUser(SERVICE, None),
                           config=SimpleNamespace(listen=True))


def test_expiries_in_any_order_flag_no_pair_at_one_end() -> None:
    """Review of a first version that gave expiries turns: with CON clear an end hears a pair's ERR EXPIRE before
    its held OK, and a number delivered long ago stays delivered when a later pair of it expires; both made a
    report flag pairs at one end only (exit status 1) where there were none. Pair 7 expires at both ends, its OK
    coming after the ERR at the origin only; pair 9 is delivered at both, and 65,536 numbers later its number's
    next pair expires at both ends before any OK."""
    workload = _pair_of_ends(4)
    for user in (workload.origin, workload.responder):
        user.receive(_ok(9, 0, 1), SERVICE, 0, 0)
        user.receive(ll.Err(1, ll.ERR_EXPIRE, 1, 7, 8).encode(), SERVICE, 0, 0)
    workload.origin.receive(_ok(7, 0, 0), SERVICE, 0, 0)                       # held (CON clear), sent after
    for user in (workload.origin, workload.responder):
        user.receive(ll.Err(1, ll.ERR_EXPIRE, 1, 9, 10).encode(), SERVICE, 0, 0)   # 9's next turn
    assert disagreeing(workload) == 0 and expired_pairs(workload) == 2 and joined(workload) == []
    assert not workload.origin.done()       # it counts 2 of 4 (9's second pair, never delivered, hides behind its
                                            # first): a count that errs low keeps a run going, never ends it early
