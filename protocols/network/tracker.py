"""Network layer: Bell-index tracking (TRACK, head → tail) and expiry (EXPIRE, "poison"), network-design §4.5, §4.7.

The head sends a TRACK for each hop-1 link pair: the P4 EGP header of that pair and the QNP header
(circuit, pair id = the head's pair sequence, accumulated Bell index = b₁). A repeater that swapped the
named half with a right-hand half forwards ``out = in ⊕ m ⊕ b_out`` with the right pair's EGP header (the
P4 rule); until the swap it keeps the TRACK pending; a TRACK for a half whose link OK has not come yet is
*early* and waits for it. Every hop is acknowledged (TRACK_ACK) and retransmitted. At the tail, a TRACK
naming a delivered half's key is kept on it: if the link sequence has come round and the next pair's link OK
takes the key, that TRACK may be the new pair's, early (:meth:`Tracker.adopt`).

A half dies at most once (:meth:`Tracker.kill`): by cutoff, link retraction, failed swap or teardown. The
node discards its qubit, tells the neighbour on the half's hop (EXPIRE, so the other end of the link pair
dies too: this covers a retraction the link layer reported at one end only), and, if the half was swapped,
the neighbour on the partner's hop about the partner, never back where the news came from. So poison
crosses each hop of a chain at most once in each direction and reaches both ends, where a delivered pair
becomes ERR EXPIRE. Tombstones answer late TRACKs with EXPIRE.
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.common import QNCP_PORT, QNP_PORT, Actions, Address, sending
from protocols.network.circuit import GENERATING, Circuit
from protocols.network.context import Node
from protocols.network.hops import Hops
from protocols.network.types import (
    DEAD,
    DELIVERED,
    EARLY,
    HELD,
    LEFT,
    MEASURED,
    MEASURING,
    ON_DIE,
    RIGHT,
    SWAPPED,
    SWAPPING,
    Half,
    HalfKey,
)
from protocols.packets.qncp import PairMessage, encode_pair
from protocols.packets.qncp_common import EXPIRE, EXPIRE_ACK, REASON_UNKNOWN, TRACK_ACK
from protocols.packets.qnp import TrackFrame, encode_track
from protocols.physical.hardware import Discard

RetractedCallback = Callable[[Circuit, Half, int], Actions]
TrackedCallback = Callable[[Circuit, Half, int], Actions]


class Tracker:
    """TRACKs and EXPIREs of one node, and the deaths of its halves."""

    def __init__(self, node: Node, hops: Hops) -> None:
        self.node = node
        self.hops = hops
        self.on_retracted: RetractedCallback = lambda circuit, half, now: Actions()
        """A delivered half died: the end reports its pair expired."""
        self.on_tracked: TrackedCallback = lambda circuit, half, now: Actions()
        """A TRACK reached the tail's half."""
        self._to_right: dict[int, tuple[Address, int, int]] = {}
        """By right neighbour: a TRACK's destination, interval and retries (:meth:`_right_of`; the topology and
        the configuration are static, and a node has few neighbours)."""

    # -- TRACK ----------------------------------------------------------------------------------
    def send_track(self, circuit: Circuit, half: Half, now: int) -> Actions:
        """The head's TRACK for its hop-1 half: pair id = its sequence, Bell index = its link Bell state."""
        track = encode_track(half.label, half.seq, half.link_bell, circuit.handle[1], half.seq, half.link_bell)
        return self._send_track(circuit, half, track, now)

    def forward(self, circuit: Circuit, left: Half, now: int, into: Actions | None = None) -> Actions:
        """A repeater's swapped left half has its TRACK: on to the right neighbour by the P4 rule (into ``into``,
        returned, if given, else into new actions)."""
        if left.track is None or left.state is not SWAPPED or left.partner is None:
            return Actions() if into is None else into
        right = self.node.halves.get(left.partner)
        if right is None or right.state is not SWAPPED:
            return Actions() if into is None else into
        frame, left.track = left.track, None        # forwarded (once): the tombstone has no more use for it
        if right.tracked:
            return Actions() if into is None else into
        left.pair_id = frame.pair_id                # the pair's CONFIRM will name it (swap_records.py)
        self.node.swaps.note(circuit.handle, frame.pair_id, left.key)
        out = encode_track(right.label, right.seq, right.link_bell, frame.circuit_id, frame.pair_id,
                           frame.bell ^ left.swap_bell ^ right.link_bell)
        return self._send_track(circuit, right, out, now, into)

    def _send_track(self, circuit: Circuit, half: Half, track: bytes, now: int,
                    into: Actions | None = None) -> Actions:
        half.tracked = True
        peer = circuit.hop(RIGHT).peer
        to = self._to_right.get(peer)
        if to is None:
            to = self._right_of(peer)
        return self.node.outbox.send(("track", circuit.handle, half.key), to[0], track, to[1], to[2], now, into)

    def _right_of(self, peer: int) -> tuple[Address, int, int]:
        """Where a TRACK to ``peer`` goes, its retransmission interval and retries (as :meth:`Node.reliable`'s
        defaults: the RTO towards ``peer``, the configuration's reliable retries), reckoned once per peer."""
        node = self.node
        to = self._to_right[peer] = (node.address(peer, QNP_PORT), node.rto(peer), node.config.reliable_retries)
        return to

    def on_track(self, frame: TrackFrame, sender: int, now: int, named: Circuit | None = None) -> Actions:
        """A TRACK from ``sender``; ``named``: the circuit its Circuit ID names, if the caller found it (taken when
        the link's label is bound to its left hop, as the look-up by label would find it: not looked up again)."""
        node = self.node
        link = node.link_to(sender)
        if link is None:
            node.counters.malformed += 1
            return Actions()
        label = (link.link_id, frame.link_label)
        if named is not None and node.circuits.by_label.get(label) == (named.handle, LEFT):
            circuit = named
        else:
            bound = node.circuits.at_label(*label)
            if bound is None or bound[1] != LEFT or bound[0].handle[1] != frame.circuit_id:
                node.counters.malformed += 1
                return Actions()
            circuit = bound[0]
        key = (link.link_id, frame.pair_seq)
        half = node.halves.get(key)
        ack = encode_pair(TRACK_ACK, frame.circuit_id, circuit.head, frame.link_label, key[1], key[0])
        actions = sending([(node.qncp(sender), ack)])
        if circuit.state not in GENERATING:
            return actions              # the circuit is ending everywhere: nothing to track, nothing to repair
        if half is None:
            half = node.add_half(Half(*key, circuit.handle, LEFT, EARLY, label=frame.link_label))
            half.track, half.track_from = frame, sender
            node.timers.schedule(("early", key), now + self._early_timeout(circuit))
            return actions
        state = half.state
        if state is DEAD:
            return self._expire(circuit, half, half.reason, sender, now)
        if half.ok_at is not None and frame.link_bell != half.link_bell:
            node.counters.bell_mismatches += 1
        if state is SWAPPED:
            if half.track is None:
                half.track, half.track_from = frame, sender
            return self.forward(circuit, half, now, actions)
        if state is DELIVERED:          # (the tail's): a copy of its own TRACK, or the wrapped key's next pair's
            delivered = half.delivered_at
            if delivered is None or now - delivered > self._copies_span(circuit):
                half.next_track = (frame, sender, now)      # (no copy of its own TRACK comes so late)
            return actions
        if half.end_pooled:
            return actions              # a duplicate: the end pool has its TRACK, and its Bell state is the rounds'
        half.track, half.track_from = frame, sender
        if circuit.is_tail and (state is HELD or state is MEASURED) and not half.distilling:
            actions.extend(self.on_tracked(circuit, half, now))
        return actions

    def adopt(self, circuit: Circuit, half: Half, waiting: tuple[TrackFrame, int, int], now: int) -> None:
        """``half``'s link OK took the key of a delivered half that was over (the 16-bit link sequence came round),
        which kept the last TRACK that came for the key (``waiting``: frame, sender, arrival). That TRACK is the
        new pair's, early, if it came no longer ago than an early TRACK waits and names the new pair's link Bell
        state; a late copy of the old pair's TRACK (its Bell state the old pair's) is left: the new pair waits for
        its own. A TRACK that comes for the delivered half while a copy of its own may still come (within
        :meth:`_copies_span` of its delivery) is not kept at all: the two may be alike (a chain's hops advance in
        step, so even the Pair ID may be the same), and a new pair wrapped so soon waits for its own, or is cut
        off at both ends."""
        frame, sender, at = waiting
        if now - at <= self._early_timeout(circuit) and frame.link_bell == half.link_bell:
            half.track, half.track_from = frame, sender

    def on_track_ack(self, message: PairMessage) -> None:
        key = ("track", (message.head_node, message.circuit_id), (message.link_id, message.pair_seq))
        self.node.outbox.ack(key)

    def early_expired(self, key: HalfKey, now: int) -> Actions:
        """No link OK for an early TRACK's half in time: it is unknown here (EXPIRE UNKNOWN back)."""
        half = self.node.half(key)
        if half is None or half.state != EARLY:
            return Actions()
        return self.kill(half, REASON_UNKNOWN, None, now)

    def _copies_span(self, circuit: Circuit) -> int:
        """How long after the tail had a TRACK a copy of it may still come: its sender retransmits it every RTO
        until the TRACK_ACK, up to the reliable retries (jitter is inside the RTO)."""
        return (self.node.config.reliable_retries + 1) * circuit.hop(LEFT).rto_ns

    def _early_timeout(self, circuit: Circuit) -> int:
        link = self.node.topology.link(circuit.hop(LEFT).link_id)
        return link.confirm_timeout_ns + circuit.hop(LEFT).rto_ns

    # -- EXPIRE ---------------------------------------------------------------------------------
    def on_expire(self, message: PairMessage, sender: int, now: int) -> Actions:
        node = self.node
        ack = encode_pair(EXPIRE_ACK, message.circuit_id, message.head_node, message.link_label, message.pair_seq,
                          message.link_id, reason=message.reason)
        actions = Actions(send=[(node.qncp(sender), ack)])
        handle = (message.head_node, message.circuit_id)
        key = (message.link_id, message.pair_seq)
        node.outbox.ack(("track", handle, key))
        circuit = node.circuits.get(handle)
        half = node.half(key)
        if half is None:
            side = None if circuit is None else circuit.side_of(message.link_id)
            if circuit is not None and side is not None:
                half = node.add_half(Half(*key, handle, side, DEAD, label=message.link_label,
                                          reason=message.reason))
                node.linger(half, circuit, now)
                self.hops.caps.lost(half, now, actions)
            return actions
        if half.circuit != handle or half.collided:     # collided: the EXPIRE is the discarded new pair's
            return actions
        return actions.extend(self.kill(half, message.reason, sender, now))

    def on_expire_ack(self, message: PairMessage, sender: int) -> None:
        handle = (message.head_node, message.circuit_id)
        self.node.outbox.ack(("expire", handle, (message.link_id, message.pair_seq), sender))

    def kill(self, half: Half, reason: int, source: int | None, now: int, force: bool = False) -> Actions:
        """``half`` dies of ``reason``; ``source`` is the neighbour that told us (never told back). A half in a
        Bell measurement dies when its result comes (unless ``force``: the measurement failed)."""
        node = self.node
        if half.state == DEAD:
            return Actions()
        if half.state == SWAPPING and not force:
            half.doomed = (reason, source)
            return Actions()
        circuit = node.circuits.get(half.circuit)
        previous = half.state
        half.fire(ON_DIE)
        half.reason = reason
        actions = self.hops.caps.lost(half, now)
        if circuit is not None:
            stats = circuit.stats.expired_by_reason
            stats[reason] = stats.get(reason, 0) + 1
        node.outbox.ack(("track", half.circuit, half.key))
        node.timers.cancel(("early", half.key))
        if previous == HELD and half.slot is not None and half.outcome is None:
            actions.hardware.append(Discard(half.slot))
        neighbour = half.track_from if previous == EARLY else self._neighbour(circuit, half)
        if circuit is not None and neighbour is not None and neighbour != source:
            actions.extend(self._expire(circuit, half, reason, neighbour, now))
        if previous in (HELD, MEASURING, MEASURED, SWAPPING):
            self.hops.released(half, now, actions)
        if previous == SWAPPED and half.partner is not None:
            actions.extend(self._kill_partner(circuit, half.partner, reason, now))
        if previous == DELIVERED and circuit is not None:
            actions.extend(self.on_retracted(circuit, half, now))
        node.linger(half, circuit, now)
        return actions

    def _kill_partner(self, circuit: Circuit | None, key: HalfKey, reason: int, now: int) -> Actions:
        partner = self.node.half(key)
        if partner is None or partner.state != SWAPPED:
            return Actions()
        partner.fire(ON_DIE)
        partner.reason = reason
        self.node.outbox.ack(("track", partner.circuit, partner.key))
        neighbour = self._neighbour(circuit, partner)
        self.node.linger(partner, circuit, now)
        actions = self.hops.caps.lost(partner, now)
        if circuit is None or neighbour is None:
            return actions
        return self._expire(circuit, partner, reason, neighbour, now, actions)

    def _neighbour(self, circuit: Circuit | None, half: Half) -> int | None:
        hop = None if circuit is None else circuit.hops[half.side]
        return None if hop is None else hop.peer

    def _expire(self, circuit: Circuit, half: Half, reason: int, to: int, now: int,
                into: Actions | None = None) -> Actions:
        message = self._pair(EXPIRE, circuit, half.key, half.label, reason)
        return self.node.reliable(("expire", circuit.handle, half.key, to), to, QNCP_PORT, message, now, into=into)

    @staticmethod
    def _pair(kind: int, circuit: Circuit, key: HalfKey, label: int, reason: int) -> bytes:
        return encode_pair(kind, circuit.handle[1], circuit.head, label, key[1], key[0], reason=reason)
