"""The link layer's parts, each driven alone, with no LinkLayer around it (docs/architecture.md, "Link layer:
its parts").

Each test builds one part with the few collaborators it is given in its constructor (the request
table, the node's links, plain callables for what it asks of the others) and checks what it does
against the protocol's rules as docs/architecture.md states them: messages are read back with the
wire codecs, and the expected numbers come from those rules, not from the part's own helpers.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import math
from typing import Any

import pytest

from protocols.common import EGP_PORT, Actions, Basis, BellState
from protocols.link.admission import Admission
from protocols.link.confirm import Confirmation
from protocols.link.confirm_master import MasterConfirms
from protocols.link.follower import Follower
from protocols.link.links import Links
from protocols.link.memory import PairMemory
from protocols.link.queue import DistributedQueue
from protocols.link.replies import Replies
from protocols.link.requests import RequestTable
from protocols.link.runs import MasterRuns
from protocols.link.scheduler import Scheduler
from protocols.link.types import (
    FOLLOW_PAIRS,
    LinkConfig,
    LinkCounters,
    Memory,
    PairKey,
    QueuePolicy,
    Request,
    RequestEvent,
    RequestState,
    Retransmission,
    Run,
)
from protocols.packets import linkservice as ll
from protocols.packets.egp import (
    MSG_CONFIRM,
    MSG_CONFIRM_ACK,
    MSG_RELEASE,
    MSG_RELEASE_ACK,
    MSG_REQ,
    MSG_REQ_ACK,
    MSG_SCHEDULE,
    MSG_SCHEDULE_ACK,
    EgpMessage,
)
from protocols.physical.hardware import Discard, Move, MoveResult
from protocols.physical.node import AttemptLost, PairReady, StartGeneration, StopGeneration

LINK = 7
EGP1, EGP2 = ("198.18.0.1", EGP_PORT), ("198.18.0.2", EGP_PORT)
APP = ("198.18.0.1", 49152)
PURPOSE = 5
TIMING = Retransmission(interval_ns=1_000, retries=2, reliable_retries=3)


# -- building blocks -------------------------------------------------------------------------

def config(node_id: int, policy: QueuePolicy | None = None, cutoff_ns: int | None = None) -> LinkConfig:
    """Link LINK between nodes 1 (the master) and 2, as ``node_id`` sees it."""
    peer = 2 if node_id == 1 else 1
    return LinkConfig(LINK, peer, EGP2 if peer == 2 else EGP1, 1e6, 1e6, policy=policy or QueuePolicy(),
                      cutoff_ns=cutoff_ns)


def make_request(link: LinkConfig, create_id: int = 1, origin: int = 1, number: int = 4, priority: int = 0,
                 purpose: int = PURPOSE, queue_seq: int = 1, state: RequestState = RequestState.QUEUED,
                 **create: Any) -> Request:
    """A request of node ``origin`` to node 2, as the end that has ``link`` knows it."""
    here = 3 - link.peer_node_id
    d = 0 if origin == here else 1
    return Request(create_id, origin, ll.Create(remote_node_id=2, purpose_id=purpose, number=number,
                                                priority=priority, **create),
                   link, APP, d, state, queue_seq=queue_seq)


def pair(attempt: int, emitted: int = 0, slot: int = 0, outcome: int | None = None) -> PairReady:
    """A heralded pair in |Φ+⟩ (measured in Z if ``outcome`` is given)."""
    return PairReady(LINK, slot, 1, BellState.PHI_PLUS, attempt, 1, emitted, (1.0, 0.0, 0.0, 0.0), outcome,
                     None if outcome is None else Basis.Z)


class Failures:
    """A ``fail`` callback that records what it was asked to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[Request, int]] = []

    def __call__(self, request: Request, code: int, now: int) -> Actions:
        self.calls.append((request, code))
        return Actions()


def egp(actions: Actions) -> list[EgpMessage]:
    return [EgpMessage.decode(payload) for destination, payload in actions.send if destination[1] == EGP_PORT]


def upward(actions: Actions) -> list[Any]:
    return [ll.decode_upward(payload) for destination, payload in actions.send if destination == APP]


