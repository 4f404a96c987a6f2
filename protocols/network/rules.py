"""The tail's decisions at circuit setup (network-design §9.4–9.5), from the capabilities the SETUP collected.

Inputs are plain dataclasses shaped like the wire's QCaps (§3.5.2): a :class:`NodeCap` per node of the route
(the tail adds its own) and a :class:`LinkCap` per hop, as the upstream node of the hop reported it. The
output is :class:`CircuitRules` (what SETUP_REPLY carries) or an error code. These records are
:mod:`protocols.network.rule_types`' (re-exported here); this module decides:

- window W: the head's proposal, lowered to what every node's free qubits hold (2W at repeaters, W at the
  ends); NORES when not even W = 1 (or a distillation rule's pairs held at once) fits now, UNSUPP when it could
  not fit even with every qubit of the route free (NORES would be retried until Max Time or the run's end);
- per hop the link option, and the Minimum Fidelity of the hop's link CREATEs that selects it;
- cutoffs: τ for halves at repeaters, τ_end = τ + L at the ends, the longest with F_worst(τ) ≥ F_min
  (:func:`protocols.network.model.solve_cutoff`). Options start at the fastest; while τ is shorter than twice
  the slowest hop's expected generation time (most pairs would be discarded), the hop whose upgrade to its
  next better-fidelity option helps F_worst most is upgraded. UNSUPP when even the best options miss F_min;
  none when F_min is 0 or the fidelity can never fall below it. A τ set by hand (``Demand.cutoff_ns``) is
  used as it is: the fastest options with F_worst(τ) ≥ F_min (upgraded the same way), UNSUPP when even the
  best miss it; everything below (hold limit, D_mid, F_worst) is for that τ (a τ under which a repeater's
  halves are never within τ on the model's grid is admitted: jitter moves them off it, and the continuous
  model stands in, :func:`protocols.network.waiting.waiting_memory_channel`);
- the expected time per pair: the slowest hop (:func:`protocols.network.waiting.expected_generation_ns`),
  plus the hop request (1.5 hop round trips: :data:`REQUEST_ROUND_TRIPS`), plus L, over the probability that
  every swap succeeds. It ignores the pairs cutoffs discard and the pipelining a window W > 1 allows. NOTIME
  when Number pairs take longer than Max Time;
- D_mid, the model state of an end-to-end pair at its last swap (:func:`protocols.network.waiting.mid_distribution`);
- hop origins: the lower node id of each hop (the link's master, which numbers the link's pairs and so can
  hold the hop's windowed link request, docs/wire.md §4.1.1).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from protocols.network.distillation import RoundNoise
from protocols.network.model import (
    Chain,
    Repeater,
    WorstCase,
    chain_distribution,
    characters,
    move_waited,
    moved,
    signalling_latency_ns,
    worst_case_fidelity,
)
from protocols.network.model import solve_cutoff as solve
from protocols.network.policy import DistilRule, distilled_option
from protocols.network.rule_types import (
    NO_RETRIES,
    CircuitRules,
    Demand,
    HopRule,
    LinkCap,
    NodeCap,
    OptionCap,
    Retries,
    link_cap,
    node_cap,
)
from protocols.network.waiting import Generation, expected_generation_ns, mid_distribution
from protocols.packets.linkservice import ERR_NORES, ERR_NOTIME, ERR_UNSUPP, FIDELITY_SCALE

__all__ = ["CUTOFF_HOP_TIMES", "CUTOFF_SEARCH_PAIRS", "HOLD_PAIRS", "NO_RETRIES", "REQUEST_ROUND_TRIPS",
           "CircuitRules", "Demand", "HopRule", "LinkCap", "NodeCap", "OptionCap", "Retries", "decide",
           "distilled_link", "link_cap", "node_cap", "pareto", "retry_ns", "selecting_minimum", "stored_option",
           "worst_fidelity"]

CUTOFF_SEARCH_PAIRS = 100
"""τ is searched in [0, this many expected pair times]."""
CUTOFF_HOP_TIMES = 2
"""τ should be at least this many of the slowest hop's expected generation times."""
HOLD_PAIRS = 20
"""Without a cutoff, an end holds a half at most this many expected pair times (plus the engine's linger)."""
REQUEST_ROUND_TRIPS = 1.5
"""Hop round trips the model adds per pair for the hop's link request. It was the per-pair CREATE's REQ and
SCHEDULE handshake from the non-master; with one windowed request per circuit hop a pair waits only for its
credit (at most half a round trip, the granter's CREDIT RELEASED), so this is now a conservative margin, kept
so that the tail's decisions (NOTIME, hold limits) do not change with the link request's form."""


