"""Under classical loss, duplication and reordering, no pair is delivered at one end only
(the master's CONFIRM and the other end's EXPIRE repair every mismatch), every request
finishes, and every qubit is accounted for. Three requests compete for the link (two streams of 300
pairs, round-robin, and an atomic request kept in storage with a cutoff)."""

from __future__ import annotations

import math

import pytest

from stack.report import build_report, disagreement, joined, measured_fidelity
from stack.runtime import run_scenario
from stack.scenario import load_text

SCENARIO = """
[run]
duration_ms = 1e5
seed = {seed}
[nodes.a]
kind = "qpu"
t2_ms = inf
storage_qubits = 2
[nodes.b]
kind = "qpu"
t2_ms = inf
storage_qubits = 2
[nodes.st]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "st"
length_km = 2.0
depolarizing = 0.1
classical_loss = {loss}
classical_duplication = {loss}
classical_jitter_ns = 20000
cutoff_us = 3000
[[workload]]
node = "a"
remote = "b"
type = "keep"
pairs = 300
[[workload]]
node = "b"
remote = "a"
type = "measure"
pairs = 300
[[workload]]
node = "b"
remote = "a"
type = "keep"
pairs = 3
atomic = true
start_us = 500
"""

# A datagram crosses two fibres (end → station → end): 11 % per fibre is about 20 % end to end.
PER_FIBRE = 1 - math.sqrt(0.8)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_pair_is_delivered_at_one_end_only(seed: int) -> None:
    result = run_scenario(load_text(SCENARIO.format(seed=seed, loss=PER_FIBRE), "<lossy>"))
    report = build_report(result)
    assert result.generation_end_ns < 1e5 * 1e6, "a request never finished"
    for workload in result.emulation.workloads:
        expired = {s & 0xFFFF for s in workload.origin.expired | workload.responder.expired}
        here = {r.sequence_number for r in workload.origin.records} - expired
        there = {r.sequence_number for r in workload.responder.records} - expired
        assert here == there
        if workload.config.atomic:                          # expired pairs were replaced
            assert len(here) == workload.config.pairs
        else:
            assert len(here) + len(expired) == workload.config.pairs
    lost = sum(node["lost"] for node in report["nodes"].values())
    assert lost > 100                                       # the channel really was lossy
    expired_pairs = sum(w["pairs_expired"] for w in report["workload"])
    assert expired_pairs > 0                                # and repairs really happened
    ledger = result.ledger
    assert ledger["created"] == ledger["measured"] + ledger["discarded"] + ledger["discarded_at_end"]


def test_repaired_pairs_keep_the_right_fidelity() -> None:
    result = run_scenario(load_text(SCENARIO.format(seed=4, loss=PER_FIBRE), "<lossy>"))
    keep = result.emulation.workloads[0]
    fidelity, stderr = measured_fidelity(disagreement(joined(keep)))
    assert abs(fidelity - (1 - 3 * 0.1 / 4)) < 4 * stderr
    measure = disagreement(joined(result.emulation.workloads[1]))["Z"]
    assert abs(measure["rate"] - 0.05) < 4 * math.sqrt(0.05 * 0.95 / measure["pairs"])
