"""Joining the two ends' records of a workload entry: which pairs both hold, and how their outcomes agree.

Shared by the report's ``workload`` and ``circuits`` members (:mod:`stack.report`, :mod:`stack.report_circuits`),
with what they say of an entry one of whose ends' node process died (:func:`dead_ends`: its records are missing).
"""

from __future__ import annotations

import math
from typing import Any

from protocols.apps.workload import PairRecord
from protocols.common import Basis
from protocols.physical import physics


def dead_ends(workload: Any, dead: frozenset[str]) -> list[str]:
    """The entry's ends (origin first) whose node process died during a ``qnet up`` run (``dead``): their records
    never reached the report, so a figure that needs them is unknown (null), not computed from an empty side.

    >>> from types import SimpleNamespace as Entry
    >>> dead_ends(Entry(config=Entry(node="alice", remote="bob")), frozenset({"bob"}))
    ['bob']
    """
    return [name for name in (workload.config.node, workload.config.remote) if name in dead]


def unknown(entry: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """``entry`` with ``keys`` null: figures whose records are missing (:func:`dead_ends`)."""
    return entry | dict.fromkeys(keys)


def withdrawn_flag(row: dict[str, Any]) -> str:
    """What a summary row says of pairs an ERR EXPIRE withdrew (counted in ``pairs_delivered`` when their OK came
    first), for a workload or a circuit row.

    >>> withdrawn_flag({"pairs_expired": 3, "pairs_matched": 147}), withdrawn_flag({"pairs_expired": 0})
    ('  3 expired (ERR EXPIRE), 147 matched', '')
    """
    if not row["pairs_expired"]:
        return ""
    return f"  {row['pairs_expired']} expired (ERR EXPIRE), {row['pairs_matched']} matched"


def dead_flag(ends: list[str] | None) -> str:
    """What a summary row says of an entry whose ends' node processes died (``dead_ends``): their records are
    missing, so the figures joining both ends are unknown, not a protocol's failure.

    >>> dead_flag(["bob"]), dead_flag(["alice", "bob"])
    ("  bob's records missing (its node died)", "  alice's and bob's records missing (their nodes died)")
    """
    if not ends:
        return ""
    whose = " and ".join(f"{name}'s" for name in ends)
    return f"  {whose} records missing ({'its node' if len(ends) == 1 else 'their nodes'} died)"


def delivered(records: list[PairRecord], expired: set[int]) -> set[int]:
    """Sequence numbers an application holds: it got their OK and no ERR EXPIRE withdrew it."""
    return {r.sequence_number for r in records} - expired


def disagreeing(workload: Any) -> int:
    """Pairs delivered at one end only: the other end reported them expired, or never delivered them.
    The link layer promises none (docs/architecture.md, "Pair confirmation"). By Sequence Number: a number
    that came round within the request counts once (docs/report.md)."""
    if not workload.config.listen:
        return 0
    here = delivered(workload.origin.records, workload.origin.expired)
    there = delivered(workload.responder.records, workload.responder.expired)
    return len(here ^ there)


def expired_pairs(workload: Any) -> int:
    """Sequence Numbers an ERR EXPIRE named at either end."""
    return len(workload.origin.expired | workload.responder.expired)


def joined(workload: Any) -> list[tuple[PairRecord, PairRecord]]:
    """Pairs delivered at both ends, matched by serial (:mod:`protocols.apps.serials`: a Sequence Number that came
    round is another pair), on numbers no ERR EXPIRE named at either end (such a number's turns may differ between
    the ends: its pairs are left out whole)."""
    expired = workload.origin.expired | workload.responder.expired
    remote = {r.turn: r for r in workload.responder.records if r.sequence_number not in expired}
    return [(r, remote[r.turn]) for r in workload.origin.records
            if r.sequence_number not in expired and r.turn in remote]


def disagreement(pairs: list[tuple[PairRecord, PairRecord]]) -> dict[str, dict[str, float]]:
    """Per basis: how many pairs were measured in it at both ends and how often the outcomes
    disagree with the ideal correlation of the heralded Bell state."""
    counts: dict[int, list[int]] = {}
    for mine, theirs in pairs:
        if mine.basis is None or mine.basis != theirs.basis or mine.outcome is None or theirs.outcome is None:
            continue
        wrong = (mine.outcome ^ theirs.outcome) != physics.expected_parity(mine.bell_state, mine.basis)
        tally = counts.setdefault(mine.basis, [0, 0])
        tally[0] += 1
        tally[1] += wrong
    return {Basis(b).name: {"pairs": n, "rate": errors / n} for b, (n, errors) in sorted(counts.items())}


def measured_fidelity(rates: dict[str, dict[str, float]]) -> tuple[float, float] | None:
    """F = 1 - (e_X + e_Y + e_Z)/2 for a Bell-diagonal state, with its standard error."""
    if set(rates) != {"X", "Y", "Z"}:
        return None
    fidelity = 1 - sum(r["rate"] for r in rates.values()) / 2
    variance = sum(r["rate"] * (1 - r["rate"]) / r["pairs"] for r in rates.values()) / 4
    return fidelity, math.sqrt(variance)
