"""The tail's decisions at circuit setup (network-design §9.4–9.5), from the capabilities the SETUP collected.

Inputs are plain dataclasses shaped like the wire's QCaps (§3.5.2): a :class:`NodeCap` per node of the route
(the tail adds its own) and a :class:`LinkCap` per hop, as the upstream node of the hop reported it. The
output is :class:`CircuitRules` (what SETUP_REPLY carries) or an error code:

- window W: the head's proposal, lowered to what every node's free qubits hold (2W at repeaters, W at the
  ends); NORES when not even W = 1 fits;
- per hop the link option, and the Minimum Fidelity of the hop's link CREATEs that selects it;
- cutoffs: τ for halves at repeaters, τ_end = τ + L at the ends, the longest with F_worst(τ) ≥ F_min
  (:func:`protocols.network.model.solve_cutoff`). Options start at the fastest; while τ is shorter than twice
  the slowest hop's expected generation time (most pairs would be discarded), the hop whose upgrade to its
  next better-fidelity option helps F_worst most is upgraded. UNSUPP when even the best options miss F_min;
  none when F_min is 0 or the fidelity can never fall below it;
- the expected time per pair: the slowest hop (:func:`protocols.network.waiting.expected_generation_ns`),
  plus the hop request (1.5 hop round trips: :data:`REQUEST_ROUND_TRIPS`), plus L, over the probability that
  every swap succeeds. It ignores the pairs cutoffs discard and the pipelining a window W > 1 allows. NOTIME
  when Number pairs take longer than Max Time;
- D_mid, the model state of an end-to-end pair at its last swap (:func:`protocols.network.waiting.mid_distribution`);
- hop origins: the lower node id of each hop (the link's master, which numbers the link's pairs and so can
  hold the hop's windowed link request, docs/wire.md §4.1.1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.network.distillation import RoundNoise
from protocols.network.model import (
    Chain,
    Memory,
    Repeater,
    WorstCase,
    chain_distribution,
    characters,
    move_fidelity,
    moved,
    signalling_latency_ns,
    worst_case_fidelity,
)
from protocols.network.model import solve_cutoff as solve
from protocols.network.policy import DistilRule, distilled_option
from protocols.network.topology import LinkCaps, NodeCaps, option_distribution
from protocols.network.waiting import Generation, expected_generation_ns, mid_distribution
from protocols.packets.linkservice import ERR_NORES, ERR_NOTIME, ERR_UNSUPP, FIDELITY_SCALE
from protocols.physical.hardware import BellDistribution

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


@dataclass(frozen=True, slots=True)
class OptionCap:
    """A link option on the wire: success probability per attempt and the Bell-diagonal state at the OK,
    relative to the heralded state (index order 0, X, Z, Y)."""

    success: float
    distribution: BellDistribution

    @property
    def fidelity(self) -> float:
        return self.distribution[0]


@dataclass(frozen=True, slots=True)
class NodeCap:
    """A node's capabilities as the SETUP carries them (NodeCap, §3.5.2)."""

    node_id: int
    communication_qubits: int
    storage_qubits: int
    free_qubits: int
    """Qubits not held or reserved by other circuits, not counting this circuit's own tentative reservation."""
    bsm_success: float
    t1_ns: float
    t2_ns: float
    gate_fidelity: float
    readout_fidelity: float
    gate_ns: int
    readout_ns: int

    @property
    def memory(self) -> Memory:
        return Memory(self.t1_ns, self.t2_ns)

    @property
    def repeater(self) -> Repeater:
        return Repeater(self.memory, self.gate_fidelity, self.readout_fidelity, self.gate_ns + self.readout_ns)

    @property
    def move_fidelity(self) -> float:
        """The fidelity of the move to storage each link pair's half here gets (1: none)."""
        return move_fidelity(self.storage_qubits, self.gate_fidelity)


@dataclass(frozen=True, slots=True)
class LinkCap:
    """A hop's capabilities as its upstream node reports them in the SETUP (LinkCap, §3.5.2)."""

    link_id: int
    link_label: int
    peer_node: int
    cycle_ns: int
    delay_ns: int
    options: tuple[OptionCap, ...]