def master_runs(links: Links, table: RequestTable, fail: Failures | None = None,
                counters: LinkCounters | None = None) -> MasterRuns:
    return MasterRuns(links, table, Scheduler(), counters or LinkCounters(), TIMING, fail or Failures())


# -- Scheduler --------------------------------------------------------------------------------

def test_scheduler_serves_the_highest_priority_first_and_gives_it_a_long_run() -> None:
    link = config(1, QueuePolicy(quantum=4, max_run=64))
    old_low = make_request(link, create_id=1, queue_seq=1, number=100, priority=0)
    new_high = make_request(link, create_id=2, queue_seq=2, number=100, priority=3)
    chosen, pairs = Scheduler().pick(link, [old_low, new_high])
    assert chosen is new_high
    assert pairs == 64                 # nothing of its priority or higher waits: up to max_run


def test_scheduler_goes_round_robin_between_streams_a_quantum_at_a_time() -> None:
    link = config(1, QueuePolicy(quantum=4, max_run=64))
    a1 = make_request(link, create_id=1, origin=1, queue_seq=1, number=100)
    a2 = make_request(link, create_id=2, origin=1, queue_seq=2, number=100)     # same stream as a1
    b = make_request(link, create_id=3, origin=2, queue_seq=3, number=100)      # another stream
    scheduler = Scheduler()
    served = []
    for _ in range(4):
        chosen, pairs = scheduler.pick(link, [a1, a2, b])
        assert pairs == 4              # others of the same priority wait: one quantum
        scheduler.served(chosen)
        served.append(chosen)
    # least recently served stream first, within a stream the oldest request
    assert served == [a1, b, a1, b]


def test_scheduler_cuts_a_long_run_when_a_competitor_of_its_priority_arrives() -> None:
    link = config(1, QueuePolicy(quantum=4, max_run=64))
    running = make_request(link, create_id=1, queue_seq=1, number=100, priority=2)
    run = Run(running, pairs=64, started_at=0, numbered=10)
    lower = make_request(link, create_id=2, queue_seq=2, priority=1)
    equal = make_request(link, create_id=3, queue_seq=3, priority=2)
    assert Scheduler.cut(link, run, [running, lower]) is None
    assert Scheduler.cut(link, run, [running, lower, equal]) == 14          # one more quantum
    run.numbered = 61                                                          # 3 left: less than a quantum
    assert Scheduler.cut(link, run, [running, equal]) is None


# -- RequestTable -----------------------------------------------------------------------------

def test_request_table_forgets_finished_requests_keep_ns_after_they_end_but_never_open_ones() -> None:
    link = config(1)
    table = RequestTable(keep_ns=100)
    done, still_open = make_request(link, create_id=1), make_request(link, create_id=2)
    table.add(done)
    table.add(still_open)
    done.fire(RequestEvent.LAST_PAIR)
    table.tidy(now=50)
    assert list(table.open) == [(1, 2)] and len(table) == 2
    table.tidy(now=149)
    assert table.get((1, 1)) is done
    table.tidy(now=150)
    assert table.get((1, 1)) is None and table.get((1, 2)) is still_open and list(table.open) == [(1, 2)]


def test_create_ids_run_from_1_to_65535_then_start_again() -> None:
    table = RequestTable(keep_ns=100)
    ids = [table.new_create_id() for _ in range(0xFFFF + 1)]
    assert ids[0] == 1 and ids[0xFFFE] == 0xFFFF and ids[0xFFFF] == 1


# -- Admission --------------------------------------------------------------------------------

