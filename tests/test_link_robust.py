"""The link layer's answers to loss, duplication and the run's end, engine by engine (no runtime).

A pair must never end delivered at one end and expired (or missing) at the other: the master
retransmits a CONFIRM until it is answered, far beyond a REQ's retries, and the other end answers
every copy the same way. Every request ends at both ends: at the end of the generation window
(:class:`GenerationOver`) each end fails what is still open with ERR TIMEOUT, once the pairs the master numbered
before it have reached the other end (which waits for them a bounded span). Finished requests and
the answers given are forgotten after a bounded time, so the tables stay bounded.
"""

from __future__ import annotations

import doctest
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import pytest

from protocols.common import EGP_PORT, LINK_SERVICE_PORT, Actions, BellState
from protocols.link import recent as link_recent
from protocols.link.layer import LinkLayer, RequestState
from protocols.link.types import GenerationOver, LinkConfig, Memory
from protocols.packets.egp import MSG_CONFIRM, MSG_RELEASE
from protocols.packets.linkservice import Create
from protocols.physical.hardware import Discard, Move, MoveResult
from protocols.physical.node import AttemptLost, PairReady
from stack.emulation import settle_bound_ns
from stack.runtime import build
from stack.scenario import load_text
from tests.test_engines import (
    APP1,
    APP2,
    E_TIMEOUT,
    EGP1,
    EGP2,
    LINK,
    PURPOSE,
    herald_both,
    keep_create,
    link_pair,
    only,
    open_request,
    parse_egp,
    parse_err,
    parse_ok,
    settle,
)

E_EXPIRE = 5
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RETRANSMIT = 50_000


def pair(attempt: int, emitted: int, slot: int = 0) -> PairReady:
    return PairReady(LINK, slot, 1, BellState.PHI_PLUS, attempt, 1, emitted, (1.0, 0.0, 0.0, 0.0), None, None)


def test_a_confirm_whose_answers_are_lost_is_retransmitted_until_answered_and_never_expired() -> None:
    """Node 2 delivers on the first CONFIRM; its CONFIRM_ACKs are lost many more times than a REQ is
    retried. The master keeps retransmitting and node 2 answers each copy as it did the first: the
    master never reports the pair expired (before, it gave up after ``retries`` copies and sent ERR
    EXPIRE for a pair node 2 had delivered)."""
    n1, n2 = link_pair(retries=1, reliable_retries=20)
    open_request(n1, n2, keep_create(number=1))
    at_master = n1.handle(pair(7, 9_000), now=10_000)
    assert parse_ok(only(at_master.send, APP1)[0])["seq"] == 0
    n2.handle(pair(7, 9_000, slot=1), now=10_000)
    confirm = only(at_master.send, EGP2)[0]
    first = n2.receive(confirm, EGP1, EGP_PORT, now=10_100)
    assert parse_ok(only(first.send, APP2)[0])["seq"] == 0
    answer = only(first.send, EGP1)[0]                             # lost, and so are the next ones
    now, copies = 10_000, 0
    for _ in range(10):                                            # ten times the REQ's retries
        now = n1.on_timer(now).deadline or 0
        out = n1.on_timer(now)
        assert only(out.send, APP1) == []                          # no ERR EXPIRE
        (again,) = only(out.send, EGP2)
        assert again == confirm
        copies += 1
        reply = n2.receive(again, EGP1, EGP_PORT, now + 100)
        assert only(reply.send, APP2) == [] and only(reply.send, EGP1) == [answer]
    assert copies == 10 and not n1.settled()
    done = n1.receive(answer, EGP2, EGP_PORT, now + 200)
    assert only(done.send, APP1) == [] and n1.settled()
    assert n1.counters.expired == n2.counters.expired == 0