def pareto(options: Sequence[OptionCap]) -> tuple[OptionCap, ...]:
    """The options worth choosing, fastest first: each slower one has a strictly better fidelity."""
    ranked = sorted((o for o in options if o.success > 0), key=lambda o: (-o.success, -o.fidelity))
    front: list[OptionCap] = []
    for option in ranked:
        if not front or option.fidelity > front[-1].fidelity:
            front.append(option)
    return tuple(front)


class _Path:
    """The collected path with a choice of option per hop: its model chain, times and fidelity."""

    def __init__(self, route: Sequence[int], nodes: Sequence[NodeCap], links: Sequence[LinkCap],
                 margin_ns: int) -> None:
        self.route, self.nodes, self.links = tuple(route), tuple(nodes), tuple(links)
        self.fronts = [pareto(link.options) for link in links]
        if not all(self.fronts):
            raise ValueError("a hop offers no option with a success probability above 0")
        self.repeaters = tuple(_timed(node.repeater, self.route, links, k) for k, node in enumerate(nodes[1:-1]))
        self.latency = signalling_latency_ns([link.delay_ns for link in links],
                                             [r.bsm_ns for r in self.repeaters]) + margin_ns
        self.request_ns = max(REQUEST_ROUND_TRIPS * 2 * link.delay_ns for link in links)
        self.swaps_succeed = math.prod(node.bsm_success for node in nodes[1:-1])
        # F_worst by characters: the memories are the same for every choice of options, the links' part is
        # a product (characters multiply under XOR-convolution)
        self.memories = WorstCase(self.chain([0] * len(links)))
        self.noise = characters(chain_distribution([], (r.noise for r in self.repeaters)))
        self.option_characters = [[characters(o.distribution) for o in front] for front in self.fronts]

    def options(self, choice: Sequence[int]) -> list[OptionCap]:
        return [front[i] for front, i in zip(self.fronts, choice, strict=True)]

    def chain(self, choice: Sequence[int]) -> Chain:
        return Chain(tuple(o.distribution for o in self.options(choice)), self.repeaters, self.nodes[0].memory,
                     self.nodes[-1].memory, self.latency)

    def worst(self, choice: Sequence[int]) -> WorstCase:
        static = list(self.noise)
        for chars, i in zip(self.option_characters, choice, strict=True):
            static = [a * b for a, b in zip(static, chars[i], strict=True)]
        return self.memories.relinked((static[0], static[1], static[2], static[3]))

    def generations(self, choice: Sequence[int]) -> list[Generation]:
        return [Generation(o.success, link.cycle_ns) for o, link in zip(self.options(choice), self.links, strict=True)]

    def pair_ns(self, choice: Sequence[int]) -> float:
        generation = expected_generation_ns(self.generations(choice))
        return (generation + self.request_ns + self.latency) / self.swaps_succeed

    def required_cutoff_ns(self, choice: Sequence[int]) -> float:
        return CUTOFF_HOP_TIMES * max(g.mean_ns for g in self.generations(choice))

    def cutoff(self, choice: Sequence[int], min_fidelity: float) -> float | None:
        return solve(min_fidelity, self.worst(choice), CUTOFF_SEARCH_PAIRS * self.pair_ns(choice))


def _timed(repeater: Repeater, route: Sequence[int], links: Sequence[LinkCap], index: int) -> Repeater:
    """The ``index``-th repeater of ``route`` with its halves' OK times: a half waits the hop's one-way delay
    for the link layer's CONFIRM where this node is not the hop's master (the lower node id); from emission
    to herald a half takes its hop's attempt cycle less the attempt's half (the same for both halves)."""
    node, left, right = route[index + 1], links[index], links[index + 1]
    confirm = (left.delay_ns if node > route[index] else 0, right.delay_ns if node > route[index + 2] else 0)
    return dataclasses.replace(repeater, confirm_ns=confirm, herald_ns=(left.cycle_ns, right.cycle_ns))


