"""Link layer: :class:`Confirmation`, the heralds (pairs and lost attempts) and the other end's side of pair
confirmation: CONFIRM, CONFIRM_ACK, expired pairs.

Both ends learn of a pair from its herald, named by the attempt sequence. The master numbers each
pair of its current run and CONFIRMs it, naming the request, until CONFIRM_ACK or ``reliable_retries``
copies (:class:`~protocols.link.confirm_master.MasterConfirms`; giving up, it reports the pair expired
and retracts it, and the other end reports it expired too: :meth:`Confirmation.release_unconfirmed`:
withdrawn if it delivered it, settled if its CONFIRM never came). The other end keeps its pair until the
CONFIRM and takes it if it made the pair for that request
(:meth:`~protocols.link.follower.Follower.request_at`); otherwise (another request, its herald lost, or
no pair at all) it answers EXPIRE, and both ends send ERR EXPIRE for that sequence number. A pair the
master never numbered (its herald was lost there) is freed when no CONFIRM comes within
``confirm_timeout_ns``. Each answer is remembered for ``keep_ns``, so a retransmitted CONFIRM gets the
first answer again. Both ends thus settle exactly the same sequence numbers.
"""

from __future__ import annotations

from protocols.common import Actions, Address
from protocols.link.confirm_master import MasterConfirms
from protocols.link.confirm_waiting import Waiting
from protocols.link.follower import Follower
from protocols.link.links import Links
from protocols.link.memory import PairMemory, discard
from protocols.link.messages import answer
from protocols.link.recent import Forgetting, Recent
from protocols.link.replies import Replies
from protocols.link.requests import RequestTable
from protocols.link.runs import MasterRuns
from protocols.link.types import ENDING, FAILED, LinkCounters, PairKey, Request, Retransmission
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_CONFIRM_ACK, EgpMessage, pair_message
from protocols.physical.node import AttemptLost, BlockReady, PairReady


def _refuses(request: Request) -> bool:
    """Other end: a first CONFIRM of a pair held for ``request`` is answered EXPIRE, not delivered: the request
    failed here (no OK follows its ERR: a CONFIRM later than every wait allows), or it is atomic and its kept
    pairs are gone (failed, or waiting after generation ended: the master, which completes an atomic request only
    once every CONFIRM is answered, did not complete it)."""
    return request.state is FAILED or (request.kept_together and request.state is ENDING)


