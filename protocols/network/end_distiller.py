"""Network layer: end-to-end distillation (issue 14): a circuit's two ends distil its end-to-end pairs before
they are delivered.

With an End Distil rule (the SETUP_REPLY's, docs/wire.md §9.3.3) the tail does not number an end-to-end pair
when its TRACK completes: the half goes to the tail's *end pool*. The tail is every round's *initiator*: it
alone knows the pairs' tracked end-to-end Bell states (their TRACKs'). It picks the kept and the sacrificed
pair as a distilling hop does (:func:`protocols.network.distil_state.choose`), issues its
:class:`~protocols.physical.hardware.Distill` and, with its outcome, sends DISTIL (Scope END_TO_END, the pairs
named by their Pair ID) to the head, straight across the circuit like CONFIRM, retransmitted until
DISTIL_ACK. The DISTIL's Outcome byte also carries the parity that keeps the pair and the survivor's tracked
Bell state (wire.md §9.3.8), which the head needs (to decide, and to twirl with BBPSSW) and does not know
otherwise. The head, the *responder*, issues its Distill on the two halves it holds for those Pair IDs and
answers DISTIL_ACK with its own outcome, or with Status EXPIRE when it does not hold them. Each end keeps the
kept pair when the outcomes' parity is the announced one and otherwise discards it; the sacrificed pair is
consumed either way (quietly: both ends consume their own). A pair that survived the rule's rounds leaves the
pool and is numbered and delivered as any other (OK, CONFIRM; the head delivers it on CONFIRM), with the
survivor's Bell state.

Expiry: both ends' halves keep their hold limit (τ_end) while they wait in a round or the pool; a half that
reaches it dies with EXPIRE CUTOFF, which reaches the other end through the swap records. A round whose
DISTILs all go unanswered, or whose Distill the medium refuses at the tail, kills the tail's kept half with
EXPIRE. The head delivers only on CONFIRM, so no pair is delivered at one end only.

The tail's estimate of a pooled pair is its model state D_mid decayed in both ends' memories for the half's
storage time; each round applies the closed form with both ends' gate and readout noise
(:func:`protocols.network.distillation.distill`). The report's ``end_distillation`` comes from the tail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import protocols.network.distil_estimates as estimates
import protocols.network.distillation as distillation
from protocols.common import Actions
from protocols.network.circuit import Circuit, CircuitState
from protocols.network.context import Node
from protocols.network.distil_inflight import InFlight
from protocols.network.distil_messages import EndMessages, EndRound, expired, repeated
from protocols.network.distil_pool import Pool
from protocols.network.distil_state import Entry, Round, RoundEvent, RoundState, choose
from protocols.network.hops import Hops
from protocols.network.tracker import Tracker
from protocols.network.types import RIGHT, Half, HalfEvent, HalfKey, HalfState
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Distil
from protocols.packets.qncp_common import REASON_UNKNOWN, STATUS_OK
from protocols.physical.hardware import (
    CommandRejected,
    Discard,
    Distill,
    DistillResult,
    MoveResult,
)

ReadyCallback = Callable[[Circuit, Half, int], Actions]
RoundKey = EndRound
"""(circuit, kept pair's Pair ID, sacrificed pair's Pair ID)."""


class EndDistiller:
    """The end-to-end distillation rounds of one node (the circuits it is an end of)."""

    def __init__(self, node: Node, tracker: Tracker, hops: Hops) -> None:
        self.node = node
        self.tracker = tracker
        self.hops = hops
        self.pool = Pool(node)
        """Its pooled halves and their moves out of communication qubits (as a distilling hop's pool)."""
        self.entries: dict[HalfKey, Entry] = self.pool.entries
        """Tail: its pooled halves; head: the halves DISTILs named."""
        self.rounds: dict[RoundKey, Round] = {}
        self.messages = EndMessages(node)
        """DISTIL and DISTIL_ACK on the wire, and what each round announces in them."""
        self.measuring = InFlight[RoundKey]()
        """Distill commands under way."""
        self.on_ready: ReadyCallback = lambda circuit, half, now: Actions()
        """Tail: a pair survived every round (numbered and delivered by the end point)."""

    def settled(self) -> bool:
        return not self.measuring and not self.pool.moving

    def to_storage(self) -> Actions:
        """Halves waiting for a round leave their communication qubits (so the end hops go on generating)."""
        return self.pool.to_storage()

    def on_moved(self, result: MoveResult | CommandRejected, now: int) -> Actions:
        actions, half = self.pool.moved(result)
        circuit = None if half is None else self.node.circuits.get(half.circuit)
        return actions if circuit is None else actions.extend(self._start(circuit, now))

    def expects(self, slots: tuple[int, int]) -> bool:
        return self.measuring.expects(slots)

    def rejected(self, slot: int) -> bool:
        return self.measuring.rejected(slot)

    def forget(self, circuit: Circuit) -> None:
        for key in [key for key in self.rounds if key[0] == circuit.handle]:
            if self.rounds[key].state != RoundState.MEASURING:
                del self.rounds[key]
                self.messages.forget(key)
        self.pool.forget(circuit)

    # -- the tail's pool ------------------------------------------------------------------------
    def add(self, circuit: Circuit, half: Half, now: int) -> Actions:
        """An end-to-end pair whose TRACK reached the tail: into the pool."""
        if half.end_pooled:
            return Actions()
        half.end_pooled = True
        estimate = estimates.end_pair(self.node, circuit, half, now)
        self.entries[half.key] = Entry(0, estimate)
        stats = estimates.end_stats(circuit)
        stats.elementary += 1
        stats.fidelity_before += estimate[0]
        return self._start(circuit, now)

    def _start(self, circuit: Circuit, now: int) -> Actions:
        """The tail starts every round its pool allows."""
        rule = circuit.end_distil
        actions = Actions()
        while rule is not None and circuit.is_tail and circuit.state == CircuitState.ACTIVE:
            pair = choose(rule, [(half.key, self.entries[half.key].level) for half in self.pool.pooled(circuit)])
            if pair is None:
                break
            kept, spent = (self.node.half(key) for key in pair)
            assert kept is not None and spent is not None and kept.track is not None and spent.track is not None
            parity, survivor = distillation.tracked_round(rule.protocol, kept.track.bell, spent.track.bell)
            kept.track = replace(kept.track, bell=survivor)
            actions.extend(self._issue(circuit, kept, spent, self.entries[kept.key].level, parity, survivor, now))
        return actions.extend(self.pool.to_storage())

    # -- a round at either end ------------------------------------------------------------------
    def _pair_id(self, circuit: Circuit, half: Half) -> int:
        if circuit.is_head:
            return half.seq
        assert half.track is not None
        return half.track.pair_id

    def _issue(self, circuit: Circuit, kept: Half, spent: Half, level: int, parity: int, survivor: int,
               now: int) -> Actions:
        """This end's Distill on two halves; the sacrificed one is consumed."""
        rule = circuit.end_distil
        assert rule is not None and kept.slot is not None and spent.slot is not None
        key: RoundKey = (circuit.handle, self._pair_id(circuit, kept), self._pair_id(circuit, spent))
        entry = self.entries.setdefault(kept.key, Entry(level, circuit.model))
        other = self.entries.get(spent.key, Entry(0, circuit.model))
        entry.busy = True
        noise = estimates.end_noise(self.node, circuit)
        predicted = distillation.distill(rule.protocol, entry.estimate, other.estimate, noise)
        initiator = circuit.is_tail
        self.rounds[key] = Round(kept.key, spent.key, level, initiator, parity, predicted, (kept.slot, spent.slot))
        self.messages.announce(key, parity, survivor)
        if initiator:
            stats = estimates.end_stats(circuit)
            stats.attempted += 1
            stats.predicted_success += predicted.success_probability
        command = Distill(kept.slot, spent.slot, rule.protocol, survivor if rule.twirls else None)
        self.measuring.issued((kept.slot, spent.slot), key)
        return Actions(hardware=[command]).extend(self._consume(spent, now))

    def _consume(self, half: Half, now: int) -> Actions:
        """A half a round took, or whose round failed at both ends: gone without EXPIRE."""
        self.entries.pop(half.key, None)
        self.node.timers.cancel(("hold", half.key))
        half.slot = None if half.state == HalfState.HELD else half.slot
        if half.state == HalfState.DEAD:
            return Actions()
        half.fire(HalfEvent.DIE)
        self.node.linger(half, self.node.circuits.get(half.circuit), now)
        return self.hops.released(half, now)

    def _discard(self, half: Half, now: int) -> Actions:
        actions = Actions(hardware=[Discard(half.slot)]) if half.slot is not None else Actions()
        return actions.extend(self._consume(half, now))

    # -- results --------------------------------------------------------------------------------
    def on_result(self, result: DistillResult | CommandRejected, now: int) -> Actions:
        answered = self.measuring.answered(result)
        if answered is None:
            return Actions()
        key, slots = answered
        found, circuit = self.rounds.get(key), self.node.circuits.get(key[0])
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
        alive = kept is not None and kept.state == HalfState.HELD
        if found.initiator:
            found.fire(RoundEvent.RESULT)
            if not alive:
                return self._failed(circuit, key, found, False, now)
            return self.messages.send(circuit, key, found, now)
        actions = self.messages.answer(circuit, key, found, result.outcome, STATUS_OK if alive else ll.ERR_EXPIRE)
        if not alive:
            found.fire(RoundEvent.LOST)
            return actions.extend(self._failed(circuit, key, found, False, now))
        return actions.extend(self._decide(circuit, key, found, found.peer_outcome, now))

    def _decide(self, circuit: Circuit, key: RoundKey, found: Round, peer_outcome: int, now: int) -> Actions:
        kept, entry = self.node.half(found.kept), self.entries.get(found.kept)
        if kept is None or entry is None or kept.state != HalfState.HELD:
            found.fire(RoundEvent.LOST)
            return self._failed(circuit, key, found, False, now)
        if (found.outcome ^ peer_outcome) != found.parity:
            found.fire(RoundEvent.MISMATCH)
            return self._failed(circuit, key, found, False, now)
        found.fire(RoundEvent.MATCH)
        entry.level, entry.estimate, entry.busy = found.level + 1, found.predicted.output, False
        rule = circuit.end_distil
        if not found.initiator or rule is None:
            del self.entries[kept.key]      # the head keeps no pool (its half may be CONFIRMed at any time)
            return Actions()
        stats = estimates.end_stats(circuit)
        stats.succeeded += 1
        if entry.level < rule.rounds:
            return self._start(circuit, now)
        stats.distilled += 1
        stats.fidelity_after += entry.estimate[0]
        kept.distilled = entry.estimate[0]
        del self.entries[kept.key]
        return self.on_ready(circuit, kept, now).extend(self._start(circuit, now))

    def _failed(self, circuit: Circuit, key: RoundKey, found: Round, expire: bool, now: int) -> Actions:
        """The round failed: the kept half goes (with EXPIRE towards the other end when it may not know)."""
        self.rounds.pop(key, None)
        self.messages.forget(key)
        kept = self.node.half(found.kept)
        if kept is None or kept.state == HalfState.DEAD:
            self.entries.pop(found.kept, None)
            return Actions()
        if expire:
            self.entries.pop(kept.key, None)
            return self.tracker.kill(kept, REASON_UNKNOWN, None, now)
        return self._discard(kept, now).extend(self._start(circuit, now))

    # -- messages -------------------------------------------------------------------------------
    def on_distil(self, message: Distil, sender: int, now: int) -> Actions:
        """The head: the tail's outcome; this end's part of the round, then DISTIL_ACK."""
        circuit = self.node.circuits.get((message.head_node, message.circuit_id))
        if (circuit is None or not circuit.is_head or circuit.tail != sender or circuit.end_distil is None
                or message.link_id != circuit.hop(RIGHT).link_id
                or message.protocol != int(circuit.end_distil.protocol)):
            self.node.counters.malformed += 1
            return Actions()
        key: RoundKey = (circuit.handle, message.kept_pair_seq, message.sacrificed_pair_seq)
        found = self.rounds.get(key)
        if found is not None:            # a retransmission: the same answer (none yet while measuring)
            return repeated(self.node, found, sender)
        kept, spent = (self.node.half((message.link_id, seq))
                       for seq in (message.kept_pair_seq, message.sacrificed_pair_seq))
        usable = [h is not None and h.state == HalfState.HELD and h.slot is not None
                  and not (h.key in self.entries and self.entries[h.key].busy) for h in (kept, spent)]
        if not all(usable) or kept is spent:
            actions = expired(self.node, message, sender)
            for half, ok in zip((kept, spent), usable, strict=True):
                if ok and half is not None and half.state == HalfState.HELD:
                    actions.extend(self._discard(half, now))
            return actions
        assert kept is not None and spent is not None
        actions = self._issue(circuit, kept, spent, message.level, message.keep_parity, message.survivor, now)
        self.rounds[key].peer_outcome = message.outcome
        return actions

    def on_distil_ack(self, message: Distil, now: int) -> Actions:
        """The tail: the head's outcome (or EXPIRE); keep or discard."""
        key: RoundKey = ((message.head_node, message.circuit_id), message.kept_pair_seq, message.sacrificed_pair_seq)
        if not self.messages.acked(key):
            return Actions()
        found, circuit = self.rounds.get(key), self.node.circuits.get(key[0])
        if found is None or circuit is None or found.state != RoundState.AWAITING_PEER:
            return Actions()
        if message.status != STATUS_OK:
            found.fire(RoundEvent.LOST)
            return self._failed(circuit, key, found, False, now)
        return self._decide(circuit, key, found, message.outcome, now)

    def gave_up(self, key: RoundKey, now: int) -> Actions:
        """Every DISTIL went unanswered: the kept half dies with EXPIRE (the head may have kept its own)."""
        found, circuit = self.rounds.get(key), self.node.circuits.get(key[0])
        if found is None or circuit is None:
            return Actions()
        found.fire(RoundEvent.LOST)
        return self._failed(circuit, key, found, True, now)
