"""Each hop's origin caps its pipeline (docs/architecture.md, "The pipeline cap"): it gives its link layer credit
only while fewer than the circuit's Number of the hop's link pairs are in the pipeline (settled at the origin or
credited, less those it knows died), gives credit back for each loss it learns of, and, capped with no progress
for its stall time, lifts its cap.

The rule bounds a lossless run exactly: no half dies before COMPLETE there (no cutoff, no failed swap, no
retraction), so nothing is known lost and no cap lifted, and a hop makes at most Number link pairs; before the
cap a hop kept generating until COMPLETE, and the pairs in flight then were discarded. Losses (a lossy channel,
cutoffs) and missed news of them (the stall fallback alone) must still end every request at both ends.
"""

from __future__ import annotations

import math

import pytest

from protocols.common import Actions
from protocols.network.hop_cap import PipelineCap
from protocols.network.hop_caps import HopCaps
from protocols.network.hop_flow import HopFlow
from protocols.network.timers import Timers
from protocols.network.types import DEAD, Half, NetworkCounters
from stack.report import build_report
from stack.runtime import RunResult, run_scenario
from tests.consistency import assert_ended_at_both_ends
from tests.network_scenarios import chain, entry

PER_FIBRE = 1 - math.sqrt(0.8)
"""A datagram crosses two fibres per hop: about 20 % lost (and as many duplicated) per hop."""


def hop_pairs(result: RunResult) -> list[int]:
    (circuit,) = build_report(result)["circuits"]
    return [hop["link_pairs"] for hop in circuit["hops_detail"]]


def resumes(result: RunResult) -> int:
    return sum(engine.counters.cap_resumes for engine in result.emulation.network_layers)


@pytest.mark.parametrize(("hops", "pairs", "window", "scheme"),
                         [(4, 1, 1, "coupler"), (6, 3, 1, "coupler"), (8, 5, 1, "coupler"), (6, 3, 2, "coupler"),
                          (5, 1, 1, "double-click"), (5, 4, 2, "double-click")])
def test_a_lossless_chain_makes_number_link_pairs_per_hop(hops: int, pairs: int, window: int, scheme: str) -> None:
    result = run_scenario(chain(hops, workload=entry(pairs=pairs), schemes=[scheme] * hops,
                                network=f"window = {window}"))
    assert len(result.emulation.workloads[0].responder.records) == pairs
    assert resumes(result) == 0             # nothing stalled: every pair was swapped on, and delivered
    assert hop_pairs(result) == [pairs] * hops      # at most Number (and every one needed)
    assert_ended_at_both_ends(result)


LOSSY = chain(4, workload=entry(pairs=30, min_fidelity=0.85), t2_ms=50.0, schemes=["double-click"] * 4,
              link=f"classical_loss = {PER_FIBRE}\nclassical_duplication = {PER_FIBRE}\nclassical_jitter_ns = 20000",
              duration_ms=60_000, network="window = 2")
"""Four heralded hops with a cutoff (finite T2, a minimum fidelity) over a channel that loses, duplicates and
reorders: halves die of cutoffs and link retractions, and copies of the EXPIREs telling of it are lost."""


@pytest.mark.parametrize("seed", [1, 2])
def test_a_lossy_chain_ends_every_request_and_replaces_its_losses(seed: int) -> None:
    result = run_scenario(LOSSY, seed=seed)
    assert result.generation_end_ns < 60_000 * 1e6, "a request never finished"
    assert_ended_at_both_ends(result)
    (circuit,) = build_report(result)["circuits"]
    assert sum(circuit["expired_by_reason"].values()) > 0      # pairs died, and were replaced
    assert resumes(result) == 0     # by the news of each death: had a capped origin missed one, it would have waited
    #                                 its stall time and lifted its cap (as in the test below, where news is missed)


def test_the_stall_fallback_alone_ends_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """No origin learns of any loss (every death's news is missed): capped hops whose pairs died get credit back
    only from the stall fallback, and every request still ends at both ends."""
    monkeypatch.setattr(HopCaps, "lost", lambda self, half, now, into=None: Actions() if into is None else into)
    result = run_scenario(LOSSY, seed=1)
    assert result.generation_end_ns < 60_000 * 1e6, "a request never finished"
    assert_ended_at_both_ends(result)
    assert resumes(result) > 0


class _Node:
    """What :class:`HopCaps` reads of a node: its deadlines and counters."""

    def __init__(self) -> None:
        self.timers = Timers()
        self.counters = NetworkCounters()


def _caps() -> tuple[HopCaps, HopFlow, HopFlow, list[int]]:
    """A node's caps with a capped origin flow on link 3 (side 1) and a granter flow on link 4 (side 0) of one
    circuit; the list records the sides the caps asked to grant to."""
    origin = HopFlow(handle=(1, 0x0101), side=1, link_id=3, label=7, peer=2, origin=True, window=2)
    origin.cap = PipelineCap(need=2, stall_ns=100)
    granter = HopFlow(handle=(1, 0x0101), side=0, link_id=4, label=8, peer=5, origin=False, window=2)
    granted: list[int] = []

    def grant(flow: HopFlow, now: int, into: Actions | None) -> Actions:
        granted.append(flow.side)
        return Actions() if into is None else into

    flows = {origin.key: origin, granter.key: granter}
    return HopCaps(_Node(), flows, grant), origin, granter, granted  # type: ignore[arg-type]


def test_a_death_at_a_capped_origin_gives_a_credit_back_and_nothing_else_does() -> None:
    caps, origin, _, granted = _caps()
    assert origin.cap is not None
    caps.lost(Half(3, 9, (1, 0x0101), 1, DEAD), 0)
    assert (origin.cap.lost, granted) == (1, [1])
    caps.lost(Half(4, 9, (1, 0x0101), 0, DEAD), 0)          # the granter's hop: its origin counts it
    caps.lost(Half(5, 9, (1, 0x0101), 1, DEAD), 0)          # another link on that side (a stale half)
    caps.lost(Half(3, 9, (1, 0x0202), 1, DEAD), 0)          # another circuit
    assert (origin.cap.lost, granted) == (1, [1])


def test_a_numbered_failure_counts_at_capped_origins_only() -> None:
    caps, origin, granter, _ = _caps()
    assert origin.cap is not None

    class Named:                                            # what numbered_failed reads of a circuit
        handle = (1, 0x0101)

    caps.numbered_failed(Named())  # type: ignore[arg-type]
    assert origin.cap.ended_failed == 1 and granter.cap is None
    assert origin.cap.room(0) == 2 - 1                      # the failed pair is one of the Number


def test_a_stalled_cap_waits_on_after_progress_and_is_lifted_without() -> None:
    caps, origin, _, granted = _caps()
    cap = origin.cap
    assert cap is not None
    cap.settled = 2
    assert cap.room(0) == 0 and cap.hold(0)
    assert cap.hold(60) is False                            # progress at 60: the deadline moves to 160
    caps.stalled((1, 0x0101), 1, 100)
    assert origin.cap is cap and ("hop-cap", (1, 0x0101), 1) in caps.node.timers and granted == []
    caps.stalled((1, 0x0101), 1, 160)
    assert origin.cap is None and granted == [1] and caps.node.counters.cap_resumes == 1
