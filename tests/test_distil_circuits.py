"""Distillation as circuit rules (issue 14): hops that distil their link pairs before swapping or delivery.

Oracles, written out here independently of protocols/network/distillation.py:

- BBPSSW on Werner inputs F1 = F2 = F (the issue's formula): p = F² + 2F(1 − F)/3 + 5(1 − F)²/9,
  F' = [F² + (1 − F)²/9] / p.
- DEJMPS on Bell-diagonal (A, B, C, D) = (Φ+, Ψ−, Ψ+, Φ−) (the issue's map): N = (A₁+B₁)(A₂+B₂) + (C₁+D₁)(C₂+D₂),
  A' = (A₁A₂ + B₁B₂)/N; a Werner pair is (F, (1 − F)/3, (1 − F)/3, (1 − F)/3).
- A coupler link with depolarising probability d makes Werner pairs of F = 1 − 3d/4 (no memory decay, perfect
  gates and readout here, so the round is the ideal map).

The measured success probability is the initiator's rounds succeeded / attempted (binomial); the measured
fidelity the report's, from both ends' outcomes in Z, X and Y (its standard error from the three binomial
disagreement rates). Each check allows 4 standard errors (two-sided p ≈ 6e-5); the pair counts are chosen so
that 4 standard errors of the fidelity are smaller than the gain F' − F, so an engine that kept pairs at
random (or never distilled) fails.
"""

from __future__ import annotations

import dataclasses
import doctest
import json
import math
import os
from pathlib import Path

import pytest

from protocols.common import Basis
from protocols.network import distil_state, policy
from protocols.network.policy import DistilRequest, distil_request
from protocols.network.types import CircuitStats
from protocols.packets import linkservice as ll
from protocols.packets import qncp_caps
from protocols.packets.qncp import HopRule, SetupReply
from protocols.packets.qncp_caps import Reader, distil_byte, read_rule
from protocols.packets.scapy_layers.linkservice import LLCreate
from protocols.packets.scapy_layers.qncp_caps import QncpHopRule
from stack.api import AppContext, run_apps
from stack.cli import main
from stack.multiprocess.results import stats_from_json
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import ScenarioError, load_text
from tests.consistency import assert_ended_at_both_ends, broken_promises
from tests.network_scenarios import chain_text, entry
from tests.test_network_robustness import PER_FIBRE, SCENARIO
from tests.tshark_util import assert_matches_scapy, have_tshark

SIGMAS = 4
PERFECT = "gate_fidelity = 1.0\nreadout_fidelity = 1.0\n"


def bbpssw(f: float) -> tuple[float, float]:
    p = f * f + 2 * f * (1 - f) / 3 + 5 * (1 - f) ** 2 / 9
    return p, (f * f + (1 - f) ** 2 / 9) / p


def dejmps(a1: tuple[float, ...], a2: tuple[float, ...]) -> tuple[float, tuple[float, float, float, float]]:
    (A1, B1, C1, D1), (A2, B2, C2, D2) = a1, a2
    n = (A1 + B1) * (A2 + B2) + (C1 + D1) * (C2 + D2)
    return n, ((A1 * A2 + B1 * B2) / n, (C1 * D2 + D1 * C2) / n, (C1 * C2 + D1 * D2) / n, (A1 * B2 + B1 * A2) / n)


def werner_abcd(f: float) -> tuple[float, float, float, float]:
    return (f, (1 - f) / 3, (1 - f) / 3, (1 - f) / 3)


