"""Network layer: distillation policies of circuits (issue 14), between the wire's rule bytes and the planner.

A *rule* is a protocol, a schedule and a number of rounds (:class:`DistilRule`; on the wire one byte,
:func:`protocols.packets.qncp_caps.distil_byte`). An application asks for distillation in its CREATE's Distil
field (:class:`DistilRequest`): none, *auto* (the tail picks the cheapest rule per hop that makes the circuit
meet the request's Minimum Fidelity, :func:`protocols.network.distillation.plan` per hop) or an explicit rule
for every hop (PL1) and for the end-to-end pairs (PL2). The tail's decision travels in the SETUP_REPLY's hop
rules (and End Distil).

A hop that distils looks to the rest of the setup like a slower, better link (:func:`distilled_option`): each
option's success probability divided by the expected elementary pairs per distilled pair, its distribution the
closed form of the rule's last level with both ends' gate and readout noise, the elementary pairs first
decayed in both memories for one round's wait (a classical round trip of the hop plus the gate and readout).

>>> rule = DistilRule.from_byte(0x81)
>>> rule, rule.byte, rule.held
(DistilRule(protocol=<DistillProtocol.DEJMPS: 2>, schedule=<Schedule.RECURRENCE: 'recurrence'>, rounds=1), 129, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from protocols.common import DistillProtocol
from protocols.network.distillation import RoundNoise, Schedule, levels
from protocols.network.model import Memory
from protocols.packets import linkservice as ll
from protocols.packets.qncp_caps import distil_byte, distil_rule
from protocols.physical import physics
from protocols.physical.hardware import BellDistribution

SCHEDULE_CODES = {Schedule.RECURRENCE: 0, Schedule.PUMPING: 1}
AUTO_ROUNDS = 4
"""The most rounds per hop the tail's automatic choice tries."""


@dataclass(frozen=True, slots=True)
class DistilRule:
    """``rounds`` rounds of ``protocol`` in ``schedule``."""

    protocol: DistillProtocol
    schedule: Schedule
    rounds: int

    @property
    def byte(self) -> int:
        return distil_byte(int(self.protocol), SCHEDULE_CODES[self.schedule], self.rounds)

    @classmethod
    def from_byte(cls, value: int) -> DistilRule | None:
        """The rule of a (checked) rule byte; None for 0. ParseError for an undefined byte."""
        protocol, schedule, rounds = distil_rule(value)
        if protocol == 0:
            return None
        return cls(DistillProtocol(protocol), Schedule.PUMPING if schedule else Schedule.RECURRENCE, rounds)

    @property
    def held(self) -> int:
        """Pairs one end holds at once to reach the last level: rounds + 1 (recurrence) or 2 (pumping)."""
        return self.rounds + 1 if self.schedule == Schedule.RECURRENCE else 2

    @property
    def twirls(self) -> bool:
        return self.protocol == DistillProtocol.BBPSSW

    def __str__(self) -> str:
        return f"{self.protocol.name} {self.schedule.value} x{self.rounds}"


def rule_byte(rule: DistilRule | None) -> int:
    return 0 if rule is None else rule.byte


