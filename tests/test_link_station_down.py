"""LinkDown when only the station (or source) between died: the peer still answers, so the pairs already made
are settled with it (CONFIRM, RELEASE until answered) and none is delivered at one end only; generation stops
and every open request fails with ERR OTHER, at the master once its CONFIRMs are answered, at the other end when
the master's abort comes or its wait is over (tests/test_link_station_end.py: both ends end a request alike).

The oracle is the two higher layers' view: the Sequence Numbers each end was given an OK for and not withdrawn
(ERR EXPIRE) must be the same at both ends (what the report's ``pairs_disagreeing`` counts)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from protocols.common import EGP_PORT, LINK_SERVICE_PORT, Actions
from protocols.link.layer import LinkLayer, Memory, RequestState
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_CONFIRM, MSG_CONFIRM_ACK, MSG_RELEASE, MSG_REQ_ACK, MSG_SCHEDULE, EgpMessage
from protocols.physical.hardware import LinkDown
from protocols.physical.node import StopGeneration
from stack.multiprocess.node import NodeProcess
from stack.scenario import load
from tests.test_engines import APP1, APP2, EGP1, EGP2, LINK, keep_create, link_pair, only, open_request
from tests.test_memory import engine, pair

STATION_DIED = LinkDown(LINK, peer_alive=True)


class Upward:
    """What one end's higher layer was told: OKs' and ERR EXPIREs' Sequence Numbers, and the other ERRs."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.oks: list[int] = []
        self.expired: list[int] = []
        self.errs: list[int] = []
        self.log: list[str] = []
        """All of it in order: ``OK n``, ``EXPIRE n``, ``ERR code``."""

    def take(self, actions: Actions) -> Actions:
        for payload in only(actions.send, self.app):
            message = ll.decode_upward(payload)
            if isinstance(message, ll.Err) and message.err == ll.ERR_EXPIRE and message.s:
                self.expired.extend(message.sequences())
                self.log += [f"EXPIRE {n}" for n in message.sequences()]
            elif isinstance(message, ll.Err):
                self.errs.append(message.err)
                self.log.append(f"ERR {message.err}")
            elif not isinstance(message, ll.Ack):
                self.oks.append(message.sequence_number)
                self.log.append(f"OK {message.sequence_number}")
        return actions

    def delivered(self) -> set[int]:
        return set(self.oks) - set(self.expired)


def types(actions: Actions, to: Any) -> list[int]:
    return [EgpMessage.decode(payload).msg_type for payload in only(actions.send, to)]


def _to_the_peer(n1: LinkLayer, n2: LinkLayer, up2: Upward, sent: Actions, now: int) -> None:
    """What the master ``sent`` (its abort) reaches the other end, and the answers (SCHEDULE_ACK) come back."""
    for payload in only(sent.send, EGP2):
        for answer in only(up2.take(n2.receive(payload, EGP1, EGP_PORT, now)).send, EGP1):
            n1.receive(answer, EGP2, EGP_PORT, now)


def _confirmed_at_the_peer_only(n1: LinkLayer, n2: LinkLayer, up1: Upward, up2: Upward) -> bytes:
    """A pair both ends hold; the master's CONFIRM reaches the peer, which delivers it; its CONFIRM_ACK is
    returned (still on its way) ."""
    pair1 = pair(0, 0, 10_000)
    out1 = up1.take(n1.handle(pair1, 10_000))
    up2.take(n2.handle(pair(0, 0, 10_000), 10_000))
    (confirm,) = only(out1.send, EGP2)
    answer = up2.take(n2.receive(confirm, EGP1, EGP_PORT, 11_000))
    (ack,) = only(answer.send, EGP1)
    assert EgpMessage.decode(ack).msg_type == MSG_CONFIRM_ACK and up2.oks == [0]
    return ack


