"""A request ends the same way at both ends of a link whose station (or source) died, the peer alive (wire.md §4.4,
Link down): the master completes a request by numbering its last pair, so the other end, which cannot tell whether
it did, waits for the CONFIRMs and RELEASEs the master sent before the link went down (as at the generation
window's end), bounded by the master's retransmission span; the master's abort (Status OTHER) ends the wait early
for a request it failed.

The oracle is the two higher layers' view (:class:`~tests.test_link_station_down.Upward`): each end's final word on
the request (its ERR code, or none: done) and the pairs it was given an OK for and not withdrawn must be equal."""

from __future__ import annotations

from protocols.common import EGP_PORT, Actions
from protocols.link.layer import LinkLayer, Memory, RequestState
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_CONFIRM_ACK, MSG_RELEASE, MSG_SCHEDULE, EgpMessage
from protocols.physical.hardware import LinkDown
from tests.test_engines import APP1, APP2, EGP1, EGP2, herald_both, keep_create, link_pair, only, open_request
from tests.test_link_station_down import STATION_DIED, Upward, types
from tests.test_memory import engine, pair


def _exchange(n1: LinkLayer, n2: LinkLayer, up1: Upward, up2: Upward, payloads: list[bytes], now: int) -> None:
    """Deliver the master's ``payloads`` to the other end, and its answers back, at ``now``."""
    for payload in payloads:
        for answer in only(up2.take(n2.receive(payload, EGP1, EGP_PORT, now)).send, EGP1):
            up1.take(n1.receive(answer, EGP2, EGP_PORT, now))


def _deadline(node: LinkLayer, now: int) -> int | None:
    """When ``node`` next wants its timer (its deadline after an input that changes nothing)."""
    return node._done(Actions(), now).deadline


def _run_out(n1: LinkLayer, n2: LinkLayer, up1: Upward, up2: Upward, now: int, until: int) -> int:
    """Both ends' timers fire as they ask, every message arriving at once, until both are settled (or ``until``);
    returns when they were."""
    while not (n1.settled() and n2.settled()) and now < until:
        for message in only(up1.take(n1.on_timer(now)).send, EGP2):
            _exchange(n1, n2, up1, up2, [message], now)
        for message in only(up2.take(n2.on_timer(now)).send, EGP1):
            for answer in only(up1.take(n1.receive(message, EGP2, EGP_PORT, now)).send, EGP2):
                up2.take(n2.receive(answer, EGP1, EGP_PORT, now))
        deadlines = [d for d in (_deadline(n1, now), _deadline(n2, now)) if d is not None and d > now]
        now = min(deadlines) if deadlines else now + 10**6
    return now


def test_the_station_dies_after_the_master_numbered_the_last_pair_both_ends_complete() -> None:
    """The walker's case: the master numbers the last pair (the request is done there) and the station dies
    before its CONFIRM reaches the other end. The old code failed the request there at once (ERR OTHER) and
    answered the CONFIRM EXPIRE: done at the master (its last pair withdrawn), failed at the other end. Now the
    other end waits for the CONFIRM, delivers the pair and completes too."""
    n1, n2 = link_pair()
    up1, up2 = Upward(APP1), Upward(APP2)
    create_id, *_ = open_request(n1, n2, keep_create(number=2))
    out = herald_both(n1, n2, 0, 10_000, pair(0, 0, 10_000), pair(0, 0, 10_000))
    up1.take(out[0])
    up2.take(out[1])
    last = up1.take(n1.handle(pair(1, 0, 20_000), 20_000))
    up2.take(n2.handle(pair(1, 0, 20_000), 20_000))
    assert n1.requests[(1, create_id)].state is RequestState.DONE          # done at the master
    up2.take(n2.handle(STATION_DIED, 20_500))                              # the CONFIRM is on its way
    assert up2.errs == []                                                  # it may still come: no ERR yet
    _exchange(n1, n2, up1, up2, only(last.send, EGP2), 21_000)
    up1.take(n1.handle(STATION_DIED, 22_000))
    assert up1.log == up2.log == ["OK 0", "OK 1"]                          # done at both ends
    assert up1.delivered() == up2.delivered() == {0, 1}
    assert n2.requests[(1, create_id)].state is RequestState.DONE
    assert n1.settled() and n2.settled()


def test_a_request_the_master_failed_is_aborted_with_other_and_fails_at_both_ends() -> None:
    """The station dies with the request's pairs not all numbered: the master fails it (ERR OTHER, after its
    CONFIRM's answer) and aborts it with Status OTHER; the other end, which waited for that CONFIRM, delivers its
    pair and fails the request at the abort, not after the whole span."""
    n1, n2 = link_pair()
    up1, up2 = Upward(APP1), Upward(APP2)
    open_request(n1, n2, keep_create(number=5))
    first = up1.take(n1.handle(pair(0, 0, 10_000), 10_000))
    up2.take(n2.handle(pair(0, 0, 10_000), 10_000))
    up2.take(n2.handle(STATION_DIED, 10_500))
    down = up1.take(n1.handle(STATION_DIED, 10_600))
    assert up1.errs == up2.errs == [] and types(down, EGP2) == []
    confirm_ack = up2.take(n2.receive(only(first.send, EGP2)[0], EGP1, EGP_PORT, 11_000))
    assert up2.oks == [0]                                                  # delivered on its CONFIRM in the wait
    answered = up1.take(n1.receive(only(confirm_ack.send, EGP1)[0], EGP2, EGP_PORT, 11_500))
    (abort,) = [EgpMessage.decode(p) for p in only(answered.send, EGP2)]
    assert (abort.msg_type, abort.status) == (MSG_SCHEDULE, ll.ERR_OTHER)
    _exchange(n1, n2, up1, up2, [abort.encode()], 12_000)
    assert up1.log == up2.log == ["OK 0", f"ERR {ll.ERR_OTHER}"]
    assert up1.delivered() == up2.delivered() == {0}
    assert _run_out(n1, n2, up1, up2, 12_000, 10**10) == 12_000            # nothing left to wait for