def test_a_confirm_unanswered_every_time_is_given_up_after_the_reliable_retries() -> None:
    """The bound: after ``reliable_retries`` retransmissions the master reports the pair expired and
    retracts it at the other end (RELEASE with Status EXPIRE, retransmitted the same way: the other end
    may have delivered it or may still wait for it; tests/test_confirm_end_engines.py)."""
    n1, n2 = link_pair(retries=1, reliable_retries=5)
    open_request(n1, n2, keep_create(number=1))
    out = n1.handle(pair(7, 9_000), now=10_000)
    sent = [parse_egp(m) for m in only(out.send, EGP2)]
    errs: list[dict[str, int]] = []
    while out.deadline is not None:
        out = n1.on_timer(out.deadline)
        sent += [parse_egp(m) for m in only(out.send, EGP2)]
        errs += [parse_err(m) for m in only(out.send, APP1)]
    assert [m["type"] for m in sent] == [MSG_CONFIRM] * (1 + 5) + [MSG_RELEASE] * (1 + 5)
    assert all(m["status"] == E_EXPIRE for m in sent[6:])
    assert [e["err"] for e in errs] == [E_EXPIRE]
    assert n1.counters.confirms_given_up == 1 and n1.settled()


SPAN = (128 + 1) * RETRANSMIT + (3 + 2) * RETRANSMIT
"""How long after the window's end the other end waits for CONFIRMs (``Retransmission.ending_ns``, link_pair's
timing): the master's 128 retransmissions and one interval, then a late CONFIRM's wait for its pair."""


def window_end_with_confirm_in_flight(number: int) -> tuple[LinkLayer, LinkLayer, int, bytes, Actions, Actions]:
    """One pair delivered at both ends, the next numbered by the master (its CONFIRM in flight), then the
    generation window ends at both ends at 20,100 ns: the two engines, the Create ID, the CONFIRM, and what each
    end did at the window's end."""
    n1, n2 = link_pair()
    create_id, *_ = open_request(n1, n2, keep_create(number=number))
    out1, out2 = herald_both(n1, n2, 1, now=10_000)                # one pair delivered at both ends
    assert parse_ok(only(out1.send, APP1)[0])["seq"] == parse_ok(only(out2.send, APP2)[0])["seq"] == 0
    at_master = n1.handle(pair(2, 19_000), now=20_000)             # the second: its CONFIRM is in flight
    confirm = only(at_master.send, EGP2)[0]
    n2.handle(pair(2, 19_000, slot=1), now=20_000)
    over1, over2 = n1.handle(GenerationOver(), 20_100), n2.handle(GenerationOver(), 20_100)
    assert only(over1.send, EGP2) == [] and only(over2.send, EGP1) == []   # both ends know: no message
    return n1, n2, create_id, confirm, over1, over2


def test_a_request_the_master_completed_before_the_window_ended_completes_at_the_other_end() -> None:
    """The master numbers and delivers the last pair just before the window ends: the request is DONE there. The
    other end, whose OK comes only on that pair's CONFIRM, waits for it: no ERR at either end (it used to send ERR
    TIMEOUT at the window's end, then the OK on the CONFIRM: an ERR at one end only, and a pair after its ERR)."""
    n1, n2, create_id, confirm, over1, over2 = window_end_with_confirm_in_flight(number=2)
    assert only(over1.send, APP1) == [] and only(over2.send, APP2) == []
    assert not n1.open and n2.open and not n2.settled()
    assert n2.requests[(1, create_id)].expires_at == 20_100 + SPAN  # it waits at most the span
    late = n2.receive(confirm, EGP1, EGP_PORT, now=20_200)
    assert [parse_ok(m)["seq"] for m in only(late.send, APP2)] == [1]           # the OK, and no ERR
    n1.receive(only(late.send, EGP1)[0], EGP2, EGP_PORT, now=20_300)
    assert n1.settled() and n2.settled() and not n2.open
    assert n1.counters.err_sent == n2.counters.err_sent == 0