def stored_option(option: OptionCap, a: NodeCap, b: NodeCap) -> OptionCap:
    """A link option's pair once the link layer moved its halves to storage at the ends that have some
    (:func:`protocols.network.model.moved`, each half in memory for the move's duration,
    :func:`protocols.network.model.move_waited`): the state the network layer swaps, distils or delivers."""
    return OptionCap(option.success, move_waited(moved(option.distribution, a.move_fidelity, b.move_fidelity),
                                                 a.move_wait, b.move_wait))


def distilled_link(link: LinkCap, rule: DistilRule | None, a: NodeCap, b: NodeCap,
                   raw: dict[int, OptionCap], retry_ns: float = 0.0) -> LinkCap:
    """``link`` as the model sees it: each option's pair after the moves to storage (:func:`stored_option`),
    distilled by ``rule`` if there is one (each model option's raw one, as the link layer offers it, in ``raw``,
    by id). A round's wait is the hop's classical round trip, a gate and a readout, and ``retry_ns``: the
    expected time lost to retransmitted DISTILs (:func:`retry_ns`)."""
    noise = RoundNoise((a.gate_fidelity, b.gate_fidelity), (a.readout_fidelity, b.readout_fidelity))
    wait = 2 * link.delay_ns + max(a.gate_ns + a.readout_ns, b.gate_ns + b.readout_ns) + retry_ns
    options = []
    for option in link.options:
        stored = stored_option(option, a, b)
        if rule is not None:
            success, distribution, _ = distilled_option(stored.distribution, stored.success, rule, noise,
                                                        (a.memory, b.memory), wait)
            stored = OptionCap(success, distribution)
        options.append(stored)
        raw[id(stored)] = option
    return LinkCap(link.link_id, link.link_label, link.peer_node, link.cycle_ns, link.delay_ns, tuple(options))


