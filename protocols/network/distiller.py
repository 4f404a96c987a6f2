"""Network layer: distillation of a hop's link pairs before they are swapped or delivered (issue 14).

When a circuit's rule for a hop distils (:attr:`protocols.network.circuit.Hop.distil`), both ends of the hop
keep its new halves in a *pool* instead of handing them to the swapper or the end point. The hop's granter
(the higher node id, the link's non-master: it gets each pair's OK last) is the round's *initiator*: it picks
the kept and the sacrificed half (recurrence: the two oldest of the lowest level below the rule's rounds;
pumping: the highest level with an elementary pair),
issues its :class:`~protocols.physical.hardware.Distill` and, with its outcome, sends DISTIL (retransmitted
until DISTIL_ACK). The other end, the *responder* (:mod:`protocols.network.distil_responder`), issues its
Distill on the two pairs DISTIL names (a DISTIL naming a pair whose link OK has not come yet is not answered:
its retransmission will be) and answers DISTIL_ACK with its outcome, or with Status EXPIRE when it no longer
holds them. Each end keeps the kept pair
when the two outcomes' parity is the one the tracked Bell indices predict
(:func:`protocols.network.distillation.tracked_round`); otherwise it discards it: a failure frees both pairs
at both ends. A kept pair that has survived the rule's rounds leaves the pool (``on_ready``).

Both ends set the kept half's tracked link Bell state to the survivor's at the round's start (it does not
depend on the outcomes), so a TRACK overtaking the DISTIL_ACK names the same state. The sacrificed half is
consumed at once (a quiet death: no EXPIRE, the peer consumes its own). Failures that leave the ends unsure
of each other (every DISTIL lost, a refused Distill) kill the kept half with EXPIRE, so no pair survives at
one end only; a half waits in the pool at most the circuit's cutoff (or its ends' hold limit), then dies
with EXPIRE CUTOFF. Rounds are a state machine (:data:`ROUND_TRANSITIONS`).

The estimate of each pooled pair is its link OK's goodness as a Werner state (which counts the moves to
storage), after the pool's own move of this end's half if it makes one, carried through the closed form of
each round with both ends' gate and readout noise (:func:`protocols.network.distillation.distill`).
"""

from __future__ import annotations

from collections.abc import Callable

import protocols.network.distil_estimates as estimates
import protocols.network.distillation as distillation
from protocols.common import Actions
from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.distil_inflight import InFlight
from protocols.network.distil_messages import HopMessages, HopRound
from protocols.network.distil_pool import Pool
from protocols.network.distil_responder import Responder
from protocols.network.distil_state import (
    Entry,
    Round,
    RoundEvent,
    RoundState,
    choose,
)
from protocols.network.hops import Hops
from protocols.network.tracker import Tracker
from protocols.network.types import Half, HalfEvent, HalfKey, HalfState
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Distil
from protocols.packets.qncp_common import REASON_CUTOFF, REASON_UNKNOWN, STATUS_OK
from protocols.physical.hardware import CommandRejected, Discard, Distill, DistillResult, MoveResult

ReadyCallback = Callable[[Circuit, Half, int], Actions]
RoundKey = HopRound
"""(circuit, link id, kept pair sequence, sacrificed pair sequence)."""


