"""Max Time ends a request the same way at both ends of a link (wire.md §4.4, Max Time): the master completes a
request by numbering its last pair, so the other end, whose Max Time may run out while that pair's CONFIRM is on
its way, waits for the CONFIRMs (and RELEASEs) the master sent, as at the generation window's end; the master fails
a request whose pairs are not all numbered and aborts it at the other end (Status TIMEOUT) once its CONFIRMs are
answered.

The oracle is the two higher layers' view (:class:`~tests.test_link_station_down.Upward`): each end's log of OKs,
withdrawals and ERRs, and the pairs it was given an OK for and not withdrawn."""

from __future__ import annotations

import math

from protocols.common import EGP_PORT, LINK_SERVICE_PORT, Actions
from protocols.link.layer import GenerationOver, LinkConfig, LinkLayer, RequestState
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_SCHEDULE, MSG_SCHEDULE_ACK, EgpMessage
from tests.test_engines import APP1, APP2, EGP1, EGP2, LINK, PURPOSE, only
from tests.test_link_station_down import STATION_DIED, Upward, types
from tests.test_memory import pair

INTERVAL = 50_000
MAX_TIME_US = 1_000                       # 1 ms
TIMEOUT = f"ERR {ll.ERR_TIMEOUT}"


def engines() -> tuple[LinkLayer, LinkLayer]:
    """Node 1 (the master) and node 2, each serving PURPOSE, so that either may be the origin."""
    n1 = LinkLayer(1, [LinkConfig(LINK, 2, EGP2, math.inf, math.inf)], {PURPOSE: APP1}, INTERVAL)
    n2 = LinkLayer(2, [LinkConfig(LINK, 1, EGP1, math.inf, math.inf)], {PURPOSE: APP2}, INTERVAL)
    return n1, n2


def create(number: int, remote: int, max_time_us: int = MAX_TIME_US) -> bytes:
    return ll.Create(remote_node_id=remote, purpose_id=PURPOSE, number=number, tu=0, max_time=max_time_us).encode()


def to(node: LinkLayer, payload: bytes, now: int) -> Actions:
    """A peer message arriving at ``node``."""
    return node.receive(payload, EGP2 if node.node_id == 1 else EGP1, EGP_PORT, now)


def exchange(n1: LinkLayer, n2: LinkLayer, up1: Upward, up2: Upward, out1: Actions, out2: Actions,
             now: int) -> None:
    """Deliver what the two ends sent each other, and their answers, at ``now``, until nothing is in flight."""
    to2, to1 = only(out1.send, EGP2), only(out2.send, EGP1)
    while to2 or to1:
        next1 = [m for p in to2 for m in only(up2.take(to(n2, p, now)).send, EGP1)]
        next2 = [m for p in to1 for m in only(up1.take(to(n1, p, now)).send, EGP2)]
        to2, to1 = next2, next1


def opened(origin: int, number: int, max_time_us: int = MAX_TIME_US) -> tuple[LinkLayer, LinkLayer, Upward, Upward]:
    """A request of ``number`` pairs made at node ``origin`` (CREATE at 0, REQ at 1 µs), accepted and scheduled."""
    n1, n2 = engines()
    up1, up2 = Upward(APP1), Upward(APP2)
    node, up, app, peer = (n1, up1, APP1, EGP2) if origin == 1 else (n2, up2, APP2, EGP1)
    other, other_up = (n2, up2) if origin == 1 else (n1, up1)
    made = up.take(node.receive(create(number, 3 - origin, max_time_us), app, LINK_SERVICE_PORT, 0))
    (req,) = only(made.send, peer)
    made.send = [sent for sent in made.send if sent[0] != peer]
    answered = other_up.take(to(other, req, 1_000))
    out1, out2 = (made, answered) if origin == 1 else (answered, made)
    exchange(n1, n2, up1, up2, out1, out2, 2_000)
    assert n1.requests[(origin, 1)].state is RequestState.GENERATING
    assert n2.requests[(origin, 1)].state is RequestState.GENERATING
    return n1, n2, up1, up2


def herald(n1: LinkLayer, n2: LinkLayer, up1: Upward, up2: Upward, attempt: int, now: int) -> Actions:
    """Both ends get the pair of one attempt (emitted 1 µs before); what the master sent (its CONFIRM) is returned
    undelivered."""
    up2.take(n2.handle(pair(attempt, 0, now - 1_000), now))
    return up1.take(n1.handle(pair(attempt, 0, now - 1_000), now))


