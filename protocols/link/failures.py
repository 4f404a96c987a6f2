"""Link layer: requests that fail for a reason outside their own exchange (:class:`Failures`): their Max Time
runs out, the link goes down, or the run's generation window ends. :class:`~protocols.link.layer.LinkLayer`
routes those events here; how a request fails (its ERR, and nothing more served for it) is the ``fail`` it is
given (:data:`~protocols.link.types.FailRequest`), which :meth:`Failures.after_moves` calls once no pair of the
request is moving to storage here (its OK comes when the move is done, and no OK follows the ERR).

At the window's end a request whose pairs numbered before it may still complete it does not fail at once: at
the other end of the link, any accepted request (the master may have numbered its last pairs, whose CONFIRMs or
RELEASEs are still on their way: the other end delivers only on them); at the master, a request all of whose
pairs are numbered but whose last OKs wait for their moves to storage. It waits (ENDING) until it completes, or
for :meth:`~protocols.link.config.Retransmission.ending_ns`, the span in which the master may still retransmit
what it sent before the end; then it fails with ERR TIMEOUT, after every OK of a pair settled in the span. So both
ends agree: the master completes a request at the window's end if and only if it numbered all its pairs before,
and then every one of them reaches the other end within the span. A request the master fails there (not all
its pairs numbered; not an atomic one, whose kept pairs are released apart) it aborts as soon as every CONFIRM it
sent for it is answered (:meth:`~protocols.link.confirm_master.MasterConfirms.abort_once_answered`): the other end
has then had every pair, and its wait ends at the abort instead of after the whole span. A station's death, the
peer alive, ends the requests of its link the same way, with ERR OTHER (:meth:`Failures.link_down`), so that there
too both ends end every request alike; and so does a request's Max Time, for that request, with ERR TIMEOUT
(:meth:`Failures.expire`: the other end's Max Time may run out while the CONFIRM of the pair that completed the
request at the master is on its way).
"""

from __future__ import annotations

from protocols.common import Actions
from protocols.link.confirm import Confirmation
from protocols.link.confirm_master import MasterConfirms
from protocols.link.follower import Follower
from protocols.link.links import Links
from protocols.link.memory import PairMemory
from protocols.link.requests import RequestTable
from protocols.link.runs import MasterRuns
from protocols.link.types import (
    ENDING,
    FINAL,
    SERVED,
    FailRequest,
    Request,
    RequestEvent,
    Retransmission,
)
from protocols.packets import linkservice as ll
from protocols.physical.hardware import MoveResult
from protocols.physical.node import StopGeneration


