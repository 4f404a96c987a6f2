"""Link layer: the master's side of pair confirmation (:class:`MasterConfirms`).

On a link this node is master of, each heralded pair of the current run is numbered (the link's next
sequence number), handed to the pair memory (:class:`~protocols.link.memory.PairMemory`) and CONFIRMed,
naming its request. The CONFIRM is retransmitted every ``interval_ns`` until its CONFIRM_ACK comes,
``reliable_retries`` times at most: then the pair expires here and is retracted (RELEASE with Status
EXPIRE, :meth:`~protocols.link.memory.PairMemory.retract`), which the other end
(:class:`~protocols.link.confirm.Confirmation`) reports expired too. A CONFIRM_ACK with Status 0 lets
the memory deliver or keep the pair; any other Status expires it at both ends. When the link's station dies
with the peer alive, a failed request's ERR waits for the answers to its CONFIRMs
(:meth:`MasterConfirms.fail_once_answered`).
"""

from __future__ import annotations

from protocols.common import Actions
from protocols.link.links import Links
from protocols.link.memory import PairMemory, discard
from protocols.link.messages import about_pair
from protocols.link.replies import Replies
from protocols.link.runs import MasterRuns
from protocols.link.types import FailRequest, LinkCounters, PairKey, PendingConfirm, Request, Retransmission
from protocols.packets import linkservice as ll
from protocols.packets.egp import EgpMessage
from protocols.physical.node import BlockReady, PairReady