def test_the_last_confirm_may_come_at_the_end_of_the_masters_retransmissions() -> None:
    """Every copy of the last pair's CONFIRM but the last is lost, and that one comes after the other end freed
    the pair: it is answered EXPIRE once it has waited for its pair, which settles the pair at both ends, within
    the span: the request is DONE at both ends (ERR EXPIRE for that pair at both), never ERR TIMEOUT."""
    n1, n2, create_id, confirm, _, _ = window_end_with_confirm_in_flight(number=2)
    last_copy = 20_000 + 128 * RETRANSMIT + RETRANSMIT // 2         # delay and jitter: less than an interval
    assert n2.on_timer(last_copy - 1).send == []                    # (its pair is freed meanwhile)
    early = n2.receive(confirm, EGP1, EGP_PORT, now=last_copy)
    assert only(early.send, APP2) == [] and not n2.settled()
    assert early.deadline is not None and early.deadline <= 20_100 + SPAN
    answered = n2.on_timer(early.deadline)
    assert [parse_err(m)["err"] for m in only(answered.send, APP2)] == [E_EXPIRE]
    back = n1.receive(only(answered.send, EGP1)[0], EGP2, EGP_PORT, now=early.deadline + 100)
    assert [parse_err(m)["err"] for m in only(back.send, APP1)] == [E_EXPIRE]
    assert n2.settled() and not n2.open and n2.requests[(1, create_id)].state == RequestState.DONE


@pytest.mark.parametrize("abort_arrives", [True, False])
def test_generation_over_fails_open_requests_at_both_ends_after_the_numbered_pairs(abort_arrives: bool) -> None:
    """The master had numbered 2 of 3 pairs: it fails the request with ERR TIMEOUT at once. The other end
    delivers the pair whose CONFIRM was in flight; once that CONFIRM is answered the master aborts the request
    (its verdict: every pair it numbered has reached the other end), and the other end fails it at the abort.
    Without the abort (every copy lost) it waits out the span and fails it then: its OKs all come before its ERR."""
    n1, n2, create_id, confirm, over1, over2 = window_end_with_confirm_in_flight(number=3)
    (err,) = [parse_err(m) for m in only(over1.send, APP1)]
    assert (err["err"], err["create_id"], err["origin"]) == (E_TIMEOUT, create_id, 1)
    assert only(over2.send, APP2) == []
    late = n2.receive(confirm, EGP1, EGP_PORT, now=20_200)          # the numbered pair is still delivered
    assert [parse_ok(m)["seq"] for m in only(late.send, APP2)] == [1]
    answered = n1.receive(only(late.send, EGP1)[0], EGP2, EGP_PORT, now=20_300)
    (abort,) = only(answered.send, EGP2)                            # the master's verdict, after the answer
    assert not n2.settled() and late.deadline == 20_100 + SPAN
    if abort_arrives:
        ended = n2.receive(abort, EGP1, EGP_PORT, now=20_400)
        (err,) = [parse_err(m) for m in only(ended.send, APP2)]
        n1.receive(only(ended.send, EGP1)[0], EGP2, EGP_PORT, now=20_500)
        assert n1.settled()
    else:
        assert only(n2.on_timer(20_100 + SPAN - 1).send, APP2) == []
        (err,) = [parse_err(m) for m in only(n2.on_timer(20_100 + SPAN).send, APP2)]
    assert (err["err"], err["create_id"], err["origin"]) == (E_TIMEOUT, create_id, 1)
    assert n2.settled() and not n1.open and not n2.open
    refused = n1.receive(keep_create().encode(), APP1, LINK_SERVICE_PORT, now=20_600)
    assert parse_err(only(refused.send, APP1)[0])["err"] == E_TIMEOUT