class Distiller:
    """The distillation pools and rounds of one node (every circuit and hop it serves)."""

    def __init__(self, node: Node, tracker: Tracker, hops: Hops) -> None:
        self.node = node
        self.tracker = tracker
        self.hops = hops
        self.messages = HopMessages(node)
        """DISTIL and DISTIL_ACK on the wire."""
        self.pool = Pool(node)
        self.entries = self.pool.entries
        self.rounds: dict[RoundKey, Round] = {}
        self.measuring = InFlight[RoundKey]()
        """Distill commands under way."""
        self.on_ready: ReadyCallback = lambda circuit, half, now: Actions()
        self.responder = Responder(node, self.pool, self.rounds, self._issue, self._consume)
        """This end's answers to the initiator's DISTILs."""

    def settled(self) -> bool:
        return not self.measuring and not self.pool.moving

    # -- communication qubits -------------------------------------------------------------------
    def to_storage(self) -> Actions:
        return self.pool.to_storage()

    def on_moved(self, result: MoveResult | CommandRejected, now: int) -> Actions:
        actions, half = self.pool.moved(result, count_move=True)
        actions.extend(self.responder.moved(now))
        circuit = None if half is None else self.node.circuits.get(half.circuit)
        if half is None or circuit is None:
            return actions
        return actions.extend(self._start(circuit, half.side, now, move=False))

    def forget(self, circuit: Circuit) -> None:
        for key in [key for key in self.rounds if key[0] == circuit.handle]:
            if self.rounds[key].state != RoundState.MEASURING:
                del self.rounds[key]
        self.pool.forget(circuit)
        self.responder.forget(circuit)

    @staticmethod
    def distils(circuit: Circuit, side: int) -> bool:
        hop = circuit.hops[side]
        return hop is not None and hop.distil is not None

    # -- the pool -------------------------------------------------------------------------------
    def add(self, circuit: Circuit, half: Half, now: int) -> Actions:
        """A new held half of a distilling hop."""
        half.distilling = True
        estimate = estimates.hop_pair(half)
        self.entries[half.key] = Entry(0, estimate)
        limit = circuit.cutoff_ns or circuit.hold_ns
        if limit:
            self.node.timers.schedule(("distil-hold", half.key), now + limit)
        stats = estimates.hop_stats(circuit, half.link_id)
        stats.elementary += 1
        stats.fidelity_before += estimate[0]
        return self._start(circuit, half.side, now)

    def on_hold(self, key: HalfKey, now: int) -> Actions:
        """A pooled half waited its limit: it dies (EXPIRE CUTOFF to the peer)."""
        entry, half = self.entries.get(key), self.node.half(key)
        if entry is None or entry.busy or half is None or half.state != HalfState.HELD:
            return Actions()
        circuit = self.node.circuits.get(half.circuit)
        if circuit is not None:
            circuit.stats.cutoff_discards += 1
        return self.pool.drop(half).extend(self.tracker.kill(half, REASON_CUTOFF, None, now))

    # -- starting a round -----------------------------------------------------------------------
    def _start(self, circuit: Circuit, side: int, now: int, move: bool = True) -> Actions:
        """The initiator starts every round its pool allows; halves left waiting move to storage."""
        hop = circuit.hop(side)
        actions = Actions()
        while hop.initiator and hop.distil is not None and circuit.generating:
            pair = choose(hop.distil, [(h.key, self.entries[h.key].level) for h in self.pool.pooled(circuit, side)])
            if pair is None:
                break
            kept, sacrificed = (self.node.half(key) for key in pair)
            assert kept is not None and sacrificed is not None
            actions.extend(self._issue(circuit, kept, sacrificed, self.entries[kept.key].level, True, now))
        return actions.extend(self.pool.to_storage()) if move else actions

    def _issue(self, circuit: Circuit, kept: Half, sacrificed: Half, level: int, initiator: bool,
               now: int) -> Actions:
        """This end's Distill on two pooled halves; the sacrificed one is consumed."""
        rule = circuit.hop(kept.side).distil
        assert rule is not None and kept.slot is not None and sacrificed.slot is not None
        parity, survivor = distillation.tracked_round(rule.protocol, kept.link_bell, sacrificed.link_bell)
        key: RoundKey = (circuit.handle, kept.link_id, kept.seq, sacrificed.seq)
        entry, spent = self.entries[kept.key], self.entries[sacrificed.key]
        entry.busy = True
        noise = estimates.hop_noise(self.node, circuit, kept)
        predicted = distillation.distill(rule.protocol, entry.estimate, spent.estimate, noise)
        self.rounds[key] = Round(kept.key, sacrificed.key, level, initiator, parity, predicted,
                                 (kept.slot, sacrificed.slot))
        stats = estimates.hop_stats(circuit, kept.link_id)
        stats.attempted += 1
        stats.predicted_success += predicted.success_probability
        kept.link_bell = survivor
        command = Distill(kept.slot, sacrificed.slot, rule.protocol, survivor if rule.twirls else None)
        self.measuring.issued((kept.slot, sacrificed.slot), key)
        return Actions(hardware=[command]).extend(self._consume(sacrificed, now))

    def _consume(self, half: Half, now: int) -> Actions:
        """A half whose qubit a round took, or whose round failed at both ends: gone without EXPIRE."""
        self.pool.drop(half)
        half.slot = None if half.state == HalfState.HELD else half.slot
        if half.state == HalfState.DEAD:
            return Actions()
        half.fire(HalfEvent.DIE)
        self.node.linger(half, self.node.circuits.get(half.circuit), now)
        return self.hops.released(half, now)

    # -- results --------------------------------------------------------------------------------
    def on_result(self, result: DistillResult | CommandRejected, now: int) -> Actions:
        answered = self.measuring.answered(result)
        if answered is None:
            return Actions()
        key, slots = answered
        found = self.rounds.get(key)
        circuit = self.node.circuits.get(key[0])
        if found is None or circuit is None:
            return Actions()
        if isinstance(result, CommandRejected):
            found.fire(RoundEvent.REJECTED)
            actions = Actions(hardware=[Discard(slots[1])])      # nothing happened: the sacrificed qubit is there
            if not found.initiator:
                actions.extend(self.messages.answer(circuit, key, found, 0, ll.ERR_EXPIRE))
            return actions.extend(self._failed(circuit, key, found, found.initiator, now))
        found.outcome = result.outcome
        kept = self.node.half(found.kept)
        if found.initiator:
            found.fire(RoundEvent.RESULT)
            if kept is None or kept.state != HalfState.HELD:
                return self._failed(circuit, key, found, False, now)
            return self.messages.send(circuit, key, found, now)
        alive = kept is not None and kept.state == HalfState.HELD
        actions = self.messages.answer(circuit, key, found, result.outcome, STATUS_OK if alive else ll.ERR_EXPIRE)
        if not alive:
            found.fire(RoundEvent.LOST)
            return actions.extend(self._failed(circuit, key, found, False, now))
        return actions.extend(self._decide(circuit, key, found, found.peer_outcome, now))

    def _decide(self, circuit: Circuit, key: RoundKey, found: Round, peer_outcome: int, now: int) -> Actions:
        kept = self.node.half(found.kept)
        entry = self.entries.get(found.kept)
        if kept is None or entry is None or kept.state != HalfState.HELD:
            found.fire(RoundEvent.LOST)
            return self._failed(circuit, key, found, False, now)
        if (found.outcome ^ peer_outcome) != found.parity:
            found.fire(RoundEvent.MISMATCH)
            return self._failed(circuit, key, found, False, now)
        found.fire(RoundEvent.MATCH)
        rule = circuit.hop(kept.side).distil
        assert rule is not None
        stats = estimates.hop_stats(circuit, kept.link_id)
        stats.succeeded += 1
        entry.level, entry.estimate, entry.busy = found.level + 1, found.predicted.output, False
        if entry.level < rule.rounds:
            return self._start(circuit, kept.side, now)
        stats.distilled += 1
        stats.fidelity_after += entry.estimate[0]
        kept.link_goodness = entry.estimate[0]
        actions = self.pool.drop(kept).extend(self.on_ready(circuit, kept, now))
        return actions.extend(self._start(circuit, kept.side, now))

    def _failed(self, circuit: Circuit, key: RoundKey, found: Round, expire: bool, now: int) -> Actions:
        """The round failed: the kept half goes (with EXPIRE to the peer when it may not know)."""
        self.rounds.pop(key, None)
        kept = self.node.half(found.kept)
        if kept is None or kept.state == HalfState.DEAD:
            self.entries.pop(found.kept, None)
            return Actions()
        if expire:
            return self.pool.drop(kept).extend(self.tracker.kill(kept, REASON_UNKNOWN, None, now))
        actions = Actions(hardware=[Discard(kept.slot)]) if kept.slot is not None else Actions()
        return actions.extend(self._consume(kept, now)).extend(self._start(circuit, kept.side, now))

    # -- messages (a DISTIL: :attr:`responder`) -------------------------------------------------
    def on_distil_ack(self, message: Distil, now: int) -> Actions:
        handle = (message.head_node, message.circuit_id)
        key: RoundKey = (handle, message.link_id, message.kept_pair_seq, message.sacrificed_pair_seq)
        if not self.messages.acked(key):
            return Actions()
        found, circuit = self.rounds.get(key), self.node.circuits.get(handle)
        if found is None or circuit is None or found.state != RoundState.AWAITING_PEER:
            return Actions()
        if message.status != STATUS_OK:
            found.fire(RoundEvent.LOST)
            return self._failed(circuit, key, found, False, now)
        return self._decide(circuit, key, found, message.outcome, now)

    def gave_up(self, key: RoundKey, now: int) -> Actions:
        """Every DISTIL went unanswered: the kept half dies with EXPIRE (the peer may have kept its own)."""
        found, circuit = self.rounds.get(key), self.node.circuits.get(key[0])
        if found is None or circuit is None:
            return Actions()
        found.fire(RoundEvent.LOST)
        return self._failed(circuit, key, found, True, now)

