"""End-to-end distillation (issue 14): a circuit's two ends distil its end-to-end pairs before delivering them.

Oracles, written out here independently of protocols/network/distillation.py:

- BBPSSW on Werner inputs F1 = F2 = F (the issue's formula): p = F² + 2F(1 − F)/3 + 5(1 − F)²/9,
  F' = [F² + (1 − F)²/9] / p. DEJMPS on Werner inputs gives the same first round (its map with A = F,
  B = C = D = (1 − F)/3: N = (A + B)² + (C + D)², A' = (A² + B²)/N).
- Coupler links with depolarising probability d make Werner pairs of F = 1 − 3d/4; perfect swaps of Werner
  pairs give Werner end-to-end pairs of F = ¼ + ¾ ∏ (4Fᵢ − 1)/3 (no memory decay, perfect gates and readout).

The measured success probability is the tail's rounds succeeded / attempted (binomial); the measured fidelity
the report's, from both ends' outcomes in Z, X and Y. Each check allows 4 standard errors (two-sided
p ≈ 6e-5). An engine keeping every pair would show success 1 (here p ≈ 0.745, standard error ≈ 0.012), one
keeping on the wrong parity a fidelity far below F (the failing branch's) instead of F' ≈ 0.81.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from protocols.common import Basis
from protocols.network import plans, rules
from protocols.network.distil_state import DistilStats
from protocols.network.policy import DistilRequest, distil_request
from protocols.network.topology import Fibre, NodeCaps, Topology
from protocols.network.types import CircuitStats
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Distil
from protocols.packets.qncp_common import DISTIL, SCOPE_END_TO_END, SCOPE_HOP
from protocols.packets.scapy_layers.qncp import QNCP
from stack.api import AppContext, run_apps
from stack.cli import main
from stack.multiprocess.results import stats_from_json
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import ScenarioError, load_text
from tests.consistency import assert_ended_at_both_ends, broken_promises
from tests.network_scenarios import chain_text, entry
from tests.test_network_robustness import PER_FIBRE, SCENARIO
from tests.tshark_codec import assert_network_matches_codec
from tests.tshark_util import assert_matches_scapy, have_tshark, tshark_columns

SIGMAS = 4
PERFECT = "gate_fidelity = 1.0\nreadout_fidelity = 1.0\n"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "distillation_e2e.toml"


def bbpssw(f: float) -> tuple[float, float]:
    p = f * f + 2 * f * (1 - f) / 3 + 5 * (1 - f) ** 2 / 9
    return p, (f * f + (1 - f) ** 2 / 9) / p


# -- wire -----------------------------------------------------------------------------------------
def test_end_to_end_distil_golden_both_ways() -> None:
    """wire.md §9.3.8's example: the Outcome byte carries outcome, keep parity and survivor."""
    m = Distil(DISTIL, 0x0101, 1, 0x8001, 7, 2, SCOPE_END_TO_END, 2, 8, 0, 1, keep_parity=0, survivor=1)
    golden = "011000000101001800000001" "8001" "0007" "0002" "01" "02" "0008" "00" "05"
    assert m.encode().hex() == golden
    assert Distil.decode_body(bytes.fromhex(golden), DISTIL, 0, 0, 0x0101, 1) == m
    layer = QNCP(bytes.fromhex(golden))
    assert (layer.outcome, layer.keep_parity, layer.survivor, layer.outcome_reserved) == (1, 0, 1, 0)
    assert bytes(layer) == m.encode()
    for scope, value in ((SCOPE_HOP, 2), (SCOPE_END_TO_END, 0x10)):      # HOP has only bit 0; bits 4-7 reserved
        bad = Distil(DISTIL, 0x0101, 1, 0x8001, 7, 2, scope, 2, 8, 0, value).encode()
        with pytest.raises(Exception, match="outcome"):
            Distil.decode_body(bad, DISTIL, 0, 0, 0x0101, 1)


# -- the closed forms, end to end -----------------------------------------------------------------
D = 0.3
F = 1 - 3 * D / 4                                                           # 0.775 over one hop
PAIRS = 1000