def test_a_request_the_other_end_originated_and_never_saw_accepted_fails_at_once() -> None:
    """A request still waiting for its REQ_ACK at the window's end cannot have pairs numbered (the master numbers
    only after the other end's SCHEDULE_ACK): it fails at once at the other end, as at the master."""
    _, n2 = link_pair()
    n2.receive(Create(remote_node_id=1, purpose_id=PURPOSE, number=1).encode(), APP2, LINK_SERVICE_PORT, 1_000)
    over = n2.handle(GenerationOver(), 2_000)
    assert [parse_err(m)["err"] for m in only(over.send, APP2) if len(m) == 12] == [E_TIMEOUT]
    assert n2.settled() and not n2.open


def atomic_create(number: int) -> Create:
    return Create(remote_node_id=2, purpose_id=PURPOSE, number=number, ato=1)


def test_an_atomic_requests_expired_pairs_do_not_finish_it_at_the_other_end() -> None:
    """An expired pair of an atomic request is replaced by the master, so the other end must not count
    it as settled (it used to: node 2 ended the request DONE after Number expiries while the master
    went on generating)."""
    n1, n2 = link_pair()
    open_request(n1, n2, atomic_create(number=1))
    at_master = n1.handle(pair(7, 9_000), now=10_000)
    n2.handle(AttemptLost(LINK, 7), now=10_050)                   # node 2 lost the herald
    refused = n2.receive(only(at_master.send, EGP2)[0], EGP1, EGP_PORT, now=10_100)
    assert parse_egp(only(refused.send, EGP1)[0])["status"] == E_EXPIRE
    back = n1.receive(only(refused.send, EGP1)[0], EGP2, EGP_PORT, now=10_200)
    assert parse_err(only(back.send, APP1)[0])["err"] == E_EXPIRE
    assert n2.requests[(1, 1)].state == RequestState.GENERATING   # still open, like the master's
    assert n1.requests[(1, 1)].to_number == 1                       # the master generates a replacement


def test_a_late_confirm_for_a_failed_atomic_request_expires_at_both_ends() -> None:
    """An atomic request fails at the master at the window's end while one of its pairs is being confirmed
    (the master completes an atomic request only once every CONFIRM is answered, so a first CONFIRM after the
    window's end is for a request the master failed): the other end does not keep the pair (it would hold the
    qubit for ever); both ends report the pair expired, and the other end fails the request once it has waited
    out the span."""
    n1, n2 = link_pair()
    open_request(n1, n2, atomic_create(number=2))
    at_master = n1.handle(pair(7, 9_000), now=10_000)
    n2.handle(pair(7, 9_000, slot=1), now=10_000)
    n1.handle(GenerationOver(), 10_050)
    n2.handle(GenerationOver(), 10_050)
    late = n2.receive(only(at_master.send, EGP2)[0], EGP1, EGP_PORT, now=10_100)
    assert late.hardware == [Discard(1)]
    assert parse_err(only(late.send, APP2)[0])["err"] == E_EXPIRE
    back = n1.receive(only(late.send, EGP1)[0], EGP2, EGP_PORT, now=10_200)
    assert parse_err(only(back.send, APP1)[0])["err"] == E_EXPIRE
    assert n1.settled() and n2.held_slots() == set()
    assert [parse_err(m)["err"] for m in only(n2.on_timer(10_050 + SPAN).send, APP2)] == [E_TIMEOUT]
    assert n2.settled()


def serve(n1: LinkLayer, n2: LinkLayer, attempt: int, now: int) -> None:
    """One single-pair request from node 1, from CREATE to the OK at both ends."""
    created = n1.receive(keep_create(number=1).encode(), APP1, LINK_SERVICE_PORT, now)
    settle(n1, n2, created, Actions(), now)
    out1, out2 = herald_both(n1, n2, attempt, now + 1)
    assert only(out1.send, APP1) and only(out2.send, APP2)


