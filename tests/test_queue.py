"""The distributed queue: priorities, fairness between request streams, a bounded queue (NORES).

Runs go through the real loader and runtime; what is checked is observed in the applications'
records (OK arrival times), not in the scheduler's own bookkeeping.
"""

from __future__ import annotations

import math

import pytest

from protocols.common import EGP_PORT, LINK_SERVICE_PORT, BellState
from protocols.link.layer import LinkConfig, LinkLayer, QueuePolicy
from protocols.packets import linkservice as ll
from protocols.physical.hardware import Emitted
from protocols.physical.node import NodePhysical, StartGeneration, StopGeneration
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_text
from tests.scenarios import two_qpus

APP1, APP2 = ("198.18.0.1", 49152), ("198.18.0.2", 49152)
EGP1, EGP2 = ("198.18.0.1", EGP_PORT), ("198.18.0.2", EGP_PORT)


def stream(node: str, remote: str, pairs: int, purpose: int, *, priority: int = 0, start_us: float = 0.0,
           kind: str = "measure") -> str:
    return f"""
[[workload]]
node = "{node}"
remote = "{remote}"
type = "{kind}"
pairs = {pairs}
purpose_id = {purpose}
priority = {priority}
start_us = {start_us}
"""


def test_higher_priority_is_served_before_a_waiting_lower_one() -> None:
    """A priority-5 request arriving while a long priority-0 one runs is served as soon as the current run
    ends: no lower-priority OK arrives between its first and its last OK, and it finishes long before the
    lower one."""
    work = (stream("alice", "bob", 400, 1, priority=0)
            + stream("bob", "alice", 40, 2, priority=5, start_us=2_000.0))
    result = run_scenario(two_qpus(length_km=2.0, workload=work, extra_link="queue_max_run = 16"))
    low, high = result.emulation.workloads
    assert len(low.origin.records) == 400 and len(high.origin.records) == 40
    high_times = sorted(r.ok_time for r in high.origin.records)
    low_times = sorted(r.ok_time for r in low.origin.records)
    between = [t for t in low_times if high_times[0] < t < high_times[-1]]
    assert between == []
    before = [t for t in low_times if t < high_times[0]]
    assert len(before) < 400 - 40               # the low request really was interrupted
    assert high_times[-1] < low_times[-1]
    # it waited at most for the low run in progress (16 pairs) plus the SCHEDULE round trip
    wait = high_times[0] - (high.origin.sent_at or 0)
    per_pair = (low_times[-1] - low_times[0]) / 399
    assert wait < 16 * per_pair + 8 * per_pair
    low_report, high_report = build_report(result)["workload"]
    assert (low_report["priority"], high_report["priority"]) == (0, 5)
    assert high_report["create_to_last_ok_ns"] == high_times[-1] - (high.origin.sent_at or 0)


def test_equal_priority_streams_share_the_link_fairly() -> None:
    """Two streams of equal priority (one from each end) started together: while both are open they get the
    same number of pairs up to one run (quantum 4) each; the scheduler is deterministic round-robin, so
    the tolerance is the quantum, not a statistical one."""
    work = stream("alice", "bob", 200, 1) + stream("bob", "alice", 200, 2)
    result = run_scenario(two_qpus(length_km=2.0, workload=work))
    first, second = result.emulation.workloads
    events = sorted([(r.ok_time, 0) for r in first.origin.records] + [(r.ok_time, 1) for r in second.origin.records])
    counts = [0, 0]
    worst = 0
    for _, who in events:
        counts[who] += 1
        if max(counts) < 200:
            worst = max(worst, abs(counts[0] - counts[1]))
    assert worst <= 2 * 4
    assert counts == [200, 200]


def test_a_big_request_does_not_starve_a_small_one() -> None:
    """A 20-pair request arriving behind a 600-pair one of the same priority (same origin, other Purpose ID)
    shares the link round-robin: it completes in about twice its own generation time, not after the big one.
    Its pairs take 2·20 heralds of the shared link: a sum of 40 geometric waits; 5 standard deviations of
    that sum plus a few runs' switching bound the wait."""
    work = stream("alice", "bob", 600, 1) + stream("alice", "bob", 20, 2, start_us=1_000.0)
    result = run_scenario(two_qpus(length_km=2.0, workload=work))
    big, small = result.emulation.workloads
    big_times = sorted(r.ok_time for r in big.origin.records)
    small_times = sorted(r.ok_time for r in small.origin.records)
    assert len(small_times) == 20 and small_times[-1] < big_times[-1]
    link = result.emulation.link_physics[1]
    p, cycle = link.model.success, link.cycle_ns
    mean = 40 * cycle / p
    sd = math.sqrt(40 * (1 - p)) * cycle / p
    latency = small_times[-1] - (small.origin.sent_at or 0)
    assert latency < mean + 5 * sd + 10 * cycle / p
    assert latency > mean - 5 * sd - 10 * cycle / p       # it did share: not served alone (half that time)