@pytest.fixture(scope="module")
def one_hop() -> dict[str, Any]:
    """One circuit over one hop (TRACK, CONFIRM and the END_TO_END rounds between its two ends), one DEJMPS round
    end to end; 1000 pairs (~2700 end-to-end pairs) keep the run cheap. The success probability (standard error
    ~0.012) is the sharp statistic; the measured fidelity's (~0.016) is about 40 % of F' − F, so it checks the
    level but cannot on its own tell distilled pairs from undistilled ones (the pumping test below can)."""
    workload = entry(pairs=PAIRS, service="network") + 'distill = { end = { protocol = "dejmps", rounds = 1 } }\n'
    result = run_scenario(load_text(chain_text(1, workload=workload, depolarizing=D, qpu=PERFECT, storage=4),
                                    "<one hop>"))
    assert broken_promises(result) == []
    assert all(engine.settled() for engine in result.emulation.network_layers)
    (circuit,) = build_report(result)["circuits"]
    return circuit


def test_one_end_to_end_round_matches_the_closed_forms(one_hop: dict[str, Any]) -> None:
    p, f_out = bbpssw(F)
    end = one_hop["end_distillation"]
    assert one_hop["pairs_matched"] == PAIRS and one_hop["bell_mismatches"] == 0
    assert one_hop["end_distil"] == "DEJMPS recurrence x1" and one_hop["errors"] == {"head": [], "tail": []}
    n = end["rounds_attempted"]
    assert end["rounds_succeeded"] == end["distilled_pairs"] == PAIRS
    assert abs(end["success_measured"] - p) <= SIGMAS * math.sqrt(p * (1 - p) / n)
    assert abs(end["success_estimated"] - p) < 1e-3
    assert abs(end["fidelity_before_estimated"] - F) < 1e-3
    assert abs(end["fidelity_after_estimated"] - f_out) < 1e-3
    assert abs(one_hop["fidelity_measured"] - f_out) <= SIGMAS * one_hop["fidelity_stderr"]


def test_two_hops_bbpssw_through_the_repeater() -> None:
    """Two hops: the ends' rounds act on swapped Werner pairs of F = ¼ + ¾ w², BBPSSW's p and F' (the success
    probability, the sharper statistic at this size, within 4 standard errors)."""
    d = 0.2
    w = (4 * (1 - 3 * d / 4) - 1) / 3
    f = 0.25 + 0.75 * w * w
    p, f_out = bbpssw(f)
    workload = entry(pairs=300, service="network") + 'distill = { end = { protocol = "bbpssw", rounds = 1 } }\n'
    result = run_scenario(load_text(chain_text(2, workload=workload, depolarizing=d, qpu=PERFECT, storage=4), "<2>"))
    assert broken_promises(result) == []
    (circuit,) = build_report(result)["circuits"]
    end = circuit["end_distillation"]
    assert circuit["pairs_matched"] == 300 and circuit["bell_mismatches"] == 0
    assert abs(end["success_measured"] - p) <= SIGMAS * math.sqrt(p * (1 - p) / end["rounds_attempted"])
    assert abs(end["fidelity_before_estimated"] - f) < 1e-3 and abs(end["fidelity_after_estimated"] - f_out) < 1e-3
    assert abs(circuit["fidelity_measured"] - f_out) <= SIGMAS * circuit["fidelity_stderr"]
    assert circuit["messages"]["DISTIL"] >= end["rounds_attempted"]


# -- robustness -----------------------------------------------------------------------------------
def test_no_pair_at_one_end_only_under_classical_loss() -> None:
    """tests/test_network_robustness.py's lossy chain (about 20 % of datagrams lost and duplicated per hop, jitter
    that reorders) with the keep entry's ends distilling (BBPSSW, one round): every request ends at both ends
    with the same pairs, and the rounds ran."""
    text = SCENARIO.format(duration=60_000, seed=1, loss=PER_FIBRE)
    text = text.replace("storage_qubits = 2", "storage_qubits = 6").replace("t2_ms = 50.0", "t2_ms = inf")
    text = text.replace("min_fidelity = 0.85\n", 'min_fidelity = 0.85\ndistill = { end = { protocol = "bbpssw" } }\n')
    result = run_scenario(load_text(text, "<lossy>"))
    assert result.generation_end_ns < 60_000 * 1e6, "a request never finished"
    assert_ended_at_both_ends(result)
    report = build_report(result)
    assert report["circuits"][0]["end_distillation"]["rounds_attempted"] > 50
    assert sum(node["lost"] for node in report["nodes"].values()) > 100          # the channel was lossy
    assert all(engine.settled() for engine in result.emulation.network_layers)


