"""Link layer: :class:`PairMemory`, the pairs a node keeps: moves to storage, atomic requests, RELEASE, cutoff.

At a node with storage qubits, every create-and-keep pair moves to a storage qubit before its OK
(the OK then names the storage qubit), so that its communication qubit is free for the next
attempt; with no storage it is delivered from where it is. The pairs of an atomic request are
*kept* at both ends (moved to storage when there is some) until all are there: the master then
delivers them and RELEASEs each to the other end (retransmitted until RELEASE_ACK), which delivers
on RELEASE. A pair is never discarded or delivered while it moves. A kept pair older than the
link's cutoff is discarded at both ends (RELEASE with Status EXPIRE, ERR EXPIRE at both) and the
master generates a replacement, as it does for a kept pair whose CONFIRM failed. A pair (of any
request) whose CONFIRM the master gave up is retracted the same way (:meth:`PairMemory.retract`). Each
RELEASE answer is remembered for ``keep_ns``, so a retransmitted RELEASE gets the first answer again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocols.common import Actions, Address, commanding
from protocols.link.links import Links
from protocols.link.messages import about_pair, answer
from protocols.link.recent import Forgetting, Recent
from protocols.link.replies import Replies
from protocols.link.runs import MasterRuns
from protocols.link.types import FINAL, LinkCounters, Memory, PairKey, PendingConfirm, Request, Retransmission
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_RELEASE, MSG_RELEASE_ACK, EgpMessage
from protocols.physical.hardware import Discard, Move, MoveResult
from protocols.physical.node import BlockReady, PairReady


@dataclass(slots=True)
class Held:
    """A pair of an atomic request kept (unannounced) until all of the request's pairs are there."""

    request: Request
    pair: PairReady
    seq: int
    slot: int
    acked: bool = False
    moving: bool = False
    release: int | None = None
    """Other end: the Status of a RELEASE that came while the pair was moving to storage."""
    drop: bool = False


def discard(pair: PairReady | BlockReady) -> list[Any]:
    """Free the qubit a pair holds at this node (nothing to free if it was measured)."""
    return [Discard(pair.slot)] if pair.outcome is None else []


