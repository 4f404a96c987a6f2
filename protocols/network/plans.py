"""Network layer: the tail's choice of a circuit's distillation rules (issue 14) around
:func:`protocols.network.rules.decide`.

- No distillation asked: the rules as without it.
- An explicit rule: that rule on every hop (with its window), or the error ``decide`` gives with it.
- An explicit end-to-end rule (PL2): the ends distil the end-to-end pairs by it
  (:func:`protocols.network.end_plans.decide`), with the hop rule (PL1) if any on every hop. Only for
  create-and-keep requests (a measure-directly end measures its half at once): UNSUPP otherwise.
- *Auto*: the rules without distillation when they meet the Minimum Fidelity; otherwise the first rule of
  :func:`protocols.network.policy.auto_rules` (fewest rounds, then the fewest expected elementary pairs on
  the costliest hop) that does, on every hop; then (create and keep only) the first end-to-end rule of
  :data:`END_AUTO_ROUNDS` rounds at most that does, alone, then with each one-round hop rule: end-to-end
  rounds also undo what swapping and waiting did, which hop rounds cannot. UNSUPP when none does ("no policy
  can").
"""

from __future__ import annotations

from collections.abc import Sequence

import protocols.network.end_plans as end_plans
import protocols.network.rules as rules
from protocols.network.distillation import RoundNoise
from protocols.network.policy import NO_DISTILLATION, DistilRequest, DistilRule, auto_rules, distilled_option
from protocols.packets import linkservice as ll

END_AUTO_ROUNDS = 2
"""The most end-to-end rounds the tail's automatic choice tries."""


def _cost(rule: DistilRule, nodes: Sequence[rules.NodeCap], links: Sequence[rules.LinkCap]) -> float:
    """Expected elementary pairs per distilled pair on the costliest hop (its best option)."""
    worst = 1.0
    for i, link in enumerate(links):
        a, b = nodes[i], nodes[i + 1]
        noise = RoundNoise((a.gate_fidelity, b.gate_fidelity), (a.readout_fidelity, b.readout_fidelity))
        best = min((distilled_option(rules.stored_option(o, a, b).distribution, o.success, rule, noise,
                                     (a.memory, b.memory), 0)[2]
                    for o in link.options), default=float("inf"))
        worst = max(worst, best)
    return worst


def decide(demand: rules.Demand, route: Sequence[int], nodes: Sequence[rules.NodeCap],
           links: Sequence[rules.LinkCap], margin_ns: int = 0,
           request: DistilRequest = NO_DISTILLATION, keep: bool = True,
           retries: rules.Retries = rules.NO_RETRIES) -> rules.CircuitRules | int:
    """The circuit's rules with the distillation ``request`` honoured, or an error code. ``keep``: the request
    is create-and-keep (the only kind whose ends can distil end-to-end pairs); ``retries``: the expected time
    rounds lose to retransmitted DISTILs (the model decays the pairs for it)."""
    hops = len(links)
    if request.mode == ll.DISTIL_EXPLICIT:
        if request.end is not None:
            if not keep:
                return ll.ERR_UNSUPP
            return end_plans.decide(demand, route, nodes, links, margin_ns, [request.hop] * hops, request.end,
                                    retries)
        return rules.decide(demand, route, nodes, links, margin_ns, [request.hop] * hops, retries.hops_ns)
    plain = rules.decide(demand, route, nodes, links, margin_ns)
    if request.mode != ll.DISTIL_AUTO or plain != ll.ERR_UNSUPP:
        return plain
    candidates = sorted(auto_rules(), key=lambda rule: (rule.rounds, _cost(rule, nodes, links)))
    for rule in candidates:
        decided = rules.decide(demand, route, nodes, links, margin_ns, [rule] * hops, retries.hops_ns)
        if not isinstance(decided, int):
            return decided
    if keep:
        ends = [rule for rule in auto_rules() if rule.rounds <= END_AUTO_ROUNDS]
        for hop in [None, *(rule for rule in auto_rules() if rule.rounds == 1)]:
            for end in ends:
                decided = end_plans.decide(demand, route, nodes, links, margin_ns, [hop] * hops, end, retries)
                if not isinstance(decided, int):
                    return decided
    return ll.ERR_UNSUPP