# -- policy, scenario, API, capture ---------------------------------------------------------------
def test_the_example_succeeds_because_its_ends_distil() -> None:
    """examples/distillation_e2e.toml: a repeater's readout errors spoil swapped pairs, which hop rounds cannot
    undo. Without `distill` the request is refused (UNSUPP); with "auto" the tail picks end-to-end rounds and
    the delivered pairs are measured at or above the minimum (within errors)."""
    text = EXAMPLE.read_text()
    report = build_report(run_scenario(load_text(text, "<example>")))
    (circuit,) = report["circuits"]
    assert circuit["errors"] == {"head": [], "tail": []} and circuit["pairs_delivered"] == circuit["pairs_requested"]
    assert circuit["end_distil"] and not any(hop["distil"] for hop in circuit["hops_detail"])
    assert circuit["fidelity_measured"] >= 0.92 - SIGMAS * circuit["fidelity_stderr"]
    plain = build_report(run_scenario(load_text(text.replace('distill = "auto"\n', ""), "<example>")))
    assert plain["circuits"][0]["errors"]["head"] == ["UNSUPP"]


def test_hop_rules_cannot_meet_what_end_rules_can() -> None:
    """The planner on a two-hop path whose repeater's readout errs 5 % of the time: no hop rule reaches 0.92,
    an end-to-end rule does; a measure-directly request cannot have one (UNSUPP)."""
    good = (rules.OptionCap(0.01, (0.985, 0.005, 0.005, 0.005)),)
    node = dict(communication_qubits=2, storage_qubits=4, free_qubits=6, bsm_success=1.0, t1_ns=math.inf,
                t2_ns=math.inf, gate_fidelity=0.999, gate_ns=1000, readout_ns=1000)
    nodes = [rules.NodeCap(1, readout_fidelity=0.999, **node), rules.NodeCap(2, readout_fidelity=0.95, **node),
             rules.NodeCap(3, readout_fidelity=0.999, **node)]
    links = [rules.LinkCap(1, 0x8001, 2, 1000, 5000, good), rules.LinkCap(2, 0x8002, 3, 1000, 5000, good)]
    demand = rules.Demand(0.92, 10)
    for hop_rule in ("dejmps", "bbpssw"):
        hop_only = distil_request("explicit", (hop_rule, "recurrence", 2))
        assert plans.decide(demand, (1, 2, 3), nodes, links, 0, hop_only) == ll.ERR_UNSUPP
    decided = plans.decide(demand, (1, 2, 3), nodes, links, 0, DistilRequest(ll.DISTIL_AUTO))
    assert isinstance(decided, rules.CircuitRules) and decided.end_distil is not None
    assert all(hop.distil is None for hop in decided.hops) and decided.window >= decided.end_distil.held
    assert plans.decide(demand, (1, 2, 3), nodes, links, 0, DistilRequest(ll.DISTIL_AUTO), keep=False) == ll.ERR_UNSUPP


def test_scenario_and_api_spellings() -> None:
    text = chain_text(2, workload=entry(kind="measure", pairs=1) + 'distill = { end = { rounds = 1 } }\n')
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.distill: an end-to-end rule needs type"):
        load_text(text, "<x>")
    text = chain_text(2, workload=entry(pairs=1) + 'distill = { end = { rounds = 16 } }\n')
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.distill\.end\.rounds"):
        load_text(text, "<x>")
    text = chain_text(2, workload=entry(pairs=1) + 'distill = { hop = {}, ends = {} }\n')
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.distill\.ends: unknown"):
        load_text(text, "<x>")
    both = distil_request("explicit", ("bbpssw", "pumping", 2), ("dejmps", "recurrence", 1))
    assert both.create_fields() == {"distil": 2, "pl1": 0x52, "pl2": 0x81}
    assert DistilRequest.from_create(ll.Create(2, **both.create_fields())) == both