def engine(node_id: int, peer: int, max_queue: int) -> LinkLayer:
    peer_egp = EGP2 if peer == 2 else EGP1
    link = LinkConfig(1, peer, peer_egp, math.inf, math.inf, policy=QueuePolicy(max_queue=max_queue))
    return LinkLayer(node_id, [link], {7: APP2 if node_id == 2 else APP1}, retransmit_ns=10**6)


def test_a_full_queue_refuses_with_nores_locally_and_at_the_peer() -> None:
    n1, n2 = engine(1, 2, max_queue=2), engine(2, 1, max_queue=1)
    create = ll.Create(remote_node_id=2, purpose_id=7, number=3).encode()
    replies = [n1.receive(create, APP1, LINK_SERVICE_PORT, now=t) for t in range(3)]
    first, second, third = ([ll.decode_upward(p) for d, p in r.send if d == APP1] for r in replies)
    assert isinstance(first[0], ll.Ack) and isinstance(second[0], ll.Ack)
    assert isinstance(third[0], ll.Err) and third[0].err == ll.ERR_NORES
    # the peer's queue holds one request: it accepts the first REQ, refuses the second with NORES ...
    reqs = [p for r in replies[:2] for d, p in r.send if d == EGP2]
    answers = [n2.receive(req, EGP1, EGP_PORT, now=10) for req in reqs]
    acks = [p for a in answers for d, p in a.send if d == EGP1 and p[1] == 2]
    assert [a[2] for a in acks] == [0, ll.ERR_NORES]
    # ... and the origin's higher layer hears NORES for that one
    back = n1.receive(acks[1], EGP2, EGP_PORT, now=20)
    (err,) = [ll.decode_upward(p) for d, p in back.send if d == APP1]
    assert isinstance(err, ll.Err) and err.err == ll.ERR_NORES and err.create_id == second[0].create_id


def test_starting_or_stopping_generation_keeps_the_herald_timeout() -> None:
    """Regression: NodePhysical answered Start/StopGeneration with no deadline, which cancelled the timer
    of emissions waiting for their herald (their qubits then stayed in memory forever)."""
    phy = NodePhysical(herald_timeout_ns=1_000)
    dist = (1.0, 0.0, 0.0, 0.0)
    out = phy.handle(Emitted(1, 0, 9, 3, 100, dist), now=100)
    assert out.deadline == 1_100
    assert phy.handle(StartGeneration(1, 1), now=200).deadline == 1_100
    assert phy.handle(StopGeneration(1), now=300).deadline == 1_100
    assert BellState.PHI_PLUS == 0


LOSSY = """
[run]
duration_ms = 1e5
seed = {seed}
[nodes.a]
kind = "qpu"
[nodes.b]
kind = "qpu"
[nodes.st]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "st"
length_km = 2.0
classical_loss = 0.11
classical_duplication = 0.11
classical_jitter_ns = 20000
queue_quantum = 2
queue_max_run = 4
"""


@pytest.mark.parametrize("seed", [5, 6])
def test_competing_priorities_under_loss_agree_at_both_ends(seed: int) -> None:
    """Four requests from both ends, three priorities, staggered starts, 20 % loss and duplication with
    reordering: every request completes, both ends hold exactly the same pairs of each (or report them
    expired), and at the master (node a, whose OKs come as it numbers the pairs) no lower-priority OK comes
    between the first and the last OK of the priority-7 request."""
    work = (stream("a", "b", 120, 1, priority=0) + stream("b", "a", 120, 2, priority=0, kind="keep")
            + stream("a", "b", 60, 3, priority=2, start_us=3_000.0)
            + stream("b", "a", 30, 4, priority=7, start_us=6_000.0, kind="keep"))
    result = run_scenario(load_text(LOSSY.format(seed=seed) + work, "<lossy queue>"))
    assert result.generation_end_ns < 1e11
    at_master: dict[int, list[int]] = {}
    for w in result.emulation.workloads:
        expired = w.origin.expired | w.responder.expired
        here = {r.sequence_number for r in w.origin.records} - expired
        there = {r.sequence_number for r in w.responder.records} - expired
        assert here == there and len(here) + len(expired) == w.config.pairs
        records = w.origin.records if w.config.node == "a" else w.responder.records
        at_master.setdefault(w.config.priority, []).extend(r.ok_time for r in records)
    top = sorted(at_master[7])
    lower = at_master[0] + at_master[2]
    assert [t for t in lower if top[0] < t < top[-1]] == []
    assert any(t > top[-1] for t in lower)                 # the others were still waiting
