"""Link layer, pairs in memory: OKs, moves to storage, atomic requests' kept pairs, RELEASE, cutoff.

Part of :class:`~protocols.link.layer.LinkLayer` (the protocol is described in :mod:`protocols.link.layer`):
a delivered pair's OK (its fidelity after the memory's decoherence), a kept pair's move to a
storage qubit before its OK, and atomic requests: pairs kept at both ends until all are there,
then delivered by the master and RELEASEd to the other end; a kept pair older than the link's
cutoff is discarded at both ends and replaced.
"""

from __future__ import annotations

from typing import Any

from protocols.common import Actions, Address
from protocols.link.messages import about_pair, answer
from protocols.link.state import LinkState
from protocols.link.types import Held, PendingConfirm, Request
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_RELEASE, MSG_RELEASE_ACK, EgpMessage
from protocols.physical.hardware import Discard, Move, MoveResult
from protocols.physical.node import PairReady


class MemoryMixin(LinkState):
    """Pairs in memory for :class:`~protocols.link.layer.LinkLayer`: delivery, moves, atomic requests."""

    # -- delivery ----------------------------------------------------------------------
    def _store_and_deliver(self, request: Request, pair: PairReady, seq: int, now: int) -> Actions:
        """Deliver a pair; a kept one first moves to a storage qubit if the node has any, freeing its
        communication qubit for the next attempt (the OK then names the storage qubit)."""
        if pair.outcome is not None or self.memory.storage == 0:
            return self.replies.deliver(request, pair, seq, now)
        self.moving[pair.slot] = (request, pair, seq)
        return Actions(hardware=[Move(pair.slot)])

    @staticmethod
    def _free(pair: PairReady) -> list[Any]:
        return [Discard(pair.slot)] if pair.outcome is None else []

    # -- atomic requests: kept pairs, moves to storage, release, cutoff ----------------
    def _hold(self, request: Request, pair: PairReady, seq: int) -> Actions:
        """Keep a pair of an atomic request; move it to a storage qubit if the node has any."""
        held = Held(request, pair, seq, pair.slot)
        self.holding[(pair.link_id, pair.attempt_seq)] = held
        if self.memory.storage == 0:
            return Actions()
        held.moving = True
        return Actions(hardware=[Move(pair.slot)])

    def _on_moved(self, event: MoveResult, now: int) -> Actions:
        if event.slot in self.moving:              # an ordinary kept pair: its OK, from where it is now
            request, pair, seq = self.moving.pop(event.slot)
            slot = event.slot if event.storage_slot is None else event.storage_slot
            return self.replies.deliver(request, pair, seq, now, slot)
        key = next((k for k, h in self.holding.items() if h.moving and h.slot == event.slot), None)
        if key is None:
            return Actions()
        held = self.holding[key]
        held.moving = False
        if event.storage_slot is not None:
            held.slot = event.storage_slot
        if held.drop:
            return self._drop(key)
        if held.release is not None:
            return self._apply_release(key, held.release, now)
        return self._try_release(held.request, now) if self.links.is_master(held.request.link) else Actions()

    def _drop(self, key: tuple[int, int]) -> Actions:
        """Discard a kept pair (once it has finished moving)."""
        held = self.holding[key]
        if held.moving:
            held.drop = True
            return Actions()
        del self.holding[key]
        return Actions(hardware=[Discard(held.slot)])

    def _replace(self, key: tuple[int, int], now: int) -> Actions:
        """Master: a kept pair is lost (expired): discard it and generate another for its request."""
        request = self.holding[key].request
        actions = self._drop(key)
        request.numbered -= 1
        return actions.extend(self.runs.schedule(request.link.link_id, now))

    def _try_release(self, request: Request, now: int) -> Actions:
        """Master: once all of an atomic request's pairs are kept at both ends, deliver them and RELEASE them."""
        kept = [(key, h) for key, h in self.holding.items() if h.request is request and not h.drop]
        if len(kept) < request.create.number or any(h.moving or not h.acked for _, h in kept):
            return Actions()
        actions = Actions()
        for key, held in kept:
            del self.holding[key]
            self.releasing[key] = PendingConfirm(request, held.seq, self.timing.reliable_retries,
                                                 now + self.timing.interval_ns, 0)
            actions.send.append(about_pair(request, key[0], key[1], held.seq, MSG_RELEASE))
            actions.extend(self.replies.deliver(request, held.pair, held.seq, now, held.slot))
        return actions

    def _cutoff_at(self, held: Held) -> int | None:
        cutoff = held.request.link.cutoff_ns
        if cutoff is None or held.moving or held.drop or not self.links.is_master(held.request.link):
            return None
        return held.pair.emission_time + cutoff

    def _cutoff_timers(self, now: int) -> Actions:
        """Master: a kept pair older than the link's cutoff is discarded at both ends, and replaced."""
        actions = Actions()
        for key, held in list(self.holding.items()):
            at = self._cutoff_at(held)
            if at is None or at > now:
                continue
            self.counters.cut_off += 1
            self.sent.pop(key, None)               # the RELEASE below settles the pair instead
            request = held.request
            self.releasing[key] = PendingConfirm(request, held.seq, self.timing.reliable_retries,
                                                 now + self.timing.interval_ns, ll.ERR_EXPIRE)
            actions.send.append(about_pair(request, key[0], key[1], held.seq, MSG_RELEASE, ll.ERR_EXPIRE))
            actions.extend(self.replies.expired(request, held.seq))
            actions.extend(self._replace(key, now))
        return actions

    def _on_release(self, message: EgpMessage, now: int) -> Actions:
        """Other end: deliver (Status 0) or discard (EXPIRE) a pair of an atomic request."""
        key = (message.link_id, message.attempt_seq)
        if key in self.released:
            return Actions(send=[self._release_ack(message, self.released[key])])
        held = self.holding.get(key)
        if held is not None and held.moving:
            held.release = message.status
            self.released.put(key, 0, now)
            return Actions(send=[self._release_ack(message, 0)])
        if held is not None:
            self.released.put(key, 0, now)
            return Actions(send=[self._release_ack(message, 0)]).extend(
                self._apply_release(key, message.status, now))
        # not kept here (its herald was lost, its CONFIRM not yet come, or the request failed here)
        waiting = self.awaiting.pop(key, None)
        actions = Actions(hardware=self._free(waiting[1]) if waiting is not None else [])
        self.answered.put(key, ll.ERR_EXPIRE, now)
        request = self.requests.get((message.origin_node, message.create_id))
        status = ll.ERR_EXPIRE if message.status == 0 else 0
        if message.status and request is not None:
            actions.extend(self.replies.expired(request, message.sequence_number))
        self.released.put(key, status, now)
        return actions.extend(Actions(send=[self._release_ack(message, status)]))

    def _apply_release(self, key: tuple[int, int], status: int, now: int) -> Actions:
        held = self.holding.pop(key)
        if status == 0:
            return self.replies.deliver(held.request, held.pair, held.seq, now, held.slot)
        return Actions(hardware=[Discard(held.slot)]).extend(self.replies.expired(held.request, held.seq))

    def _release_ack(self, message: EgpMessage, status: int) -> tuple[Address, bytes]:
        return answer(message, MSG_RELEASE_ACK, status, self.links[message.link_id].peer_address)

    def _on_release_ack(self, message: EgpMessage, now: int) -> Actions:
        pending = self.releasing.pop((message.link_id, message.attempt_seq), None)
        if pending is None or message.status == 0 or pending.status:
            return Actions()
        return self.replies.expired(pending.request, pending.seq)   # delivered here, not there: both report it

    def _release_timers(self, now: int) -> Actions:
        actions = Actions()
        for key, pending in list(self.releasing.items()):
            if pending.next_at > now:
                continue
            if pending.retries_left == 0:          # the peer is silent: a delivered pair may be there or not
                del self.releasing[key]
                if pending.status == 0:
                    actions.extend(self.replies.expired(pending.request, pending.seq))
                continue
            pending.retries_left -= 1
            pending.next_at = now + self.timing.interval_ns
            actions.send.append(about_pair(pending.request, key[0], key[1], pending.seq, MSG_RELEASE,
                                              pending.status))
        return actions