# -- wire: the rule bytes -------------------------------------------------------------------------
def test_rule_bytes_golden_both_ways() -> None:
    rule = HopRule(1, 0xC001, 3, 0xF333, distil_byte(2, 1, 3))             # DEJMPS pumping x3 = 0x93
    assert rule.encode().hex() == "0001c00100000003f3339300"
    assert read_rule(Reader(bytes.fromhex("0001c00100000003f3339300"), 0)) == rule
    assert bytes(QncpHopRule(link_id=1, link_label=0xC001, origin_node=3, link_min_fidelity=0xF333,
                             distil=0x93)) == rule.encode()
    reply = SetupReply(1, 1, 2, 2, window=2, route=(1, 2), rules=(rule,), end_distil=0x41)
    data = reply.encode()
    assert data[22:24] == bytes([0x41, 0])                                  # End Distil, then Reserved
    create = ll.Create(2, number=5, **distil_request("explicit", ("bbpssw", "recurrence", 2)).create_fields())
    assert create.encode().hex() == "000000020000000000000005042042000000000000000000"
    assert ll.Create.decode(create.encode()) == create
    assert bytes(LLCreate(remote_node_id=2, number=5, distil=2, pl1=0x42)) == create.encode()
    assert DistilRequest.from_create(create).hop is not None


@pytest.mark.parametrize("value", [0x01, 0xC1, 0x50, 0x80, 0x10, 0xA1])
def test_undefined_rule_bytes_are_refused(value: int) -> None:
    with pytest.raises(Exception, match="distillation rule"):
        read_rule(Reader(HopRule(1, 2, 3, 4, 0).encode()[:10] + bytes([value, 0]), 0))


def test_scenario_errors_name_the_key() -> None:
    text = chain_text(2, workload=entry(pairs=1, distill="often"))
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.distill: expected"):
        load_text(text, "<x>")
    text = chain_text(2, workload=entry(pairs=1) + 'distill = { protocol = "dejmps", rounds = 16 }\n')
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.distill\.rounds"):
        load_text(text, "<x>")
    text = chain_text(1, workload=entry(pairs=1, service="link", distill="auto"))
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.distill: applies to network-layer requests only"):
        load_text(text, "<x>")


# -- end to end against the closed forms ----------------------------------------------------------
def run_one_hop(rule: str, pairs: int, depolarizing: float, seed: int = 1) -> dict:
    text = chain_text(1, workload=entry(pairs=pairs, service="network") + rule, depolarizing=depolarizing,
                      qpu=PERFECT, seed=seed)
    result = run_scenario(load_text(text, "<one hop>"))
    assert broken_promises(result) == []
    report = build_report(result)
    (circuit,) = report["circuits"]
    assert circuit["pairs_matched"] == pairs and circuit["bell_mismatches"] == 0
    return circuit


@pytest.mark.parametrize("protocol", ["bbpssw", "dejmps"])
def test_one_round_matches_the_closed_forms(protocol: str) -> None:
    d = 0.3
    f = 1 - 3 * d / 4                                                       # 0.775
    if protocol == "bbpssw":
        p, f_out = bbpssw(f)
    else:
        p, out = dejmps(werner_abcd(f), werner_abcd(f))
        f_out = out[0]
    pairs = 3000                  # 4 standard errors of the measured fidelity (~0.0085 each) below F' − F
    circuit = run_one_hop(f'distill = {{ protocol = "{protocol}", rounds = 1 }}\n', pairs, d)
    hop = circuit["hops_detail"][0]["distillation"]
    n = hop["rounds_attempted"]
    assert hop["rounds_succeeded"] == pairs
    assert abs(hop["success_measured"] - p) <= SIGMAS * math.sqrt(p * (1 - p) / n)
    assert abs(hop["fidelity_before_estimated"] - f) < 1e-4
    assert abs(circuit["fidelity_measured"] - f_out) <= SIGMAS * circuit["fidelity_stderr"]
    assert f_out - f > SIGMAS * circuit["fidelity_stderr"]                  # the check can tell distilled pairs
    assert abs(hop["fidelity_after_estimated"] - f_out) < 1e-3              # the tracked estimate, Werner inputs