def test_admission_refuses_nores_on_a_full_queue_or_an_atomic_request_that_does_not_fit() -> None:
    link = config(1, QueuePolicy(max_queue=2))
    links, table = Links(1, [link]), RequestTable(keep_ns=100)
    admission = Admission(links, table, Memory(communication=2, storage=1))
    plain = ll.Create(remote_node_id=2, number=5)
    assert admission.admit(plain, link) == (link.options[0], 0)
    assert admission.admit(ll.Create(remote_node_id=2, number=4, ato=1), link)[1] == ll.ERR_NORES   # 4 > 2 + 1
    table.add(make_request(link, create_id=1, number=2, ato=1))            # an open atomic request reserves 2
    assert admission.admit(ll.Create(remote_node_id=2, number=1, ato=1), link)[1] == 0            # 1 + 2 <= 3
    assert admission.admit(ll.Create(remote_node_id=2, number=2, ato=1), link)[1] == ll.ERR_NORES  # 2 + 2 > 3
    table.add(make_request(link, create_id=2))
    assert admission.admit(plain, link)[1] == ll.ERR_NORES                  # two open requests: queue full
    no_qubit = Admission(Links(1, [link]), RequestTable(keep_ns=100), Memory(communication=0))
    assert no_qubit.admit(plain, link)[1] == ll.ERR_NORES
    links.end_generation()
    assert admission.admit(plain, link)[1] == ll.ERR_TIMEOUT                 # the generation window is over


def test_admission_quotas_bound_each_source_s_open_requests_and_raised_priority_pairs() -> None:
    """One source gets at most max_per_source open requests on a link, and at most priority_pairs pairs still to
    make at a Priority above 0; other sources are not affected, and each refusal is counted."""
    link = config(1, QueuePolicy(max_queue=64, max_per_source=3, priority_pairs=100))
    table, counters = RequestTable(keep_ns=100), LinkCounters()
    admission = Admission(Links(1, [link]), table, Memory(), counters)
    stranger, app = ("127.0.0.1", 0), APP
    flood = ll.Create(remote_node_id=2, number=65535, priority=7)
    assert admission.admit(flood, link, stranger) == (None, ll.ERR_NORES)          # 65535 > 100 at priority 7
    assert admission.admit(ll.Create(remote_node_id=2, number=65535), link, stranger)[1] == 0   # priority 0: shared
    for create_id, number in enumerate((60, 40), start=1):
        table.add(make_request(link, create_id=create_id, number=number, priority=3))   # APP's, at the origin
    assert admission.admit(ll.Create(remote_node_id=2, number=1, priority=1), link, app)[1] == ll.ERR_NORES
    assert admission.admit(ll.Create(remote_node_id=2, number=1, priority=1), link, stranger)[1] == 0
    assert admission.admit(ll.Create(remote_node_id=2, number=500), link, app)[1] == 0    # priority 0: no pair cap
    table.add(make_request(link, create_id=3, number=1))
    assert admission.admit(ll.Create(remote_node_id=2, number=1), link, app)[1] == ll.ERR_NORES   # 3 open
    assert admission.admit(ll.Create(remote_node_id=2, number=1), link, stranger)[1] == 0
    peer_stream = (2, PURPOSE)                                 # at the other end a source is a stream
    for create_id in (4, 5, 6):
        table.add(make_request(link, create_id=create_id, origin=2))
    assert admission.admit(ll.Create(remote_node_id=1, purpose_id=PURPOSE), link, peer_stream)[1] == ll.ERR_NORES
    assert admission.admit(ll.Create(remote_node_id=1, purpose_id=PURPOSE + 1), link, (2, PURPOSE + 1))[1] == 0
    assert counters.over_quota == 4


# -- Replies ----------------------------------------------------------------------------------

def test_replies_hold_the_oks_of_a_con_clear_request_until_its_last_pair_then_stop_following_it() -> None:
    link = config(2)
    request = make_request(link, origin=1, number=2, state=RequestState.GENERATING, tpe=ll.TPE_MEASURE, con=0)
    counters = LinkCounters()
    replies = Replies(counters, following=lambda link_id: request if link_id == LINK else None)
    first = replies.deliver(request, pair(1, outcome=1), seq=0, now=10)
    assert first.send == [] and first.down == [] and request.state == RequestState.GENERATING
    last = replies.deliver(request, pair(2, outcome=0), seq=1, now=20)
    oks = upward(last)
    assert [(ok.sequence_number, ok.m) for ok in oks] == [(0, 1), (1, 0)]
    assert all(isinstance(ok, ll.OkMeasure) and ok.d == 1 and ok.remote_node_id == 1 for ok in oks)
    assert request.state == RequestState.DONE and last.down == [StopGeneration(LINK)]
    assert counters.ok_sent == 2