def test_the_station_dies_while_the_confirm_ack_is_on_its_way_the_pair_stays_delivered() -> None:
    """The walker's kmid run: the master got the station's LinkDown after the peer delivered the pair and before
    its CONFIRM_ACK came. The old code gave the pair up (ERR EXPIRE) at once: delivered at the peer only."""
    n1, n2 = link_pair()
    up1, up2 = Upward(APP1), Upward(APP2)
    create_id, *_ = open_request(n1, n2, keep_create(number=5))
    ack = _confirmed_at_the_peer_only(n1, n2, up1, up2)
    down = up1.take(n1.handle(STATION_DIED, 12_000))
    assert StopGeneration(LINK) in down.down
    assert up1.errs == [] and up1.expired == []                           # the request's ERR waits for the answer
    assert not n1.settled()                                               # its CONFIRM still waits
    answered = up1.take(n1.receive(ack, EGP2, EGP_PORT, 13_000))
    assert up1.log == ["OK 0", f"ERR {ll.ERR_OTHER}"]                     # the pair stays delivered
    up2.take(n2.handle(STATION_DIED, 14_000))
    assert up2.errs == []                                                 # it waits for the master's word
    _to_the_peer(n1, n2, up2, answered, 15_000)
    assert up2.log == ["OK 0", f"ERR {ll.ERR_OTHER}"]
    assert up1.delivered() == up2.delivered() == {0}
    assert n1.settled() and n2.settled()
    assert n1.requests[(1, create_id)].state is RequestState.FAILED
    assert only(n1.on_timer(10**9).send, EGP2) == []                      # nothing more to say


def test_a_lost_confirm_ack_is_asked_again_after_the_station_died() -> None:
    """The CONFIRM_ACK is lost: the master goes on CONFIRMing the live peer, which answers its copy again."""
    n1, n2 = link_pair()
    up1, up2 = Upward(APP1), Upward(APP2)
    open_request(n1, n2, keep_create(number=5))
    _confirmed_at_the_peer_only(n1, n2, up1, up2)                         # (its CONFIRM_ACK never arrives)
    up1.take(n1.handle(STATION_DIED, 12_000))
    up2.take(n2.handle(STATION_DIED, 12_500))
    again = n1.on_timer(10**6)
    assert types(again, EGP2) == [MSG_CONFIRM]
    answer = up2.take(n2.receive(only(again.send, EGP2)[0], EGP1, EGP_PORT, 10**6 + 1_000))
    assert types(answer, EGP1) == [MSG_CONFIRM_ACK] and EgpMessage.decode(only(answer.send, EGP1)[0]).status == 0
    assert up1.errs == []
    answered = up1.take(n1.receive(only(answer.send, EGP1)[0], EGP2, EGP_PORT, 10**6 + 2_000))
    assert up1.log == ["OK 0", f"ERR {ll.ERR_OTHER}"]
    assert types(answered, EGP2) == [MSG_SCHEDULE]                        # the abort
    _to_the_peer(n1, n2, up2, answered, 10**6 + 3_000)
    assert up2.log == ["OK 0", f"ERR {ll.ERR_OTHER}"]
    assert up1.delivered() == up2.delivered() == {0} and n1.settled() and n2.settled()


