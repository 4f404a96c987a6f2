"""Memory: atomic requests kept in bounded memory (moved to storage), NORES, and the cutoff that expires kept
pairs at both ends.

Scenario runs go through the real loader, runtime and medium; the medium's qubit accounting
(:meth:`stack.quantum.medium.Medium.finish`) fails the run if a discarded or kept pair leaks.
"""

from __future__ import annotations

import math

import pytest

from protocols.common import EGP_PORT, LINK_SERVICE_PORT, BellState
from protocols.link.layer import LinkConfig, LinkLayer, Memory
from protocols.packets import linkservice as ll
from protocols.packets.egp import (
    MSG_CONFIRM,
    MSG_CONFIRM_ACK,
    MSG_RELEASE,
    MSG_REQ,
    MSG_REQ_ACK,
    MSG_SCHEDULE,
    MSG_SCHEDULE_ACK,
    EgpMessage,
)
from protocols.physical.hardware import Discard, Move, MoveResult
from protocols.physical.node import PairReady
from stack.report import build_report
from stack.runtime import run_scenario
from tests.consistency import heralded_qubits
from tests.scenarios import two_qpus

APP1, APP2 = ("198.18.0.1", 49152), ("198.18.0.2", 49152)
EGP1, EGP2 = ("198.18.0.1", EGP_PORT), ("198.18.0.2", EGP_PORT)


def atomic(pairs: int) -> str:
    return f"""
[[workload]]
node = "alice"
remote = "bob"
type = "keep"
pairs = {pairs}
atomic = true
"""


def test_an_atomic_request_is_delivered_all_at_once_from_storage() -> None:
    """Five pairs with two communication and four storage qubits per node: each kept pair moves to storage
    (freeing the communication qubit for the next attempt), and the OKs of all five come together at each
    end, naming storage qubits, with the same sequence numbers at both ends."""
    result = run_scenario(two_qpus(length_km=2.0, workload=atomic(5),
                                   extra_qpu="communication_qubits = 2\nstorage_qubits = 4\nmove_ns = 500"))
    (work,) = result.emulation.workloads
    for end in (work.origin, work.responder):
        assert len(end.records) == 5 and not end.errors and not end.expired
        assert len({r.ok_time for r in end.records}) == 1                  # one moment: atomic
    assert sorted(r.sequence_number for r in work.origin.records) == \
        sorted(r.sequence_number for r in work.responder.records)
    ledger = result.ledger
    assert ledger["created"] == ledger["measured"] == 10                    # nothing leaked, nothing lost
    # five pairs with two communication qubits: only possible because the kept ones moved to storage
    storage = {node.node_id: node.storage for node in result.emulation.medium.nodes.values()}
    assert storage == {1: 4, 2: 4}


def test_storage_frees_the_communication_qubits() -> None:
    """With one communication qubit and no storage an atomic request of two pairs can never fit: NORES. With
    storage it is served, the kept pair waiting in storage while the next is generated."""
    tight = run_scenario(two_qpus(length_km=2.0, workload=atomic(2), extra_qpu="communication_qubits = 1"))
    assert tight.emulation.workloads[0].origin.errors == [ll.ERR_NORES]
    roomy = run_scenario(two_qpus(length_km=2.0, workload=atomic(2),
                                  extra_qpu="communication_qubits = 1\nstorage_qubits = 1"))
    work = roomy.emulation.workloads[0]
    assert len(work.origin.records) == len(work.responder.records) == 2


def test_cutoff_expires_kept_pairs_at_both_ends_and_replaces_them() -> None:
    """Four kept pairs, each taking ~0.3 ms to herald, with a 1.2 ms cutoff: early pairs grow too old and are
    discarded at both ends (ERR EXPIRE, S = 1, their sequence numbers, at both ends' higher layers), new ones
    replace them, and the request completes with pairs younger than the cutoff. Every qubit is accounted for."""
    result = run_scenario(two_qpus(length_km=2.0, workload=atomic(4),
                                   extra_qpu="storage_qubits = 4\nmove_ns = 500", extra_link="cutoff_us = 1200"))
    (work,) = result.emulation.workloads
    here = sorted(r.sequence_number for r in work.origin.records)
    there = sorted(r.sequence_number for r in work.responder.records)
    assert here == there and len(here) == 4
    assert work.origin.expired == work.responder.expired != set()
    assert not work.origin.expired & set(here)
    master = result.emulation.link_layers[0]
    assert master.counters.cut_off == len(work.origin.expired)
    ledger = result.ledger
    assert ledger["created"] == heralded_qubits(result) > 0      # not the ledger's sum: true by construction
    assert ledger["discarded"] == 2 * len(work.origin.expired)