def test_every_abort_lost_the_other_end_fails_within_its_wait() -> None:
    """The master's abort never arrives: the other end fails the request with ERR OTHER when its wait (the
    master's retransmission span, :meth:`~protocols.link.config.Retransmission.ending_ns`) is over."""
    n1, n2 = link_pair(reliable_retries=4)
    up1, up2 = Upward(APP1), Upward(APP2)
    open_request(n1, n2, keep_create(number=5))
    up1.take(n1.handle(STATION_DIED, 10_000))
    assert up1.errs == [ll.ERR_OTHER]                                      # nothing numbered: its ERR at once
    up2.take(n2.handle(STATION_DIED, 10_000))
    assert up2.errs == []
    now = 10_000
    while not up2.errs and now < 10**10:                                   # (the master's aborts are all lost)
        deadline = _deadline(n2, now)
        now = deadline if deadline is not None and deadline > now else now + 10**6
        up2.take(n2.on_timer(now))
    assert up2.errs == [ll.ERR_OTHER]
    assert now == 10_000 + n2.timing.ending_ns(50_000)
    assert n2.settled()


def test_a_delivered_atomic_request_s_releases_are_delivered_after_the_station_died() -> None:
    """The master delivered an atomic request and RELEASEs its pairs (done there); the station dies before they
    arrive. The old code dropped the other end's kept pairs at once (ERR OTHER) and answered the RELEASEs EXPIRE:
    the master withdrew both pairs of a request it had completed. Now the other end keeps them and delivers them
    on the RELEASEs: done at both ends."""
    n1, n2 = engine(1, Memory(2, 0)), engine(2, Memory(2, 0))
    up1, up2 = Upward(APP1), Upward(APP2)
    open_request(n1, n2, ll.Create(remote_node_id=2, purpose_id=7, number=2, ato=1))
    up1.take(herald_both(n1, n2, 0, 10_000, pair(0, 0, 10_000), pair(0, 0, 10_000))[0])
    done, _ = herald_both(n1, n2, 1, 20_000, pair(1, 1, 20_000), pair(1, 1, 20_000))
    up1.take(done)
    assert up1.oks == [0, 1] and types(done, EGP2)[-2:] == [MSG_RELEASE, MSG_RELEASE]   # (their copies lost)
    up1.take(n1.handle(STATION_DIED, 30_000))
    up2.take(n2.handle(STATION_DIED, 30_000))
    assert up1.errs == up2.errs == []
    _run_out(n1, n2, up1, up2, 30_000, 10**10)
    assert up1.log == up2.log == ["OK 0", "OK 1"]
    assert up1.delivered() == up2.delivered() == {0, 1}


def test_the_peer_dying_in_the_wait_ends_it_at_once() -> None:
    """The other end waits for the CONFIRMs after the station's death, then learns that the master itself died:
    nothing more can come, so the request fails at once (ERR OTHER) and the pair waiting for its CONFIRM is
    freed."""
    n1, n2 = link_pair()
    up2 = Upward(APP2)
    open_request(n1, n2, keep_create(number=5))
    up2.take(n2.handle(pair(0, 0, 10_000), 10_000))
    up2.take(n2.handle(STATION_DIED, 10_500))
    assert up2.errs == [] and n2.held_slots() == {0}
    gone = up2.take(n2.handle(LinkDown(1), 11_000))
    assert up2.log == [f"ERR {ll.ERR_OTHER}"] and gone.hardware and n2.held_slots() == set()
    assert n2.settled()


def test_a_confirm_ack_is_what_the_master_s_completion_needed_and_the_other_end_agrees() -> None:
    """Both ends learn of the station's death at once, the last pair numbered and its CONFIRM under way: the
    CONFIRM_ACK comes back Status 0, and neither end sends an ERR."""
    n1, n2 = link_pair()
    up1, up2 = Upward(APP1), Upward(APP2)
    open_request(n1, n2, keep_create(number=1))
    last = up1.take(n1.handle(pair(0, 0, 10_000), 10_000))
    up2.take(n2.handle(pair(0, 0, 10_000), 10_000))
    up1.take(n1.handle(STATION_DIED, 10_500))
    up2.take(n2.handle(STATION_DIED, 10_500))
    answer = up2.take(n2.receive(only(last.send, EGP2)[0], EGP1, EGP_PORT, 11_000))
    assert [EgpMessage.decode(p).msg_type for p in only(answer.send, EGP1)] == [MSG_CONFIRM_ACK]
    assert EgpMessage.decode(only(answer.send, EGP1)[0]).status == 0
    up1.take(n1.receive(only(answer.send, EGP1)[0], EGP2, EGP_PORT, 11_500))
    assert up1.log == up2.log == ["OK 0"]
    assert n1.settled() and n2.settled()