def test_the_request_table_stays_bounded_over_many_requests() -> None:
    """2,000 single-pair requests one after the other: each end forgets a finished request (and the
    answers it gave) ``keep_ns`` after it finished, so the tables hold only the requests of the last
    ``keep_ns``, not every request ever made (before, they grew one entry per request)."""
    n1, n2 = link_pair(retransmit_ns=RETRANSMIT, reliable_retries=4)
    step = 20_000
    assert n1.timing.keep_ns == n2.timing.keep_ns == (4 + 4) * RETRANSMIT
    bound = n1.timing.keep_ns // step + 2
    sizes = []
    for k in range(2_000):
        serve(n1, n2, attempt=k, now=k * step)
        sizes.append((len(n1.requests), len(n2.requests), len(n2.confirmation.answered), len(n2.follower.answers)))
    assert max(max(s) for s in sizes) <= bound
    assert not n1.open and not n2.open
    assert n1.counters.ok_sent == n2.counters.ok_sent == 2_000


def test_docstring_examples() -> None:
    result = doctest.testmod(link_recent)
    assert result.attempted > 0 and result.failed == 0


def test_a_subclass_of_a_per_pair_event_goes_where_its_class_goes() -> None:
    """``LinkLayer.handle`` finds the per-pair events by their exact class; an instance of a subclass of one takes
    the general path to the same part: a run of heralds and lost attempts gives the same outputs either way."""
    @dataclass(frozen=True, slots=True)
    class Herald(PairReady):
        pass

    @dataclass(frozen=True, slots=True)
    class Lost(AttemptLost):
        pass

    def run(herald: type[PairReady], lost: type[AttemptLost]) -> list[Any]:
        n1, n2 = link_pair()
        open_request(n1, n2, keep_create(number=2))
        outputs = []
        for node, slot in ((n1, 0), (n2, 1)):
            events = (herald(*astuple(pair(7, 9_000, slot))), lost(LINK, 8), herald(*astuple(pair(9, 9_500, slot))))
            for event in events:
                out = node.handle(event, now=10_000)
                outputs.append((out.send, out.up, out.down, out.hardware, out.deadline))
        return [*outputs, repr(n1.counters), repr(n2.counters)]

    assert Herald is not PairReady and isinstance(Herald(*astuple(pair(7, 9_000))), PairReady)
    general = run(Herald, Lost)
    assert general == run(PairReady, AttemptLost)
    assert sum(bool(sends) for sends, *_ in general[:6]) >= 2         # the master CONFIRMs both pairs
    with pytest.raises(TypeError, match="cannot handle"):
        link_pair()[0].handle(object(), now=0)


def test_the_wait_is_the_masters_retransmission_span_and_the_settling_bound_covers_it() -> None:
    """The other end waits as long as its master (whose interval may differ from its own) retransmits, and its
    ``resolution_ns`` (the run's settling bound) covers that wait."""
    n1, _ = link_pair()
    master_interval = 3 * RETRANSMIT
    link = LinkConfig(LINK, 1, EGP1, 1e6, 1e6, peer_retransmit_ns=master_interval)
    n2 = LinkLayer(2, [link], {PURPOSE: APP2}, RETRANSMIT, 3)
    create_id, *_ = open_request(n1, n2, keep_create(number=2))
    n2.handle(GenerationOver(), 1_000_000)
    wait = (128 + 1) * master_interval + (3 + 2) * RETRANSMIT
    assert n2.requests[(1, create_id)].expires_at == 1_000_000 + wait
    assert n2.resolution_ns == wait > n1.resolution_ns == (128 + 1 + 3 + 2) * RETRANSMIT > (128 + 2) * RETRANSMIT


