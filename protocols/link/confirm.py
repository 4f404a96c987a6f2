"""Link layer, pair confirmation: heralded and lost pairs, CONFIRM / CONFIRM_ACK, expired pairs.

Part of :class:`~protocols.link.layer.LinkLayer` (the protocol is described in :mod:`protocols.link.layer`):
the master numbers each heralded pair of its run, delivers it and CONFIRMs it (naming the
request); the other end keeps its pairs until their CONFIRM, delivers a pair it made for that
request, and otherwise answers EXPIRE, and both ends report the pair expired.
"""

from __future__ import annotations

from protocols.common import Actions, Address
from protocols.link.messages import about_pair, answer
from protocols.link.state import LinkState
from protocols.link.types import PendingConfirm, Request, RequestState
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_CONFIRM_ACK, EgpMessage
from protocols.physical.node import AttemptLost, PairReady


class ConfirmMixin(LinkState):
    """Pair confirmation of :class:`~protocols.link.layer.LinkLayer`."""

    # -- pairs from the physical layer -------------------------------------------------
    def _on_lost(self, event: AttemptLost, now: int) -> Actions:
        self.counters.lost_attempts += 1
        key = (event.link_id, event.attempt_seq)
        link = self.links.by_id[event.link_id]
        if self.links.is_master(link):             # no number was given to it: the other end will not keep it
            return self.runs.rearm(event.link_id)
        if key in self.early:
            return self._expire_confirmed(self.early.pop(key)[0], now)
        self.lost[key] = now + self.timing.confirm_timeout_ns
        return Actions()

    def _on_pair(self, pair: PairReady, now: int) -> Actions:
        link = self.links.by_id[pair.link_id]
        if not self.links.is_master(link):
            return self._on_pair_followed(pair, now)
        request = self.runs.request_for(pair)
        if request is None:
            self.counters.unrequested += 1        # nobody asked for it: free the memory, lose nothing
            return Actions(hardware=self._free(pair))
        seq = self.next_seq[pair.link_id]
        self.next_seq[pair.link_id] = (seq + 1) & 0xFFFF
        key = (pair.link_id, pair.attempt_seq)
        self.sent[key] = PendingConfirm(request, seq, self.timing.reliable_retries, now + self.timing.interval_ns)
        request.numbered += 1
        actions = (self._hold(request, pair, seq) if request.create.kept_together
                   else self._store_and_deliver(request, pair, seq, now))
        actions.send.append(about_pair(request, pair.link_id, pair.attempt_seq, seq))
        return actions.extend(self.runs.numbered(pair.link_id, now))

    def _on_pair_followed(self, pair: PairReady, now: int) -> Actions:
        request = self.follower.request_at(pair.link_id, pair.emission_time)
        if request is None:
            self.counters.unrequested += 1
            return Actions(hardware=self._free(pair))
        key = (pair.link_id, pair.attempt_seq)
        early = self.early.pop(key, None)
        if early is not None:
            return self._on_confirmed(request, pair, early[0], now)
        self.awaiting[key] = (request, pair, now + self.timing.confirm_timeout_ns)
        return Actions()

    # -- pair confirmation (master numbers, the other end confirms or expires) ---------
    def _on_confirm(self, message: EgpMessage, now: int) -> Actions:
        key = (message.link_id, message.attempt_seq)
        request = self.requests.get((message.origin_node, message.create_id))
        if key in self.answered or request is None:
            status = self.answered.get(key)
            return Actions(send=[self._ack(message, ll.ERR_EXPIRE if status is None else status)])
        if key in self.awaiting:
            held, pair, _ = self.awaiting.pop(key)
            return self._on_confirmed(held, pair, message, now)
        if key in self.lost:
            del self.lost[key]
            return self._expire_confirmed(message, now)
        if key not in self.early:
            self.early[key] = (message, now + self.timing.confirm_timeout_ns)
        return Actions()

    def _on_confirmed(self, held: Request, pair: PairReady, message: EgpMessage, now: int) -> Actions:
        """The master numbered a pair this end holds: deliver it, unless this end made it for another request."""
        mismatch = (held.origin_node, held.create_id) != (message.origin_node, message.create_id)
        if mismatch or (held.create.kept_together and held.state == RequestState.FAILED):
            # made for another request, or for an atomic request that failed here (its kept pairs are gone)
            actions = Actions(hardware=self._free(pair))
            return actions.extend(self._expire_confirmed(message, now))
        self.answered.put((message.link_id, message.attempt_seq), 0, now)
        actions = Actions(send=[self._ack(message, 0)])
        if held.create.kept_together:              # kept until the master RELEASEs it
            return actions.extend(self._hold(held, pair, message.sequence_number))
        return actions.extend(self._store_and_deliver(held, pair, message.sequence_number, now))

    def _ack(self, message: EgpMessage, status: int) -> tuple[Address, bytes]:
        return answer(message, MSG_CONFIRM_ACK, status, self.links[message.link_id].peer_address)

    def _expire_confirmed(self, message: EgpMessage, now: int) -> Actions:
        """The master numbered a pair this end does not hold (for that request): both ends report it expired."""
        self.answered.put((message.link_id, message.attempt_seq), ll.ERR_EXPIRE, now)
        actions = Actions(send=[self._ack(message, ll.ERR_EXPIRE)])
        request = self.requests.get((message.origin_node, message.create_id))
        if request is not None:
            actions.extend(self.replies.expired(request, message.sequence_number))
            if not request.create.kept_together:   # an atomic request's expired pair is replaced: not settled
                actions.extend(self.replies.settle(request))
        return actions

    def _on_confirm_ack(self, message: EgpMessage, now: int) -> Actions:
        key = (message.link_id, message.attempt_seq)
        pending = self.sent.pop(key, None)
        if pending is None:
            return Actions()
        held = self.holding.get(key)
        if message.status == 0:
            if held is None:
                return Actions()
            held.acked = True
            return self._try_release(held.request, now)
        actions = self.replies.expired(pending.request, pending.seq)
        return actions.extend(self._replace(key, now)) if held is not None else actions

    def _confirm_timers(self, now: int) -> Actions:
        actions = Actions()
        for key, pending in list(self.sent.items()):
            if pending.next_at > now:
                continue
            if pending.retries_left == 0:        # the peer is silent: assume the worst for this pair
                del self.sent[key]
                actions.extend(self.replies.expired(pending.request, pending.seq))
                if key in self.holding:
                    actions.extend(self._replace(key, now))
            else:
                pending.retries_left -= 1
                pending.next_at = now + self.timing.interval_ns
                actions.send.append(about_pair(pending.request, key[0], key[1], pending.seq))
        for key, (_, pair, deadline) in list(self.awaiting.items()):
            if deadline <= now:                  # the master never numbered it: it lost its herald
                del self.awaiting[key]
                actions.hardware.extend(self._free(pair))
        for key, deadline in list(self.lost.items()):
            if deadline <= now:                  # both ends lost it
                del self.lost[key]
        for key, (message, deadline) in list(self.early.items()):
            if deadline <= now:
                del self.early[key]
                actions.extend(self._expire_confirmed(message, now))
        return actions
