"""Network layer: what the link layer delivers, as halves (network-design §4.3–4.5).

A link OK for one of a circuit's hops (its Purpose ID is the circuit's label there) becomes a held half:
at an end it goes to the end point, at a repeater to the swap queues (first to the distiller when its hop
distils: :mod:`protocols.network.distiller`). If a TRACK named it first (an
early TRACK), the half takes it over; if it is already dead (an EXPIRE came first) or its circuit has
stopped, the qubit is discarded at once and its credit returned. A link ERR EXPIRE kills the half (or
leaves a tombstone for a pair never delivered here). Past the 16-bit link sequence's wrap, a link OK or
ERR EXPIRE naming a delivered half that is over (and, for an ERR EXPIRE, older than any retraction of its pair)
is the next pair's on its key: the old half is forgotten.
"""

from __future__ import annotations

from protocols.common import Actions
from protocols.network.circuit import GENERATING, Circuit
from protocols.network.context import Node
from protocols.network.distiller import Distiller
from protocols.network.endpoint import EndPoint
from protocols.network.hops import Hops
from protocols.network.swapper import Swapper
from protocols.network.tracker import Tracker
from protocols.network.types import DEAD, DELIVERED, EARLY, ON_OK, SWAPPED, Half, new_held
from protocols.packets import linkservice as ll
from protocols.packets.qncp_common import REASON_LINK_EXPIRED, REASON_TEARDOWN
from protocols.physical.hardware import Discard


class Arrivals:
    """Link OKs and link ERR EXPIREs for circuits, at one node."""

    def __init__(self, node: Node, hops: Hops, tracker: Tracker, swapper: Swapper, ends: EndPoint,
                 distiller: Distiller) -> None:
        self.node = node
        self.distiller = distiller
        self.hops = hops
        self.tracker = tracker
        self.swapper = swapper
        self.ends = ends

    def on_pair(self, circuit: Circuit, side: int, ok: ll.OkKeep | ll.OkMeasure, now: int) -> Actions:
        """A link OK for one of ``circuit``'s hops: a new held half."""
        node = self.node
        assert isinstance(ok, ll.OkKeep)
        hop = circuit.hops[side]
        assert hop is not None
        link_id = hop.link_id
        seq = ok.sequence_number
        key = (link_id, seq)
        stats = circuit.stats
        goodness = ll.decode_fidelity(ok.goodness)
        link_pairs, link_goodness = stats.link_pairs, stats.link_goodness
        link_pairs[link_id] = link_pairs.get(link_id, 0) + 1
        link_goodness[link_id] = link_goodness.get(link_id, 0.0) + goodness
        halves = node.halves
        half = halves.get(key)
        generating = circuit.state in GENERATING
        if half is None:                            # the commonest first
            # the table's own key: one tuple a half, not two (tombstones stay long)
            half = halves[key] = new_held(link_id, seq, key, circuit.handle, side, ok.lqid, ok.bell_state,
                                          ok.purpose_id, now, goodness)
        elif half.state is DELIVERED and self.ends.over(half):
            # the 16-bit link sequence came round: the old half is forgotten, its key is the new pair's, and a TRACK
            # that came for the key before this OK may be the new pair's (Tracker.adopt)
            waiting = half.next_track
            half = halves[key] = new_held(link_id, seq, key, circuit.handle, side, ok.lqid, ok.bell_state,
                                          ok.purpose_id, now, goodness)
            if waiting is not None:
                self.tracker.adopt(circuit, half, waiting, now)
        else:
            if half.state is EARLY:
                half.fire(ON_OK)
                node.timers.cancel(("early", key))
            elif half.state is DEAD and half.released:
                # a tombstone whose own pair's credit is back: a new pair on its key (the link sequence came round
                # within its linger), discarded as the tombstone's was, and its own credit returned
                lost = Half(link_id, seq, circuit.handle, side, DEAD, slot=ok.lqid, label=ok.purpose_id)
                actions = self.hops.caps.lost(lost, now, Actions(hardware=[Discard(ok.lqid)]))
                return self.hops.released(lost, now, actions)
            elif half.state is DEAD or not generating:
                half.slot = ok.lqid
                return self.hops.released(half, now, Actions(hardware=[Discard(ok.lqid)]))
            elif half.state is DELIVERED or half.state is SWAPPED:
                # a final half that a message may still name (the link sequence came round within its life): the
                # new pair cannot take its key, so its qubit is discarded and its credit returned
                node.counters.unrequested += 1
                half.collided = True
                lost = Half(link_id, seq, circuit.handle, side, DEAD, slot=ok.lqid, label=ok.purpose_id)
                actions = self.hops.caps.lost(lost, now, Actions(hardware=[Discard(ok.lqid)]))
                return self.hops.released(lost, now, actions)
            else:
                node.counters.unrequested += 1         # a second OK for a pair it holds: not the link layer's way
                return Actions()
            half.slot, half.link_bell, half.label, half.ok_at = ok.lqid, ok.bell_state, ok.purpose_id, now
            half.link_goodness = goodness
        if not generating:
            return self.tracker.kill(half, REASON_TEARDOWN, None, now)
        if hop.distil is not None:                  # (Distiller.distils)
            return self.distiller.add(circuit, half, now)
        if circuit.is_end:                          # (ready, written out: one call less a link OK)
            return self.ends.on_pair(circuit, half, now)
        return self.swapper.add(circuit, half, now)

    def ready(self, circuit: Circuit, half: Half, now: int) -> Actions:
        """A half that is its hop's pair (distilled, when the hop distils): to the end point or the swapper."""
        if circuit.is_end:
            return self.ends.on_pair(circuit, half, now)
        return self.swapper.add(circuit, half, now)

    def on_expired(self, circuit: Circuit, side: int, seq: int, now: int) -> Actions:
        """The link layer retracted a pair of one of ``circuit``'s hops (ERR EXPIRE)."""
        node = self.node
        hop = circuit.hop(side)
        key = (hop.link_id, seq)
        stats = circuit.stats
        stats.link_expired[hop.link_id] = stats.link_expired.get(hop.link_id, 0) + 1
        half = node.half(key)
        if half is not None and half.state is DELIVERED and self._beyond_retraction(half, now):
            # the link sequence came round: the retraction is of the next pair on the key, whose OK never came here;
            # the old pair, over, stays delivered (its half is forgotten, as a new OK would have it)
            del node.halves[key]
            half = None
        if half is None:
            half = node.add_half(Half(*key, circuit.handle, side, DEAD, label=hop.label,
                                      reason=REASON_LINK_EXPIRED))
            node.linger(half, circuit, now)
            actions = self.hops.caps.lost(half, now)
        else:
            actions = self.tracker.kill(half, REASON_LINK_EXPIRED, None, now)
        return self.hops.released(half, now, actions)

    def _beyond_retraction(self, half: Half, now: int) -> bool:
        """``half``, delivered, is over at this end and its link OK older than any retraction of its pair can be
        (:data:`~protocols.network.context.LINK_RESOLUTION_CONFIRMS` of its link's confirm timeouts)."""
        assert half.ok_at is not None
        return now - half.ok_at > self.node.retraction_ns(half.link_id) and self.ends.over(half)