# -- Follower ---------------------------------------------------------------------------------

def schedule(request: Request, run: int, status: int = 0, pairs: int = 4) -> EgpMessage:
    return EgpMessage(MSG_SCHEDULE, status, request.create_id, LINK, request.origin_node, request.queue_seq,
                      run=run, pairs=pairs)


def follower_with(*requests: Request) -> tuple[Follower, Failures]:
    table = RequestTable(TIMING.keep_ns)
    for request in requests:
        table.add(request)
    fail = Failures()
    return Follower(Links(2, [config(2)]), table, TIMING, fail), fail


def test_follower_switches_on_schedule_and_answers_a_copy_alike_and_a_stale_one_not_at_all() -> None:
    link = config(2)
    first, second = make_request(link, create_id=1), make_request(link, create_id=2, queue_seq=2)
    follower, _ = follower_with(first, second)
    out = follower.on_schedule(schedule(first, run=1), now=100)
    (ack,) = egp(out)
    assert (ack.msg_type, ack.status, ack.run, ack.create_id) == (MSG_SCHEDULE_ACK, 0, 1, 1)
    assert out.down == [StopGeneration(LINK), StartGeneration(LINK, FOLLOW_PAIRS)]
    assert first.state == RequestState.GENERATING and follower.following(LINK) is first
    copy = follower.on_schedule(schedule(first, run=1), now=150)
    assert copy.send == out.send and copy.down == []
    follower.on_schedule(schedule(second, run=3), now=200)
    assert first.state == RequestState.QUEUED and second.state == RequestState.GENERATING
    stale = follower.on_schedule(schedule(first, run=2), now=250)             # overtaken by run 3
    assert stale.send == [] and follower.following(LINK) is second


def test_follower_names_the_request_a_pair_was_emitted_for() -> None:
    link = config(2)
    first, second = make_request(link, create_id=1), make_request(link, create_id=2, queue_seq=2)
    follower, _ = follower_with(first, second)
    follower.on_schedule(schedule(first, run=1), now=100)
    follower.on_schedule(schedule(second, run=2), now=200)
    assert follower.request_at(LINK, 50) is None
    assert follower.request_at(LINK, 150) is first and follower.request_at(LINK, 200) is second


def test_follower_refuses_an_unknown_request_and_fails_an_aborted_one_with_its_code() -> None:
    link = config(2)
    known = make_request(link, create_id=1)
    follower, fail = follower_with(known)
    unknown = make_request(link, create_id=9)
    (refusal,) = egp(follower.on_schedule(schedule(unknown, run=1), now=100))
    assert refusal.status == ll.ERR_REJECTED
    (ack,) = egp(follower.on_schedule(schedule(known, run=2, status=ll.ERR_TIMEOUT, pairs=0), now=200))
    assert ack.status == 0 and known.state == RequestState.FAILED and fail.calls == [(known, ll.ERR_TIMEOUT)]


# -- MasterRuns -------------------------------------------------------------------------------

def test_master_runs_schedule_then_start_on_the_ack_and_end_with_the_last_pair() -> None:
    link = config(1)
    links, table = Links(1, [link]), RequestTable(TIMING.keep_ns)
    request = make_request(link, number=3)
    table.add(request)
    counters = LinkCounters()
    runs = master_runs(links, table, counters=counters)
    out = runs.schedule(LINK, now=0)
    (message,) = egp(out)
    assert (message.msg_type, message.run, message.pairs) == (MSG_SCHEDULE, 1, 3) and out.down == []
    assert runs.deadline() == TIMING.interval_ns and not runs.settled()
    ack = EgpMessage(MSG_SCHEDULE_ACK, 0, 1, LINK, 1, 1, run=1, pairs=3)
    assert runs.on_schedule_ack(ack, now=500).down == [StartGeneration(LINK, 3)]
    assert request.state == RequestState.GENERATING and runs.settled() and counters.runs == 1
    assert runs.request_for(pair(1, emitted=499)) is None                      # emitted before the run
    assert runs.request_for(pair(1, emitted=500)) is request
    for number in range(1, 4):
        request.numbered += 1
        runs.numbered(LINK, now=1_000 + number)
    assert runs.current(LINK) is None
    assert runs.schedule(LINK, now=2_000).send == []                           # nothing left to number