class PairMemory:
    """Kept pairs at this node: those moving to storage before their OK, atomic requests' pairs until they
    are all there, and the master's RELEASEs; ``memory`` is the node's qubits."""

    def __init__(self, links: Links, replies: Replies, runs: MasterRuns, memory: Memory, counters: LinkCounters,
                 timing: Retransmission, forgetting: Forgetting | None = None) -> None:
        self._links = links
        self._replies = replies
        self._runs = runs
        self._memory = memory
        self._counters = counters
        self._timing = timing
        self._moving: dict[int, tuple[Request, PairReady, int]] = {}     # communication slot -> pair before its OK
        self._holding: dict[PairKey, Held] = {}                          # atomic requests' kept pairs
        self._releasing: dict[PairKey, PendingConfirm] = {}              # master: RELEASEs awaiting their ACK
        self._moves: dict[int, Move] = {}                                # communication slot -> its Move
        self.timed = (self._releasing, self._holding)
        """The tables whose entries have deadlines (:meth:`deadline`: None while both are empty)."""
        self.released: Recent[PairKey, int] = Recent(timing.keep_ns, forgetting)   # other end: RELEASE_ACKs sent

    # -- queries -------------------------------------------------------------------------
    def settled(self) -> bool:
        """No pair is kept or moving here and no RELEASE waits for its answer."""
        return not (self._holding or self._releasing or self._moving)

    def moving_for(self, request: Request) -> bool:
        """A pair of ``request`` is moving to storage here: its OK comes when the move is done."""
        return any(moving[0] is request for moving in self._moving.values())

    def held_slots(self) -> set[int]:
        """Memory slots of the kept pairs."""
        return {held.slot for held in self._holding.values()}

    def deadline(self) -> int | None:
        if not (self._releasing or self._holding):
            return None
        times = [p.next_at for p in self._releasing.values()]
        times += [t for t in map(self._cutoff_at, self._holding.values()) if t is not None]
        return min(times, default=None)

    def forget(self, now: int) -> None:
        """Forget RELEASE answers given ``keep_ns`` or longer ago."""
        self.released.forget(now)

    # -- pairs in ------------------------------------------------------------------------
    def take(self, request: Request, pair: PairReady | BlockReady, seq: int, now: int) -> Actions:
        """A pair numbered ``seq`` for ``request`` (confirmed at the other end): keep it if the request is
        atomic, else deliver it, after a move to storage if it is kept and the node has storage."""
        if isinstance(pair, BlockReady):              # measured: nothing to keep or move
            return self._replies.deliver(request, pair, seq, now)
        if request.kept_together:
            return self._hold(request, pair, seq)
        if pair.outcome is not None or self._memory.storage == 0:
            return self._replies.deliver(request, pair, seq, now)
        slot = pair.slot
        self._moving[slot] = (request, pair, seq)
        return commanding([self._move(slot)])

    def _move(self, slot: int) -> Move:
        """The :class:`Move` of communication slot ``slot``: frozen, so one object per slot serves every pair
        (two a repeater's link pair; a class call is ~2.2 k instructions, the look-up ~0.1 k)."""
        move = self._moves.get(slot)
        if move is None:
            move = self._moves[slot] = Move(slot)
        return move

    def _hold(self, request: Request, pair: PairReady, seq: int) -> Actions:
        held = Held(request, pair, seq, pair.slot)
        self._holding[(pair.link_id, pair.attempt_seq)] = held
        if self._memory.storage == 0:
            return Actions()
        held.moving = True
        return Actions(hardware=[self._move(pair.slot)])

    def on_moved(self, event: MoveResult, now: int) -> Actions:
        moving = self._moving.pop(event.slot, None)
        if moving is not None:                     # an ordinary kept pair: its OK, from where it is now
            request, pair, seq = moving
            slot = event.slot if event.storage_slot is None else event.storage_slot
            return self._replies.deliver(request, pair, seq, now, slot)
        key = next((k for k, h in self._holding.items() if h.moving and h.slot == event.slot), None)
        if key is None:
            return Actions()
        held = self._holding[key]
        held.moving = False
        if event.storage_slot is not None:
            held.slot = event.storage_slot
        if held.drop:
            return self._drop(key)
        if held.release is not None:
            return self._apply_release(key, held.release, now)
        return self._try_release(held.request, now) if self._links.is_master(held.request.link) else Actions()

    # -- the master: kept pairs acknowledged, lost, released -----------------------------
    def confirmed(self, key: PairKey, now: int) -> Actions:
        """Master: the other end acknowledged pair ``key``'s CONFIRM; if the pair is kept, release its request's
        pairs once all are there."""
        held = self._holding.get(key)
        if held is None:
            return Actions()
        held.acked = True
        if held.request.state in FINAL:      # failed, its ERR waiting for this answer: its kept pairs go with it
            return Actions()
        return self._try_release(held.request, now)

    def lost(self, key: PairKey, now: int) -> Actions:
        """Master: pair ``key`` expired (its CONFIRM failed): if it was kept, discard it and generate another."""
        return self._replace(key, now) if key in self._holding else Actions()

    def retract(self, request: Request, key: PairKey, seq: int, now: int) -> Actions:
        """Master: every copy of pair ``key``'s CONFIRM went unanswered and the pair expired here: RELEASE it
        with Status EXPIRE (retransmitted like a cutoff's), so that the other end reports it expired too,
        whether its CONFIRM never came (the other end freed the pair and waits for it) or its answers were
        lost (the other end delivered or kept it)."""
        self._releasing[key] = PendingConfirm(request, seq, self._timing.reliable_retries,
                                              now + self._timing.interval_ns, ll.ERR_EXPIRE)
        return Actions(send=[about_pair(request, key[0], key[1], seq, MSG_RELEASE, ll.ERR_EXPIRE)])

    def drop_kept(self, request: Request) -> Actions:
        """``request`` failed: discard its kept pairs."""
        actions = Actions()
        for key, held in list(self._holding.items()):
            if held.request is request:
                actions.extend(self._drop(key))
        return actions

    def _drop(self, key: PairKey) -> Actions:
        """Discard a kept pair (once it has finished moving)."""
        held = self._holding[key]
        if held.moving:
            held.drop = True
            return Actions()
        del self._holding[key]
        return Actions(hardware=[Discard(held.slot)])

    def _replace(self, key: PairKey, now: int) -> Actions:
        request = self._holding[key].request
        actions = self._drop(key)
        request.numbered -= 1
        return actions.extend(self._runs.schedule(request.link.link_id, now))

    def _try_release(self, request: Request, now: int) -> Actions:
        """Master: once all of an atomic request's pairs are kept at both ends, deliver them and RELEASE them."""
        kept = [(key, h) for key, h in self._holding.items() if h.request is request and not h.drop]
        if len(kept) < request.create.number or any(h.moving or not h.acked for _, h in kept):
            return Actions()
        actions = Actions()
        for key, held in kept:
            del self._holding[key]
            self._releasing[key] = PendingConfirm(request, held.seq, self._timing.reliable_retries,
                                                  now + self._timing.interval_ns, 0)
            actions.send.append(about_pair(request, key[0], key[1], held.seq, MSG_RELEASE))
            actions.extend(self._replies.deliver(request, held.pair, held.seq, now, held.slot))
        return actions

    def _cutoff_at(self, held: Held) -> int | None:
        cutoff = held.request.link.cutoff_ns
        if cutoff is None or held.moving or held.drop or not self._links.is_master(held.request.link):
            return None
        return held.pair.emission_time + cutoff

    def on_release_ack(self, message: EgpMessage, now: int) -> Actions:
        pending = self._releasing.pop((message.link_id, message.attempt_seq), None)
        if pending is None or message.status == 0 or pending.status:
            return Actions()
        return self._replies.expired(pending.request, pending.seq)   # delivered here, not there: both report it

    def on_timer(self, now: int, withdraw: Callable[[PairKey, int], Actions]) -> Actions:
        """Retransmit RELEASEs that are due, then cut off kept pairs past the link's cutoff (master): each is
        discarded at both ends and replaced; ``withdraw(key, now)`` stops its CONFIRM, which the RELEASE replaces
        (and gives the ERR its request waited for, if any, sent after the pair's ERR EXPIRE)."""
        actions = Actions()
        for key, pending in list(self._releasing.items()):
            if pending.next_at > now:
                continue
            if pending.retries_left == 0:          # the peer is silent: a delivered pair may be there or not
                del self._releasing[key]
                if pending.status == 0:
                    actions.extend(self._replies.expired(pending.request, pending.seq))
                continue
            pending.retries_left -= 1
            pending.next_at = now + self._timing.interval_ns
            actions.send.append(about_pair(pending.request, key[0], key[1], pending.seq, MSG_RELEASE,
                                           pending.status))
        for key, held in list(self._holding.items()):
            at = self._cutoff_at(held)
            if at is None or at > now:
                continue
            self._counters.cut_off += 1
            request = held.request
            self._releasing[key] = PendingConfirm(request, held.seq, self._timing.reliable_retries,
                                                  now + self._timing.interval_ns, ll.ERR_EXPIRE)
            actions.send.append(about_pair(request, key[0], key[1], held.seq, MSG_RELEASE, ll.ERR_EXPIRE))
            actions.extend(self._replies.expired(request, held.seq))
            actions.extend(self._replace(key, now))
            actions.extend(withdraw(key, now))      # last: the request's waiting ERR, if any, ends it
        return actions

    def peer_gone(self, link_id: int) -> None:
        """The peer is gone (not only the station between: RELEASEs then go on until answered): stop
        retransmitting RELEASEs to it."""
        for key in [key for key in self._releasing if key[0] == link_id]:
            del self._releasing[key]

    # -- the other end: RELEASE ----------------------------------------------------------
    def on_release(self, message: EgpMessage, now: int, unconfirmed: Callable[[EgpMessage, int], Actions]) -> Actions:
        """Other end: deliver (Status 0) or discard (EXPIRE) a pair of an atomic request. A pair not kept here
        (its herald was lost, its CONFIRM not yet come or never come, it was delivered on its CONFIRM, or its
        request failed here) is settled by ``unconfirmed(message, now)``, and answered EXPIRE if the master
        meant to deliver it."""
        key = (message.link_id, message.attempt_seq)
        if key in self.released:
            return Actions(send=[self._answer(message, self.released[key])])
        held = self._holding.get(key)
        if held is not None and held.moving:
            held.release = message.status
            self.released.put(key, 0, now)
            return Actions(send=[self._answer(message, 0)])
        if held is not None:
            self.released.put(key, 0, now)
            return Actions(send=[self._answer(message, 0)]).extend(self._apply_release(key, message.status, now))
        actions = unconfirmed(message, now)
        status = ll.ERR_EXPIRE if message.status == 0 else 0
        self.released.put(key, status, now)
        return actions.extend(Actions(send=[self._answer(message, status)]))

    def _apply_release(self, key: PairKey, status: int, now: int) -> Actions:
        held = self._holding.pop(key)
        if status == 0:
            return self._replies.deliver(held.request, held.pair, held.seq, now, held.slot)
        return Actions(hardware=[Discard(held.slot)]).extend(self._replies.expired(held.request, held.seq))

    def _answer(self, message: EgpMessage, status: int) -> tuple[Address, bytes]:
        return answer(message, MSG_RELEASE_ACK, status, self._links[message.link_id].peer_address)