@dataclass(frozen=True, slots=True)
class DistilRequest:
    """What an application's CREATE asks: ``mode`` (:data:`protocols.packets.linkservice.DISTIL_MODES`) and,
    when explicit, the rule of every hop and of the end-to-end pairs (either may be None)."""

    mode: int = ll.DISTIL_NONE
    hop: DistilRule | None = None
    end: DistilRule | None = None

    @classmethod
    def from_create(cls, create: ll.Create) -> DistilRequest:
        """ValueError for what the network service refuses: mode 3, undefined rule bytes, or an explicit request
        with no rule. With rules, PL1/PL2 carry no basis probabilities: a random local basis (RL) is uniform."""
        if create.distil == ll.DISTIL_EXPLICIT:
            try:
                hop, end = DistilRule.from_byte(create.pl1), DistilRule.from_byte(create.pl2)
            except Exception as error:      # ParseError of an undefined rule byte
                raise ValueError(str(error)) from None
            if hop is None and end is None:
                raise ValueError("an explicit distillation policy with no rule (PL1 and PL2 both 0)")
            return cls(ll.DISTIL_EXPLICIT, hop, end)
        if create.distil == ll.DISTIL_AUTO:
            return cls(ll.DISTIL_AUTO)
        if create.distil != ll.DISTIL_NONE:
            raise ValueError(f"Distil {create.distil} is reserved")
        return cls()

    def create_fields(self) -> dict[str, int]:
        """The CREATE fields that carry this request."""
        if self.mode == ll.DISTIL_EXPLICIT:
            return {"distil": self.mode, "pl1": rule_byte(self.hop), "pl2": rule_byte(self.end)}
        return {"distil": self.mode}


NO_DISTILLATION = DistilRequest()


def distilled_option(distribution: BellDistribution, success: float, rule: DistilRule, noise: RoundNoise,
                     memories: tuple[Memory, Memory], wait_ns: float) -> tuple[float, BellDistribution, float]:
    """(success probability per attempt, distribution, expected elementary pairs) of a hop's option under
    ``rule``: the elementary pairs decayed in both memories for ``wait_ns`` (a round's wait), then the closed
    form of the rule's last level."""
    decayed = distribution
    for memory in memories:
        decayed = physics.xor_convolve(decayed, memory.channel(wait_ns))
    level = levels(decayed, rule.protocol, rule.schedule, rule.rounds, noise)[-1]
    if not math.isfinite(level.expected_pairs) or level.expected_pairs <= 0:
        return 0.0, level.output, math.inf
    return success / level.expected_pairs, level.output, level.expected_pairs


def auto_rules() -> list[DistilRule]:
    """The rules the tail's automatic choice tries, every protocol and schedule up to :data:`AUTO_ROUNDS`."""
    return [DistilRule(protocol, schedule, rounds) for rounds in range(1, AUTO_ROUNDS + 1)
            for protocol in (DistillProtocol.DEJMPS, DistillProtocol.BBPSSW) for schedule in Schedule
            if rounds > 1 or schedule == Schedule.RECURRENCE]     # one round: the two schedules are the same


def distil_request(mode: str, rule: tuple[str, str, int] | None = None,
                   end: tuple[str, str, int] | None = None) -> DistilRequest:
    """A request from its scenario / API spelling: "none", "auto", or "explicit" with (protocol, schedule,
    rounds) for every hop (``rule``) and/or for the end-to-end pairs (``end``), e.g.
    ``("dejmps", "recurrence", 1)``. ValueError names what is wrong.

    >>> distil_request("explicit", ("bbpssw", "pumping", 2)).create_fields()
    {'distil': 2, 'pl1': 82, 'pl2': 0}
    >>> distil_request("explicit", None, ("dejmps", "recurrence", 1)).create_fields()
    {'distil': 2, 'pl1': 0, 'pl2': 129}
    """
    if mode == "none":
        return NO_DISTILLATION
    if mode == "auto":
        return DistilRequest(ll.DISTIL_AUTO)
    if mode != "explicit" or (rule is None and end is None):
        raise ValueError(f"distillation {mode!r}: expected none, auto, or explicit with a rule")
    return DistilRequest(ll.DISTIL_EXPLICIT, _rule(rule), _rule(end))


def _rule(spelled: tuple[str, str, int] | None) -> DistilRule | None:
    if spelled is None:
        return None
    protocol, schedule, rounds = spelled
    try:
        rule = DistilRule(DistillProtocol[protocol.upper()], Schedule(schedule), rounds)
        distil_byte(int(rule.protocol), SCHEDULE_CODES[rule.schedule], rule.rounds)
    except (KeyError, ValueError) as error:
        raise ValueError(f"distillation rule {spelled}: {error}") from None
    return rule