def test_the_pool_estimate_counts_the_moves_to_storage() -> None:
    """Both ends have storage and gate fidelity f = 0.97: the link layer moves each half there before its OK
    (a one-qubit depolarising gate, w ↦ f·w) when a storage qubit is free, and its Goodness counts this end's
    move if it made one and the peer's (assumed, the peer has storage); the pool moves a half the link layer
    could not later, and adds that move then. So the pooled pairs' estimate at entry lies between ¼ + ¾·w·f²
    (both moved) and ¼ + ¾·w·f (only the peer's counted), and the distilled pairs' estimate (with the round's
    own gate noise) agrees with their measured fidelity within 4 standard errors."""
    d, f, pairs = 0.3, 0.97, 2000
    w = (4 * (1 - 3 * d / 4) - 1) / 3
    text = chain_text(1, workload=entry(pairs=pairs, service="network") + 'distill = { protocol = "bbpssw", '
                      'rounds = 1 }\n', depolarizing=d, qpu=f"gate_fidelity = {f}\n", storage=2)
    result = run_scenario(load_text(text, "<one hop, noisy moves>"))
    assert broken_promises(result) == []
    (circuit,) = build_report(result)["circuits"]
    hop = circuit["hops_detail"][0]["distillation"]
    assert circuit["pairs_matched"] == pairs
    both, one = 0.25 + 0.75 * w * f * f, 0.25 + 0.75 * w * f
    assert both - 1e-4 < hop["fidelity_before_estimated"] < one + 1e-4                  # Goodness: 16 bits
    assert abs(circuit["fidelity_measured"] - hop["fidelity_after_estimated"]) <= SIGMAS * circuit["fidelity_stderr"]


def test_pumping_two_rounds_matches_the_chained_map() -> None:
    d = 0.3
    f = 1 - 3 * d / 4
    _, level1 = dejmps(werner_abcd(f), werner_abcd(f))
    _, level2 = dejmps(level1, werner_abcd(f))                              # pumping: a fresh elementary pair
    circuit = run_one_hop('distill = { protocol = "dejmps", rounds = 2, schedule = "pumping" }\n', 1800, d)
    assert abs(circuit["fidelity_measured"] - level2[0]) <= SIGMAS * circuit["fidelity_stderr"]
    assert circuit["hops_detail"][0]["distillation"]["distilled_pairs"] == 1800


def test_auto_distillation_is_what_meets_a_high_minimum_fidelity() -> None:
    """Link pairs of F = 0.8875 and a request for 0.9: refused (UNSUPP) without distillation; with auto the tail
    picks one DEJMPS round per hop and every delivered pair is measured above the minimum (within errors)."""
    workload = entry(pairs=600, service="network", min_fidelity=0.9)
    plain = build_report(run_scenario(load_text(chain_text(1, workload=workload, depolarizing=0.15, qpu=PERFECT),
                                                "<plain>")))
    assert plain["circuits"][0]["errors"]["head"] == ["UNSUPP"] and plain["circuits"][0]["pairs_delivered"] == 0
    auto = build_report(run_scenario(load_text(chain_text(1, workload=workload + 'distill = "auto"\n',
                                                          depolarizing=0.15, qpu=PERFECT), "<auto>")))
    (circuit,) = auto["circuits"]
    assert circuit["pairs_delivered"] == 600 and circuit["hops_detail"][0]["distil"] == "DEJMPS recurrence x1"
    assert circuit["fidelity_measured"] >= 0.9 - SIGMAS * circuit["fidelity_stderr"]
    hopeless = entry(pairs=10, service="network", min_fidelity=0.9999) + 'distill = "auto"\n'
    none = build_report(run_scenario(load_text(chain_text(1, workload=hopeless, depolarizing=0.15,
                                                          qpu="gate_fidelity = 0.99\n"), "<hopeless>")))
    assert none["circuits"][0]["errors"]["head"] == ["UNSUPP"]                # no policy can: a clear ERR


