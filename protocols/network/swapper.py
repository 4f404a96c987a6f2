"""Network layer: entanglement swapping at repeaters (network-design §4.4).

Per circuit a repeater keeps its held halves in two FIFO queues, LEFT (the hop towards the head) and RIGHT.
As soon as both have one, it Bell-measures the oldest of each (``BellMeasure``); on success the two halves
are swapped (the record the P4 rule needs: partner and outcome), the TRACK pending on the left half goes
on, and both halves' credits return. A failed measurement kills both halves (EXPIRE SWAP_FAILED to both
neighbours). A half held longer than the circuit's cutoff τ since its link OK is discarded (EXPIRE CUTOFF).
"""

from __future__ import annotations

from collections import deque

from protocols.common import Actions
from protocols.network.circuit import GENERATING, Circuit
from protocols.network.context import Node
from protocols.network.hops import Hops
from protocols.network.tracker import Tracker
from protocols.network.types import (
    HALF_TRANSITIONS,
    HELD,
    ON_SWAP,
    ON_SWAPPED,
    SWAPPED,
    SWAPPING,
    Half,
    HalfKey,
    Handle,
)
from protocols.packets.qncp_common import REASON_CUTOFF, REASON_SWAP_FAILED
from protocols.physical.hardware import BellMeasure, BellMeasureResult, Discard

SWAPPING_FROM_HELD = HALF_TRANSITIONS[(HELD, ON_SWAP)]
"""A held half's state once its Bell measurement is issued (``fire(ON_SWAP)`` from HELD, the table's answer read
once: the swap loop has just seen the state, so no other transition can apply)."""
SWAPPED_FROM_SWAPPING = HALF_TRANSITIONS[(SWAPPING, ON_SWAPPED)]
"""A half's state once its Bell measurement succeeded, from SWAPPING (the table's answer, read once)."""