def test_max_time_at_the_other_end_waits_for_the_confirm_of_the_last_pair() -> None:
    """The reviewer's case: node 2 made the request, so its Max Time runs out first; the master numbered the last
    pair (done there) and its CONFIRM comes after that. The old code sent ERR TIMEOUT and then the pair's OK: an OK
    after the ERR, and the request done at one end only. Now node 2 waits for the CONFIRM and completes too."""
    n1, n2, up1, up2 = opened(origin=2, number=1)
    confirm = herald(n1, n2, up1, up2, 0, 990_000)
    assert n1.requests[(2, 1)].state is RequestState.DONE
    up2.take(n2.on_timer(1_000_000))                             # node 2's Max Time
    assert up2.log == [] and n2.requests[(2, 1)].state is RequestState.ENDING
    exchange(n1, n2, up1, up2, confirm, Actions(), 1_000_500)
    assert up1.log == up2.log == ["OK 0"]
    assert n2.requests[(2, 1)].state is RequestState.DONE and n1.settled() and n2.settled()


def test_the_other_end_waits_longer_as_origin_than_when_the_master_made_the_request() -> None:
    """At the other end the wait after Max Time is the window's end's (R + 1) × I + C, plus, when it made the
    request, its REQ's span (retries + 1) × I: the master's Max Time started when the REQ came."""
    for origin, extra in ((1, 0), (2, (n2_retries := 3) + 1)):
        _, n2, *_ = opened(origin=origin, number=2)
        assert n2.timing.retries == n2_retries
        expires = n2.requests[(origin, 1)].expires_at
        assert expires is not None
        n2.on_timer(expires)
        request = n2.requests[(origin, 1)]
        assert request.state is RequestState.ENDING
        assert request.expires_at == expires + n2.timing.ending_ns(INTERVAL) + extra * INTERVAL


def test_max_time_at_the_master_aborts_the_request_once_its_confirm_is_answered() -> None:
    """The master made the request, so its Max Time runs out first, with one of three pairs numbered and its
    CONFIRM unanswered (lost): ERR TIMEOUT there, the abort waiting. Node 2's Max Time runs out next: it waits.
    The CONFIRM's next copy delivers the pair there, its answer lets the abort go, and node 2 fails the request at
    it: the same pair and the same ERR at both ends, no OK after an ERR."""
    n1, n2, up1, up2 = opened(origin=1, number=3)
    herald(n1, n2, up1, up2, 0, 999_000)                         # its CONFIRM is lost
    out = up1.take(n1.on_timer(1_000_000))
    assert up1.log == ["OK 0", TIMEOUT] and only(out.send, EGP2) == []
    up2.take(n2.on_timer(1_001_000))                             # node 2's Max Time: it waits
    assert up2.log == [] and n2.requests[(1, 1)].state is RequestState.ENDING
    again = up1.take(n1.on_timer(999_000 + INTERVAL))            # the CONFIRM's next copy
    exchange(n1, n2, up1, up2, again, Actions(), 999_000 + INTERVAL)
    assert up1.log == up2.log == ["OK 0", TIMEOUT]
    assert n1.settled() and n2.settled() and not n1.open and not n2.open


def test_max_time_at_the_master_aborts_a_request_at_once_when_no_confirm_waits() -> None:
    """No CONFIRM waits: the master aborts at its Max Time and node 2 fails the request then, before its own."""
    n1, n2, up1, up2 = opened(origin=1, number=3)
    exchange(n1, n2, up1, up2, herald(n1, n2, up1, up2, 0, 500_000), Actions(), 500_000)
    out = up1.take(n1.on_timer(1_000_000))
    assert types(out, EGP2) == [MSG_SCHEDULE]
    exchange(n1, n2, up1, up2, out, Actions(), 1_000_500)
    assert up1.log == up2.log == ["OK 0", TIMEOUT]
    assert n1.settled() and n2.settled()


def test_a_confirm_later_than_every_wait_is_expired_after_the_err() -> None:
    """A CONFIRM that comes after the request failed at the other end (later than its wait allows: a delay far
    beyond the interval) finds the pair freed there: it is answered EXPIRE after C, and the master withdraws the
    pair (ERR EXPIRE at both ends), so no OK follows the ERR and no pair is delivered at one end only."""
    n1, n2, up1, up2 = opened(origin=2, number=1)
    confirm = herald(n1, n2, up1, up2, 0, 990_000)
    up2.take(n2.on_timer(1_000_000))
    expires = n2.requests[(2, 1)].expires_at
    assert expires is not None
    up2.take(n2.on_timer(expires))                               # the whole wait, and no CONFIRM
    assert up2.log == [TIMEOUT]
    exchange(n1, n2, up1, up2, confirm, Actions(), expires + 1)
    answer = up2.take(n2.on_timer(expires + 1 + n2.timing.confirm_timeout_ns))
    exchange(n1, n2, up1, up2, Actions(), answer, expires + 2 + n2.timing.confirm_timeout_ns)
    assert up2.log == [TIMEOUT, "EXPIRE 0"] and up1.log == ["OK 0", "EXPIRE 0"]
    assert up1.delivered() == up2.delivered() == set()