def test_a_pair_of_an_atomic_request_the_peer_holds_at_the_link_down_expires_at_both_ends() -> None:
    """The peer learnt of the station's death before the CONFIRM of an atomic request's pair came: the request
    waits there (as at the window's end), but its first CONFIRM in the wait is answered EXPIRE (the master, which
    completes it only once every CONFIRM is answered, has failed it), and both ends withdraw the pair. (A
    non-atomic request's pair is delivered on it: tests/test_link_station_end.py.)"""
    n1, n2 = engine(1, Memory(2, 0)), engine(2, Memory(2, 0))
    up1, up2 = Upward(APP1), Upward(APP2)
    open_request(n1, n2, ll.Create(remote_node_id=2, purpose_id=7, number=2, ato=1))
    out1 = up1.take(n1.handle(pair(0, 0, 10_000), 10_000))
    up2.take(n2.handle(pair(0, 0, 10_000), 10_000))
    up2.take(n2.handle(STATION_DIED, 11_000))
    answer = up2.take(n2.receive(only(out1.send, EGP2)[0], EGP1, EGP_PORT, 11_500))
    (ack,) = [EgpMessage.decode(p) for p in only(answer.send, EGP1)]
    assert (ack.msg_type, ack.status) == (MSG_CONFIRM_ACK, ll.ERR_EXPIRE)
    assert n2.held_slots() == set()
    up1.take(n1.handle(STATION_DIED, 12_000))
    up1.take(n1.receive(ack.encode(), EGP2, EGP_PORT, 12_500))
    assert up1.log == ["EXPIRE 0", f"ERR {ll.ERR_OTHER}"]                 # the request's ERR is its last word
    assert up1.expired == up2.expired == [0]
    assert up1.delivered() == up2.delivered() == set() and n1.settled()


def test_a_confirm_that_came_before_its_pair_waits_for_it_after_the_link_down() -> None:
    """An early CONFIRM (the peer has not had the herald) still waits for its herald after the station's death
    (the station may have sent it just before): its pair is delivered if it comes, and it is answered EXPIRE after
    ``confirm_timeout_ns`` if not, as on a live link; both ends then withdraw the pair."""
    for herald_comes in (True, False):
        n1, n2 = link_pair()
        up1, up2 = Upward(APP1), Upward(APP2)
        open_request(n1, n2, keep_create(number=5))
        out1 = up1.take(n1.handle(pair(0, 0, 10_000), 10_000))
        assert up2.take(n2.receive(only(out1.send, EGP2)[0], EGP1, EGP_PORT, 10_500)).send == []   # waits
        down = up2.take(n2.handle(STATION_DIED, 11_000))
        assert only(down.send, EGP1) == [] and up2.log == []
        if herald_comes:
            answer = up2.take(n2.handle(pair(0, 0, 10_000), 11_200))
        else:
            answer = up2.take(n2.on_timer(10_500 + n2.timing.confirm_timeout_ns))
        (ack,) = [EgpMessage.decode(p) for p in only(answer.send, EGP1)]
        assert (ack.msg_type, ack.status) == (MSG_CONFIRM_ACK, 0 if herald_comes else ll.ERR_EXPIRE)
        up1.take(n1.handle(STATION_DIED, 11_500))
        answered = up1.take(n1.receive(ack.encode(), EGP2, EGP_PORT, 10**7))
        _to_the_peer(n1, n2, up2, answered, 10**7 + 500)
        end = ["OK 0"] if herald_comes else ["OK 0", "EXPIRE 0"]
        assert up1.log == [*end, f"ERR {ll.ERR_OTHER}"]
        assert up2.log == [*end[1:], f"ERR {ll.ERR_OTHER}"] if not herald_comes else up2.log == up1.log
        assert up1.delivered() == up2.delivered() == ({0} if herald_comes else set())
        assert n1.settled() and n2.settled()


def test_the_peer_dying_after_the_station_gives_up_what_waits_for_it() -> None:
    """The station first (the CONFIRM goes on), then the peer itself: the pair expires at once and nothing more
    is sent to the dead peer."""
    n1, n2 = link_pair()
    up1 = Upward(APP1)
    open_request(n1, n2, keep_create(number=5))
    up1.take(n1.handle(pair(0, 0, 10_000), 10_000))
    up1.take(n1.handle(STATION_DIED, 11_000))
    assert up1.expired == [] and up1.errs == [] and not n1.settled()
    gone = up1.take(n1.handle(LinkDown(LINK), 12_000))
    assert up1.log == ["OK 0", "EXPIRE 0", f"ERR {ll.ERR_OTHER}"]         # the pair, then the waiting ERR
    assert gone.down == [] and n1.settled()
    assert only(n1.on_timer(10**9).send, EGP2) == []
    assert n1.handle(STATION_DIED, 13_000).send == []                     # an older report changes nothing