class Confirmation:
    """The heralds: a pair on a link this node is master of goes to :class:`MasterConfirms` (``master``), a lost
    one re-arms the run; on the other links, the pairs awaiting their CONFIRM, heralds lost, CONFIRMs that came
    before their pair (kept in ``waiting``, a :class:`~protocols.link.confirm_waiting.Waiting`), and the
    CONFIRM_ACKs given."""

    def __init__(self, links: Links, requests: RequestTable, runs: MasterRuns, follower: Follower,
                 memory: PairMemory, replies: Replies, counters: LinkCounters, timing: Retransmission,
                 master: MasterConfirms, forgetting: Forgetting | None = None) -> None:
        self._links = links
        self._requests = requests
        self._runs = runs
        self._follower = follower
        self._memory = memory
        self._replies = replies
        self._counters = counters
        self._masters = links.masters
        self._down = links.down
        self._number = master.on_pair
        self._confirm_timeout_ns = timing.confirm_timeout_ns
        self.waiting = waiting = Waiting(timing.confirm_timeout_ns)
        """The tables of what waits here for its counterpart (the layer asks it for their deadline)."""
        self._awaiting, self._lost, self._lost_count, self._early = waiting.tables()
        self._mark_lost = waiting.mark_lost
        self.answered: Recent[PairKey, int] = Recent(timing.keep_ns, forgetting)   # CONFIRM_ACKs sent
        self.blocks: Recent[PairKey, int] = Recent(timing.keep_ns, forgetting)     # pairs of blocks answered

    def forget(self, now: int) -> None:
        """Forget CONFIRM answers given ``keep_ns`` or longer ago."""
        self.answered.forget(now)
        self.blocks.forget(now)

    # -- pairs from the physical layer ---------------------------------------------------
    def on_lost(self, event: AttemptLost, now: int) -> Actions:
        """A herald lost: the master re-arms its run for it; here, a CONFIRM for it (come early, or to come
        within ``confirm_timeout_ns``) is answered EXPIRE."""
        self._counters.lost_attempts += 1
        key = (event.link_id, event.attempt_seq)
        if event.link_id in self._masters:                       # no number given: the other end will not keep it
            return self._runs.rearm(event.link_id, event.count)
        if key in self._early:
            return self._expire_confirmed(self._early.pop(key)[0], now, event.count)
        self._mark_lost(key, event.count, now)
        return Actions()

    def on_pair(self, pair: PairReady | BlockReady, now: int) -> Actions:
        """A heralded pair (or block): the master's to number (:meth:`MasterConfirms.on_pair`); here, taken if
        its CONFIRM came first, else kept until it comes (``confirm_timeout_ns`` at most)."""
        link_id = pair.link_id
        if link_id in self._masters:
            return self._number(pair, now)
        request = self._follower.request_at(link_id, pair.emission_time)
        if request is None:
            self._counters.unrequested += 1
            return Actions(hardware=discard(pair))
        key = (link_id, pair.attempt_seq)
        early = self._early.pop(key, None)
        if link_id in self._down and request.state is not ENDING:   # heralded after the link went down here,
            return self._refuse(key, pair, early, now)                # its request failed (not waiting for it)
        if early is not None:
            return self._on_confirmed(request, pair, early[0], now)
        self._awaiting[key] = (request, pair, now + self._confirm_timeout_ns)
        return Actions()

    def _refuse(self, key: PairKey, pair: PairReady | BlockReady, early: tuple[EgpMessage, int] | None,
                now: int) -> Actions:
        """Other end: a pair heralded on a link that went down here is freed (no OK after its request's ERR),
        and its CONFIRM answered EXPIRE: now if it came first, else as a lost herald's."""
        actions = Actions(hardware=discard(pair))
        if early is not None:
            return actions.extend(self._expire_confirmed(early[0], now, pair.count))
        self._mark_lost(key, pair.count, now)
        return actions

    # -- the other end: CONFIRM ----------------------------------------------------------
    def on_confirm(self, message: EgpMessage, now: int) -> Actions:
        """A CONFIRM: a copy gets the first answer again, one for an unknown request EXPIRE; a pair held here is
        taken (or answered EXPIRE if made for another request), a lost one answered EXPIRE, and a CONFIRM whose
        pair is not heralded here yet waits for it."""
        key = (message.link_id, message.attempt_seq)
        request = self._requests.get((message.origin_node, message.create_id))
        status = self.answered.get(key)          # (a Status, never None: None is "not answered")
        if status is not None or request is None:
            if status is not None:     # remembered from the last copy: the master's retraction may follow it
                self.answered.put(key, status, now)
                count = self.blocks.get(key)
                if count is not None:
                    self.blocks.put(key, count, now)
            return Actions(send=[self._ack(message, ll.ERR_EXPIRE if status is None else status)])
        if key in self._awaiting:
            held, pair, _ = self._awaiting.pop(key)
            return self._on_confirmed(held, pair, message, now)
        if key in self._lost:
            del self._lost[key]
            return self._expire_confirmed(message, now, self._lost_count.pop(key, 1))
        if message.link_id in self._down and request.state is not ENDING:   # no herald is kept for it: EXPIRE now
            return self._expire_confirmed(message, now)
        if key not in self._early:
            self._early[key] = (message, now + self._confirm_timeout_ns)
        return Actions()

    def confirmed(self, link_id: int, attempt_seq: int, create_id: int, origin_node: int, queue_seq: int, seq: int,
                  now: int) -> Actions | None:
        """A CONFIRM read from its fields (one a pair: :meth:`on_confirm` without an
        :class:`~protocols.packets.egp.EgpMessage`), when it is the first of a pair this end holds for that
        request: what :meth:`on_confirm` returns. None, with nothing changed, for anything else (a copy, an
        unknown request, a pair not held or held for another request, an early CONFIRM): the caller then
        hands the message to :meth:`on_confirm`."""
        key = (link_id, attempt_seq)
        waiting = self._awaiting.get(key)
        if waiting is None or self.answered.get(key) is not None:
            return None
        held, pair, _ = waiting
        state = held.state                       # (:func:`_refuses`, written out: this runs for every pair)
        if (held.create_id != create_id or held.origin_node != origin_node or state is FAILED
                or (state is ENDING and held.kept_together)):
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

    def _on_confirmed(self, held: Request, pair: PairReady | BlockReady, message: EgpMessage, now: int) -> Actions:
        """The master numbered a pair this end holds: take it, unless this end made it for another request."""
        mismatch = held.create_id != message.create_id or held.origin_node != message.origin_node
        if mismatch or _refuses(held):           # made for another request, or one that takes no more pairs here
            actions = Actions(hardware=discard(pair))
            return actions.extend(self._expire_confirmed(message, now, pair.count))
        self._answered(message, 0, now, pair.count)
        actions = self._memory.take(held, pair, message.sequence_number, now)
        actions.send.insert(0, self._ack(message, 0))      # the CONFIRM_ACK first, then the OK
        return actions

    def _expire_confirmed(self, message: EgpMessage, now: int, count: int = 1) -> Actions:
        """The master numbered a pair (or a block of ``count``) this end does not hold (for that request): both
        ends report it expired."""
        self._answered(message, ll.ERR_EXPIRE, now, count)
        actions = Actions(send=[self._ack(message, ll.ERR_EXPIRE)])
        request = self._requests.get((message.origin_node, message.create_id))
        if request is not None:
            actions.extend(self._replies.expired(request, message.sequence_number, count))
            if not request.kept_together:   # an atomic request's expired pair is replaced: not settled
                actions.extend(self._replies.settle(request, count))
        return actions

    def _answered(self, message: EgpMessage, status: int, now: int, count: int) -> None:
        key = (message.link_id, message.attempt_seq)
        self.answered.put(key, status, now)
        if count != 1:
            self.blocks.put(key, count, now)

    def _ack(self, message: EgpMessage, status: int) -> tuple[Address, bytes]:
        return answer(message, MSG_CONFIRM_ACK, status, self._links.by_id[message.link_id].peer_address)

    def release_unconfirmed(self, message: EgpMessage, now: int) -> Actions:
        """Other end: a RELEASE names a pair this end does not keep. Free the pair if it still waits for its
        CONFIRM, and answer a later CONFIRM with EXPIRE. A RELEASE with Status EXPIRE (a kept pair cut off, or
        a pair whose CONFIRM the master gave up) also reports the pair expired here, unless it already was: a
        pair delivered here on its CONFIRM is withdrawn, and one whose CONFIRM never came is settled as the
        master settled it (when its request is not atomic: an atomic request's pair is replaced)."""
        key = (message.link_id, message.attempt_seq)
        before = self.answered.get(key)
        count = self._count(key)
        waiting = self._awaiting.pop(key, None)
        if message.status:                       # settled now: nothing more to wait for about it
            for table in (self._lost, self._lost_count, self._early):
                table.pop(key, None)
        self.answered.put(key, ll.ERR_EXPIRE, now)
        actions = Actions(hardware=discard(waiting[1]) if waiting is not None else [])
        request = self._requests.get((message.origin_node, message.create_id))
        if not message.status or request is None or before == ll.ERR_EXPIRE:
            return actions
        actions.extend(self._replies.expired(request, message.sequence_number, count))
        if before is None and not request.kept_together:
            actions.extend(self._replies.settle(request, count))
        return actions

    def _count(self, key: PairKey) -> int:
        """Other end: the pairs of ``key`` (more than one for a block), as far as this end knows."""
        waiting = self._awaiting.get(key)
        if waiting is not None:
            return waiting[1].count
        return self._lost_count.get(key) or self.blocks.get(key) or 1

    def on_timer(self, now: int) -> Actions:
        """Drop pairs, lost heralds and early CONFIRMs that waited ``confirm_timeout_ns`` for their counterpart."""
        actions = Actions()
        for key, (_, pair, deadline) in list(self._awaiting.items()):
            if deadline <= now:                  # the master lost its herald (or every CONFIRM is lost)
                del self._awaiting[key]
                actions.hardware.extend(discard(pair))
                if pair.count != 1:              # a RELEASE that retracts it names no count
                    self.blocks.put(key, pair.count, now)
        for key, deadline in list(self._lost.items()):
            if deadline <= now:                  # both ends lost it (or every CONFIRM is lost)
                del self._lost[key]
                count = self._lost_count.pop(key, 1)
                if count != 1:
                    self.blocks.put(key, count, now)
        for key, (message, deadline) in list(self._early.items()):
            if deadline <= now:
                del self._early[key]
                actions.extend(self._expire_confirmed(message, now))
        return actions

    def link_down(self, link_id: int, now: int, peer_alive: bool = False) -> Actions:
        """The link makes no more pairs: the pairs the master never confirmed are freed. If the peer is alive
        (``peer_alive``: only the station is gone) its CONFIRMs may still come: a pair (or a CONFIRM that came
        before its pair) of a request that waits for them (ENDING, as at the window's end) waits as ever; one
        for a pair freed now is answered EXPIRE as a lost herald's, and one that came before its pair EXPIRE now
        (a pair heralded later is freed: :meth:`on_pair`)."""
        actions = Actions()
        for key, (request, pair, _) in list(self._awaiting.items()):
            if key[0] == link_id and not (peer_alive and request.state is ENDING):
                del self._awaiting[key]
                actions.hardware.extend(discard(pair))
                if peer_alive:
                    self._mark_lost(key, pair.count, now)
        for key in [key for key in self._early if key[0] == link_id]:
            message = self._early[key][0]
            named = self._requests.get((message.origin_node, message.create_id))
            if peer_alive and named is not None and named.state is ENDING:
                continue
            del self._early[key]
            if peer_alive:
                actions.extend(self._expire_confirmed(message, now))
        if not peer_alive:
            for key in [key for key in self._lost if key[0] == link_id]:
                del self._lost[key]
                self._lost_count.pop(key, None)
        return actions
