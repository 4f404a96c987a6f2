"""Network layer: the tail's rules for a circuit whose ends distil end-to-end pairs (issue 14), around
:func:`protocols.network.rules.decide`.

With an End Distil rule the Minimum Fidelity is what the *distilled* pairs must meet. The tail decides the
circuit as without the rule, for a lower minimum F_pre: the smallest fidelity whose Werner pair, decayed in
both ends' memories for one round's wait (an end-to-end classical round trip, plus a gate and a readout) and
(and the expected time lost to retransmitted DISTILs under classical loss, :func:`rules.retry_ns`)
distilled through the rule's levels with both ends' gate and readout noise
(:func:`protocols.network.distillation.levels`), meets the request's minimum. The cutoffs it derives keep
every pair the ends distil at least F_pre good (F_worst(τ) ≥ F_pre, the worst pair taken as Werner). The
window is raised to the pairs the rule holds at once, plus those a distilling end hop needs besides (the
pairs waiting in the end pool keep their credit on the end hops, so with a window of the rule's pairs only
the hop pools would starve); NORES when the free qubits do not allow it. The
expected time per pair is multiplied by the expected end-to-end pairs per distilled pair (the rule's levels
on the model state D_mid; NOTIME against Max Time with it). UNSUPP when no F_pre can reach the minimum or
the path cannot deliver F_pre.

The model ignores the time a pair waits in the end pool for its partner beyond one round's wait (as the
hop model does): the hold limit τ_end still bounds it, so a pair older than that dies instead of being
distilled with a staler partner.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import protocols.network.rules as rules
from protocols.network.distillation import Level, RoundNoise, levels
from protocols.network.model import chain_distribution, werner
from protocols.network.policy import DistilRule
from protocols.packets.linkservice import ERR_NORES, ERR_NOTIME, ERR_UNSUPP
from protocols.physical.hardware import BellDistribution

SEARCH_STEPS = 40
"""Bisection steps for F_pre (2⁻⁴⁰ of the interval)."""


class _Ends:
    """The closed form of the rule at the circuit's two ends."""

    def __init__(self, rule: DistilRule, nodes: Sequence[rules.NodeCap], links: Sequence[rules.LinkCap],
                 margin_ns: int, retry_ns: float) -> None:
        head, tail = nodes[0], nodes[-1]
        self.rule = rule
        self.noise = RoundNoise((tail.gate_fidelity, head.gate_fidelity),
                                (tail.readout_fidelity, head.readout_fidelity))
        wait = 2 * (sum(link.delay_ns for link in links) + margin_ns) + max(head.gate_ns + head.readout_ns,
                                                                           tail.gate_ns + tail.readout_ns) + retry_ns
        self.channels = (head.memory.channel(wait), tail.memory.channel(wait))

    def last(self, distribution: BellDistribution) -> Level:
        decayed = chain_distribution([distribution], self.channels)
        return levels(decayed, self.rule.protocol, self.rule.schedule, self.rule.rounds, self.noise)[-1]

    def minimum(self, target: float) -> float | None:
        """The smallest F_pre in [½, 1] whose Werner pair distils to at least ``target``, or None."""
        if self.last(werner(1.0)).fidelity < target:
            return None
        low, high = 0.5, 1.0
        if self.last(werner(low)).fidelity >= target:
            return low
        for _ in range(SEARCH_STEPS):
            middle = (low + high) / 2
            low, high = (low, middle) if self.last(werner(middle)).fidelity >= target else (middle, high)
        return high


def decide(demand: rules.Demand, route: Sequence[int], nodes: Sequence[rules.NodeCap],
           links: Sequence[rules.LinkCap], margin_ns: int, hop_rules: Sequence[DistilRule | None],
           rule: DistilRule, retries: rules.Retries = rules.NO_RETRIES) -> rules.CircuitRules | int:
    """The circuit's rules with every hop's ``hop_rules`` and the ends distilling by ``rule``, or an error."""
    ends = _Ends(rule, nodes, links, margin_ns, retries.end_ns)
    hop_held = max((hop.held for hop in hop_rules if hop is not None), default=1)
    needed = rule.held - 1 + hop_held       # the end pool's waiting pairs keep their credit on the end hops
    inner = replace(demand, window=max(demand.window, needed), max_time_ns=0)
    if demand.min_fidelity > 0:
        floor = ends.minimum(demand.min_fidelity)
        if floor is None:
            return ERR_UNSUPP
        inner = replace(inner, min_fidelity=floor)
    decided = rules.decide(inner, route, nodes, links, margin_ns, hop_rules, retries.hops_ns)
    if isinstance(decided, int):
        return decided
    if decided.window < needed:
        return ERR_NORES
    pairs = ends.last(decided.model).expected_pairs
    if not math.isfinite(pairs) or pairs <= 0:
        return ERR_UNSUPP
    pair_ns = math.ceil(decided.expected_pair_ns * pairs)
    if demand.max_time_ns > 0 and demand.pairs * pair_ns > demand.max_time_ns:
        return ERR_NOTIME
    hold = decided.end_cutoff_ns if decided.end_cutoff_ns is not None else rules.HOLD_PAIRS * pair_ns
    return replace(decided, expected_pair_ns=pair_ns, hold_limit_ns=hold, end_distil=rule)