def test_the_api_asks_for_end_to_end_rounds() -> None:
    """create(distill={"end": rule}): the script's pairs come distilled (the report's rule), OKs at both ends."""
    got: list[object] = []

    async def asking(ctx: AppContext) -> None:
        try:
            await ctx.create("b", pairs=4, service="network", distill={"ends": ("dejmps", "recurrence", 1)})
        except ValueError as error:
            got.append(str(error))
        await ctx.create("b", pairs=4, service="network", distill={"end": ("dejmps", "recurrence", 1)})
        for _ in range(4):
            message = await ctx.next_message()
            got.append(message)
            await ctx.measure(message.lqid, Basis.Z)

    async def listening(ctx: AppContext) -> None:
        for _ in range(4):
            ok = await ctx.next_message()
            await ctx.measure(ok.lqid, Basis.Z)

    scenario = load_text(chain_text(2, workload="", depolarizing=0.1, qpu=PERFECT, storage=4), "<api>")
    run_apps(scenario, {"a": asking, "b": listening})
    assert got[0] == "distill: unknown key 'ends' (expected hop and/or end)"
    assert len(got) == 5 and all(isinstance(m, ll.OkKeep) for m in got[1:])


def test_end_to_end_distil_in_a_capture_decodes(tmp_path: Path) -> None:
    if not have_tshark():
        if os.environ.get("QNET_REQUIRE_TSHARK"):
            raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
        pytest.skip("tshark is not on PATH")
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(chain_text(2, workload=entry(pairs=4) + 'distill = { end = { protocol = "bbpssw" } }\n',
                                   depolarizing=0.1, storage=4))
    pcap = tmp_path / "run.pcap"
    assert main(["run", str(scenario), "--quiet", "--pcap", str(pcap)]) == 0
    kinds = assert_matches_scapy(pcap)
    assert kinds["QNCP_DISTIL"] >= 4 and kinds["QNCP_DISTIL_ACK"] >= 4
    codec = assert_network_matches_codec(pcap)
    assert (codec["QNCP_DISTIL"], codec["QNCP_DISTIL_ACK"]) == (kinds["QNCP_DISTIL"], kinds["QNCP_DISTIL_ACK"])
    # the Outcome byte's three fields, each its own tshark field as in the codec (wire.md §9.3.8); the run
    # announces survivors other than Φ+ (so a whole-byte `outcome` would disagree)
    rows = tshark_columns(pcap, "qncp.outcome", "qncp.keep_parity", "qncp.survivor",
                          options=("-Y", "qncp.msg_type == 16"))
    assert len(rows) == kinds["QNCP_DISTIL"] and {row[0] for row in rows} == {"0", "1"}
    assert {row[2] for row in rows} - {"0"}, rows


def test_end_distillation_records_cross_the_multi_process_boundary() -> None:
    """A node process sends its circuit records as JSON (dataclasses.asdict); the medium reads them back."""
    stats = CircuitStats("tail", (1, 3, 2), end_distil="DEJMPS recurrence x1")
    stats.end_distillation = DistilStats(12, 6, 5, 5, 4.2, 10.1, 4.6)
    back = stats_from_json(json.loads(json.dumps(dataclasses.asdict(stats))))
    assert back == stats and isinstance(back.end_distillation, DistilStats)


# -- the model's wait for DISTILs under classical loss --------------------------------------------
def test_retransmitted_distils_cost_memory_time_in_the_model() -> None:
    """A round's expected wait includes (1 − s)/s retransmission timeouts, s = delivery² (both directions must
    arrive): the tail decays the pairs for it, so on lossy fibres with short memories a distilled hop, and an
    end-to-end rule, look worse than on clean ones."""
    assert rules.retry_ns(1.0, 1e6) == 0.0
    assert math.isclose(rules.retry_ns(0.8, 1e6), (1 - 0.64) / 0.64 * 1e6)
    fibres = [Fibre(1, 9, 1000, 0, 0.2), Fibre(9, 2, 1000, 0, 0.1)]
    caps = [NodeCaps(n, f"n{n}", f"10.0.0.{n}", "station" if n == 9 else "qpu") for n in (1, 2, 9)]
    topology = Topology(caps, [], fibres)
    assert math.isclose(topology.delivery(1, 2), 0.8 * 0.9)
    option = (rules.OptionCap(0.01, (0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3)),)
    node = dict(communication_qubits=2, storage_qubits=4, free_qubits=6, bsm_success=1.0, t1_ns=math.inf,
                t2_ns=5e6, gate_fidelity=1.0, readout_fidelity=1.0, gate_ns=1000, readout_ns=1000)
    nodes = [rules.NodeCap(1, **node), rules.NodeCap(2, **node)]
    links = [rules.LinkCap(1, 0x8001, 2, 1000, 5000, option)]
    demand = rules.Demand(0.0, 10)
    request = distil_request("explicit", ("dejmps", "recurrence", 1), ("dejmps", "recurrence", 1))
    clean = plans.decide(demand, (1, 2), nodes, links, 0, request)
    lossy = plans.decide(demand, (1, 2), nodes, links, 0, request, retries=rules.Retries((2e6,), 2e6))
    assert isinstance(clean, rules.CircuitRules) and isinstance(lossy, rules.CircuitRules)
    assert lossy.hops[0].option.fidelity < clean.hops[0].option.fidelity - 0.05
    assert lossy.expected_pair_ns > clean.expected_pair_ns           # fewer rounds succeed on staler pairs


