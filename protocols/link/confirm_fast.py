"""Link layer: the per-pair fast reads of :class:`~protocols.link.confirm.Confirmation`, a CONFIRM and a
CONFIRM_ACK read from their fields (:class:`FastReads`, which :class:`~protocols.link.confirm.Confirmation`
inherits: a method of its own, looked up as before, no call added).
"""

from __future__ import annotations

from protocols.common import Actions
from protocols.link.links import Links
from protocols.link.memory import PairMemory
from protocols.link.recent import Recent
from protocols.link.replies import Replies
from protocols.link.requests import RequestTable
from protocols.link.types import FAILED, PairKey, PendingConfirm, Request
from protocols.packets.egp import MSG_CONFIRM_ACK, pair_message
from protocols.physical.node import BlockReady, PairReady


class FastReads:
    """:meth:`confirmed` and :meth:`acknowledged`: the tables they read are
    :class:`~protocols.link.confirm.Confirmation`'s (set by its ``__init__``)."""

    _links: Links
    _requests: RequestTable
    _memory: PairMemory
    _replies: Replies
    _sent: dict[PairKey, PendingConfirm]
    _awaiting: dict[PairKey, tuple[Request, PairReady | BlockReady, int]]
    answered: Recent[PairKey, int]
    blocks: Recent[PairKey, int]

    def confirmed(self, link_id: int, attempt_seq: int, create_id: int, origin_node: int, queue_seq: int, seq: int,
                  now: int) -> Actions | None:
        """A CONFIRM read from its fields (one a pair: ``Confirmation.on_confirm`` without an
        :class:`~protocols.packets.egp.EgpMessage`), when it is the first of a pair this end holds for that
        request: what ``on_confirm`` returns. None, with nothing changed, for anything else (a copy, an
        unknown request, a pair not held or held for another request, an early CONFIRM): the caller then
        hands the message to ``on_confirm``."""
        key = (link_id, attempt_seq)
        waiting = self._awaiting.get(key)
        if waiting is None or self.answered.get(key) is not None:
            return None
        held, pair, _ = waiting
        if held.create_id != create_id or held.origin_node != origin_node or (held.state is FAILED
                                                                            and held.kept_together):
            return None
        if self._requests.get((origin_node, create_id)) is None:
            return None
        del self._awaiting[key]
        count = pair.count
        self.answered.put(key, 0, now)
        if count != 1:
            self.blocks.put(key, count, now)
        actions = self._memory.take(held, pair, seq, now)
        ack = pair_message(MSG_CONFIRM_ACK, 0, create_id, link_id, origin_node, queue_seq, attempt_seq, seq)
        actions.send.insert(0, (self._links.by_id[link_id].peer_address, ack))   # the CONFIRM_ACK first
        return actions

    def acknowledged(self, link_id: int, attempt_seq: int, status: int, now: int) -> Actions:
        """Master: the CONFIRM_ACK of pair ``attempt_seq`` on ``link_id`` with ``status`` (``on_confirm_ack``
        from the message's fields: the link layer reads a CONFIRM_ACK, one a pair, without an EgpMessage)."""
        key = (link_id, attempt_seq)
        pending = self._sent.pop(key, None)
        if pending is None:
            return Actions()
        if status == 0:
            return self._memory.confirmed(key, now)
        actions = self._replies.expired(pending.request, pending.seq, pending.count)
        return actions.extend(self._memory.lost(key, now))