def test_a_three_hop_chain_with_a_round_per_hop_delivers_better_pairs() -> None:
    workload = entry(pairs=300, service="network")
    kwargs = {"depolarizing": 0.1, "qpu": PERFECT}
    plain = build_report(run_scenario(load_text(chain_text(3, workload=workload, **kwargs), "<plain>")))
    distilled = build_report(run_scenario(load_text(chain_text(
        3, workload=workload + 'distill = { protocol = "dejmps", rounds = 1 }\n', **kwargs), "<distilled>")))
    a, b = plain["circuits"][0], distilled["circuits"][0]
    assert a["pairs_matched"] == b["pairs_matched"] == 300
    assert b["fidelity_model"] > a["fidelity_model"]
    assert b["fidelity_measured"] - a["fidelity_measured"] > 0
    assert all(h["distillation"]["distilled_pairs"] >= 300 for h in b["hops_detail"])


@pytest.mark.parametrize("seed", [1, 2])
def test_no_pair_at_one_end_only_under_classical_loss(seed: int) -> None:
    """tests/test_network_robustness.py's lossy chain (about 20 % of datagrams lost and duplicated per hop, jitter
    that reorders) with distilling hops: BBPSSW on the keep entry, DEJMPS pumping on the measure entry (a fixed
    basis here; an explicit rule with random bases is served too). Memories do not decay here (every request must
    finish) and the repeaters have room for both circuits' windows of 2."""
    text = SCENARIO.format(duration=60_000, seed=seed, loss=PER_FIBRE)
    text = text.replace("storage_qubits = 2", "storage_qubits = 6").replace("t2_ms = 50.0", "t2_ms = inf")
    text = text.replace("min_fidelity = 0.85\n", 'min_fidelity = 0.85\ndistill = { protocol = "bbpssw", rounds = 1 }\n')
    text = text.replace('basis = "XZ"\n', 'basis = "X"\ndistill = { protocol = "dejmps", rounds = 2, '
                                            'schedule = "pumping" }\n')
    result = run_scenario(load_text(text, "<lossy>"))
    assert result.generation_end_ns < 60_000 * 1e6, "a request never finished"
    assert_ended_at_both_ends(result)
    report = build_report(result)
    assert all(c["distillation"]["rounds_attempted"] > 100 for c in report["circuits"])
    assert sum(node["lost"] for node in report["nodes"].values()) > 100          # the channel was lossy
    assert report["circuits"][0]["fidelity_measured"] >= 0.85 - SIGMAS * report["circuits"][0]["fidelity_stderr"]
    assert all(engine.settled() for engine in result.emulation.network_layers)


def test_distil_messages_appear_in_a_capture_and_decode(tmp_path: Path) -> None:
    if not have_tshark():
        if os.environ.get("QNET_REQUIRE_TSHARK"):
            raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
        pytest.skip("tshark is not on PATH")
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(chain_text(2, workload=entry(pairs=6) + 'distill = { protocol = "bbpssw", rounds = 2 }\n',
                                   depolarizing=0.1, storage=4))      # recurrence x2: 3 pairs held per hop
    pcap = tmp_path / "run.pcap"
    assert main(["run", str(scenario), "--quiet", "--pcap", str(pcap)]) == 0
    kinds = assert_matches_scapy(pcap)
    assert kinds["QNCP_DISTIL"] >= 2 * 3 * 6 and kinds["QNCP_DISTIL_ACK"] >= kinds["QNCP_DISTIL"] // 2
    assert kinds["QNCP_SETUP_REPLY"] >= 1 and kinds["NS_CREATE"] == 1