# -- engine level -------------------------------------------------------------------------------


def engine(node_id: int, memory: Memory, cutoff_ns: int | None = None) -> LinkLayer:
    peer, peer_egp = (2, EGP2) if node_id == 1 else (1, EGP1)
    link = LinkConfig(1, peer, peer_egp, math.inf, math.inf, cutoff_ns=cutoff_ns)
    return LinkLayer(node_id, [link], {7: APP2 if node_id == 2 else APP1}, retransmit_ns=10**6, memory=memory)


def create(number: int, **fields: int) -> bytes:
    return ll.Create(remote_node_id=2, purpose_id=7, number=number, ato=1, **fields).encode()


def replies(out: object, app: tuple[str, int]) -> list[object]:
    return [ll.decode_upward(p) for d, p in out.send if d == app]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("memory", "number", "accepted"), [
    (Memory(2, 0), 2, True), (Memory(2, 0), 3, False),       # communication + storage qubits bound a request
    (Memory(1, 4), 5, True), (Memory(1, 4), 6, False),
    (Memory(0, 8), 1, False),                                # no communication qubit: nothing can be generated
])
def test_atomic_requests_that_can_never_fit_get_nores(memory: Memory, number: int, accepted: bool) -> None:
    (reply,) = replies(engine(1, memory).receive(create(number), APP1, LINK_SERVICE_PORT, now=0), APP1)
    assert isinstance(reply, ll.Ack) if accepted else (isinstance(reply, ll.Err) and reply.err == ll.ERR_NORES)


def test_open_atomic_requests_reserve_memory_and_the_peer_checks_its_own() -> None:
    n1 = engine(1, Memory(2, 2))
    first = n1.receive(create(3), APP1, LINK_SERVICE_PORT, now=0)
    assert isinstance(replies(first, APP1)[0], ll.Ack)
    (second,) = replies(n1.receive(create(2), APP1, LINK_SERVICE_PORT, now=1), APP1)   # 3 + 2 > 4
    assert isinstance(second, ll.Err) and second.err == ll.ERR_NORES
    # the peer has less memory: its REQ_ACK says NORES, and so does the origin's ERR
    n2 = engine(2, Memory(2, 0))
    req = next(p for d, p in first.send if d == EGP2)
    answer = n2.receive(req, EGP1, EGP_PORT, now=10)
    (ack,) = [EgpMessage.decode(p) for d, p in answer.send if d == EGP1]
    assert (ack.msg_type, ack.status) == (MSG_REQ_ACK, ll.ERR_NORES)
    (err,) = replies(n1.receive(ack.encode(), EGP2, EGP_PORT, now=20), APP1)
    assert isinstance(err, ll.Err) and err.err == ll.ERR_NORES


def pair(attempt: int, slot: int, t: int) -> PairReady:
    return PairReady(1, slot, 100 + attempt, BellState.PHI_PLUS, attempt, 1, t, (1.0, 0.0, 0.0, 0.0), None, None)


def started_master(number: int, memory: Memory, cutoff_ns: int | None = None) -> LinkLayer:
    n1 = engine(1, memory, cutoff_ns)
    n1.receive(create(number), APP1, LINK_SERVICE_PORT, now=0)
    n1.receive(EgpMessage(MSG_REQ_ACK, 0, 1, 1, 1, 1).encode(), EGP2, EGP_PORT, now=10)
    n1.receive(EgpMessage(MSG_SCHEDULE_ACK, 0, 1, 1, 1, 1, run=1).encode(), EGP2, EGP_PORT, now=20)
    return n1


