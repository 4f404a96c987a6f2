"""Network layer: the two ends of a circuit (network-design §4.6, §4.8).

The **tail** decides every end-to-end pair, as the link layer's master does: when the TRACK of a chain
reaches it and it holds the named half (measured, for measure-directly), it numbers the pair n, delivers its
OK (Bell state = the TRACK's accumulated index) and sends CONFIRM(n) towards the head, hop by hop
(:mod:`protocols.network.relay`), retransmitted until CONFIRM_ACK comes back the same way. The **head**
delivers OK(n) with the same Bell state on CONFIRM if it still holds the named half, and otherwise answers
CONFIRM_ACK EXPIRE and reports ERR EXPIRE(n), as the tail then does: both
ends settle the same numbers. Pair n is settled at the tail when its CONFIRM is answered; with Number pairs
settled the tail completes the circuit (COMPLETE to every node). A pair the head never heard of (the tail gave
its CONFIRM up) is reported expired at the head once no CONFIRM of it can be answered any more, or at COMPLETE;
each end reports a pair once, without a per-pair set for the circuit's life (docs/architecture.md, "Bounded
reports").

Both ends hold a half at most τ_end (or, without cutoffs, a safety limit) after its link OK. The ends of a
measure-directly circuit measure their half as soon as its link OK comes, in the request's basis (fixed or
drawn per pair); with CON clear the OK-Ms are held until the circuit completes. Goodness is the tail's model
state D_mid ⊛ both halves' memory channels for this end's storage time (:func:`protocols.network.model.goodness`).
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.common import Actions
from protocols.network.circuit import Circuit, CircuitEvent, CircuitState
from protocols.network.context import Node
from protocols.network.end_measure import Measurements
from protocols.network.end_reports import EndReports
from protocols.network.end_state import EndState
from protocols.network.hops import Hops
from protocols.network.model import goodness
from protocols.network.pair_records import PairRecords
from protocols.network.relay import Relay, send_confirm
from protocols.network.service import Service
from protocols.network.tracker import Tracker
from protocols.network.types import (
    DELIVERED,
    HELD,
    MEASURED,
    MEASURING,
    ON_DELIVER,
    ON_RESULT,
    RIGHT,
    Half,
    HalfKey,
    Handle,
)
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Confirm
from protocols.packets.qncp_common import CONFIRM, CONFIRM_ACK, REASON_CUTOFF, REASON_TEARDOWN, REASON_UNKNOWN
from protocols.physical.hardware import MeasureResult


class EndPoint:
    """The ends of the circuits of one node."""

    def __init__(self, node: Node, service: Service, tracker: Tracker, hops: Hops) -> None:
        self.node = node
        self.service = service
        self.tracker = tracker
        self.hops = hops
        self.states: dict[Handle, EndState] = {}
        self.relay = Relay(node)
        """CONFIRMs passing through this node when it is a repeater of their circuit."""
        self.relay.on_failed = hops.caps.numbered_failed
        self.measurements = Measurements(node.half)
        """The Measure commands of measure-directly circuits' halves under way here."""
        self.on_settled: Callable[[Circuit, int], Actions] = lambda circuit, now: Actions()
        """The tail has settled Number pairs: the circuit completes."""
        self.on_end_pair: Callable[[Circuit, Half, int], Actions] = lambda circuit, half, now: Actions()
        """The tail of a circuit whose ends distil: an end-to-end pair for the end pool
        (:mod:`protocols.network.end_distiller`)."""
        self.reports = EndReports(node, service, self.state, self.states)
        self.on_retracted = self.reports.on_retracted
        """A delivered half died (poison): its pair is expired at this end."""
        self.over = self.reports.over                 # whether a half delivered here is over (EndReports.over)

    def state(self, circuit: Circuit) -> EndState:
        state = self.states.get(circuit.handle)
        if state is None:                   # (setdefault would build an EndState and its six tables every call)
            state = self.states[circuit.handle] = EndState()
        return state

    def forget(self, circuit: Circuit) -> None:
        self.states.pop(circuit.handle, None)
        self.relay.forget(circuit)

    def settled(self) -> bool:
        return not self.measurements

    def kept_until(self, circuit: Circuit) -> int:
        """Until when ``circuit``, closed, must still be known here for its CONFIRMs (0: not at all)."""
        return self.reports.kept_until(circuit) if circuit.is_end else self.relay.kept_until(circuit)

    def numbered_all(self, circuit: Circuit) -> bool:
        return self.state(circuit).numbered >= circuit.number

    # -- link pairs and measurements ------------------------------------------------------------
    def on_pair(self, circuit: Circuit, half: Half, now: int) -> Actions:
        """A new half at an end."""
        actions = Actions()
        assert circuit.hold_ns is not None
        start = now if half.ok_at is None else min(now, half.ok_at)      # a distilled half's pool wait counts
        self.node.timers.schedule(("hold", half.key), start + circuit.hold_ns)
        if circuit.create.tpe == ll.TPE_MEASURE:
            actions.hardware.append(self.measurements.start(half, self.service.basis(circuit)))
        if circuit.is_head:
            circuit.stats.hop1_ok_at[half.seq] = now
            return actions.extend(self.tracker.send_track(circuit, half, now))
        if half.track is not None and half.state == HELD:
            actions.extend(self.deliver(circuit, half, now))
        return actions

    def on_measured(self, result: MeasureResult, now: int) -> Actions:
        half = self.measurements.answered(result.slot)
        if half is None:
            return Actions()
        half.fire(ON_RESULT)
        half.outcome = result.outcome
        circuit = self.node.circuits.get(half.circuit)
        if circuit is None:
            return Actions()
        if circuit.is_head:
            state = self.state(circuit)
            waiting = state.waiting.pop(half.seq, None)
            return (Actions() if waiting is None       # answered to the node the CONFIRM came from, as at once
                    else self._answer(circuit, self.reports.answered(state, circuit), *waiting, now))
        return self.deliver(circuit, half, now) if half.track is not None else Actions()

    def on_rejected(self, slot: int, now: int) -> Actions:
        """The medium refused to measure ``slot`` (no qubit there): the half dies (EXPIRE UNKNOWN at both
        ends) instead of waiting for an outcome that will not come."""
        half = self.measurements.answered(slot)
        return Actions() if half is None else self.tracker.kill(half, REASON_UNKNOWN, None, now)

    def on_hold(self, key: HalfKey, now: int) -> Actions:
        """An end's half waited its τ_end: discarded, its link pair expired (EXPIRE CUTOFF)."""
        half = self.node.half(key)
        if half is None or half.state not in (HELD, MEASURED):
            return Actions()
        circuit = self.node.circuits.get(half.circuit)
        if circuit is not None:
            circuit.stats.cutoff_discards += 1
        return self.tracker.kill(half, REASON_CUTOFF, None, now)

    def _goodness(self, circuit: Circuit, half: Half, now: int) -> float:
        if half.distilled is not None:
            return half.distilled
        peer = circuit.tail if circuit.is_head else circuit.head
        stored = 0 if half.ok_at is None else max(0, now - half.ok_at)
        return goodness(circuit.model, stored, self.node.caps.memory, self.node.topology.node(peer).memory)

    def _ok(self, circuit: Circuit, half: Half, n: int, bell: int, now: int) -> tuple[Actions, float]:
        good = self._goodness(circuit, half, now)
        message = self.service.ok(circuit, half, n, bell, good, now)
        state = self.state(circuit)
        state.reported.add(n)
        if circuit.create.outcomes_together:
            state.held.append(message)
            return Actions(), good
        assert circuit.app is not None
        return Actions(send=[(circuit.app, message)]), good

    # -- the tail -------------------------------------------------------------------------------
    def deliver(self, circuit: Circuit, half: Half, now: int) -> Actions:
        """The tail holds the half a TRACK named: number the pair, deliver it, CONFIRM it to the head."""
        state = self.state(circuit)
        if state.numbered >= circuit.number or circuit.state not in (CircuitState.ACTIVE,):
            return self.tracker.kill(half, REASON_TEARDOWN, None, now)        # a surplus chain
        if circuit.end_distil is not None and half.distilled is None:
            return self.on_end_pair(circuit, half, now)                       # not a pair to deliver yet
        assert half.track is not None
        n = state.numbered
        state.numbered += 1
        bell = half.track.bell
        half.fire(ON_DELIVER)
        half.e2e = n
        half.delivered_at = now
        state.delivered[n] = half.key
        self.node.timers.cancel(("hold", half.key))
        actions, good = self._ok(circuit, half, n, bell, now)
        confirm = Confirm(CONFIRM, circuit.handle[1], circuit.head, n, half.track.pair_id, half.seq, bell,
                          ll.encode_fidelity(good))
        actions.extend(send_confirm(self.node, circuit, confirm, now))
        self.hops.released(half, now, actions)
        if state.numbered >= circuit.number:
            circuit.fire(CircuitEvent.ALL_NUMBERED)
        return actions

    def on_confirm_ack(self, message: Confirm, now: int) -> Actions:
        circuit = self.node.circuits.get((message.head_node, message.circuit_id))
        if circuit is not None and not circuit.is_end:
            return self.relay.on_confirm_ack(circuit, message, now)
        if circuit is None or not self.node.outbox.ack(("confirm", circuit.handle, message.e2e_seq)):
            return Actions()
        if message.status == ll.ERR_EXPIRE and message.reason == REASON_UNKNOWN:
            return self._unconfirmed(circuit, message.e2e_seq, now)       # a relay never heard from the head
        actions = Actions()
        if message.status == ll.ERR_EXPIRE:
            self.hops.caps.numbered_failed(circuit)
            actions.extend(self.reports.unsettled(circuit, message.e2e_seq))
        return actions.extend(self._settle(circuit, message.e2e_seq, now))

    def confirm_gave_up(self, handle: Handle, n: int, now: int) -> Actions:
        """Every CONFIRM of pair n (towards the head) went unanswered here."""
        circuit = self.node.circuits.get(handle)
        if circuit is None:
            return Actions()
        if not circuit.is_end:
            return self.relay.gave_up(circuit, n, now)
        return self._unconfirmed(circuit, n, now)

    def _unconfirmed(self, circuit: Circuit, n: int, now: int) -> Actions:
        """The tail cannot learn whether the head delivered pair n: assume the worst. It reports the pair
        expired and poisons its half, which reaches the head's half through the swap records."""
        self.hops.caps.numbered_failed(circuit)
        actions = self.reports.unsettled(circuit, n)
        key = self.state(circuit).delivered.get(n)
        half = None if key is None else self.node.half(key)
        if half is not None:            # (detached from n: its death reports nothing more)
            actions.extend(self.tracker.kill(half, REASON_TEARDOWN, None, now))
        return actions.extend(self._settle(circuit, n, now))

    def _settle(self, circuit: Circuit, n: int, now: int) -> Actions:
        state = self.state(circuit)
        state.settled += 1
        key = state.delivered.pop(n, None)
        half = None if key is None else self.node.half(key)
        if half is not None and half.state is DELIVERED and half.e2e in (n, None):  # (not poisoned: lingers already)
            self.reports.linger(circuit, state, half, now)
        state.retracted.discard(n)
        if state.settled < circuit.number:
            return Actions()
        return self.flush(circuit).extend(self.on_settled(circuit, now))

    def flush(self, circuit: Circuit) -> Actions:
        """OK-Ms held until the end of the request go to the application."""
        state = self.state(circuit)
        held, state.held = state.held, []
        return Actions(send=[(circuit.app, message) for message in held]) if circuit.app else Actions()

    # -- the head -------------------------------------------------------------------------------
    def on_confirm(self, message: Confirm, sender: int, now: int) -> Actions:
        circuit = self.node.circuits.get((message.head_node, message.circuit_id))
        n = message.e2e_seq
        if circuit is not None and not circuit.is_end:
            return self.relay.on_confirm(circuit, message, now)
        if circuit is None or not circuit.is_head:
            return self._confirm_ack(message, sender, ll.ERR_EXPIRE)
        answered, actions = self.reports.heard(circuit, now)
        status = answered.get(n)
        if status is not None:
            reply = self._confirm_ack(message, sender, status)
        elif answered.late(n):                  # beyond every copy's bound: its sender waits no more
            self.node.counters.late_confirms += 1
            reply = Actions()
        else:
            reply = self._answer(circuit, answered, message, sender, now)
        return reply if actions is None else actions.extend(reply)

    def _answer(self, circuit: Circuit, answered: PairRecords[int], message: Confirm, sender: int,
                now: int) -> Actions:
        """The head's first CONFIRM of pair n (or the one that waited for its half's measurement)."""
        n = message.e2e_seq
        half = self.node.half((circuit.hop(RIGHT).link_id, message.head_pair_seq))
        if half is not None and half.state == MEASURING:
            self.state(circuit).waiting[half.seq] = message, sender
            return Actions()
        if half is None or half.state not in (HELD, MEASURED):
            self.hops.caps.numbered_failed(circuit)
            answered.put(n, ll.ERR_EXPIRE, now)
            actions = self.reports.unanswerable(circuit, n)
            return actions.extend(self._confirm_ack(message, sender, ll.ERR_EXPIRE))
        half.fire(ON_DELIVER)
        half.e2e = n
        answered.put(n, 0, now)
        self.reports.linger(circuit, self.state(circuit), half, now)
        if circuit.end_distil is not None:
            half.distilled = ll.decode_fidelity(message.goodness)
        self.node.timers.cancel(("hold", half.key))
        ok_at = circuit.stats.hop1_ok_at.pop(half.seq, None)
        if ok_at is not None:
            circuit.stats.latencies.append(now - ok_at)
        actions, _ = self._ok(circuit, half, n, message.bell_state, now)
        self.hops.released(half, now, actions)
        return actions.extend(self._confirm_ack(message, sender, 0))

    def _confirm_ack(self, message: Confirm, sender: int, status: int) -> Actions:
        ack = Confirm(CONFIRM_ACK, message.circuit_id, message.head_node, message.e2e_seq, message.head_pair_seq,
                      message.tail_pair_seq, message.bell_state, message.goodness, status=status)
        return Actions(send=[(self.node.qncp(sender), ack.encode())])

    def completed(self, circuit: Circuit) -> Actions:
        """The head learned the circuit is complete: any pair it never heard of is reported expired (only
        possible when the tail gave up confirming it; those below its ``answered`` floor were reported when the
        floor passed them, :meth:`EndReports.unheard`), and held OK-Ms go to the application."""
        actions = self.flush(circuit)
        return actions.extend(self.reports.completed(circuit))