class MasterConfirms:
    """The master's heralded pairs: numbered, CONFIRMed, and retransmitted until their CONFIRM_ACK (or expired)."""

    def __init__(self, links: Links, runs: MasterRuns, memory: PairMemory, replies: Replies, counters: LinkCounters,
                 timing: Retransmission, fail: FailRequest | None = None) -> None:
        self._runs = runs
        self._fail = fail
        self._memory = memory
        self._replies = replies
        self._counters = counters
        self._timing = timing
        self._next_seq = {link_id: 0 for link_id in links.ids()}    # the next pair's sequence number, per link
        self.sent: dict[PairKey, PendingConfirm] = {}
        """CONFIRMs awaiting their CONFIRM_ACK (the table whose entries have deadlines: :meth:`deadline`)."""
        self.to_abort: list[tuple[Request, int]] = []
        """Requests failed at the window's end (or their station's death) whose abort (and its code) waits for
        the answers to their CONFIRMs."""
        self.to_fail: list[tuple[Request, int]] = []
        """Requests failed (and their codes) on a link whose station died, whose ERR waits for those answers."""

    def fail_once_answered(self, request: Request, code: int, now: int) -> Actions:
        """``request`` failed on a link whose station died, its peer alive: its ERR (``fail``) once every CONFIRM
        sent for it is answered or given up, so that the ERR EXPIREs of its pairs come before it; now if none
        waits."""
        assert self._fail is not None
        if self._confirming(request):
            self.to_fail.append((request, code))
            return Actions()
        return self._fail(request, code, now)

    def _fail_if_answered(self, request: Request, now: int) -> Actions:
        """A CONFIRM of ``request`` was answered or given up: its waiting ERR, if it was the last."""
        if self._confirming(request):
            return Actions()
        for index, (waiting, code) in enumerate(self.to_fail):
            if waiting is request:
                del self.to_fail[index]
                assert self._fail is not None
                return self._fail(request, code, now)
        return Actions()

    def abort_once_answered(self, request: Request, now: int, code: int = ll.ERR_TIMEOUT) -> Actions:
        """``request`` failed here at the window's end (or its station's death: ``code`` OTHER): abort it at the
        other end (which waits for its pairs, ENDING) once every CONFIRM sent for it is answered, now if none
        waits; never if one is given up (its retraction follows, and the other end waits out its span)."""
        if self._confirming(request):
            self.to_abort.append((request, code))
            return Actions()
        return self._runs.abort(request, code, now)

    def _answered(self, request: Request, now: int) -> Actions:
        """A CONFIRM of ``request`` was answered, and it waits to be aborted: the abort, if it was the last."""
        if self._confirming(request):
            return Actions()
        code = self._drop_from_abort(request)
        return Actions() if code is None else self._runs.abort(request, code, now)

    def _confirming(self, request: Request) -> bool:
        """A CONFIRM of ``request`` still waits for its answer."""
        return any(pending.request is request for pending in self.sent.values())

    def _drop_from_abort(self, request: Request) -> int | None:
        """Take ``request`` (itself, not an equal one) off :attr:`to_abort`; its abort's code if it was there."""
        for index, (waiting, code) in enumerate(self.to_abort):
            if waiting is request:
                del self.to_abort[index]
                return code
        return None

    def settled(self) -> bool:
        """No CONFIRM waits for its answer, and no ERR for its CONFIRMs' answers."""
        return not self.sent and not self.to_fail

    def deadline(self) -> int | None:
        """When the next CONFIRM is due again (None: none waits)."""
        best = None
        for pending in self.sent.values():
            if best is None or pending.next_at < best:
                best = pending.next_at
        return best

    def on_pair(self, pair: PairReady | BlockReady, now: int) -> Actions:
        """A pair (or block) heralded on a link this node is master of: numbered and CONFIRMed if the current
        run's request asked for it, else discarded (counted ``unrequested``)."""
        link_id = pair.link_id
        request = self._runs.request_for(pair)
        if request is None:
            self._counters.unrequested += 1       # nobody asked for it: free the memory, lose nothing
            return Actions(hardware=discard(pair))
        count = pair.count
        seq = self._next_seq[link_id]
        self._next_seq[link_id] = (seq + count) & 0xFFFF
        timing = self._timing
        self.sent[(link_id, pair.attempt_seq)] = PendingConfirm(request, seq, timing.reliable_retries,
                                                                now + timing.interval_ns, 0, count)
        request.numbered += count
        actions = self._memory.take(request, pair, seq, now)
        actions.send.append(about_pair(request, link_id, pair.attempt_seq, seq))
        run_over = self._runs.numbered(link_id, now, count)
        return actions if run_over is None else actions.extend(run_over)

    def on_confirm_ack(self, message: EgpMessage, now: int) -> Actions:
        """A CONFIRM_ACK (:meth:`acknowledged` of its fields)."""
        return self.acknowledged(message.link_id, message.attempt_seq, message.status, now)

    def acknowledged(self, link_id: int, attempt_seq: int, status: int, now: int) -> Actions:
        """The CONFIRM_ACK of pair ``attempt_seq`` on ``link_id`` with ``status`` (:meth:`on_confirm_ack` from the
        message's fields: the link layer reads a CONFIRM_ACK, one a pair, without an EgpMessage)."""
        key = (link_id, attempt_seq)
        pending = self.sent.pop(key, None)
        if pending is None:
            return Actions()
        if status == 0:
            actions = self._memory.confirmed(key, now)
        else:
            actions = self._replies.expired(pending.request, pending.seq, pending.count)
            actions.extend(self._memory.lost(key, now))
        if self.to_fail:
            actions.extend(self._fail_if_answered(pending.request, now))
        return actions.extend(self._answered(pending.request, now)) if self.to_abort else actions

    def withdraw(self, key: PairKey, now: int) -> Actions:
        """Stop CONFIRMing pair ``key`` (a RELEASE with Status EXPIRE settles it instead); the ERR its request
        waited for (:meth:`fail_once_answered`), if this was its last CONFIRM, to be sent after the pair's own
        ERR EXPIRE."""
        pending = self.sent.pop(key, None)
        if pending is None or not self.to_fail:
            return Actions()
        return self._fail_if_answered(pending.request, now)

    def on_timer(self, now: int) -> Actions:
        """Retransmit the CONFIRMs that are due, or give up on those out of retries: the pair expires, at the
        other end too."""
        actions = Actions()
        for key, pending in list(self.sent.items()):
            if pending.next_at > now:
                continue
            if pending.retries_left == 0:        # the peer is silent: the pair expires, at the other end too
                del self.sent[key]
                if self.to_abort:                # its retraction follows: the other end waits out its span
                    self._drop_from_abort(pending.request)
                self._counters.confirms_given_up += 1
                actions.extend(self._replies.expired(pending.request, pending.seq, pending.count))
                actions.extend(self._memory.lost(key, now))
                actions.extend(self._memory.retract(pending.request, key, pending.seq, now))
                if self.to_fail:
                    actions.extend(self._fail_if_answered(pending.request, now))
            else:
                pending.retries_left -= 1
                pending.next_at = now + self._timing.interval_ns
                actions.send.append(about_pair(pending.request, key[0], key[1], pending.seq))
        return actions

    def peer_gone(self, link_id: int, now: int) -> Actions:
        """The peer is gone (not only the station between: its CONFIRMs then go on until answered): the pairs
        it never acknowledged expire, then the ERRs that waited for them (:meth:`fail_once_answered`) come,
        and no abort waits for their answers."""
        self.to_abort = [entry for entry in self.to_abort if entry[0].link.link_id != link_id]
        actions = Actions()
        for key, pending in list(self.sent.items()):
            if key[0] == link_id:
                del self.sent[key]
                actions.extend(self._replies.expired(pending.request, pending.seq, pending.count))
        waiting = [entry for entry in self.to_fail if entry[0].link.link_id == link_id]
        if waiting:
            self.to_fail = [entry for entry in self.to_fail if entry[0].link.link_id != link_id]
            assert self._fail is not None
            for request, code in waiting:
                actions.extend(self._fail(request, code, now))
        return actions