def confirm_ack(attempt: int, seq: int, status: int = 0) -> bytes:
    return EgpMessage(MSG_CONFIRM_ACK, status, 1, 1, 1, 1, None, attempt, seq).encode()


def test_the_master_keeps_moves_and_releases_an_atomic_request() -> None:
    n1 = started_master(2, Memory(2, 2))
    first = n1.handle(pair(5, 0, 100), now=200)
    assert first.hardware == [Move(0)] and replies(first, APP1) == []          # kept, moved, not delivered
    assert n1.held_slots() == {0}
    assert n1.handle(MoveResult(0, 3), now=700).send == []
    assert n1.held_slots() == {3}
    second = n1.handle(pair(6, 1, 800), now=900)
    assert second.hardware == [Move(1)]
    n1.handle(MoveResult(1, 2), now=1_400)
    assert replies(n1.receive(confirm_ack(5, 0), EGP2, EGP_PORT, now=1_500), APP1) == []
    done = n1.receive(confirm_ack(6, 1), EGP2, EGP_PORT, now=1_600)          # both ends hold both: release
    oks = replies(done, APP1)
    assert [(ok.sequence_number, ok.lqid) for ok in oks] == [(0, 3), (1, 2)]  # type: ignore[attr-defined]
    releases = [EgpMessage.decode(p) for d, p in done.send if d == EGP2]
    assert [(m.msg_type, m.status, m.attempt_seq, m.sequence_number) for m in releases] == \
        [(MSG_RELEASE, 0, 5, 0), (MSG_RELEASE, 0, 6, 1)]
    assert n1.held_slots() == set() and not n1.settled()                     # until the RELEASE_ACKs


def test_cutoff_discards_a_kept_pair_and_tells_both_ends() -> None:
    n1 = started_master(2, Memory(2, 0), cutoff_ns=10_000)
    n1.handle(pair(5, 0, 100), now=200)
    assert n1.receive(confirm_ack(5, 0), EGP2, EGP_PORT, now=300).deadline == 10_100
    out = n1.on_timer(10_100)
    assert out.hardware == [Discard(0)]
    (err,) = replies(out, APP1)
    assert isinstance(err, ll.Err) and (err.err, err.s, err.sequence_number_low, err.sequence_number_high) == \
        (ll.ERR_EXPIRE, 1, 0, 1)
    (release,) = [EgpMessage.decode(p) for d, p in out.send if d == EGP2]
    assert (release.msg_type, release.status, release.attempt_seq) == (MSG_RELEASE, ll.ERR_EXPIRE, 5)
    (request,) = n1.requests.values()
    assert request.to_number == 2                                             # the expired one is replaced
    # the other end discards its half and reports the same expiry
    n2 = engine(2, Memory(2, 0))
    req = EgpMessage(MSG_REQ, 0, 1, 1, 1, 1, ll.Create.decode(create(2)))
    n2.receive(req.encode(), EGP1, EGP_PORT, now=0)
    n2.receive(EgpMessage(MSG_SCHEDULE, 0, 1, 1, 1, 1, run=1, pairs=2).encode(), EGP1, EGP_PORT, now=20)
    n2.handle(pair(5, 1, 100), now=200)
    held = n2.receive(EgpMessage(MSG_CONFIRM, 0, 1, 1, 1, 1, None, 5, 0).encode(), EGP1, EGP_PORT, now=300)
    assert replies(held, APP2) == [] and n2.held_slots() == {1}               # confirmed, kept, not delivered
    gone = n2.receive(release.encode(), EGP1, EGP_PORT, now=10_200)
    assert gone.hardware == [Discard(1)]
    (expiry,) = replies(gone, APP2)
    assert isinstance(expiry, ll.Err) and (expiry.err, expiry.sequence_number_low) == (ll.ERR_EXPIRE, 0)
    again = n2.receive(release.encode(), EGP1, EGP_PORT, now=10_300)         # a duplicate changes nothing
    assert again.hardware == [] and replies(again, APP2) == []