def test_a_confirm_given_up_after_the_station_died_is_retracted_and_then_the_request_fails() -> None:
    """Every copy of the CONFIRM is lost after the station died: the master gives the pair up as on a live link
    (ERR EXPIRE, RELEASE EXPIRE to the peer), and only then sends the request's ERR, within the retransmission
    span."""
    n1, n2 = link_pair(reliable_retries=2)
    up1 = Upward(APP1)
    open_request(n1, n2, keep_create(number=5))
    up1.take(n1.handle(pair(0, 0, 10_000), 10_000))
    up1.take(n1.handle(STATION_DIED, 11_000))
    sent: list[int] = []
    now = 11_000
    while not n1.settled() and now < 10**7:
        now += 50_000
        sent += types(up1.take(n1.on_timer(now)), EGP2)
    assert sent[:2] == [MSG_CONFIRM, MSG_CONFIRM] and MSG_RELEASE in sent
    assert up1.log == ["OK 0", "EXPIRE 0", f"ERR {ll.ERR_OTHER}"] and now <= 10_000 + n1.resolution_ns * 3


def test_an_atomic_request_the_station_died_under_is_not_released_when_its_confirm_is_answered() -> None:
    """An atomic request with one of its two pairs confirmed at the peer when the station dies: the CONFIRM_ACK
    that comes later lets the master release nothing (the request failed at both ends); its kept pair goes."""
    n1, n2 = engine(1, Memory(2, 0)), engine(2, Memory(2, 0))
    up1, up2 = Upward(APP1), Upward(APP2)
    open_request(n1, n2, ll.Create(remote_node_id=2, purpose_id=7, number=1, ato=1))
    out1 = up1.take(n1.handle(pair(0, 0, 10_000), 10_000))
    up2.take(n2.handle(pair(0, 0, 10_000), 10_000))
    answer = up2.take(n2.receive(only(out1.send, EGP2)[0], EGP1, EGP_PORT, 11_000))   # kept there, acknowledged
    up1.take(n1.handle(STATION_DIED, 12_000))
    up2.take(n2.handle(STATION_DIED, 12_000))
    late = up1.take(n1.receive(only(answer.send, EGP1)[0], EGP2, EGP_PORT, 13_000))
    assert types(late, EGP2) == [] and up1.log == [f"ERR {ll.ERR_OTHER}"]
    assert up2.log == [] and n1.held_slots() == set()      # the peer waits: no abort ends an atomic request's wait
    waited = 12_000 + n2.timing.ending_ns(10**6)
    up2.take(n2.on_timer(waited))
    assert up2.log == [f"ERR {ll.ERR_OTHER}"]
    assert n1.held_slots() == n2.held_slots() == set() and n1.settled() and n2.settled()


def test_a_req_on_a_link_that_is_down_is_refused_with_other() -> None:
    """A REQ that comes after the link went down is refused (as a CREATE for that peer is), so that no request
    stays open at the peer alone."""
    n1, n2 = link_pair()
    n2.handle(STATION_DIED, 1_000)
    req = only(n1.receive(keep_create().encode(), APP1, LINK_SERVICE_PORT, 2_000).send, EGP2)[0]
    (answer,) = [EgpMessage.decode(p) for p in only(n2.receive(req, EGP1, EGP_PORT, 3_000).send, EGP1)]
    assert (answer.msg_type, answer.status) == (MSG_REQ_ACK, ll.ERR_OTHER)
    assert not n2.open


def test_a_node_process_tells_its_link_layer_whether_the_peer_or_the_station_died() -> None:
    scenario = load("examples/up-small.toml")
    (link,) = scenario.links
    node = SimpleNamespace(emu=SimpleNamespace(scenario=scenario))
    assert NodeProcess._peer_alive(node, link.link_id, link.station)      # type: ignore[arg-type]
    assert not NodeProcess._peer_alive(node, link.link_id, link.b)        # type: ignore[arg-type]


