"""Cutoffs and admission (network-design §12.6): the tail's cutoff against its closed form, the guarantee
it gives, and the errors a request can end with.

A chain of K Werner links (w each: coupler pairs depolarised with probability d, w = 1 − d), perfect
gates and readout taking no time, T1 = ∞ and dephasing T2 at every node. Cutoffs count from a half's link
OK, which comes a wait u = cycle − attempt/2 after the pair's emission (the link layer's figure), so both
halves of each link pair have dephased for u by then; a repeater's half of a hop of which it is not the
master (the higher node id) waits the hop's one-way delay more for the link layer's CONFIRM before its OK
(δ: the sum of those waits). Under a cutoff τ the worst pair has each repeater's earlier half stored τ more
and each end's half τ_end = τ + L more (L: the TRACK and CONFIRM legs, the report's end_cutoff − cutoff).
Dephasing for t multiplies the Z- and Y-characters of a Bell-diagonal pair by e^(−t/T2) and a Werner link's
three characters are w (the fidelity is the mean of the four
characters; Bennett, DiVincenzo, Smolin, Wootters, PRA 54, 3824 (1996)), so

    F_worst(τ) = ¼ [1 + w^K + 2 w^K exp(−(2Ku + (K − 1)τ + δ + 2(τ + L)) / T2)]

and the longest τ with F_worst(τ) ≥ F_min is
τ* = (−T2 ln((4F_min − 1 − w^K) / (2w^K)) − 2Ku − δ − 2L) / (K + 1).
"""

from __future__ import annotations

import math

from protocols.packets import linkservice as ll
from stack.report import build_report
from stack.runtime import run_scenario
from tests.network_scenarios import chain, entry

QPU = "gate_ns = 0\nreadout_ns = 0\nmove_ns = 0\n"
T2_MS, DEPOLARIZING, F_MIN = 0.2, 0.02, 0.85


def lossless_chain(workload: str, **kwargs: object) -> dict:
    result = run_scenario(chain(2, workload=workload, qpu=QPU, t2_ms=T2_MS, depolarizing=DEPOLARIZING,
                                coupler_efficiency=0.1 / 0.64, **kwargs))
    report = build_report(result)
    report["result"] = result
    return report


def test_the_cutoff_is_the_longest_that_keeps_the_worst_pair_above_the_minimum() -> None:
    report = lossless_chain(entry(pairs=600, min_fidelity=F_MIN))
    (circuit,) = report["circuits"]
    k, w, t2 = 2, 1 - DEPOLARIZING, T2_MS * 1e6
    link = report["links"][0]
    u = link["attempt_cycle_ns"] - link["attempt_ns"] / 2
    tau, latency = circuit["cutoff_ns"], circuit["end_cutoff_ns"] - circuit["cutoff_ns"]
    ids = {name: node["node_id"] for name, node in report["nodes"].items()}
    head, repeater, tail = (ids[name] for name in circuit["path"])
    hop_delay = latency / (2 * k)                          # L = 2 Σ hop delays (no BSM time, no jitter)
    delta = hop_delay * ((repeater > head) + (repeater > tail))         # its CONFIRM waits: not the master
    best = (-t2 * math.log((4 * F_MIN - 1 - w**k) / (2 * w**k)) - 2 * k * u - delta
            - 2 * latency) / (k + 1)
    assert 0.99 * best <= tau <= best + 1                  # bisection to 1 %, always on the feasible side
    worst = 0.25 * (1 + w**k + 2 * w**k * math.exp(-(2 * k * u + (k - 1) * tau + delta + 2 * (tau + latency))
                                                    / t2))
    # the tail computed it from the link options as the SETUP carried them: 16-bit probabilities (n/65535)
    assert worst >= F_MIN and abs(circuit["fidelity_worst_model"] - worst) < 4 / 65535
    assert circuit["expired_by_reason"]["CUTOFF"] > 0      # some halves waited too long
    records = report["result"].emulation.workloads[0].origin.records
    assert min(r.goodness for r in records) >= F_MIN - 1 / 65535
    w0 = report["workload"][0]
    assert w0["pairs_delivered"] == w0["pairs_matched"] > 500
    assert w0["fidelity_measured"] >= F_MIN - 4 * w0["fidelity_stderr"]


def test_a_minimum_no_path_can_meet_is_refused_at_the_head() -> None:
    report = lossless_chain(entry(pairs=10, min_fidelity=0.99))      # F_worst(0) ≈ 0.97 here
    assert report["workload"][0]["errors"] == ["UNSUPP"] and report["workload"][0]["pairs_delivered"] == 0
    sent = [engine.counters.sent for engine in report["result"].emulation.network_layers]
    assert not any("SETUP" in counts for counts in sent)                # refused before any SETUP


def test_max_time_shorter_than_the_expected_time_is_notime() -> None:
    report = lossless_chain(entry(pairs=1000, max_time_ms=1.0))        # ~30 µs a pair, 1000 pairs
    assert report["workload"][0]["errors"] == ["NOTIME"]
    assert report["circuits"][0]["errors"] == {"head": ["NOTIME"], "tail": []}


def test_max_time_running_out_mid_request_is_timeout_at_both_ends() -> None:
    """The tail expects 200 pairs in ~3.3 ms and accepts a Max Time of 4.3 ms, but link-layer traffic of
    the same priority shares the hop r1 — b (round-robin), so Max Time runs out first."""
    competing = entry(pairs=1000, node="r1", remote="b", priority=7)
    report = lossless_chain(entry(pairs=200, max_time_ms=4.3) + competing)
    w = report["workload"][0]
    assert report["circuits"][0]["errors"] == {"head": ["TIMEOUT"], "tail": ["TIMEOUT"]}
    assert 0 < w["pairs_delivered"] < 5000 and w["pairs_delivered"] == w["pairs_matched"] + w["pairs_expired"]
    assert w["pairs_disagreeing"] == 0
    assert ll.ERROR_CODES[ll.ERR_TIMEOUT] == "TIMEOUT"