def test_an_explicit_rule_with_random_bases_is_served() -> None:
    """A measure-directly request with random bases (RL/RR: XZ) and an explicit hop rule in PL1 (BBPSSW x1, byte
    0x41): served, the head drawing its basis uniformly. Read as a probability the rule byte would give Z
    65/255 ≈ 0.25: over 200 pairs the count of Z (binomial, standard error ~7) tells the two apart at 4σ."""
    pairs = 200
    workload = entry(kind="measure", pairs=pairs, service="network", basis="XZ") + \
        'distill = { protocol = "bbpssw", rounds = 1 }\n'
    result = run_scenario(load_text(chain_text(1, workload=workload, depolarizing=0.1, qpu=PERFECT), "<xz>"))
    assert broken_promises(result) == []
    (workload_run,) = result.emulation.workloads
    assert workload_run.origin.errors == workload_run.responder.errors == []
    (circuit,) = build_report(result)["circuits"]
    assert circuit["pairs_matched"] == pairs and circuit["hops_detail"][0]["distil"] == "BBPSSW recurrence x1"
    z = sum(1 for record in workload_run.origin.records if record.basis == Basis.Z)
    assert abs(z - pairs / 2) <= SIGMAS * math.sqrt(pairs / 4)


def dejmps(a1: tuple[float, ...], a2: tuple[float, ...]) -> tuple[float, tuple[float, float, float, float]]:
    """The issue's DEJMPS map on (A, B, C, D) = (Φ+, Ψ−, Ψ+, Φ−)."""
    (A1, B1, C1, D1), (A2, B2, C2, D2) = a1, a2
    n = (A1 + B1) * (A2 + B2) + (C1 + D1) * (C2 + D2)
    return n, ((A1 * A2 + B1 * B2) / n, (C1 * D2 + D1 * C2) / n, (C1 * C2 + D1 * D2) / n, (A1 * B2 + B1 * A2) / n)


def test_end_to_end_pumping_follows_the_dejmps_map() -> None:
    """DEJMPS pumping, two rounds end to end over one hop: the second round takes the first's non-Werner output
    and a fresh pair through the issue's map. Per distilled pair the tail runs 1/p₂ second rounds (each after a
    first-round success, which takes 1/p₁ tries) and one of them succeeds: (1/p₁ + 1)/p₂ rounds of which
    1/p₂ + 1 succeed, a success ratio of p₁(1 + p₂)/(1 + p₁) (4 binomial standard errors); the estimate is the
    map's fidelity, the measured fidelity within 4 standard errors of it."""
    pairs = 600
    werner = (F, (1 - F) / 3, (1 - F) / 3, (1 - F) / 3)
    p1, level1 = dejmps(werner, werner)
    p2, level2 = dejmps(level1, werner)
    workload = entry(pairs=pairs, service="network") + \
        'distill = { end = { protocol = "dejmps", rounds = 2, schedule = "pumping" } }\n'
    result = run_scenario(load_text(chain_text(1, workload=workload, depolarizing=D, qpu=PERFECT, storage=4), "<p>"))
    assert broken_promises(result) == []
    (circuit,) = build_report(result)["circuits"]
    end = circuit["end_distillation"]
    assert circuit["pairs_matched"] == pairs and end["distilled_pairs"] == pairs
    ratio, n = p1 * (1 + p2) / (1 + p1), end["rounds_attempted"]
    assert abs(end["success_measured"] - ratio) <= SIGMAS * math.sqrt(ratio * (1 - ratio) / n)
    assert abs(end["fidelity_after_estimated"] - level2[0]) < 1e-3
    assert abs(circuit["fidelity_measured"] - level2[0]) <= SIGMAS * circuit["fidelity_stderr"]
    assert circuit["fidelity_measured"] - F > 2 * circuit["fidelity_stderr"]       # F₂ − F ≈ 0.09 ≈ 4.5σ: distilled