def test_the_runtime_gives_each_link_layer_its_peers_interval() -> None:
    """default.toml's nodes have links of different attempt cycles, hence different retransmission intervals:
    each link layer is told its peer's, and the run's settling bound covers every wait at the window's end."""
    emu = build(load_text((EXAMPLES / "default.toml").read_text(), str(EXAMPLES / "default.toml")))
    by_node = {engine.node_id: engine for engine in emu.link_layers}
    intervals = set()
    for engine in emu.link_layers:
        for link in engine.links.by_id.values():
            intervals.add(by_node[link.peer_node_id].timing.interval_ns)
            assert link.peer_retransmit_ns == by_node[link.peer_node_id].timing.interval_ns
            assert settle_bound_ns(emu) >= engine.timing.ending_ns(link.peer_retransmit_ns)
    assert len(intervals) > 1


def test_a_master_whose_last_ok_waits_for_its_move_completes_the_request_after_the_window() -> None:
    """At a master with storage the OK follows the pair's move: the last pair is numbered (and CONFIRMed) just
    before the window ends, its move is done just after. The master completes the request with that OK (it used
    to fail it with ERR TIMEOUT at the window's end and deliver the OK after the ERR), as the other end does."""
    n1 = LinkLayer(1, [LinkConfig(LINK, 2, EGP2, 1e6, 1e6)], {}, RETRANSMIT, 3, memory=Memory(1, 2))
    _, n2 = link_pair()
    create_id, *_ = open_request(n1, n2, keep_create(number=1))
    numbered = n1.handle(pair(2, 19_000), now=20_000)
    assert only(numbered.send, APP1) == [] and numbered.hardware == [Move(0)]      # the OK waits for the move
    n2.handle(pair(2, 19_000, slot=1), now=20_000)
    over1, over2 = n1.handle(GenerationOver(), 20_100), n2.handle(GenerationOver(), 20_100)
    assert only(over1.send, APP1) == [] and only(over2.send, APP2) == []
    moved = n1.handle(MoveResult(0, 1), now=20_150)
    assert [parse_ok(m)["seq"] for m in only(moved.send, APP1)] == [0]
    late = n2.receive(only(numbered.send, EGP2)[0], EGP1, EGP_PORT, now=20_200)
    assert [parse_ok(m)["seq"] for m in only(late.send, APP2)] == [0]
    n1.receive(only(late.send, EGP1)[0], EGP2, EGP_PORT, now=20_300)
    assert n1.settled() and n2.settled() and not n1.open and not n2.open
    assert n1.counters.err_sent == n2.counters.err_sent == 0
    assert n1.requests[(1, create_id)].state == n2.requests[(1, create_id)].state == RequestState.DONE


def test_a_second_generation_over_changes_nothing() -> None:
    """A request waiting at the window's end (ENDING) is left as it is by another GenerationOver (qnet up's node
    injects one per ``drain``; a caller of the public engine may too): it raised RuntimeError (review,
    2026-12-04)."""
    _, n2, _, confirm, _, _ = window_end_with_confirm_in_flight(number=2)
    assert not n2.settled()
    again = n2.handle(GenerationOver(), 20_150)
    assert only(again.send, APP2) == [] and not n2.settled()
    late = n2.receive(confirm, EGP1, EGP_PORT, now=20_200)
    assert [parse_ok(m)["seq"] for m in only(late.send, APP2)] == [1]


