"""The tail's decisions at setup (protocols/network/rules.py), against closed forms written here: the cutoff
for Werner hops with dephasing memories, the two-hop waiting time (3 − 2p)/(p(2 − p)), and the link layer's
own option choice for the per-hop Minimum Fidelity."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.link import admission
from protocols.network.model import Chain, worst_case_fidelity
from protocols.network.routing import Route, Router
from protocols.network.rules import (
    CircuitRules,
    Demand,
    LinkCap,
    NodeCap,
    OptionCap,
    decide,
    link_cap,
    node_cap,
    pareto,
    selecting_minimum,
)
from protocols.packets.linkservice import ERR_NORES, ERR_NOTIME, ERR_UNSUPP, decode_fidelity, encode_fidelity
from stack.quantum.topology import build_topology
from stack.scenario import load

T2 = 1e6
CYCLE, DELAY = 10_000, 2_000


def node(node_id: int, free: int = 4, t2: float = T2, bsm_ns: int = 0, bsm_success: float = 1.0) -> NodeCap:
    return NodeCap(node_id, 2, 2, free, bsm_success, math.inf, t2, 1.0, 1.0, bsm_ns // 2, bsm_ns - bsm_ns // 2)


def werner_option(fidelity: float, success: float) -> OptionCap:
    other = (1 - fidelity) / 3
    return OptionCap(success, (fidelity, other, other, other))


def chain_caps(fidelities: list[float], success: float = 0.2, bsm_ns: int = 0, **end: float) -> tuple:
    """A route 10, 20, … with one Werner option per hop."""
    route = [10 * (i + 1) for i in range(len(fidelities) + 1)]
    nodes = [node(n, bsm_ns=0 if n in (route[0], route[-1]) else bsm_ns, **end) for n in route]  # type: ignore[arg-type]
    links = [LinkCap(i + 1, 0x8000 + i, route[i + 1], CYCLE, DELAY, (werner_option(f, success),))
             for i, f in enumerate(fidelities)]
    return route, nodes, links


def decided(demand: Demand, route: list[int], nodes: list[NodeCap], links: list[LinkCap],
            margin_ns: int = 0) -> CircuitRules:
    rules = decide(demand, route, nodes, links, margin_ns)
    assert isinstance(rules, CircuitRules), rules
    return rules


def test_hop_rules_carry_labels_and_the_lower_id_as_origin() -> None:
    route = [5, 2, 7]
    nodes = [node(5), node(2), node(7)]
    links = [LinkCap(11, 0x8001, 2, CYCLE, DELAY, (werner_option(0.95, 0.2),)),
             LinkCap(12, 0xC002, 7, CYCLE, DELAY, (werner_option(0.95, 0.2),))]
    rules = decided(Demand(0.0, 10), route, nodes, links)
    assert rules.route == (5, 2, 7)
    assert [(h.link_id, h.link_label, h.origin_node) for h in rules.hops] == [(11, 0x8001, 2), (12, 0xC002, 2)]


def test_window_fits_every_node_or_nores() -> None:
    route, nodes, links = chain_caps([0.95, 0.95, 0.95])
    assert decided(Demand(0.0, 10, window=3), route, nodes, links).window == 2       # repeaters: 4 free / 2
    nodes[0] = node(10, free=1)
    assert decided(Demand(0.0, 10, window=3), route, nodes, links).window == 1
    nodes[2] = node(30, free=1)                                                      # a repeater holds 2W
    assert decide(Demand(0.0, 10), route, nodes, links) == ERR_NORES


def test_a_window_no_node_could_ever_hold_is_unsupp_not_nores() -> None:
    """Recurrence of 2 rounds holds 3 pairs a hop end at once: a repeater needs 6 qubits, these have 4 in all, so
    no free qubits will ever do (NORES was retried until Max Time or the run's end: 62 setups, ERR TIMEOUT at 3 s);
    1 round (2 pairs, 4 qubits) fits."""
    from protocols.network.policy import DistillProtocol, DistilRule, Schedule

    route, nodes, links = chain_caps([0.95, 0.95, 0.95])
    two_rounds = DistilRule(DistillProtocol.DEJMPS, Schedule.RECURRENCE, 2)
    assert decide(Demand(0.0, 10), route, nodes, links, distil=[two_rounds] * 3) == ERR_UNSUPP
    one_round = DistilRule(DistillProtocol.DEJMPS, Schedule.RECURRENCE, 1)
    rules = decide(Demand(0.0, 10), route, nodes, links, distil=[one_round] * 3)
    assert isinstance(rules, CircuitRules) and rules.window == 2
    nodes[1] = node(20, free=2)                       # fits once the repeater's other circuits end: NORES for now
    assert decide(Demand(0.0, 10), route, nodes, links, distil=[one_round] * 3) == ERR_NORES


def test_no_minimum_fidelity_means_no_cutoffs_and_the_fastest_options() -> None:
    options = (werner_option(0.8, 0.3), werner_option(0.95, 0.05), werner_option(0.9, 0.01))
    route, nodes, _ = chain_caps([0.9, 0.9])
    links = [LinkCap(1, 0x8000, 20, CYCLE, DELAY, options), LinkCap(2, 0x8001, 30, CYCLE, DELAY, options)]
    rules = decided(Demand(0.0, 10), route, nodes, links)
    assert rules.cutoff_ns is None and rules.end_cutoff_ns is None
    assert [h.option for h in rules.hops] == [options[0], options[0]]
    p = 0.3
    pair = CYCLE * (3 - 2 * p) / (p * (2 - p)) + 1.5 * 2 * DELAY + 2 * 2 * DELAY
    assert rules.expected_pair_ns == math.ceil(pair)
    assert rules.hold_limit_ns == math.ceil(20 * pair)


def test_pareto_keeps_only_options_worth_their_speed() -> None:
    options = [werner_option(0.8, 0.3), werner_option(0.95, 0.05), werner_option(0.9, 0.01),
               werner_option(0.7, 0.2), werner_option(0.99, 0.0)]
    assert pareto(options) == (options[0], options[1])


def closed_form_cutoff(fidelities: list[float], f_min: float, latency: float, bsm: float) -> float:
    """Werner hops, T1 = ∞, a common T2, perfect gates and readout: F = ¼ + (∏w/4)(1 + 2e^(−S/T2)) with S the
    summed storage 2(τ + L) + Σ_repeaters (τ + 2·bsm + DELAY); solved for τ. On a route of rising node ids each
    repeater is its left hop's non-master: its half of that hop waits one hop delay for the CONFIRM."""
    product = math.prod((4 * f - 1) / 3 for f in fidelities)
    total = -T2 * math.log((4 * (f_min - 0.25) / product - 1) / 2)
    repeaters = len(fidelities) - 1
    return (total - 2 * latency - repeaters * (2 * bsm + DELAY)) / (repeaters + 2)


@pytest.mark.parametrize("fidelities", [[0.98, 0.98], [0.99, 0.97, 0.98]])
@pytest.mark.parametrize("f_min", [0.75, 0.85])
def test_cutoff_is_the_bisection_of_the_worst_case(fidelities: list[float], f_min: float) -> None:
    bsm, margin = 1_500, 700
    route, nodes, links = chain_caps(fidelities, success=0.5, bsm_ns=bsm)
    rules = decided(Demand(f_min, 10), route, nodes, links, margin_ns=margin)
    latency = 2 * DELAY * len(fidelities) + bsm * (len(fidelities) - 1) + margin
    exact = closed_form_cutoff(fidelities, f_min, latency, bsm)
    assert rules.cutoff_ns is not None and rules.end_cutoff_ns is not None
    assert 0.99 * exact - 1 <= rules.cutoff_ns <= exact
    assert rules.end_cutoff_ns == rules.cutoff_ns + latency
    assert rules.hold_limit_ns == rules.end_cutoff_ns
    assert rules.worst_fidelity >= f_min
    assert rules.model[0] >= rules.worst_fidelity                  # expected waits are shorter than the worst


@settings(max_examples=25, deadline=None)
@given(st.floats(0.55, 0.93), st.floats(0.55, 0.93))
def test_cutoff_is_monotone_in_the_minimum(f_a: float, f_b: float) -> None:
    route, nodes, links = chain_caps([0.98, 0.97, 0.99], success=0.5)
    low, high = sorted((f_a, f_b))
    rules_low, rules_high = decide(Demand(low, 1), route, nodes, links), decide(Demand(high, 1), route, nodes, links)
    if rules_high == ERR_UNSUPP:
        return
    assert isinstance(rules_low, CircuitRules) and isinstance(rules_high, CircuitRules)
    assert rules_low.cutoff_ns is not None and rules_high.cutoff_ns is not None
    assert rules_low.cutoff_ns >= rules_high.cutoff_ns * 0.99
    assert rules_high.worst_fidelity >= high


def test_unreachable_minimum_is_unsupp() -> None:
    route, nodes, links = chain_caps([0.95, 0.95])
    best = 0.25 + 0.75 * ((4 * 0.95 - 1) / 3) ** 2                 # with no storage at all
    assert decide(Demand(best + 0.01, 1), route, nodes, links) == ERR_UNSUPP
    assert isinstance(decide(Demand(best - 0.02, 1), route, nodes, links), CircuitRules)
    # τ* = 1.7 µs for best − 0.01 is below the repeater's nearest wait on the model's grid (its OKs are DELAY = 2 µs
    # apart): admitted all the same, the continuous model standing in (jitter moves OKs off the grid: review 9d)
    assert isinstance(decide(Demand(best - 0.01, 1), route, nodes, links), CircuitRules)


def test_slow_better_options_are_chosen_when_the_fast_ones_force_too_short_a_cutoff() -> None:
    fast, slow = werner_option(0.9, 0.2), werner_option(0.99, 0.02)
    route, nodes, _ = chain_caps([0.9, 0.9])
    links = [LinkCap(1, 0x8000, 20, CYCLE, DELAY, (fast, slow)), LinkCap(2, 0x8001, 30, CYCLE, DELAY, (fast, slow))]
    relaxed = decided(Demand(0.6, 10), route, nodes, links)
    assert [h.option for h in relaxed.hops] == [fast, fast]
    strict = decided(Demand(0.9, 10), route, nodes, links)
    assert slow in [h.option for h in strict.hops]
    assert strict.worst_fidelity >= 0.9
    slowest = max(CYCLE / h.option.success for h in strict.hops)
    assert strict.cutoff_ns is not None
    assert strict.cutoff_ns >= 2 * slowest or all(h.option == slow for h in strict.hops)
    assert strict.expected_pair_ns > relaxed.expected_pair_ns


def test_options_are_upgraded_when_the_cutoff_would_be_shorter_than_two_hop_times() -> None:
    # The fast options meet F_min = 0.9 only with τ ≈ 26 µs, about half their 50 µs generation time: most
    # pairs would be discarded. The slow options allow τ ≈ 62 µs: still short of 2 × 200 µs, but the best there is.
    fast, slow = werner_option(0.97, 0.2), werner_option(0.995, 0.05)
    route, nodes, _ = chain_caps([0.9, 0.9])
    only_fast = [LinkCap(1, 0x8000, 20, CYCLE, DELAY, (fast,)), LinkCap(2, 0x8001, 30, CYCLE, DELAY, (fast,))]
    forced = decided(Demand(0.9, 10), route, nodes, only_fast)
    assert forced.cutoff_ns is not None and forced.cutoff_ns < 2 * CYCLE / fast.success
    both = [LinkCap(1, 0x8000, 20, CYCLE, DELAY, (fast, slow)), LinkCap(2, 0x8001, 30, CYCLE, DELAY, (fast, slow))]
    rules = decided(Demand(0.9, 10), route, nodes, both)
    assert [h.option for h in rules.hops] == [slow, slow]
    assert rules.cutoff_ns is not None and rules.cutoff_ns > forced.cutoff_ns


@pytest.mark.parametrize("bsm_success", [1.0, 0.5])
def test_expected_pair_time_and_notime(bsm_success: float) -> None:
    p = 0.2
    route, nodes, links = chain_caps([0.95, 0.95], success=p)
    nodes[1] = node(20, bsm_ns=3_000, bsm_success=bsm_success)
    slots = (3 - 2 * p) / (p * (2 - p))
    expected = (CYCLE * slots + 1.5 * 2 * DELAY + (2 * 2 * DELAY + 3_000)) / bsm_success
    rules = decided(Demand(0.0, 100), route, nodes, links)
    assert rules.expected_pair_ns == math.ceil(expected)
    assert decide(Demand(0.0, 100, max_time_ns=math.floor(100 * expected) - 1), route, nodes, links) == ERR_NOTIME
    assert isinstance(decide(Demand(0.0, 100, max_time_ns=math.ceil(100 * expected) + 1), route, nodes, links),
                      CircuitRules)


@pytest.mark.parametrize(("storage", "moves"), [((2, 2, 2), (1, 2, 1)), ((0, 2, 0), (0, 2, 0)),
                                                 ((1, 0, 3), (1, 0, 1)), ((0, 0, 0), (0, 0, 0))])
def test_the_model_counts_the_link_layers_moves_to_storage(storage: tuple[int, ...], moves: tuple[int, ...]) -> None:
    """a — r — b, Werner links of fidelity F, perfect memories and readout, gate fidelities f_a, f_r, f_b: each
    node with storage moves every link pair's half it holds (a one-qubit depolarising gate, w ↦ f·w), once per
    hop it ends, and r's Bell measurement adds its CNOT's (w ↦ f_r·w): F = ¼ + ¾·w²·∏ f_n^(moves at n)·f_r."""
    f_link, gates, route = 0.98, (0.99, 0.93, 0.97), [10, 20, 30]
    nodes = [NodeCap(n, 2, kept, 4, 1.0, math.inf, math.inf, f, 1.0, 0, 0)
             for n, kept, f in zip(route, storage, gates, strict=True)]
    links = [LinkCap(i + 1, 0x8000 + i, route[i + 1], CYCLE, DELAY, (werner_option(f_link, 0.2),)) for i in range(2)]
    w = (4 * f_link - 1) / 3
    expected = 0.25 + 0.75 * w * w * math.prod(f**m for f, m in zip(gates, moves, strict=True)) * gates[1]
    rules = decided(Demand(0.5, 1), route, nodes, links)
    assert rules.model[0] == pytest.approx(expected, abs=1e-12)
    assert rules.worst_fidelity == pytest.approx(expected, abs=1e-12)      # T2 = ∞: nothing decays
    assert [h.link_min_fidelity for h in rules.hops] == [selecting_minimum(f_link)] * 2   # the link layer's option
    assert decide(Demand(expected + 1e-3, 1), route, nodes, links) == ERR_UNSUPP
    assert isinstance(decide(Demand(expected - 1e-3, 1), route, nodes, links), CircuitRules)


def test_one_hop_model_is_the_link_state() -> None:
    route, nodes, links = chain_caps([0.93])
    rules = decided(Demand(0.8, 1), route, nodes, links)
    assert rules.model == pytest.approx(links[0].options[0].distribution, abs=1e-15)


def test_the_selecting_minimum_picks_the_option_through_the_wire_encoding() -> None:
    top = build_topology(load("examples/default.toml"))
    for link in top.links:
        exact = link.options
        for option in pareto([OptionCap(o.success, o.distribution) for o in exact]):   # type: ignore[misc]
            on_wire = decode_fidelity(encode_fidelity(option.fidelity))                 # LinkCap, rounded
            minimum = decode_fidelity(encode_fidelity(selecting_minimum(on_wire)))      # hop CREATE, rounded
            chosen = admission.choose(exact, minimum)
            assert chosen is not None and chosen.success == option.success, (link.name, option)


def test_mismatched_caps_are_refused() -> None:
    route, nodes, links = chain_caps([0.95, 0.95])
    with pytest.raises(ValueError, match="NodeCaps"):
        decide(Demand(0.0, 1), route, nodes[:2], links)
    with pytest.raises(ValueError, match="NodeCap 1 is node 99"):
        decide(Demand(0.0, 1), route, [nodes[0], node(99), nodes[2]], links)
    with pytest.raises(ValueError, match="leads to node 30"):
        decide(Demand(0.0, 1), route, nodes, [links[1], links[1]])
    empty = [LinkCap(1, 0x8000, 20, CYCLE, DELAY, (OptionCap(0.0, (1.0, 0, 0, 0)),)), links[1]]
    with pytest.raises(ValueError, match="no option"):
        decide(Demand(0.0, 1), route, nodes, empty)


def test_rules_from_the_default_topology_and_its_route() -> None:
    top = build_topology(load("examples/default.toml"))
    route = Router(top).route(1, 5, 0.7)
    assert isinstance(route, Route)
    nodes = [node_cap(top.node(n), free_qubits=2) for n in route.nodes]
    links = [link_cap(top.link(link_id), a, 0x8000 + i)
             for i, (link_id, a) in enumerate(zip(route.links, route.nodes, strict=False))]
    assert [lk.peer_node for lk in links] == list(route.nodes[1:])
    rules = decided(Demand(0.7, 10), list(route.nodes), nodes, links)
    assert [h.link_id for h in rules.hops] == list(route.links)
    assert [h.origin_node for h in rules.hops] == [min(a, b) for a, b in zip(route.nodes, route.nodes[1:],
                                                                             strict=False)]
    assert rules.worst_fidelity >= 0.7
    assert rules.cutoff_ns is not None
    # the head's best case (τ = 0) and the tail's agree: the tail refuses just above it, accepts below
    assert decide(Demand(route.fidelity + 1e-6, 1), list(route.nodes), nodes, links) == ERR_UNSUPP
    fine = decide(Demand(route.fidelity - 1e-3, 1), list(route.nodes), nodes, links)
    assert isinstance(fine, CircuitRules)


def chain_of(rules: CircuitRules, nodes: list[NodeCap]) -> Chain:
    """The rules' chain on a route of rising node ids: each repeater waits for its left hop's CONFIRM."""
    repeaters = tuple(dataclasses.replace(n.repeater, confirm_ns=(DELAY, 0), herald_ns=(DELAY, DELAY))
                      for n in nodes[1:-1])
    return Chain(tuple(h.option.distribution for h in rules.hops), repeaters,
                 nodes[0].memory, nodes[-1].memory, 2 * DELAY * len(rules.hops))


def test_a_long_chain_with_many_options_is_decided() -> None:
    options = tuple(werner_option(0.85 + 0.01 * i, 0.3 / (i + 1)) for i in range(13))
    hops = 32
    route = list(range(1, hops + 2))
    nodes = [node(n, t2=5e7) for n in route]
    links = [LinkCap(i, 0x8000 + i, route[i + 1], CYCLE, DELAY, options) for i in range(hops)]
    rules = decided(Demand(0.3, 10), route, nodes, links)
    assert rules.worst_fidelity >= 0.3
    assert rules.worst_fidelity == pytest.approx(worst_case_fidelity(chain_of(rules, nodes), rules.cutoff_ns))