def test_a_pair_heralded_after_the_link_went_down_is_confirmed_while_its_request_waits() -> None:
    """The master numbered a pair whose herald reaches the other end only after its LinkDown: its request waits
    there for the master's CONFIRMs, so the pair is taken as usual and delivered on its CONFIRM, whichever of the
    two comes first; the master's abort then ends the request at both ends (the old code freed the pair and
    answered EXPIRE: the request failed at once there)."""
    for confirm_first in (False, True):
        n1, n2 = link_pair()
        up1, up2 = Upward(APP1), Upward(APP2)
        open_request(n1, n2, keep_create(number=5))
        out1 = up1.take(n1.handle(pair(0, 0, 10_000), 10_000))
        up2.take(n2.handle(STATION_DIED, 10_500))
        confirm = only(out1.send, EGP2)[0]
        if confirm_first:
            first = up2.take(n2.receive(confirm, EGP1, EGP_PORT, 11_000))
            second = up2.take(n2.handle(pair(0, 0, 10_000), 11_500))
        else:
            first = up2.take(n2.handle(pair(0, 0, 10_000), 11_000))
            second = up2.take(n2.receive(confirm, EGP1, EGP_PORT, 11_500))
        (ack,) = [EgpMessage.decode(p) for p in only(first.send, EGP1) + only(second.send, EGP1)]
        assert (ack.msg_type, ack.status) == (MSG_CONFIRM_ACK, 0) and up2.oks == [0]
        up1.take(n1.handle(STATION_DIED, 12_000))
        answered = up1.take(n1.receive(ack.encode(), EGP2, EGP_PORT, 12_500))
        _to_the_peer(n1, n2, up2, answered, 13_000)
        assert up1.log == up2.log == ["OK 0", f"ERR {ll.ERR_OTHER}"]
        assert up1.delivered() == up2.delivered() == {0} and n1.settled() and n2.settled()


def test_a_cutoff_withdrawing_the_last_waiting_confirm_sends_the_request_s_err() -> None:
    """The station dies while an atomic request's CONFIRM is unanswered (its first copy lost), and the link's
    cutoff withdraws that pair before a copy is answered: the master's ERR OTHER, which waited for that CONFIRM,
    comes after the pair's ERR EXPIRE (it was never sent: the request ended at the peer only, review)."""
    n1, n2 = engine(1, Memory(2, 0), cutoff_ns=50_000), engine(2, Memory(2, 0), cutoff_ns=50_000)
    up1, up2 = Upward(APP1), Upward(APP2)
    open_request(n1, n2, ll.Create(remote_node_id=2, purpose_id=7, number=2, ato=1))
    up1.take(n1.handle(pair(0, 0, 10_000), 10_000))              # its CONFIRM is lost
    up1.take(n1.handle(LinkDown(1, peer_alive=True), 12_000))
    up2.take(n2.handle(LinkDown(1, peer_alive=True), 12_000))
    now = 12_000
    while not (n1.settled() and n2.settled()) and now < 10**10:
        for message in only(up1.take(n1.on_timer(now)).send, EGP2):     # the live peer answers everything now
            for answer in only(up2.take(n2.receive(message, EGP1, EGP_PORT, now)).send, EGP1):
                up1.take(n1.receive(answer, EGP2, EGP_PORT, now))
        up2.take(n2.on_timer(now))                                       # (its wait: no abort for an atomic one)
        deadlines = [d for d in (n1._done(Actions(), now).deadline, n2._done(Actions(), now).deadline)
                     if d is not None and d > now]
        now = min(deadlines) if deadlines else now + 10**6
    assert n1.settled() and not n1.confirms.to_fail
    assert up1.log == ["EXPIRE 0", f"ERR {ll.ERR_OTHER}"] and f"ERR {ll.ERR_OTHER}" in up2.log