def test_an_abort_that_overtakes_a_move_to_storage_fails_the_request_after_the_pairs_ok() -> None:
    """The other end has storage: it answers the CONFIRM at once and delivers the pair's OK only when its move to
    storage is done. The master's abort at the window's end (sent once that CONFIRM is answered) can come first:
    the ERR then waits for the move, after the OK (review, 2026-12-04: the ERR came first, then the OK)."""
    n1, _ = link_pair()
    n2 = LinkLayer(2, [LinkConfig(LINK, 1, EGP1, 1e6, 1e6)], {5: APP2}, RETRANSMIT, 3, memory=Memory(1, 2))
    create_id, *_ = open_request(n1, n2, keep_create(number=3))
    confirm = only(n1.handle(pair(2, 19_000), now=20_000).send, EGP2)[0]
    n2.handle(pair(2, 19_000, slot=0), now=20_000)
    n1.handle(GenerationOver(), 20_100)
    n2.handle(GenerationOver(), 20_100)
    got = n2.receive(confirm, EGP1, EGP_PORT, now=20_200)
    assert got.hardware == [Move(0)] and only(got.send, APP2) == []
    answered = n1.receive(only(got.send, EGP1)[0], EGP2, EGP_PORT, now=20_300)
    (abort,) = only(answered.send, EGP2)
    assert only(n2.receive(abort, EGP1, EGP_PORT, now=20_400).send, APP2) == []    # no ERR before the OK
    assert not n2.settled()
    moved = only(n2.handle(MoveResult(0, 1), now=20_700).send, APP2)
    assert [len(m) for m in moved] == [16, 12]                                      # the OK, then the ERR
    assert parse_ok(moved[0])["seq"] == 0
    err = parse_err(moved[1])
    assert (err["err"], err["create_id"]) == (E_TIMEOUT, create_id) and n2.settled()


def test_the_masters_err_at_the_windows_end_follows_the_ok_of_its_pair_moving_to_storage() -> None:
    """The master has storage: a pair it numbered before the window's end is moving when the window ends, and the
    request (3 pairs, 1 numbered) fails there: its ERR waits for the move, after the pair's OK (review,
    2026-12-04: the ERR came first)."""
    _, n2 = link_pair()
    n1 = LinkLayer(1, [LinkConfig(LINK, 2, EGP2, 1e6, 1e6)], {}, RETRANSMIT, 3, memory=Memory(1, 2))
    create_id, *_ = open_request(n1, n2, keep_create(number=3))
    numbered = n1.handle(pair(2, 19_000), now=20_000)
    assert numbered.hardware == [Move(0)]
    confirm = only(numbered.send, EGP2)[0]
    assert only(n1.handle(GenerationOver(), 20_100).send, APP1) == []          # no ERR while the pair moves
    n2.handle(pair(2, 19_000), now=20_000)
    n1.receive(only(n2.receive(confirm, EGP1, EGP_PORT, now=20_200).send, EGP1)[0], EGP2, EGP_PORT, now=20_300)
    moved = only(n1.handle(MoveResult(0, 1), now=20_700).send, APP1)
    assert [len(m) for m in moved] == [16, 12] and parse_ok(moved[0])["seq"] == 0
    assert (parse_err(moved[1])["err"], parse_err(moved[1])["create_id"]) == (E_TIMEOUT, create_id)


def test_a_requests_max_time_running_out_while_its_pair_moves_to_storage_errs_after_the_pairs_ok() -> None:
    """Any failure waits for the request's pairs moving to storage (their OKs come when the moves are done), not
    only the window's end: Max Time running out during the master's move gives the OK, then the ERR (final read,
    2026-12-04: the ERR came first)."""
    _, n2 = link_pair()
    n1 = LinkLayer(1, [LinkConfig(LINK, 2, EGP2, 1e6, 1e6)], {}, RETRANSMIT, 3, memory=Memory(1, 2))
    create = Create(remote_node_id=2, purpose_id=PURPOSE, number=3, tu=0, max_time=20)     # 20 µs
    create_id, *_ = open_request(n1, n2, create)
    expiry = n1.open[(1, create_id)].expires_at
    assert expiry is not None and expiry < 100_000
    numbered = n1.handle(pair(2, expiry - 2_000), now=expiry - 1_000)
    assert numbered.hardware == [Move(0)]
    assert only(n1.on_timer(expiry).send, APP1) == []                          # no ERR while the pair moves
    moved = only(n1.handle(MoveResult(0, 1), now=expiry + 500).send, APP1)
    assert [len(m) for m in moved] == [16, 12] and parse_ok(moved[0])["seq"] == 0
    assert (parse_err(moved[1])["err"], parse_err(moved[1])["create_id"]) == (E_TIMEOUT, create_id)