@dataclass(frozen=True, slots=True)
class Demand:
    """What the circuit must deliver: the application's CREATE fields and the head's proposed window."""

    min_fidelity: float
    pairs: int
    max_time_ns: int = 0
    """0: no limit."""
    window: int = 1


@dataclass(frozen=True, slots=True)
class HopRule:
    link_id: int
    link_label: int
    origin_node: int
    """The end that sends the hop's link CREATEs: the lower node id (the link's master)."""
    option: OptionCap
    link_min_fidelity: float
    """Minimum Fidelity of the hop's link CREATEs (:func:`selecting_minimum`): the link layer picks the
    fastest option at least this good, this one (unless another is within two quanta of it)."""
    distil: DistilRule | None = None
    """How the hop distils its link pairs before they are swapped or delivered. ``option`` is the pair as the
    model sees it: the link layer's option after the moves to storage (:func:`stored_option`), distilled
    (:func:`protocols.network.policy.distilled_option`) when the hop distils."""


@dataclass(frozen=True, slots=True)
class Retries:
    """The expected time a distillation round loses to retransmitted DISTILs (:func:`retry_ns`): per hop, and
    between the circuit's ends."""

    hops_ns: tuple[float, ...] = ()
    end_ns: float = 0.0


NO_RETRIES = Retries()


@dataclass(frozen=True, slots=True)
class CircuitRules:
    route: tuple[int, ...]
    window: int
    cutoff_ns: int | None
    """τ for halves held at repeaters (None: no cutoff; 0 on the wire)."""
    end_cutoff_ns: int | None
    """τ_end for halves held at the ends (None: no cutoff)."""
    hold_limit_ns: int
    """How long an end may hold a half at most: τ_end, or without cutoffs a safety limit."""
    expected_pair_ns: int
    model: BellDistribution
    """D_mid: the end-to-end pair at its last swap, averaged over the expected waits."""
    worst_fidelity: float
    """F_worst(τ): every pair delivered under these cutoffs is at least this good."""
    hops: tuple[HopRule, ...]
    end_distil: DistilRule | None = None
    """How the ends distil end-to-end pairs before delivering them (:mod:`protocols.network.end_plans`);
    ``expected_pair_ns`` then counts the pairs the rounds take."""


def node_cap(caps: NodeCaps, free_qubits: int) -> NodeCap:
    """A node's NodeCap from its topology entry and its free qubits now."""
    return NodeCap(caps.node_id, caps.communication_qubits, caps.storage_qubits, free_qubits, caps.bsm_success,
                   caps.t1_ns, caps.t2_ns, caps.gate_fidelity, caps.readout_fidelity, caps.gate_ns, caps.readout_ns)


def link_cap(caps: LinkCaps, node: int, label: int) -> LinkCap:
    """The LinkCap ``node`` reports for its hop over ``caps`` with the label it proposes."""
    options = tuple(OptionCap(option.success, option_distribution(option)) for option in caps.options)
    return LinkCap(caps.link_id, label, caps.peer(node), caps.cycle_ns, caps.delay_ns, options)


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
        self.repeaters = tuple(node.repeater for node in nodes[1:-1])
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


def stored_option(option: OptionCap, a: NodeCap, b: NodeCap) -> OptionCap:
    """A link option's pair once the link layer moved its halves to storage at the ends that have some
    (:func:`protocols.network.model.moved`): the state the network layer swaps, distils or delivers."""
    return OptionCap(option.success, moved(option.distribution, a.move_fidelity, b.move_fidelity))


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
    if demand.min_fidelity > 0:
        if path.cutoff([len(front) - 1 for front in path.fronts], demand.min_fidelity) is None:
            return ERR_UNSUPP
        choice, cutoff = _choose_options(path, demand.min_fidelity)
        if cutoff is None or cutoff < 1:
            return ERR_UNSUPP
    pair_ns = path.pair_ns(choice)
    if demand.max_time_ns > 0 and demand.pairs * pair_ns > demand.max_time_ns:
        return ERR_NOTIME
    assert cutoff is not None
    tau = None if math.isinf(cutoff) else math.floor(cutoff)
    tau_end = None if tau is None else tau + path.latency
    hold = tau_end if tau_end is not None else math.ceil(HOLD_PAIRS * pair_ns)
    chain = path.chain(choice)
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