@pytest.mark.parametrize("windowed", [False, True])
def test_a_run_ends_when_to_number_says(windowed: bool) -> None:
    """:meth:`MasterRuns.numbered` writes ``Request.to_number`` out (per pair): a run longer than its request's
    remainder goes on after a pair exactly while ``to_number`` is above 0, windowed (credit 4 of Number 9) or not."""
    for numbered in range(7):
        link = config(1)
        links, table = Links(1, [link]), RequestTable(TIMING.keep_ns)
        request = make_request(link, number=9 if windowed else 4, state=RequestState.GENERATING,
                               window=ll.WINDOW_OPEN if windowed else ll.WINDOW_NONE)
        request.credit = 4
        table.add(request)
        runs = master_runs(links, table)
        run = runs._runs[LINK] = Run(request, pairs=10, started_at=0)
        request.numbered = numbered
        runs.numbered(LINK, now=1_000)
        assert (runs.current(LINK) is run) == (request.to_number > 0), (windowed, numbered)


def test_master_runs_give_a_silent_peer_up_fail_the_request_and_abort_it() -> None:
    link = config(1)
    links, table = Links(1, [link]), RequestTable(TIMING.keep_ns)
    request = make_request(link)
    table.add(request)
    fail = Failures()
    runs = master_runs(links, table, fail=fail)
    runs.schedule(LINK, now=0)
    copies = [runs.on_timer(now=1_000 * i) for i in range(1, TIMING.reliable_retries + 1)]
    assert all(egp(c)[0].msg_type == MSG_SCHEDULE and egp(c)[0].status == 0 for c in copies)
    gave_up = runs.on_timer(now=1_000 * (TIMING.reliable_retries + 1))
    (abort,) = egp(gave_up)
    assert (abort.msg_type, abort.status, abort.run) == (MSG_SCHEDULE, ll.ERR_TIMEOUT, 2)
    assert fail.calls == [(request, ll.ERR_TIMEOUT)] and request.state == RequestState.FAILED
    runs.on_schedule_ack(EgpMessage(MSG_SCHEDULE_ACK, 0, 1, LINK, 1, 1, run=2), now=6_000)
    assert runs.settled()


# -- DistributedQueue -------------------------------------------------------------------------

def queue_of(node_id: int, retries: int = 2) -> tuple[DistributedQueue, RequestTable, Failures]:
    link = config(node_id)
    links, table = Links(node_id, [link]), RequestTable(TIMING.keep_ns)
    counters, fail = LinkCounters(), Failures()
    runs = master_runs(links, table, fail=fail, counters=counters)
    timing = Retransmission(TIMING.interval_ns, retries, TIMING.reliable_retries)
    queue = DistributedQueue(links, table, Admission(links, table, Memory()), runs,
                             Replies(counters, following=lambda link_id: None), counters, timing,
                             {PURPOSE: ("198.18.0.2", 49152)}, fail)
    return queue, table, fail


def test_queue_acks_a_create_forwards_it_and_the_peer_answers_a_copy_of_the_req_alike() -> None:
    origin, _, _ = queue_of(1)
    create = ll.Create(remote_node_id=2, purpose_id=PURPOSE, number=2)
    out = origin.on_create(create.encode(), APP, now=0)
    (ack,) = upward(out)
    (req,) = egp(out)
    assert isinstance(ack, ll.Ack) and (req.msg_type, req.create_id, req.queue_seq) == (MSG_REQ, ack.create_id, 1)
    assert req.create == create
    peer, table, _ = queue_of(2)
    answer = peer.on_req(req, now=1_000)
    (req_ack,) = egp(answer)
    assert (req_ack.msg_type, req_ack.status, req_ack.queue_seq) == (MSG_REQ_ACK, 0, 1)
    assert peer.on_req(req, now=2_000).send == answer.send and len(table) == 1