def test_a_confirm_for_a_pair_held_for_a_request_failed_here_is_answered_expire() -> None:
    """A pair waits for its CONFIRM at node 2 when an abort of its request comes first (a peer that does not wait
    for its CONFIRMs' answers before aborting): the CONFIRM is answered EXPIRE and the pair freed, not delivered
    after the request's ERR; the master withdraws it."""
    n1, n2, up1, up2 = opened(origin=1, number=2)
    confirm = herald(n1, n2, up1, up2, 0, 100_000)
    request = n2.requests[(1, 1)]
    abort = EgpMessage(MSG_SCHEDULE, ll.ERR_TIMEOUT, 1, LINK, 1, request.queue_seq, run=9, pairs=0).encode()
    up2.take(to(n2, abort, 100_500))
    assert up2.log == [TIMEOUT]
    (sent,) = only(confirm.send, EGP2)
    refused = up2.take(to(n2, sent, 101_000))
    assert refused.hardware and up2.log == [TIMEOUT, "EXPIRE 0"]
    exchange(n1, n2, up1, up2, Actions(), refused, 101_500)
    assert up1.log == ["OK 0", "EXPIRE 0"] and up1.delivered() == up2.delivered() == set()


def test_a_schedule_for_a_waiting_request_is_refused_with_the_code_it_will_end_with() -> None:
    """Node 2 waits after the window's end (TIMEOUT), then its station dies: the request waits on and will fail with
    TIMEOUT, so a SCHEDULE for it is refused with TIMEOUT (it was OTHER whenever the link was down): the master
    fails a request with its refusal's code, so both ends end it the same way."""
    _, n2, _, up2 = opened(origin=1, number=3)
    up2.take(n2.handle(GenerationOver(), 10_000))
    up2.take(n2.handle(STATION_DIED, 11_000))
    request = n2.requests[(1, 1)]
    assert request.state is RequestState.ENDING
    schedule = EgpMessage(MSG_SCHEDULE, 0, 1, LINK, 1, request.queue_seq, run=9, pairs=1).encode()
    (ack,) = [EgpMessage.decode(m) for m in only(to(n2, schedule, 12_000).send, EGP1)]
    assert (ack.msg_type, ack.status) == (MSG_SCHEDULE_ACK, ll.ERR_TIMEOUT)
    assert request.expires_at is not None
    up2.take(n2.on_timer(request.expires_at))
    assert up2.log == [TIMEOUT]


def test_the_masters_max_time_abort_gives_a_request_waiting_after_the_stations_death_its_code() -> None:
    """Node 2 learns first that the station died: the request waits there to fail with OTHER. The master's Max Time
    runs out before it learns it: ERR TIMEOUT, and its abort (Status TIMEOUT) ends node 2's wait with the same code
    (it used to send no abort at Max Time: TIMEOUT at the master, OTHER at node 2 after the whole wait)."""
    n1, n2, up1, up2 = opened(origin=1, number=3)
    up2.take(n2.handle(STATION_DIED, 900_000))
    assert n2.requests[(1, 1)].state is RequestState.ENDING and up2.log == []
    out = up1.take(n1.on_timer(1_000_000))
    exchange(n1, n2, up1, up2, out, Actions(), 1_000_500)
    up1.take(n1.handle(STATION_DIED, 1_001_000))
    assert up1.log == up2.log == [TIMEOUT]
    assert n1.settled() and n2.settled()


def test_the_window_s_end_cuts_the_longer_wait_after_max_time_to_the_window_s_wait() -> None:
    """Node 2 made the request and waits after its Max Time, longer than the window's end's wait (the master's Max
    Time may run out later). At the window's end the master decides at once, so the wait then ends at most the
    window's end's wait later: within the run's settle bound (``resolution_ns``) after the drain."""
    n1, n2, up1, up2 = opened(origin=2, number=3)
    up2.take(n2.on_timer(1_000_000))
    request = n2.requests[(2, 1)]
    assert request.expires_at == 1_000_000 + n2.timing.ending_ns(INTERVAL) + 4 * INTERVAL
    up2.take(n2.handle(GenerationOver(), 1_000_100))
    assert request.expires_at == 1_000_100 + n2.timing.ending_ns(INTERVAL) <= 1_000_100 + n2.resolution_ns
    out = up1.take(n1.handle(GenerationOver(), 1_000_100))         # the master fails it and aborts it
    exchange(n1, n2, up1, up2, out, Actions(), 1_000_600)
    assert up1.log == up2.log == [TIMEOUT] and n1.settled() and n2.settled()
