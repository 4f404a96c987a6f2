"""Network layer: the responder's side of a hop's distillation rounds (:mod:`protocols.network.distiller`).

The responder (the hop's origin, which gets each pair's OK first) answers the initiator's DISTIL: a
retransmission with the DISTIL_ACK it sent (none yet while its Distill is under way); two halves it holds and
is not using with its own Distill (the distiller's round, which answers when the result comes); a DISTIL
naming a half that is moving to storage waits until the move is over; one naming a half whose link OK has
not come yet is not answered (its retransmission will be); otherwise it answers DISTIL_ACK with Status EXPIRE
and consumes the named half it still holds, so no pair survives at one end only.
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.common import Actions
from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.distil_messages import HopRound, expired, repeated
from protocols.network.distil_pool import Pool
from protocols.network.distil_state import Round
from protocols.network.types import Half, HalfState
from protocols.packets.qncp import Distil
from protocols.packets.qncp_common import SCOPE_HOP
from protocols.physical.hardware import Discard

Issue = Callable[[Circuit, Half, Half, int, bool, int], Actions]
"""The distiller's Distill on two pooled halves: (circuit, kept, sacrificed, level, initiator, now)."""
Consume = Callable[[Half, int], Actions]
"""The distiller's end of a half a round took or failed at both ends (no EXPIRE)."""


class Responder:
    """This node's answers to DISTILs of the hops it distils as the responder. ``pool`` and ``rounds`` are
    the distiller's (read here; a round started here gets the initiator's outcome), ``issue`` starts this
    end's round, ``consume`` ends a half the initiator no longer has a round for."""

    def __init__(self, node: Node, pool: Pool, rounds: dict[HopRound, Round], issue: Issue,
                 consume: Consume) -> None:
        self.node = node
        self.pool = pool
        self.rounds = rounds
        self.issue = issue
        self.consume = consume
        self.deferred: dict[HopRound, tuple[Distil, int]] = {}
        """DISTILs naming a half that was moving to storage: answered when the move is over."""

    def on_distil(self, message: Distil, sender: int, now: int) -> Actions:
        """The initiator's outcome: this end's part of the round (its DISTIL_ACK comes with its result)."""
        circuit = self.node.circuits.get((message.head_node, message.circuit_id))
        side = None if circuit is None else circuit.side_of(message.link_id)
        if (circuit is None or side is None or message.scope != SCOPE_HOP or circuit.hop(side).peer != sender
                or circuit.hop(side).initiator or circuit.hop(side).distil is None):   # only the initiator sends DISTIL
            self.node.counters.malformed += 1
            return Actions()
        key: HopRound = (circuit.handle, message.link_id, message.kept_pair_seq, message.sacrificed_pair_seq)
        found = self.rounds.get(key)
        if found is not None:            # a retransmission: the same answer (none yet while measuring)
            return repeated(self.node, found, sender)
        kept, spent = (self.node.half((message.link_id, seq))
                       for seq in (message.kept_pair_seq, message.sacrificed_pair_seq))
        entries = self.pool.entries
        usable = [h is not None and h.state == HalfState.HELD and h.key in entries
                  and not entries[h.key].busy for h in (kept, spent)]
        if not all(usable):
            moving = set(self.pool.moving.values())
            if any(h is not None and h.key in moving for h in (kept, spent)):
                self.deferred[key] = (message, sender)      # answered when the move is over
                return Actions()
            if any(h is None or h.state == HalfState.EARLY for h in (kept, spent)) and not any(
                    h is not None and h.state == HalfState.DEAD for h in (kept, spent)):
                return Actions()        # not here yet: the retransmission will find it
            actions = expired(self.node, message, sender)
            for half, ok in zip((kept, spent), usable, strict=True):
                if ok and half is not None:
                    actions.extend(self._discard(half, now))
            return actions
        assert kept is not None and spent is not None
        actions = self.issue(circuit, kept, spent, message.level, False, now)
        self.rounds[key].peer_outcome = message.outcome
        return actions

    def moved(self, now: int) -> Actions:
        """A move to storage is over: the DISTILs deferred for halves no longer moving are answered."""
        moving = set(self.pool.moving.values())
        actions = Actions()
        for key in [k for k in self.deferred if (k[1], k[2]) not in moving and (k[1], k[3]) not in moving]:
            message, sender = self.deferred.pop(key)
            actions.extend(self.on_distil(message, sender, now))
        return actions

    def forget(self, circuit: Circuit) -> None:
        """``circuit`` is forgotten here: its deferred DISTILs go."""
        self.deferred = {key: value for key, value in self.deferred.items() if key[0] != circuit.handle}

    def _discard(self, half: Half, now: int) -> Actions:
        slot = half.slot
        actions = Actions(hardware=[Discard(slot)]) if slot is not None else Actions()
        return actions.extend(self.consume(half, now))