def test_queue_gives_a_req_up_after_its_retries_and_the_master_aborts_it() -> None:
    queue, table, fail = queue_of(1, retries=2)
    queue.on_create(ll.Create(remote_node_id=2, purpose_id=PURPOSE).encode(), APP, now=0)
    (request,) = table.values()
    assert [egp(queue.retry(request, now=t))[0].msg_type for t in (1_000, 2_000)] == [MSG_REQ, MSG_REQ]
    gave_up = queue.retry(request, now=3_000)
    (abort,) = egp(gave_up)
    assert (abort.msg_type, abort.status) == (MSG_SCHEDULE, ll.ERR_TIMEOUT)
    assert request.state == RequestState.FAILED and fail.calls == [(request, ll.ERR_TIMEOUT)]


# -- Confirmation -----------------------------------------------------------------------------

def confirmations_of(node_id: int, request: Request,
                     storage: int = 0) -> tuple[Confirmation, MasterConfirms, Follower, MasterRuns, LinkCounters]:
    """Confirmation and MasterConfirms at ``node_id``, whose table holds ``request``."""
    link = request.link
    links, table = Links(node_id, [link]), RequestTable(TIMING.keep_ns)
    table.add(request)
    counters, fail = LinkCounters(), Failures()
    follower = Follower(links, table, TIMING, fail)
    replies = Replies(counters, following=follower.following)
    runs = master_runs(links, table, fail=fail, counters=counters)
    memory = PairMemory(links, replies, runs, Memory(storage=storage), counters, TIMING)
    confirms = MasterConfirms(links, runs, memory, replies, counters, TIMING)
    confirmation = Confirmation(links, table, runs, follower, memory, replies, counters, TIMING, confirms)
    return confirmation, confirms, follower, runs, counters


def confirmation_of(node_id: int, request: Request,
                    storage: int = 0) -> tuple[Confirmation, Follower, MasterRuns, LinkCounters]:
    """Confirmation at ``node_id``, whose table holds ``request``."""
    confirmation, _, follower, runs, counters = confirmations_of(node_id, request, storage)
    return confirmation, follower, runs, counters


def confirm(request: Request, attempt: int, seq: int) -> EgpMessage:
    return EgpMessage(MSG_CONFIRM, 0, request.create_id, LINK, request.origin_node, request.queue_seq, None,
                      attempt, seq)


def test_confirmation_answers_expire_for_a_pair_this_end_lost_and_both_ends_report_it() -> None:
    request = make_request(config(2), number=4)
    confirmation, follower, _, counters = confirmation_of(2, request)
    follower.on_schedule(schedule(request, run=1), now=0)
    assert confirmation.on_lost(AttemptLost(LINK, 7), now=100).send == []
    out = confirmation.on_confirm(confirm(request, attempt=7, seq=3), now=200)
    (ack,) = egp(out)
    assert (ack.msg_type, ack.status, ack.attempt_seq, ack.sequence_number) == (MSG_CONFIRM_ACK, ll.ERR_EXPIRE, 7, 3)
    (err,) = upward(out)
    assert (err.err, err.sequence_number_low) == (ll.ERR_EXPIRE, 3) and counters.expired == 1
    again = confirmation.on_confirm(confirm(request, attempt=7, seq=3), now=300)
    assert again.send[0] == out.send[0] and upward(again) == []               # the same answer, no second ERR
    assert request.delivered == 1                                              # the expired pair is settled


def test_confirmation_keeps_a_confirm_that_comes_before_its_pair_and_delivers_on_the_pair() -> None:
    request = make_request(config(2), number=4, tpe=ll.TPE_MEASURE)
    confirmation, follower, _, counters = confirmation_of(2, request)
    follower.on_schedule(schedule(request, run=1), now=0)
    assert confirmation.on_confirm(confirm(request, attempt=4, seq=0), now=100).send == []
    assert not confirmation.waiting.settled()
    out = confirmation.on_pair(pair(4, emitted=50, outcome=1), now=150)
    assert [m.status for m in egp(out)] == [0]
    (ok,) = upward(out)
    assert isinstance(ok, ll.OkMeasure) and (ok.sequence_number, ok.m) == (0, 1) and counters.ok_sent == 1
    assert confirmation.waiting.settled()