def _most_window(nodes: Sequence[NodeCap]) -> int:
    """The window the route's nodes could hold with all their qubits free: 2W at repeaters, W at the ends."""
    total = [node.communication_qubits + node.storage_qubits for node in nodes]
    return min([count // 2 for count in total[1:-1]] + [total[0], total[-1]])


def decide(demand: Demand, route: Sequence[int], nodes: Sequence[NodeCap], links: Sequence[LinkCap],
           margin_ns: int = 0, distil: Sequence[DistilRule | None] = (),
           retries_ns: Sequence[float] = ()) -> CircuitRules | int:
    """The circuit's rules, or ERR_NORES / ERR_UNSUPP / ERR_NOTIME. ``nodes`` are the NodeCaps of the whole
    route (the tail's own last), ``links`` the K LinkCaps; ``margin_ns`` is added to L (e.g. the path's
    classical jitter, which the QCaps do not carry); ``distil`` the distillation rule of each hop (none by
    default): such a hop needs a window of the rule's pairs held at once; ``retries_ns`` each hop's expected time
    lost to retransmitted DISTILs per round (none by default)."""
    _check(route, nodes, links)
    rules = list(distil) or [None] * len(links)
    held = max((rule.held for rule in rules if rule is not None), default=1)
    if _most_window(nodes) < held:
        return ERR_UNSUPP                   # never: not even with every qubit of the route free
    window = min([max(demand.window, held)] + [node.free_qubits // 2 for node in nodes[1:-1]]
                 + [nodes[0].free_qubits, nodes[-1].free_qubits])
    if window < held:
        return ERR_NORES
    raw: dict[int, OptionCap] = {}
    retries = list(retries_ns) or [0.0] * len(links)
    links = [distilled_link(link, rule, nodes[i], nodes[i + 1], raw, retries[i])
             for i, (link, rule) in enumerate(zip(links, rules, strict=True))]
    path = _Path(route, nodes, links, margin_ns)
    choice = [0] * len(links)
    cutoff: float | None = math.inf
    if demand.cutoff_ns is not None:
        fixed = _options_for(path, demand.min_fidelity, demand.cutoff_ns)
        if fixed is None:
            return ERR_UNSUPP
        choice, cutoff = fixed, demand.cutoff_ns
    elif demand.min_fidelity > 0:
        if path.cutoff([len(front) - 1 for front in path.fronts], demand.min_fidelity) is None:
            return ERR_UNSUPP
        choice, cutoff = _choose_options(path, demand.min_fidelity)
        if cutoff is None or cutoff < 1:
            return ERR_UNSUPP
    assert cutoff is not None
    tau = None if math.isinf(cutoff) else math.floor(cutoff)
    chain = path.chain(choice)
    pair_ns = path.pair_ns(choice)
    if demand.max_time_ns > 0 and demand.pairs * pair_ns > demand.max_time_ns:
        return ERR_NOTIME
    tau_end = None if tau is None else tau + path.latency
    hold = tau_end if tau_end is not None else math.ceil(HOLD_PAIRS * pair_ns)
    hops = tuple(HopRule(link.link_id, link.link_label, min(route[i], route[i + 1]), option,
                         selecting_minimum(raw[id(option)].fidelity), rules[i])
                 for i, (link, option) in enumerate(zip(links, path.options(choice), strict=True)))
    return CircuitRules(tuple(route), window, tau, tau_end, hold, math.ceil(pair_ns),
                        mid_distribution(chain, path.generations(choice), math.inf if tau is None else tau),
                        worst_fidelity(chain, tau), hops)


def retry_ns(delivery: float, rto_ns: float) -> float:
    """The expected time an exchange (a message and its answer) loses to retransmissions when each crossing
    arrives with probability ``delivery`` and a lost one is resent after ``rto_ns``: (1 − s)/s RTOs, with
    s = delivery² the chance that both directions arrive.

    >>> retry_ns(1.0, 1e6), round(retry_ns(0.8, 1e6))
    (0.0, 562500)
    """
    both = max(delivery, 1e-3) ** 2
    return (1 - both) / both * rto_ns


def selecting_minimum(option_fidelity: float) -> float:
    """The Minimum Fidelity that makes the link layer pick an option of this fidelity: one quantum of the
    16-bit encoding below it, so rounding never lifts it above the option's exact fidelity."""
    return max(0.0, option_fidelity - 1 / FIDELITY_SCALE)


def worst_fidelity(chain: Chain, cutoff_ns: int | None) -> float:
    """F_worst under the cutoff (with none: the fidelity after waiting for ever)."""
    return worst_case_fidelity(chain, math.inf if cutoff_ns is None else cutoff_ns)


def _choose_options(path: _Path, min_fidelity: float) -> tuple[list[int], float | None]:
    """Greedy: from the fastest options, upgrade one hop at a time until τ* ≥ twice the slowest hop time."""
    choice = [0] * len(path.links)
    while True:
        cutoff = path.cutoff(choice, min_fidelity)
        if cutoff is not None and cutoff >= path.required_cutoff_ns(choice):
            return choice, cutoff
        upgrades = [i for i, front in enumerate(path.fronts) if choice[i] + 1 < len(front)]
        if not upgrades:
            return choice, cutoff

        def gain(hop: int) -> float:
            trial = choice.copy()
            trial[hop] += 1
            return path.worst(trial).fidelity(path.required_cutoff_ns(trial))

        best = max(upgrades, key=lambda hop: (gain(hop), -hop))
        choice[best] += 1


def _options_for(path: _Path, min_fidelity: float, cutoff_ns: int) -> list[int] | None:
    """Greedy for a τ set by hand: from the fastest options, upgrade the hop that helps F_worst(τ) most until
    F_worst(τ) ≥ F_min; None when even the best options miss it (an upgrade never lowers F_worst: a slower
    option on the Pareto front has a strictly better fidelity)."""
    choice = [0] * len(path.links)
    while path.worst(choice).fidelity(cutoff_ns) < min_fidelity:
        upgrades = [i for i, front in enumerate(path.fronts) if choice[i] + 1 < len(front)]
        if not upgrades:
            return None

        def gain(hop: int) -> float:
            trial = choice.copy()
            trial[hop] += 1
            return path.worst(trial).fidelity(cutoff_ns)

        choice[max(upgrades, key=lambda hop: (gain(hop), -hop))] += 1
    return choice


def _check(route: Sequence[int], nodes: Sequence[NodeCap], links: Sequence[LinkCap]) -> None:
    """The collected capabilities must describe the route: one NodeCap per node, one LinkCap per hop."""
    if len(route) < 2 or len(nodes) != len(route) or len(links) != len(route) - 1:
        raise ValueError(f"route of {len(route)} nodes with {len(nodes)} NodeCaps and {len(links)} LinkCaps")
    for index, node in enumerate(nodes):
        if node.node_id != route[index]:
            raise ValueError(f"NodeCap {index} is node {node.node_id}, route has {route[index]}")
    for index, link in enumerate(links):
        if link.peer_node != route[index + 1]:
            raise ValueError(f"LinkCap {index} leads to node {link.peer_node}, route has {route[index + 1]}")
