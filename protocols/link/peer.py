"""Link layer: the EGP messages from a link's other end (:class:`PeerMessages`).

Each message is checked to come from the peer of the link it names, then handed to the part that handles its
type. A CONFIRM_ACK, and the first CONFIRM of a pair held here (one each a link pair), are read from their fields
without an :class:`~protocols.packets.egp.EgpMessage` first (:meth:`PeerMessages.on_pair_message`).
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.common import Actions, Address
from protocols.link.confirm import Confirmation
from protocols.link.confirm_master import MasterConfirms
from protocols.link.follower import Follower
from protocols.link.links import Links
from protocols.link.memory import PairMemory
from protocols.link.queue import DistributedQueue
from protocols.link.runs import MasterRuns
from protocols.link.types import LinkCounters
from protocols.packets.egp import (
    MSG_CONFIRM,
    MSG_CONFIRM_ACK,
    MSG_RELEASE,
    MSG_RELEASE_ACK,
    MSG_REQ,
    MSG_REQ_ACK,
    MSG_SCHEDULE,
    MSG_SCHEDULE_ACK,
    PAIR_MESSAGE,
    STATUS,
    VERSION,
    EgpMessage,
)


class PeerMessages:
    """The EGP messages of the node's links' other ends: from the link's peer only (others are counted
    ``wrong_sender``), each type to its part: REQ and REQ_ACK to ``queue``, SCHEDULE to ``follower``,
    SCHEDULE_ACK to ``runs``, CONFIRM to ``confirmation``, CONFIRM_ACK to ``confirms``, RELEASE and RELEASE_ACK
    to ``memory`` (with ``confirmation`` for a pair not kept here)."""

    def __init__(self, links: Links, counters: LinkCounters, queue: DistributedQueue, follower: Follower,
                 runs: MasterRuns, confirmation: Confirmation, confirms: MasterConfirms, memory: PairMemory) -> None:
        self.links = links
        self.counters = counters
        self.confirmation = confirmation
        self.confirms = confirms
        self.memory = memory
        self._peer_handlers: dict[int, Callable[[EgpMessage, int], Actions]] = {
            MSG_REQ: queue.on_req, MSG_REQ_ACK: queue.on_req_ack,
            MSG_SCHEDULE: follower.on_schedule, MSG_SCHEDULE_ACK: runs.on_schedule_ack,
            MSG_CONFIRM: confirmation.on_confirm, MSG_CONFIRM_ACK: confirms.on_confirm_ack,
            MSG_RELEASE: self._on_release, MSG_RELEASE_ACK: memory.on_release_ack}

    def on_peer(self, message: EgpMessage, source: Address, now: int) -> Actions:
        """``message`` from ``source``, to the part that handles its type if ``source`` is the peer of the link it
        names; nothing for an unknown type or link."""
        handler = self._peer_handlers.get(message.msg_type)
        link = self.links.by_id.get(message.link_id)
        if handler is None or link is None:
            return Actions()
        if source != link.peer_address:           # only the link's other end speaks EGP on it
            self.counters.wrong_sender += 1
            return Actions()
        return handler(message, now)

    def on_pair_message(self, payload: bytes, source: Address, now: int) -> Actions | None:
        """A CONFIRM_ACK, or the first CONFIRM of a pair held here, from the link's other end (one each a pair),
        read from its fields without an :class:`EgpMessage` (whose decode, ~6.5 k instructions, is most of what
        the rest costs); None for anything else, which :meth:`on_peer` then reads as any message."""
        version, mtype, status, create_id, link_id, origin, queue_seq, attempt_seq, seq = PAIR_MESSAGE.unpack(payload)
        if version != VERSION or status not in STATUS:
            return None
        link = self.links.by_id.get(link_id)
        if link is None or source != link.peer_address:
            return None
        if mtype == MSG_CONFIRM_ACK:
            return self.confirms.acknowledged(link_id, attempt_seq, status, now)
        if mtype == MSG_CONFIRM:
            return self.confirmation.confirmed(link_id, attempt_seq, create_id, origin, queue_seq, seq, now)
        return None

    def _on_release(self, message: EgpMessage, now: int) -> Actions:
        return self.memory.on_release(message, now, unconfirmed=self.confirmation.release_unconfirmed)