def test_confirmation_expires_a_pair_whose_confirm_is_never_answered() -> None:
    """At the master the herald goes to MasterConfirms, which CONFIRMs the pair and gives up after its retries;
    Confirmation itself holds nothing for it."""
    link = config(1)
    request = make_request(link, number=4, tpe=ll.TPE_MEASURE)
    confirmation, confirms, _, runs, counters = confirmations_of(1, request)
    runs.schedule(LINK, now=0)
    runs.on_schedule_ack(EgpMessage(MSG_SCHEDULE_ACK, 0, 1, LINK, 1, 1, run=1, pairs=4), now=0)
    out = confirmation.on_pair(pair(9, emitted=10, outcome=0), now=20)
    assert [m.msg_type for m in egp(out)] == [MSG_CONFIRM] and len(upward(out)) == 1      # delivered, CONFIRMed
    assert not confirms.settled() and confirms.deadline() == 20 + 1_000
    assert confirmation.waiting.settled() and confirmation.waiting.deadline() is None
    copies = [confirms.on_timer(now=20 + 1_000 * i) for i in range(1, TIMING.reliable_retries + 1)]
    assert all([m.msg_type for m in egp(c)] == [MSG_CONFIRM] for c in copies)
    gave_up = confirms.on_timer(now=20 + 1_000 * (TIMING.reliable_retries + 1))
    assert [e.err for e in upward(gave_up)] == [ll.ERR_EXPIRE] and counters.expired == 1
    assert confirms.settled() and confirms.deadline() is None


# -- PairMemory -------------------------------------------------------------------------------

def memory_of(node_id: int, request: Request, storage: int = 0) -> tuple[PairMemory, MasterRuns, LinkCounters]:
    link = request.link
    links, table = Links(node_id, [link]), RequestTable(TIMING.keep_ns)
    table.add(request)
    counters = LinkCounters()
    runs = master_runs(links, table, counters=counters)
    memory = PairMemory(links, Replies(counters, following=lambda link_id: None), runs, Memory(storage=storage),
                        counters, TIMING)
    return memory, runs, counters


def test_memory_cuts_off_a_kept_pair_past_the_link_cutoff_at_both_ends_and_replaces_it() -> None:
    link = config(1, cutoff_ns=1_000)
    request = make_request(link, number=2, ato=1, state=RequestState.GENERATING)
    memory, _, counters = memory_of(1, request)
    request.numbered = 1
    assert memory.take(request, pair(3, emitted=100, slot=6), seq=0, now=150).hardware == []   # kept where it is
    assert memory.deadline() == 1_100 and memory.held_slots() == {6}
    withdrawn: list[PairKey] = []

    def withdraw(key: PairKey, now: int) -> Actions:
        withdrawn.append(key)
        return Actions()

    assert memory.on_timer(now=1_099, withdraw=withdraw).send == []
    out = memory.on_timer(now=1_100, withdraw=withdraw)
    release = egp(out)[0]
    assert (release.msg_type, release.status, release.attempt_seq) == (MSG_RELEASE, ll.ERR_EXPIRE, 3)
    assert [e.err for e in upward(out)] == [ll.ERR_EXPIRE] and out.hardware == [Discard(6)]
    assert withdrawn == [(LINK, 3)] and counters.cut_off == 1
    assert request.to_number == 2                                               # generated again


def test_memory_moves_a_kept_pair_to_storage_before_its_ok_which_names_the_storage_qubit() -> None:
    request = make_request(config(1), number=4, state=RequestState.GENERATING)
    memory, _, _ = memory_of(1, request, storage=2)
    moved = memory.take(request, pair(3, slot=0), seq=0, now=100)
    assert moved.hardware == [Move(0)] and moved.send == [] and not memory.settled()
    (ok,) = upward(memory.on_moved(MoveResult(0, 12), now=200))
    assert isinstance(ok, ll.OkKeep) and ok.lqid == 12 and memory.settled()