class Failures:
    """Ends open requests on Max Time, link down and generation over (each then fails with ``fail``)."""

    def __init__(self, links: Links, requests: RequestTable, runs: MasterRuns, confirms: MasterConfirms,
                 follower: Follower, confirmation: Confirmation, memory: PairMemory, timing: Retransmission,
                 fail: FailRequest) -> None:
        self.links = links
        self.follower = follower
        self.timing = timing
        self.requests = requests
        self.runs = runs
        self.confirms = confirms
        self.confirmation = confirmation
        self.memory = memory
        self.fail = fail
        self._ending: list[Request] = []            # requests that waited (ENDING) after generation ended
        self._after_moves: list[tuple[Request, int]] = []
        """Requests failed (and their codes) whose ERR waits for the OKs of their pairs moving to storage."""

    def after_moves(self, request: Request, code: int, now: int) -> Actions:
        """``request`` has failed here (every failure comes here): its ERR at once, or, while pairs of it are
        moving to storage (their OKs come when the moves are done), after them (:meth:`on_moved`), so that no OK
        follows the ERR."""
        if self.memory.moving_for(request):
            self._after_moves.append((request, code))
            return Actions()
        return self.fail(request, code, now)

    def on_moved(self, event: MoveResult, now: int) -> Actions:
        """A move to storage is done: its pair's OK, then the ERR of a failed request whose last move it was."""
        actions = self.memory.on_moved(event, now)
        if not self._after_moves:
            return actions
        due = [entry for entry in self._after_moves if not self.memory.moving_for(entry[0])]
        for entry in due:
            self._after_moves.remove(entry)
            actions.extend(self.fail(entry[0], entry[1], now))
        return actions

    def settled(self) -> bool:
        """No request waits for the pairs numbered before the window's end, nor an ERR for moves to storage."""
        if self._ending:
            self._ending = [request for request in self._ending if request.state is ENDING]
        return not self._ending and not self._after_moves

    def expire(self, request: Request, now: int) -> Actions:
        """Max Time ran out before the request was done (:meth:`_out_of_time`), or its wait after generation
        ended (ENDING) is over: it fails with the code it waited with (:attr:`~protocols.link.types.Request.error`:
        TIMEOUT, or OTHER when its station died)."""
        request.expires_at = None
        request.retry_at = None
        if request.state in FINAL:
            return Actions()
        if request.state is not ENDING:
            return self._out_of_time(request, now)
        request.fire(RequestEvent.WAITED_OUT)
        return self.after_moves(request, request.error or ll.ERR_TIMEOUT, now)

    def _out_of_time(self, request: Request, now: int) -> Actions:
        """Max Time ran out: for this request, this end's generation window is over (:meth:`_end`), with ERR
        TIMEOUT. At the other end of the link a request that is served waits for the CONFIRMs and RELEASEs of
        pairs the master numbered (or the master's abort), since the master may have completed it; when this end
        is the origin it waits longer by its REQ's retransmission span (:meth:`_req_span_ns`), since the master's
        Max Time started when a copy of its REQ came and may run out that much later."""
        extra_ns = 0
        if request.origin_node == self.links.node_id and not self.links.is_master(request.link):
            extra_ns = self._req_span_ns()
        return self._end(request, RequestEvent.MAX_TIME, ll.ERR_TIMEOUT, now, extra_ns)

    def _req_span_ns(self) -> int:
        """How long after its first copy a REQ of this end may still reach the peer: its last copy, sent
        ``retries`` intervals after the first, and one interval more for its delay and jitter."""
        return (self.timing.retries + 1) * self.timing.interval_ns

    def generation_over(self, now: int) -> Actions:
        """The run's generation window is over: every open request ends here (:meth:`_end`) with ERR TIMEOUT, at
        once or after waiting for the pairs numbered before the end. Pairs already numbered are still confirmed
        and released."""
        self.links.end_generation()
        actions = Actions()
        for request in self.requests.open_requests():
            if request.state is ENDING:          # waiting already (its Max Time, its station's death, a second
                self._wait_at_most(request, now)  # GenerationOver): the master has decided by now too
            elif request.state not in FINAL:
                request.retry_at = request.expires_at = None
                actions.extend(self._end(request, RequestEvent.GENERATION_OVER, ll.ERR_TIMEOUT, now))
        return actions

    def _wait_at_most(self, request: Request, now: int) -> None:
        """``request`` waits already: its wait ends at most :meth:`~protocols.link.config.Retransmission.ending_ns`
        from the window's end ``now``, when the master has decided every request (a wait after the other end's Max
        Time is longer, for the master's own Max Time, which may run out later: :meth:`_out_of_time`), so that it
        ends within :attr:`~protocols.link.layer.LinkLayer.resolution_ns` of the window's end."""
        timing = self.timing
        limit = now + timing.ending_ns(request.link.peer_retransmit_ns or timing.interval_ns)
        if request.expires_at is not None and request.expires_at > limit:
            request.expires_at = limit

    def _end(self, request: Request, event: RequestEvent, code: int, now: int, extra_ns: int = 0) -> Actions:
        """Generation for ``request`` is over here (the window's end, or its Max Time): it fails (``event``) with
        ERR ``code`` at once, and the master aborts it at the other end once its CONFIRMs are answered, unless
        pairs numbered before may still complete it (:meth:`may_complete`): then it waits for them until
        :meth:`~protocols.link.config.Retransmission.ending_ns` (plus ``extra_ns``) from now."""
        if not self.may_complete(request):
            served = request.state in SERVED
            request.fire(event)
            actions = self.after_moves(request, code, now)
            if served and self.links.is_master(request.link) and not request.kept_together:
                actions.extend(self.confirms.abort_once_answered(request, now, code))
            return actions
        self._wait(request, code, now, extra_ns)
        actions = self.runs.stop_serving(request)
        return actions.extend(self.follower.stop(request))

    def may_complete(self, request: Request) -> bool:
        """At the window's end: whether pairs numbered before it may still complete ``request`` here. At the other
        end, any accepted request (whose CONFIRMs or RELEASEs may be on their way); at the master, one whose
        pairs are all numbered and whose last OKs wait for their moves (an atomic request, whose CONFIRM_ACKs
        and RELEASEs would take longer than the other end waits, and a windowed one, which no count
        completes, fail at once)."""
        if request.state not in SERVED:
            return False
        if not self.links.is_master(request.link):
            return True
        return not (request.windowed or request.kept_together) and request.to_number <= 0

    def link_down(self, link_id: int, now: int, peer_alive: bool = False) -> Actions:
        """The link makes no more pairs: generation stops, and later CREATEs for that peer (and its REQs) get ERR
        OTHER. If the peer is gone, every open request on the link fails with ERR OTHER, the pairs it never
        confirmed expire here and nothing sent to it is retransmitted. If only the station (or source) is gone
        (``peer_alive``), the pairs already made are settled with the peer as ever, and the link's requests end
        as at the window's end (:meth:`_end_on_link`), with ERR OTHER. A later report that the peer is gone too
        gives up what still waits for it."""
        links = self.links
        if link_id not in links or link_id in links.gone:
            return Actions()
        if link_id in links.down:                  # the station first, now the peer
            if peer_alive:
                return Actions()
            links.mark_down(link_id)
            actions = self._peer_gone(link_id, now)
            actions.extend(self.confirmation.link_down(link_id, now))
            return actions.extend(self._fail_on_link(link_id, now))
        links.mark_down(link_id, peer_alive)
        actions = Actions(down=[StopGeneration(link_id)])
        self.runs.link_down(link_id)
        if not peer_alive:
            actions.extend(self._peer_gone(link_id, now))
            actions.extend(self.confirmation.link_down(link_id, now))
            return actions.extend(self._fail_on_link(link_id, now))
        ended = self._end_on_link(link_id, now)      # (first: the pairs of a request that now waits stay held)
        actions.extend(self.confirmation.link_down(link_id, now, peer_alive))   # (its ERR EXPIREs go first)
        return actions.extend(ended)

    def _fail_on_link(self, link_id: int, now: int) -> Actions:
        """The peer of ``link_id`` is gone: every open request on it fails with ERR OTHER (one waiting after the
        window's end or the station's death too: nothing more can come)."""
        actions = Actions()
        for request in self.requests.open_requests():
            if request.link.link_id == link_id and request.state not in FINAL:
                request.fire(RequestEvent.LINK_DOWN)
                request.retry_at = request.expires_at = None
                actions.extend(self.after_moves(request, ll.ERR_OTHER, now))
        return actions

    def _end_on_link(self, link_id: int, now: int) -> Actions:
        """Only the station of ``link_id`` is gone: its open requests end as at the generation window's end
        (:meth:`generation_over`), with ERR OTHER instead of TIMEOUT. The master completes a request by numbering
        its last pair, so the other end, which cannot tell whether it did, waits (ENDING) for the CONFIRMs and
        RELEASEs sent before the link went down; the master's ERR for a request it fails waits for the answers to
        its CONFIRMs (:meth:`~protocols.link.confirm_master.MasterConfirms.fail_once_answered`: an ERR EXPIRE
        comes first), and then it aborts the request (Status OTHER), which ends the other end's wait. A request
        already waiting after the window's end waits on, as it was."""
        actions = Actions()
        for request in self.requests.open_requests():
            if request.link.link_id != link_id or request.state in FINAL or request.state is ENDING:
                continue
            request.retry_at = request.expires_at = None
            if not self.may_complete(request):
                served = request.state in SERVED
                request.fire(RequestEvent.LINK_DOWN)
                actions.extend(self.confirms.fail_once_answered(request, ll.ERR_OTHER, now))
                if served and self.links.is_master(request.link) and not request.kept_together:
                    actions.extend(self.confirms.abort_once_answered(request, now, ll.ERR_OTHER))
                continue
            self._wait(request, ll.ERR_OTHER, now)
        return actions

    def _wait(self, request: Request, code: int, now: int, extra_ns: int = 0) -> None:
        """``request`` waits (ENDING) for the pairs numbered before generation ended on its link, until it
        completes or for :meth:`~protocols.link.config.Retransmission.ending_ns` (plus ``extra_ns``); then it
        fails with ``code``, kept meanwhile as its :attr:`~protocols.link.types.Request.error` (a SCHEDULE for
        it is refused with that code)."""
        timing = self.timing
        request.fire(RequestEvent.GENERATION_ENDING)
        request.error = code
        request.expires_at = now + timing.ending_ns(request.link.peer_retransmit_ns or timing.interval_ns) + extra_ns
        self.requests.time(request)
        self._ending.append(request)

    def _peer_gone(self, link_id: int, now: int) -> Actions:
        """Nothing sent on ``link_id`` is answered any more: the pairs whose CONFIRM waits expire here (then the
        ERRs that waited for them), and no CONFIRM, RELEASE or abort is retransmitted."""
        self.runs.peer_gone(link_id)
        self.memory.peer_gone(link_id)
        return self.confirms.peer_gone(link_id, now)
