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
from protocols.physical import physics
from stack.report_pairs import disagreeing, disagreement, expired_pairs, joined

SERVICE = ("198.18.0.1", 7771)
PAIRS = 40_000
"""Every second link pair is this request's (another request takes the others): 80 000 link pairs, one wrap."""


def _ok(seq: int, basis: int, m: int) -> bytes:
    return ll.ok_measure(1, m, 0, basis, 0, seq, 5, 2, 65535)


def _ends(first_link_seq: int, swaps: list[int]) -> SimpleNamespace:
    """An origin and a responder that heard of the same PAIRS pairs, the responder with neighbours ``swaps``
    (indices i: pairs i and i + 1) in the other order, as a reordered CONFIRM gives."""
    origin = EntanglementUser(SERVICE, ll.Create(remote_node_id=2, number=PAIRS, tpe=ll.TPE_MEASURE))
    responder = EntanglementUser(SERVICE, None)
    rng = np.random.default_rng(7)
    pairs = []
    for k in range(PAIRS):
        seq = (first_link_seq + 2 * k) & 0xFFFF
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


def test_an_expiry_names_the_pair_of_its_own_turn() -> None:
    """An ERR EXPIRE at both ends for the second pair numbered 2 (after the wrap) withdraws that pair only."""
    workload = _ends(0, swaps=[])
    late = PAIRS - 2                        # the pair on link number 2 * late mod 2^16 = 12 928, its second time
    seq = (2 * late) & 0xFFFF
    err = ll.Err(1, ll.ERR_EXPIRE, 1, seq, (seq + 1) & 0xFFFF).encode()
    workload.origin.receive(err, SERVICE, 0, 0)
    workload.responder.receive(err, SERVICE, 0, 0)
    pairs = joined(workload)
    assert len(pairs) == PAIRS - 1 and expired_pairs(workload) == 1 and disagreeing(workload) == 0
    assert sum(mine.sequence_number == seq for mine, _ in pairs) == 1          # its first turn is still there