@pytest.mark.parametrize(("storage_slot", "expected"), [(12, 0.25 + 0.75 * 0.9 * 0.8), (None, 0.25 + 0.75 * 0.8)])
def test_the_ok_k_goodness_counts_this_ends_move_if_made_and_the_peers(storage_slot: int | None,
                                                                      expected: float) -> None:
    """A perfect pair, no memory noise, moves of fidelity 0.9 here and 0.8 at the peer (which has storage):
    Goodness = ¼ + ¾·w·∏f (M(f) = f·δ₀ + (1 − f)·U per moved half, w ↦ f·w); a move that found no storage
    free counts only the peer's."""
    link = dataclasses.replace(config(1), t2_local_ns=math.inf, t2_peer_ns=math.inf, move_fidelity_local=0.9,
                               move_fidelity_peer=0.8)
    request = make_request(link, number=4, state=RequestState.GENERATING)
    memory, _, _ = memory_of(1, request, storage=2)
    assert memory.take(request, pair(3, slot=0), seq=0, now=100).hardware == [Move(0)]
    (ok,) = upward(memory.on_moved(MoveResult(0, storage_slot), now=600))
    assert isinstance(ok, ll.OkKeep) and ll.decode_fidelity(ok.goodness) == pytest.approx(expected, abs=1e-4)


def test_memory_settles_a_release_for_a_pair_it_does_not_keep_through_confirmation() -> None:
    request = make_request(config(2), number=2, ato=1)
    memory, _, _ = memory_of(2, request)
    asked: list[PairKey] = []

    def unconfirmed(message: EgpMessage, now: int) -> Actions:
        asked.append((message.link_id, message.attempt_seq))
        return Actions(hardware=[Discard(4)])

    release = EgpMessage(MSG_RELEASE, 0, request.create_id, LINK, 1, 1, None, 5, 0)
    out = memory.on_release(release, now=100, unconfirmed=unconfirmed)
    (ack,) = egp(out)
    assert (ack.msg_type, ack.status) == (MSG_RELEASE_ACK, ll.ERR_EXPIRE) and out.hardware == [Discard(4)]
    again = memory.on_release(release, now=200, unconfirmed=unconfirmed)
    assert again.send == out.send and asked == [(LINK, 5)]


# -- docstring examples -----------------------------------------------------------------------

@pytest.mark.parametrize("module", ["links", "requests", "recent", "admission", "scheduler", "generation",
                                    "messages", "replies", "types", "config"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"protocols.link.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_a_confirm_read_from_its_fields_is_answered_as_the_message_is_and_only_when_it_is_the_first() -> None:
    def held() -> tuple[Confirmation, Request, LinkCounters]:
        request = make_request(config(2), number=4)
        confirmation, follower, _, counters = confirmation_of(2, request)
        follower.on_schedule(schedule(request, run=1), now=0)
        assert confirmation.on_pair(pair(5, emitted=50), now=100).send == []
        return confirmation, request, counters

    by_message, request, counters = held()
    expected = by_message.on_confirm(confirm(request, attempt=5, seq=3), now=200)
    by_fields, other, other_counters = held()
    fields = (LINK, 5, other.create_id, other.origin_node, other.queue_seq, 3)
    out = by_fields.confirmed(*fields, now=200)
    assert out is not None and expected.send and (out.send, out.up, out.hardware) == \
        (expected.send, expected.up, expected.hardware)
    assert (other.delivered, other_counters.ok_sent) == (request.delivered, counters.ok_sent) == (1, 1)
    assert by_fields.confirmed(*fields, now=300) is None            # a copy: the general path answers it again
    assert by_fields.on_confirm(confirm(other, attempt=5, seq=3), now=300).send[0] == out.send[0]

    for wrong in ((LINK, 5, other.create_id + 1, other.origin_node, other.queue_seq, 3),   # another request
                  (LINK, 6, other.create_id, other.origin_node, other.queue_seq, 3)):      # a pair not held
        fresh, _, _ = held()
        assert fresh.confirmed(*wrong, now=200) is None and not fresh.waiting.settled()        # nothing changed