def test_the_api_asks_for_distillation() -> None:
    """A script's CREATE carries the rule (Distil EXPLICIT, PL1): with it a request for F ≥ 0.9 over link pairs of
    F = 0.8875 gets its pairs; without it the network layer refuses it (ERR UNSUPP)."""
    got: dict[str, list[object]] = {"with": [], "without": []}

    def asking(distill: str | tuple[str, str, int], into: str):  # type: ignore[no-untyped-def]
        async def app(ctx: AppContext) -> None:
            await ctx.create("b", pairs=5, min_fidelity=0.9, service="network", distill=distill)
            for _ in range(5):
                message = await ctx.next_message()
                got[into].append(message)
                if isinstance(message, ll.Err):
                    return
                await ctx.measure(message.lqid, Basis.Z)
        return app

    async def listening(ctx: AppContext) -> None:
        for _ in range(5):
            ok = await ctx.next_message()
            await ctx.measure(ok.lqid, Basis.Z)

    scenario = load_text(chain_text(1, workload="", depolarizing=0.15, qpu=PERFECT), "<api>")
    run_apps(scenario, {"a": asking(("dejmps", "recurrence", 1), "with"), "b": listening})
    assert len(got["with"]) == 5 and all(isinstance(m, ll.OkKeep) for m in got["with"])
    run_apps(scenario, {"a": asking("none", "without")})         # refused at the head: nothing reaches b
    assert isinstance(got["without"][0], ll.Err) and got["without"][0].err == ll.ERR_UNSUPP
    with pytest.raises(ValueError, match="distillation rule"):
        distil_request("explicit", ("dejmps", "sometimes", 1))


def test_the_example_succeeds_because_it_distils() -> None:
    """examples/distillation.toml: its request for F ≥ 0.92 is served with `distill = "auto"` (delivered pairs
    measured at or above 0.92 within errors) and refused with ERR UNSUPP without it."""
    text = (Path(__file__).resolve().parent.parent / "examples" / "distillation.toml").read_text()
    text = text.replace("pairs = 150", "pairs = 90")
    report = build_report(run_scenario(load_text(text, "<example>")))
    (circuit,) = report["circuits"]
    assert circuit["pairs_delivered"] == 90 and circuit["errors"] == {"head": [], "tail": []}
    assert all(hop["distil"] for hop in circuit["hops_detail"]) and circuit["distillation"]["rounds_succeeded"] > 0
    assert circuit["fidelity_measured"] >= 0.92 - SIGMAS * circuit["fidelity_stderr"]
    plain = build_report(run_scenario(load_text(text.replace('distill = "auto"\n', ""), "<example>")))
    assert plain["circuits"][0]["errors"]["head"] == ["UNSUPP"] and plain["circuits"][0]["pairs_delivered"] == 0


@pytest.mark.parametrize("module", [policy, distil_state, qncp_caps])
def test_docstring_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0            # type: ignore[arg-type]


def test_a_round_decides_once() -> None:
    """The round state machine: the initiator decides on DISTIL_ACK, the responder on its own result; a decided
    round takes no further event."""
    transitions = distil_state.ROUND_TRANSITIONS
    assert {state for state, _ in transitions} == {distil_state.RoundState.MEASURING,
                                                   distil_state.RoundState.AWAITING_PEER}
    assert transitions[(distil_state.RoundState.MEASURING, distil_state.RoundEvent.RESULT)] == \
        distil_state.RoundState.AWAITING_PEER
    rule = policy.DistilRule.from_byte(0x81)
    assert rule is not None
    pending = distil_state.Round((1, 1), (1, 2), 0, True, 0, None, (0, 1))  # type: ignore[arg-type]
    pending.fire(distil_state.RoundEvent.RESULT)
    pending.fire(distil_state.RoundEvent.MATCH)
    with pytest.raises(RuntimeError, match="no transition"):
        pending.fire(distil_state.RoundEvent.LOST)


def test_distillation_records_cross_the_multi_process_boundary() -> None:
    """A node process sends its circuit records as JSON (dataclasses.asdict); the medium reads them back."""
    stats = CircuitStats("repeater", (1, 3, 2), distil=["DEJMPS recurrence x1", ""])
    stats.distillation[7] = distil_state.DistilStats(10, 6, 5, 5, 4.2, 8.8, 4.6)
    back = stats_from_json(json.loads(json.dumps(dataclasses.asdict(stats))))
    assert back == stats