class Swapper:
    """The swap queues of one repeater (every circuit it serves)."""

    def __init__(self, node: Node, tracker: Tracker, hops: Hops) -> None:
        self.node = node
        self.tracker = tracker
        self.hops = hops
        self.queues: dict[Handle, tuple[deque[HalfKey], deque[HalfKey]]] = {}
        self.swapping: dict[tuple[int, int], deque[tuple[HalfKey, HalfKey]]] = {}
        """Bell measurements under way, by their slots (a storage slot may be reused while one still reads
        out: the results of one slot pair come back in the order the measurements were issued)."""

    def add(self, circuit: Circuit, half: Half, now: int) -> Actions:
        """A new held half of ``circuit`` at this repeater."""
        queues = self.queues.get(circuit.handle)
        if queues is None:                          # (setdefault would build two deques every time)
            queues = self.queues[circuit.handle] = (deque(), deque())
        queue = queues[half.side]
        queue.append(half.key)
        halves, held = self.node.halves, 0
        for key in queue:                           # a loop, not a generator of _held calls: one a link pair
            other = halves.get(key)
            if other is not None and other.state is HELD:
                held += 1
        max_held = circuit.stats.max_held
        if held > max_held[half.side]:
            max_held[half.side] = held
        if circuit.cutoff_ns is not None:          # from its link OK: a distilled half's wait in its pool counts
            start = now if half.ok_at is None else min(now, half.ok_at)
            self.node.timers.schedule(("cutoff", half.key), start + circuit.cutoff_ns)
        return self._swap(circuit, now)

    def forget(self, circuit: Circuit) -> None:
        self.queues.pop(circuit.handle, None)

    def settled(self) -> bool:
        return not self.swapping

    def _swap(self, circuit: Circuit, now: int, actions: Actions | None = None) -> Actions:
        """Bell-measure the oldest held halves of the two sides while both have one (into ``actions``, or new ones)."""
        queues = self.queues.get(circuit.handle)
        if actions is None:
            actions = Actions()
        if queues is None:
            return actions
        halves, timers, swapping = self.node.halves, self.node.timers, self.swapping
        cutoffs = circuit.cutoff_ns is not None     # else no half of the circuit has a cutoff deadline here
        lefts, rights = queues
        while circuit.state in GENERATING:
            left = right = None
            while lefts:                            # (_oldest, written out: once or twice a link pair)
                left = halves.get(lefts[0])
                if left is not None and left.state is HELD:
                    break
                lefts.popleft()
                left = None
            while rights:                           # (both sides' dead entries go, as _oldest's two calls did)
                right = halves.get(rights[0])
                if right is not None and right.state is HELD:
                    break
                rights.popleft()
                right = None
            if left is None or right is None:
                break
            lefts.popleft()
            rights.popleft()
            assert left.slot is not None and right.slot is not None
            left.state = right.state = SWAPPING_FROM_HELD      # (both seen HELD just above: fire(ON_SWAP))
            if cutoffs:
                timers.cancel(("cutoff", left.key))
                timers.cancel(("cutoff", right.key))
            slots = (left.slot, right.slot)
            under_way = swapping.get(slots)
            if under_way is None:
                under_way = swapping[slots] = deque()
            under_way.append((left.key, right.key))
            actions.hardware.append(BellMeasure(left.slot, right.slot))
        return actions

    def on_result(self, result: BellMeasureResult, now: int) -> Actions:
        slots = (result.slot_a, result.slot_b)
        under_way = self.swapping.get(slots)
        if not under_way:
            return Actions()
        left_key, right_key = under_way.popleft()
        if not under_way:
            del self.swapping[slots]
        node = self.node
        left, right = node.halves.get(left_key), node.halves.get(right_key)
        assert left is not None and right is not None
        circuit = node.circuits.by_handle.get(left.circuit)
        actions = Actions()
        if not result.success:
            if circuit is not None:
                circuit.stats.swap_failures += 1
            for half in (left, right):
                source = half.doomed[1] if half.doomed else None
                actions.extend(self.tracker.kill(half, REASON_SWAP_FAILED, source, now, force=True))
            return actions
        bell, released = result.bell_index, self.hops.released
        if left.state is SWAPPING and right.state is SWAPPING:
            left.state = right.state = SWAPPED_FROM_SWAPPING    # (fire(ON_SWAPPED), the table read once)
        else:
            left.fire(ON_SWAPPED)                   # (raises: no other state has this transition)
            right.fire(ON_SWAPPED)
        left.partner, left.swap_bell = right_key, bell
        released(left, now, actions)
        node.linger(left, circuit, now)
        right.partner, right.swap_bell = left_key, bell
        released(right, now, actions)
        node.linger(right, circuit, now)
        if circuit is None:
            return actions
        circuit.stats.swaps += 1
        if left.track is not None:              # (else forward has nothing to send: the TRACK is to come)
            self.tracker.forward(circuit, left, now, actions)
        if left.doomed is not None or right.doomed is not None:
            for half in (left, right):
                if half.doomed is not None and half.state == SWAPPED:
                    reason, source = half.doomed
                    actions.extend(self.tracker.kill(half, reason, source, now))
        queues = self.queues.get(circuit.handle)
        if queues is None or not (queues[0] or queues[1]):
            return actions                      # (the usual case at W = 1: both queues emptied by this swap)
        return self._swap(circuit, now, actions)

    def on_rejected(self, slot_a: int, now: int) -> Actions:
        """The medium refused the Bell measurement whose first slot is ``slot_a``: nothing was measured, so
        the swap failed; whatever its slots still hold is discarded."""
        pending = next((slots for slots, under_way in self.swapping.items() if slots[0] == slot_a and under_way),
                       None)
        if pending is None:
            return Actions()
        under_way = self.swapping[pending]
        keys = under_way.popleft()
        if not under_way:
            del self.swapping[pending]
        actions = Actions()
        halves = [half for half in (self.node.half(keys[0]), self.node.half(keys[1])) if half is not None]
        circuit = self.node.circuits.get(halves[0].circuit) if halves else None
        if circuit is not None:
            circuit.stats.swap_failures += 1
        for half in halves:
            if half.slot is not None:
                actions.hardware.append(Discard(half.slot))
            actions.extend(self.tracker.kill(half, REASON_SWAP_FAILED, None, now, force=True))
        return actions

    def on_cutoff(self, key: HalfKey, now: int) -> Actions:
        """τ after its link OK, a half still waiting for its partner is discarded."""
        half = self.node.half(key)
        if half is None or half.state != HELD:
            return Actions()
        circuit = self.node.circuits.get(half.circuit)
        if circuit is not None:
            circuit.stats.cutoff_discards += 1
        return self.tracker.kill(half, REASON_CUTOFF, None, now)