def test_without_con_the_oks_come_together_when_the_request_completes() -> None:
    """CON clear: measure-directly outcomes are delivered together at the end (no memory needed); for
    create-and-keep the pairs must all be there at the end, which is the atomic service (NORES if they
    cannot fit)."""
    work = """
[[workload]]
node = "alice"
remote = "bob"
type = "measure"
pairs = 6
consecutive = false
[[workload]]
node = "bob"
remote = "alice"
type = "keep"
pairs = 3
consecutive = false
"""
    result = run_scenario(two_qpus(length_km=2.0, workload=work, extra_qpu="communication_qubits = 2"))
    measured, kept = result.emulation.workloads
    for end in (measured.origin, measured.responder):
        assert len(end.records) == 6 and len({r.ok_time for r in end.records}) == 1
    assert kept.origin.errors == [ll.ERR_NORES] and kept.origin.records == []   # 3 pairs > 2 qubits


def test_kept_pairs_move_to_storage_before_their_ok() -> None:
    """An ordinary create-and-keep pair at a node with storage moves there first (its communication qubit is
    free again for the next attempt); the OK names the storage qubit. The other end does the same on CONFIRM."""
    n1 = engine(1, Memory(2, 2))
    n1.receive(ll.Create(remote_node_id=2, purpose_id=7, number=2).encode(), APP1, LINK_SERVICE_PORT, now=0)
    n1.receive(EgpMessage(MSG_REQ_ACK, 0, 1, 1, 1, 1).encode(), EGP2, EGP_PORT, now=10)
    n1.receive(EgpMessage(MSG_SCHEDULE_ACK, 0, 1, 1, 1, 1, run=1).encode(), EGP2, EGP_PORT, now=20)
    out = n1.handle(pair(5, 1, 100), now=200)
    assert out.hardware == [Move(1)] and replies(out, APP1) == []
    assert [EgpMessage.decode(p).msg_type for d, p in out.send if d == EGP2] == [MSG_CONFIRM]   # not delayed
    assert not n1.settled()
    (ok,) = replies(n1.handle(MoveResult(1, 2), now=700), APP1)
    assert isinstance(ok, ll.OkKeep) and (ok.lqid, ok.sequence_number) == (2, 0)
    # no storage qubit free: the pair stays where it is and is delivered from there
    n1.handle(pair(6, 0, 800), now=900)
    (ok,) = replies(n1.handle(MoveResult(0, None), now=900), APP1)
    assert isinstance(ok, ll.OkKeep) and ok.lqid == 0
    n2 = engine(2, Memory(2, 1))
    n2.receive(EgpMessage(MSG_REQ, 0, 1, 1, 1, 1, ll.Create(remote_node_id=2, purpose_id=7, number=2)).encode(),
               EGP1, EGP_PORT, now=0)
    n2.receive(EgpMessage(MSG_SCHEDULE, 0, 1, 1, 1, 1, run=1, pairs=2).encode(), EGP1, EGP_PORT, now=20)
    n2.handle(pair(5, 0, 100), now=200)
    confirmed = n2.receive(EgpMessage(MSG_CONFIRM, 0, 1, 1, 1, 1, None, 5, 0).encode(), EGP1, EGP_PORT, now=300)
    assert confirmed.hardware == [Move(0)] and replies(confirmed, APP2) == []
    assert [EgpMessage.decode(p).status for d, p in confirmed.send if d == EGP1] == [0]
    (ok,) = replies(n2.handle(MoveResult(0, 2), now=800), APP2)
    assert isinstance(ok, ll.OkKeep) and ok.lqid == 2 and ok.d == 1


def test_stored_pairs_keep_their_goodness_honest() -> None:
    """With storage (every kept pair moved there first), the fidelity measured from both ends' outcomes
    agrees with the mean Goodness of the OKs within four standard errors."""
    work = """
[[workload]]
node = "alice"
remote = "bob"
type = "keep"
pairs = 1500
"""
    result = run_scenario(two_qpus(length_km=2.0, workload=work, t2_ms=1.0,
                                   extra_qpu="storage_qubits = 2\nmove_ns = 2000"))
    (report,) = build_report(result)["workload"]
    assert report["pairs_matched"] == 1500
    assert abs(report["fidelity_measured"] - report["goodness_mean"]) < 4 * report["fidelity_stderr"]
