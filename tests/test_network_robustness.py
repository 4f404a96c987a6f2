"""The network layer keeps its promises on a faulty classical channel (network-design §12.5, after
tests/test_robustness.py): a 3-hop chain, every fibre losing and duplicating 1 − √0.8 of its datagrams
(a datagram crosses two fibres per hop: about 20 % per hop) with jitter that reorders them; a
create-and-keep entry with a cutoff (finite T2 and a minimum fidelity) and a measure-directly entry.

Whatever is lost: every request ends at both ends; the pairs delivered and not withdrawn are the same
at both ends, and so are the pairs reported expired; nothing is left waiting; every qubit is accounted
for; every TRACK's EGP header agrees with the link layer's OK at the receiver.
"""

from __future__ import annotations

import math

import pytest

from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_text
from tests.consistency import assert_ended_at_both_ends

PER_FIBRE = 1 - math.sqrt(0.8)
DURATION_MS = 60_000
SCENARIO = """
[run]
duration_ms = {duration}
seed = {seed}
""" + "".join(f"""
[nodes.{name}]
kind = "qpu"
storage_qubits = 2
t2_ms = 50.0
emission_efficiency = 0.9
transducer_efficiency = 0.9
""" for name in ("a", "b", "r1", "r2")) + "".join(f"""
[nodes.s{i}]
kind = "station"
[links.{x}-{y}]
a = "{x}"
b = "{y}"
station = "s{i}"
length_km = 2.0
depolarizing = 0.02
classical_loss = {{loss}}
classical_duplication = {{loss}}
classical_jitter_ns = 20000
""" for i, (x, y) in enumerate((("a", "r1"), ("r1", "r2"), ("r2", "b")))) + """
[[workload]]
node = "a"
remote = "b"
type = "keep"
pairs = 60
min_fidelity = 0.85

[[workload]]
node = "b"
remote = "a"
type = "measure"
basis = "XZ"
pairs = 60
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_pair_is_delivered_at_one_end_only_across_repeaters(seed: int) -> None:
    result = run_scenario(load_text(SCENARIO.format(duration=DURATION_MS, seed=seed, loss=PER_FIBRE), "<lossy>"))
    report = build_report(result)
    assert result.generation_end_ns < DURATION_MS * 1e6, "a request never finished"
    assert_ended_at_both_ends(result)
    assert sum(node["lost"] for node in report["nodes"].values()) > 100          # the channel was lossy
    circuits = report["circuits"]
    assert sum(sum(c["expired_by_reason"].values()) for c in circuits) > 0      # and repairs happened
    assert all(c["bell_mismatches"] == 0 for c in circuits)
    keep = circuits[0]
    assert keep["cutoff_ns"] > 0 and keep["fidelity_worst_model"] >= 0.85
