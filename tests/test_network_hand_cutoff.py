"""A cutoff set by hand (the scenario's ``cutoff_us``): the tail decides the whole circuit for it (the options, the
model state D_mid and F_worst the SETUP_REPLY carries, the hold limit) and refuses (UNSUPP) a Minimum Fidelity it
cannot keep, against closed forms written here.

Two Werner hops (parameters w₁, w₂), perfect gates and readout taking no time, T1 = ∞ and dephasing T2 at every
node. Dephasing for t multiplies two of a Bell-diagonal pair's three non-trivial characters by e^(−t/T2), so

The repeater (node 20) is its left hop's non-master: that half reaches it one hop delay δ after its herald
round trip (the link layer's CONFIRM), the right hop's half at once; both hops attempt on one grid of cycle c.

- F_worst(τ) = ¼ + (w₁w₂/4)(1 + 2e^(−S/T2)), S = τ (the repeater's earlier half) + δ (the CONFIRM wait)
  + 2(τ + L) (both ends' halves);
- D_mid[0](τ) = ¼ + (w₁w₂/4)(1 + 2e^(−δ/T2)·E[e^(−W/T2) | W ≤ τ]), W = |m·c + δ| the wait between the two
  halves' OKs for G_left − G_right = m (G geometric with success p: P(m) ∝ (1 − p)^|m|), summed here term by term.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

import stack.quantum.medium as medium_module
import stack.quantum.operations as operations
from protocols.network.model import Memory, characters
from protocols.network.rules import CircuitRules, Demand, LinkCap, NodeCap, OptionCap, decide
from protocols.network.waiting import Generation, waiting_memory_channel
from protocols.packets.linkservice import ERR_UNSUPP
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_text
from tests.network_scenarios import chain, entry

T2, CYCLE, DELAY, P = 1e6, 10_000, 2_000, 0.2
FIDELITIES = (0.97, 0.98)
LATENCY = 2 * DELAY * 2                     # the TRACK and CONFIRM legs over both hops, no BSM time, no margin


def werner(fidelity: float, success: float = P) -> OptionCap:
    other = (1 - fidelity) / 3
    return OptionCap(success, (fidelity, other, other, other))


def caps(options: tuple[tuple[OptionCap, ...], ...]) -> tuple[list[int], list[NodeCap], list[LinkCap]]:
    route = [10, 20, 30]
    nodes = [NodeCap(n, 2, 2, 4, 1.0, math.inf, T2, 1.0, 1.0, 0, 0) for n in route]
    links = [LinkCap(i + 1, 0x8000 + i, route[i + 1], CYCLE, DELAY, hop) for i, hop in enumerate(options)]
    return route, nodes, links


def werner_product(fidelities: tuple[float, ...]) -> float:
    return math.prod((4 * f - 1) / 3 for f in fidelities)


def worst_closed_form(tau: float, fidelities: tuple[float, ...] = FIDELITIES) -> float:
    return 0.25 + werner_product(fidelities) / 4 * (1 + 2 * math.exp(-(tau + DELAY + 2 * (tau + LATENCY)) / T2))


def mid_closed_form(tau: float, fidelities: tuple[float, ...] = FIDELITIES) -> float:
    waits = [(abs(m * CYCLE + DELAY), (1 - P) ** abs(m)) for m in range(-2_000, 2_000)]
    kept = [(wait, weight) for wait, weight in waits if wait <= tau]
    decay = sum(wt * math.exp(-wait / T2) for wait, wt in kept) / sum(wt for _, wt in kept)
    return 0.25 + werner_product(fidelities) / 4 * (1 + 2 * math.exp(-DELAY / T2) * decay)


@pytest.mark.parametrize("tau", [2_000, 9_999, 10_000, 35_000, 400_000])
def test_the_rules_are_for_the_cutoff_set_by_hand(tau: int) -> None:
    route, nodes, links = caps(tuple((werner(f),) for f in FIDELITIES))
    rules = decide(Demand(0.0, 10, cutoff_ns=tau), route, nodes, links)
    assert isinstance(rules, CircuitRules)
    assert (rules.cutoff_ns, rules.end_cutoff_ns, rules.hold_limit_ns) == (tau, tau + LATENCY, tau + LATENCY)
    assert rules.worst_fidelity == pytest.approx(worst_closed_form(tau), abs=1e-12)
    assert rules.model[0] == pytest.approx(mid_closed_form(tau), abs=1e-12)
    derived = decide(Demand(0.0, 10), route, nodes, links)             # no cutoff: waits are never truncated
    assert isinstance(derived, CircuitRules) and derived.cutoff_ns is None
    assert rules.model[0] >= derived.model[0] - 1e-15


def test_a_minimum_the_cutoff_cannot_keep_is_refused() -> None:
    tau = 60_000
    route, nodes, links = caps(tuple((werner(f),) for f in FIDELITIES))
    worst = worst_closed_form(tau)
    kept = decide(Demand(worst - 1e-6, 10, cutoff_ns=tau), route, nodes, links)
    assert isinstance(kept, CircuitRules) and kept.cutoff_ns == tau and kept.worst_fidelity >= worst - 1e-6
    assert decide(Demand(worst + 1e-6, 10, cutoff_ns=tau), route, nodes, links) == ERR_UNSUPP
    # the tail's own cutoff for that minimum is about τ (the longest that keeps it): derived, it is accepted
    derived = decide(Demand(worst + 1e-6, 10), route, nodes, links)
    assert isinstance(derived, CircuitRules) and derived.cutoff_ns is not None and derived.cutoff_ns < tau


def test_the_fastest_options_that_keep_the_minimum_at_that_cutoff() -> None:
    """The better (slower) option on a hop only when the fast one misses F_min at the cutoff set by hand."""
    tau, fast, slow = 20_000, werner(0.95, 0.3), werner(0.99, 0.05)
    route, nodes, links = caps(((fast, slow), (fast, slow)))
    both_fast = worst_closed_form(tau, (0.95, 0.95))
    one_slow = worst_closed_form(tau, (0.99, 0.95))
    rules = decide(Demand(both_fast - 1e-6, 10, cutoff_ns=tau), route, nodes, links)
    assert isinstance(rules, CircuitRules) and [h.option for h in rules.hops] == [fast, fast]
    rules = decide(Demand((both_fast + one_slow) / 2, 10, cutoff_ns=tau), route, nodes, links)
    assert isinstance(rules, CircuitRules) and sorted(h.option.fidelity for h in rules.hops) == [0.95, 0.99]
    assert rules.worst_fidelity == pytest.approx(one_slow, abs=1e-12)
    best = worst_closed_form(tau, (0.99, 0.99))
    assert decide(Demand(best + 1e-6, 10, cutoff_ns=tau), route, nodes, links) == ERR_UNSUPP


QPU = "gate_ns = 0\nreadout_ns = 0\nmove_ns = 0\n"
T2_MS, DEPOLARIZING, F_MIN = 0.2, 0.02, 0.85


def run(**keys: object) -> dict:
    """A lossless two-hop chain of Werner links (tests/test_network_cutoff.py's): its report and run."""
    result = run_scenario(chain(2, workload=entry(pairs=60, min_fidelity=F_MIN, **keys), qpu=QPU, t2_ms=T2_MS,
                                depolarizing=DEPOLARIZING, coupler_efficiency=0.1 / 0.64))
    report = build_report(result)
    report["result"] = result
    return report


def test_a_scenario_cutoff_the_minimum_allows_is_on_the_wire_and_keeps_it() -> None:
    """The tail's derived τ* for F_min (the longest that keeps it), then half of it set by hand: the
    SETUP_REPLY (the head's copy of the model) and every pair's Goodness are for the hand-set τ."""
    derived = run()["circuits"][0]
    tau_us = derived["cutoff_ns"] / 2 / 1000
    report = run(cutoff_us=tau_us)
    (circuit,) = report["circuits"]
    assert circuit["cutoff_ns"] == round(tau_us * 1000) < derived["cutoff_ns"]
    assert circuit["end_cutoff_ns"] - circuit["cutoff_ns"] == derived["end_cutoff_ns"] - derived["cutoff_ns"]
    assert circuit["fidelity_worst_model"] > derived["fidelity_worst_model"] >= F_MIN
    emulation = report["result"].emulation
    head_id = emulation.scenario.nodes["a"].node_id
    (layer,) = [layer for layer in emulation.network_layers if layer.node_id == head_id]
    head = layer.node.records[(head_id, emulation.workloads[0].origin.create_id)]
    assert head.model is not None and abs(head.model[0] - circuit["fidelity_model"]) < 3 / 65535
    assert head.model[0] > derived["fidelity_model"] + 10 / 65535       # not the derived τ's model
    records = emulation.workloads[0].origin.records
    assert len(records) == 60 and min(r.goodness for r in records) >= circuit["fidelity_worst_model"] - 2 / 65535


def test_a_scenario_cutoff_too_long_for_the_minimum_is_unsupp() -> None:
    """Twice the derived τ* (F_worst falls below F_min): refused, nothing delivered."""
    derived = run()["circuits"][0]
    report = run(cutoff_us=2 * derived["cutoff_ns"] / 1000)
    assert report["workload"][0]["errors"] == ["UNSUPP"] and report["workload"][0]["pairs_delivered"] == 0


SUB_CYCLE = """[run]
duration_ms = 5000.0
seed = 3
[nodes.a]
kind = "qpu"
storage_qubits = 0
[nodes.r]
kind = "qpu"
storage_qubits = 0
t2_ms = 0.02
[nodes.b]
kind = "qpu"
storage_qubits = 0
[nodes.st1]
kind = "station"
[nodes.st2]
kind = "station"
[links.a-r]
a = "a"
b = "r"
station = "st1"
length_km = 2.0
[links.r-b]
a = "r"
b = "b"
station = "st2"
length_km = 2.0
[[workload]]
node = "a"
remote = "b"
pairs = 300
cutoff_us = 10.0
"""


def test_a_cutoff_shorter_than_a_cycle_against_the_waits_the_medium_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    """a — r — b on two equal 2 km hops (cycle c = 10.794 µs, one-way delay δ = 9.794 µs), τ = 10 µs < c, T2 = 20 µs
    at r only, perfect gates and readout. r is the master of r — b and not of a — r: its a — r half comes δ
    after its herald (the CONFIRM), so two halves heralded in the same cycle reach r δ apart (m = 0: stored
    δ + δ in all beyond the options' herald round trips), and an a — r half heralded a cycle before its partner
    |−c + δ| = 1 µs before it (m = −1: δ + 1 µs); every other m waits longer than τ. The storage the medium
    applies at each swap (each half's age at the Bell measurement) is one of those two, as often as the model
    weighs them (P(m) ∝ (1 − p)^|m|: 1 : q), and the measured fidelity is the model's. The model of before (the
    halves never wait, no CONFIRM) gave 0.620 here for a measured 0.547 ± 0.012 (3,000 pairs; now 0.544)."""
    ages: list[tuple[int, int]] = []
    original = operations.bell_held

    def recording(medium, node, qa, qb, command, reply_to):  # type: ignore[no-untyped-def]
        start = max(medium.kernel.now, qa.ready_at, qb.ready_at)
        ages.append((start - qa.created, start - qb.created))
        return original(medium, node, qa, qb, command, reply_to)

    monkeypatch.setattr(operations, "bell_held", recording)
    monkeypatch.setattr(medium_module, "bell_held", recording)      # the medium's fast path calls it by name
    result = run_scenario(load_text(SUB_CYCLE, "<sub-cycle cutoff>"))
    report = build_report(result)
    (circuit,) = report["circuits"]
    link = report["links"][0]
    cycle, attempt = link["attempt_cycle_ns"], link["attempt_ns"]
    delta = link["one_way_delay_a_ns"] + link["one_way_delay_b_ns"]
    ids = {name: node["node_id"] for name, node in report["nodes"].items()}
    assert ids["a"] < ids["r"] < ids["b"] and circuit["cutoff_ns"] == 10_000 < cycle
    herald = cycle - attempt // 2                       # emission to herald back at r, each hop
    stored = Counter(left + right - 2 * herald for left, right in ages)
    assert set(stored) == {2 * delta, delta + cycle - delta} and sum(stored.values()) == len(ages) >= 300
    q = 1 - link["success_probability"]
    share, n = stored[2 * delta] / len(ages), len(ages)
    assert abs(share - 1 / (1 + q)) <= 4 * math.sqrt(share * (1 - share) / n)
    # the model's decay of r's dephasing characters (its wait and its CONFIRM) against the medium's storage
    hop = Generation(link["success_probability"], cycle)
    model = characters(waiting_memory_channel(hop, hop, Memory(math.inf, 2e4), 10_000, delta))[2]
    decays = [math.exp(-t / 2e4) for t in stored.elements()]
    mean = sum(decays) / n
    spread = math.sqrt(sum((d - mean) ** 2 for d in decays) / (n - 1) / n)
    assert model * math.exp(-delta / 2e4) == pytest.approx(mean, abs=4 * spread + 1e-12)
    w0 = report["workload"][0]
    assert abs(w0["fidelity_measured"] - circuit["fidelity_model"]) <= 4 * w0["fidelity_stderr"]


def test_a_cutoff_no_wait_on_the_grid_fits_is_admitted_with_the_continuous_model() -> None:
    """r's OKs are δ = 2 µs apart on a 10 µs grid (the nearest waits: δ, c − δ): a τ below δ sees no wait on the
    model's grid, but jitter or real timing moves the OKs off it, so the tail admits it, the continuous model
    standing in (review 9d: refusing it UNSUPP refused circuits that deliver); τ = δ keeps the m = 0 wait."""
    route, nodes, links = caps(tuple((werner(f),) for f in FIDELITIES))
    for minimum in (0.0, 0.5):
        below = decide(Demand(minimum, 10, cutoff_ns=DELAY - 1), route, nodes, links)
        assert isinstance(below, CircuitRules) and below.cutoff_ns == DELAY - 1
    kept = decide(Demand(0.0, 10, cutoff_ns=DELAY), route, nodes, links)
    assert isinstance(kept, CircuitRules) and kept.cutoff_ns == DELAY
    assert kept.model[0] == pytest.approx(mid_closed_form(DELAY), abs=1e-12)


def test_a_fast_hop_beside_a_slow_one_under_a_short_cutoff_is_decided() -> None:
    """Review 9b's cut.toml: hops of 10 µs and 30 ms cycles (the kept mass of the waits e^(−λ_fast·|offset|)
    lies far below the float range), τ = 100 µs: rules, not a ZeroDivisionError; the fast hop regenerates, so
    its latest halves do swap (a run delivers them)."""
    fast, slow = werner(0.97, 0.5), werner(0.97, 0.06)
    route, nodes, _ = caps(((fast,), (slow,)))
    links = [LinkCap(1, 0x8000, 20, 10_000, 50, (fast,)), LinkCap(2, 0x8001, 30, 30_000_000, 10_000, (slow,))]
    rules = decide(Demand(0.0, 3, cutoff_ns=100_000), route, nodes, links)
    assert isinstance(rules, CircuitRules) and rules.cutoff_ns == 100_000
    assert all(math.isfinite(x) and 0 <= x <= 1 for x in rules.model) and rules.model[0] >= rules.worst_fidelity


CUT_SCENARIO = SUB_CYCLE.replace("duration_ms = 5000.0", "duration_ms = 50.0").replace("pairs = 300", "pairs = 3")


@pytest.mark.parametrize(("cutoff_us", "jitter_ns", "delivered"), [(0.9, 0, 0), (0.9, 300, 3), (1.001, 0, 3)])
def test_a_cutoff_below_the_grid_is_admitted_and_delivers_with_jitter(cutoff_us: float, jitter_ns: int,
                                                                     delivered: int) -> None:
    """SUB_CYCLE's chain (cycle 10.794 µs, r's OKs δ = 9.794 µs apart): a 0.9 µs cutoff is below the nearest wait
    on the grid (c − δ = 1 µs). Without jitter no two halves are ever within it (ERR TIMEOUT, every half expired
    at r); with 300 ns of classical jitter they are and the 3 pairs come (a refusal at setup, tried on
    2026-12-05, refused that: review 9d); 1.001 µs keeps the grid's wait and delivers."""
    text = CUT_SCENARIO.replace("cutoff_us = 10.0", f"cutoff_us = {cutoff_us}")
    text = text.replace("duration_ms = 50.0", "duration_ms = 200.0")
    if jitter_ns:
        text = text.replace("length_km = 2.0\n", f"length_km = 2.0\nclassical_jitter_ns = {jitter_ns}\n")
    report = build_report(run_scenario(load_text(text, "<cutoff below the grid>")))
    (workload,) = report["workload"]
    assert workload["pairs_delivered"] == delivered
    assert (workload["errors"] == []) == (delivered == 3)


SLOW_BESIDE_FAST = """[run]
duration_ms = 1000.0
seed = 3
[nodes.a]
kind = "qpu"
storage_qubits = 0
[nodes.r]
kind = "qpu"
storage_qubits = 0
[nodes.b]
kind = "qpu"
storage_qubits = 0
[nodes.st1]
kind = "station"
[nodes.st2]
kind = "station"
[links.a-r]
a = "a"
b = "r"
station = "st1"
length_km = 0.01
[links.r-b]
a = "r"
b = "b"
station = "st2"
length_km = 2.0
attempt_duration_ns = 30000000
[[workload]]
node = "a"
remote = "b"
pairs = 1
cutoff_us = 100.0
"""


def test_a_run_with_a_fast_hop_beside_a_slow_one_under_a_short_cutoff() -> None:
    """Review 9b's cut.toml (1 pair, 1 s): the tail's SETUP decision raised ZeroDivisionError; now it admits the
    circuit, whose fast hop's latest halves swap with the slow hop's."""
    report = build_report(run_scenario(load_text(SLOW_BESIDE_FAST, "<slow beside fast>")))
    (circuit,) = report["circuits"]
    assert circuit["cutoff_ns"] == 100_000 and 0.25 <= circuit["fidelity_worst_model"] <= circuit["fidelity_model"]
    assert report["workload"][0]["pairs_delivered"] == 1
