"""Link layer: requests that fail for a reason outside their own exchange (:class:`Failures`): their Max Time
runs out, the link goes down, or the run's generation window ends. :class:`~protocols.link.layer.LinkLayer`
routes those events here; how a request fails (its ERR, and nothing more served for it) is the ``fail`` it is
given (:data:`~protocols.link.types.FailRequest`).
"""

from __future__ import annotations

from protocols.common import Actions
from protocols.link.confirm import Confirmation
from protocols.link.confirm_master import MasterConfirms
from protocols.link.links import Links
from protocols.link.memory import PairMemory
from protocols.link.requests import RequestTable
from protocols.link.runs import MasterRuns
from protocols.link.types import FINAL, FailRequest, Request, RequestEvent, RequestState
from protocols.packets import linkservice as ll
from protocols.physical.node import StopGeneration


class Failures:
    """Ends open requests on Max Time, link down and generation over (each then fails with ``fail``)."""

    def __init__(self, links: Links, requests: RequestTable, runs: MasterRuns, confirms: MasterConfirms,
                 confirmation: Confirmation, memory: PairMemory, fail: FailRequest) -> None:
        self.links = links
        self.requests = requests
        self.runs = runs
        self.confirms = confirms
        self.confirmation = confirmation
        self.memory = memory
        self.fail = fail

    def expire(self, request: Request, now: int) -> Actions:
        """Max Time ran out before the request was done: ERR TIMEOUT, and stop generating for it."""
        request.expires_at = None
        request.retry_at = None
        if request.state in (RequestState.DONE, RequestState.FAILED):
            return Actions()
        request.fire(RequestEvent.MAX_TIME)
        return self.fail(request, ll.ERR_TIMEOUT, now)

    def generation_over(self, now: int) -> Actions:
        """The run's generation window is over: every open request fails here with ERR TIMEOUT (the other
        end does the same at the same time); pairs already numbered are still confirmed and released."""
        self.links.end_generation()
        actions = Actions()
        for request in self.requests.open_requests():
            if request.state not in FINAL:
                request.fire(RequestEvent.GENERATION_OVER)
                request.retry_at = request.expires_at = None
                actions.extend(self.fail(request, ll.ERR_TIMEOUT, now))
        return actions

    def link_down(self, link_id: int, now: int) -> Actions:
        """The peer (or the station between) is gone: pairs it never confirmed expire here, and every
        open request on the link fails with ERR OTHER; later CREATEs for that peer get ERR OTHER too."""
        if link_id not in self.links or link_id in self.links.down:
            return Actions()
        self.links.mark_down(link_id)
        actions = Actions(down=[StopGeneration(link_id)])
        self.runs.link_down(link_id)
        actions.extend(self.confirms.link_down(link_id))
        actions.extend(self.confirmation.link_down(link_id))
        self.memory.link_down(link_id)
        for request in self.requests.open_requests():
            if request.link.link_id == link_id and request.state not in FINAL:
                request.fire(RequestEvent.LINK_DOWN)
                request.retry_at = request.expires_at = None
                actions.extend(self.fail(request, ll.ERR_OTHER, now))
        return actions
