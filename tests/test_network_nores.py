"""NORES at circuit setup is retried after a randomised exponential backoff, bounded by the request's Max Time
(without one, by the run's generation window), so two heads whose setups refuse each other are both served; a
copy of a refused SETUP sets nothing up, and closed circuits lingering do not take a live circuit's place in the
table: engines driven directly (tests/network_harness.py).
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from protocols.common import NETWORK_SERVICE_PORT, QNCP_PORT
from protocols.link.types import GenerationOver
from protocols.network.setup_backoff import MAX_DOUBLINGS
from protocols.network.types import NetworkConfig
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Setup, SetupReply, decode_qncp
from protocols.packets.qncp_common import MESSAGE_TYPES, SETUP, SETUP_ACK, SETUP_REPLY, SETUP_REPLY_ACK
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_text
from tests.network_harness import PURPOSE, Chain, ip
from tests.pcap_util import read_pcap, udp_payloads

REPEATER = 3


def refusals(chain: Chain) -> list[SetupReply]:
    found = [decode_qncp(p) for n, _, p in chain.sent if n == REPEATER and p[1] == SETUP_REPLY]
    return [m for m in found if isinstance(m, SetupReply) and m.status == ll.ERR_NORES]


def deliver(chain: Chain) -> None:
    """Serve every open link request of the hops (an ended circuit's too: those pairs are discarded)."""
    for _ in range(4):
        for hop in range(1, len(chain.route)):
            while chain.open_request(hop) is not None:
                chain.pair(hop)
        chain.answer()


def test_a_request_refused_nores_sets_up_again_once_the_repeater_has_room() -> None:
    chain = Chain(2)
    table = chain.engines[REPEATER].node.circuits
    table.max_circuits = 0                         # the repeater's circuit table is full
    chain.create(number=1)
    chain.run()
    assert len(refusals(chain)) == 1 and not chain.errs(1)
    chain.advance(chain.now + 10_000_000)          # 10 ms: waits in [1, 2), [2, 4) ms (RTO ≈ 1 ms): refused again
    assert len(refusals(chain)) >= 2 and not chain.errs(1)
    table.max_circuits = 64                        # room again
    chain.advance(chain.now + 100_000_000)
    deliver(chain)
    assert chain.delivered[1].keys() == chain.delivered[2].keys() == {0}
    stats = chain.engines[1].node.records[(1, 1)]
    assert stats.nores_retries == stats.setup_attempts - 1 >= 2 and stats.ended == "complete"
    refused = len(refusals(chain))
    at_repeater = chain.engines[REPEATER].node.records[(1, 1)].messages     # its refusals are counted too
    assert refused == stats.setup_attempts - 1
    assert at_repeater["SETUP_ACK"] == refused + 1 and at_repeater["SETUP_REPLY"] == refused + 1
    chain.finish()
    assert chain.settled() and not chain.errs(1) and not chain.errs(2)


def test_nores_retries_end_before_max_time_with_err_nores() -> None:
    chain = Chain(2)
    chain.engines[REPEATER].node.circuits.max_circuits = 0
    chain.create(number=1, tu=1, max_time=20)      # 20 ms
    chain.run()
    chain.advance(chain.now + 19_000_000)
    (err,) = chain.errs(1)
    assert err.err == ll.ERR_NORES
    stats = chain.engines[1].node.records[(1, 1)]
    # waits in [1, 2), [2, 4), [4, 8), [8, 16) ms (RTO ≈ 1 ms): the 4th setup by 14 ms, a 5th if the four waits
    # end before 20 ms, never a 6th (31 ms at the earliest)
    attempts = stats.setup_attempts
    assert attempts == len(refusals(chain)) == stats.nores_retries + 1 and attempts in (4, 5)
    assert not chain.received[2]
    assert chain.engines[REPEATER].node.records[(1, 1)].messages == {"SETUP_ACK": attempts, "SETUP_REPLY": attempts}
    chain.advance(chain.now + 10**10)
    assert chain.settled()


def test_a_copy_of_a_refused_setup_sets_nothing_up() -> None:
    """A copy of a SETUP that comes after the repeater refused it NORES, when it has room again (the head's
    SETUP_ACK was lost, so it retransmitted), is answered SETUP_ACK and nothing else. Set up, it made a circuit
    the head had given up, whose tail failed the request a second time at the end of the run: ERR TIMEOUT at
    the tail after the request was served (tests/test_robustness.py's all-messages.toml, heavy, seed 5:
    ERRs [6] at the head, [6, 6] at the tail)."""
    chain = Chain(2)
    table = chain.engines[REPEATER].node.circuits
    table.max_circuits = 0                         # the repeater's circuit table is full
    chain.create(number=1)
    chain.run()
    assert len(refusals(chain)) == 1
    (setup,) = [p for n, _, p in chain.sent if n == 1 and p[1] == SETUP]
    table.max_circuits = 64                        # room again, before the head's backoff is over
    before = len(chain.sent)
    chain.queue.append((REPEATER, setup, (ip(1), QNCP_PORT), QNCP_PORT))
    chain.run()
    assert [(n, p[1]) for n, _, p in chain.sent[before:]] == [(REPEATER, SETUP_ACK)]
    assert not table.by_handle
    chain.advance(chain.now + 10_000_000)          # the head's backoff: its next circuit serves the request
    deliver(chain)
    assert chain.delivered[1].keys() == chain.delivered[2].keys() == {0}
    for node in chain.route:
        chain.apply(node, chain.engines[node].handle(GenerationOver(), chain.now))
    chain.run()
    chain.finish()
    assert not chain.errs(1) and not chain.errs(2)
    assert chain.settled() and not chain.engines[REPEATER].signalling.refused     # the refusal is forgotten too


def test_a_refusal_is_remembered_for_its_request_only() -> None:
    """The repeater remembers which request's SETUP it refused: the same Circuit ID in another request's SETUP
    (a head gives an id again once it is free there) is a new circuit, set up as usual."""
    chain = Chain(2)
    table = chain.engines[REPEATER].node.circuits
    table.max_circuits = 0
    chain.create(number=1)
    chain.run()
    (payload,) = [p for n, _, p in chain.sent if n == 1 and p[1] == SETUP]
    setup = decode_qncp(payload)
    assert isinstance(setup, Setup)
    table.max_circuits = 64
    before = len(chain.sent)
    other = replace(setup, create_id=setup.create_id + 1).encode()
    chain.apply(REPEATER, chain.engines[REPEATER].receive(other, (ip(1), QNCP_PORT), QNCP_PORT, chain.now))
    assert [(n, p[1]) for n, _, p in chain.sent[before:]] == [(REPEATER, SETUP_ACK), (REPEATER, SETUP)]
    assert (1, setup.circuit_id) in table.by_handle


def test_closed_circuits_lingering_leave_room_for_new_ones() -> None:
    """With room for 2 circuits, 6 one-pair requests one after another each set up at once: the closed
    circuits (lingering for their retransmissions' sake) are not counted against the table."""
    chain = Chain(2, config=NetworkConfig(window=1, max_circuits=2))
    for request in range(6):
        chain.create(number=1)
        chain.run()
        deliver(chain)
        assert len(chain.oks(1)) == len(chain.oks(2)) == request + 1
    for node in chain.route:
        circuits = chain.engines[node].node.circuits
        assert len(circuits.by_handle) == 6 and not any(c.live for c in circuits)
    assert all(r.setup_attempts == 1 and r.nores_retries == 0 for r in chain.engines[1].node.records.values())
    assert not chain.errs(1) and not chain.errs(2)
    chain.finish()
    assert chain.settled()


def test_a_repeater_too_small_to_swap_refuses_unsupp_at_once() -> None:
    """A repeater with one qubit in all can never hold a half on each side: its SETUP_REPLY is UNSUPP, which the
    head does not retry (NORES it would retry with backoff until the run's end, then ERR TIMEOUT)."""
    chain = Chain(2)
    chain.engines[REPEATER].node.circuits.qubits = 1
    chain.create(number=1)
    chain.run()
    replies = [decode_qncp(p) for n, _, p in chain.sent if n == REPEATER and p[1] == SETUP_REPLY]
    assert [m.status for m in replies if isinstance(m, SetupReply)] == [ll.ERR_UNSUPP]
    (err,) = chain.errs(1)
    assert err.err == ll.ERR_UNSUPP
    chain.advance(chain.now + 10**9)
    assert len(replies) == 1 == chain.engines[1].node.records[(1, 1)].setup_attempts and chain.settled()


def create_at(chain: Chain, node: int, remote: int, number: int) -> None:
    """``node``'s application sends a CREATE to ``remote``."""
    create = ll.Create(remote_node_id=remote, purpose_id=PURPOSE, number=number)
    chain.apply(node, chain.engines[node].receive(create.encode(), chain.app[node], NETWORK_SERVICE_PORT, chain.now))


def served(chain: Chain, node: int, head: bool) -> int:
    """OKs ``node``'s application got for the request whose head (``head``) or tail it is."""
    return sum(1 for ok in chain.oks(node) if ok.d == (0 if head else 1))


def test_two_heads_whose_setups_refuse_each_other_set_up_again_apart_and_are_both_served() -> None:
    """1 -> 2 and 2 -> 1 at once over 1 - 3 - 4 - 2, W = 2 and 4 qubits a node: each SETUP reserves every qubit
    of its first repeater and is refused NORES at its second. With a backoff of RTO(tail) x 2^k (no randomness)
    the two heads set up again at the same instants and refused each other every time, until ERR NORES at both
    (the walker's dl.toml and nores.toml); drawn from each engine's Generator, the waits differ, one request
    sets up, and the other waits until its circuit is over."""
    chain = Chain(3, window=2)
    chain.engines[1].purposes[PURPOSE] = chain.app[1]
    create_at(chain, 1, 2, 3)
    create_at(chain, 2, 1, 3)
    chain.run()
    refused = [decode_qncp(p) for n, _, p in chain.sent if n in (3, 4) and p[1] == SETUP_REPLY]
    assert sorted(m.reporting_node for m in refused if isinstance(m, SetupReply) and m.status == ll.ERR_NORES) \
        == [3, 3, 4, 4]             # each refused by the repeater the other holds, and relayed by the other
    rto = chain.engines[1].node.rto(2)
    assert rto == chain.engines[2].node.rto(1)      # the same wait unless drawn
    retries = [chain.engines[n].node.timers.at(("setup-retry", 1)) for n in (1, 2)]
    assert all(r is not None and chain.now + rto <= r < chain.now + 2 * rto for r in retries)
    assert retries[0] != retries[1]
    for _ in range(400):
        chain.advance(chain.now + 500_000)
        deliver(chain)
        if min(served(chain, 1, True), served(chain, 2, False), served(chain, 2, True), served(chain, 1, False)) == 3:
            break
    assert served(chain, 1, True) == served(chain, 2, False) == served(chain, 2, True) == served(chain, 1, False) == 3
    assert not chain.errs(1) and not chain.errs(2)
    records = [chain.engines[n].node.records[(n, 1)] for n in (1, 2)]
    assert all(r.ended == "complete" for r in records) and max(r.nores_retries for r in records) >= 1
    chain.finish()
    assert chain.settled()


def test_backoff_waits_are_drawn_from_the_engine_generator_and_stop_doubling() -> None:
    """The k-th wait lies in [1/2, 1) x RTO(tail) x 2^min(k, MAX_DOUBLINGS); the same seed gives the same waits,
    another seed others; without a Max Time the request keeps waiting past the 8 setups it used to get. The waits
    come from a stream spawned from the node's Generator, which they leave as it was (a NORES does not shift the
    node's later measurement bases)."""
    def waits(seed: int) -> list[int]:
        chain = Chain(2)
        head = chain.engines[1]
        head.signalling.backoff.rng = np.random.default_rng(seed)
        untouched = head.node.rng.bit_generator.state
        chain.engines[REPEATER].node.circuits.max_circuits = 0
        chain.create(number=1)
        chain.run()
        found = []
        for _ in range(MAX_DOUBLINGS + 6):
            at = head.node.timers.at(("setup-retry", 1))
            assert at is not None and not chain.errs(1)
            found.append(at - chain.now)
            chain.advance(at)
        assert head.node.rng.bit_generator.state == untouched
        return found

    rto = Chain(2).engines[1].node.rto(2)
    first = waits(5)
    for k, wait in enumerate(first, start=1):
        span = rto << min(k, MAX_DOUBLINGS)
        assert span // 2 <= wait < span, (k, wait)
    assert waits(5) == first and waits(6) != first


CONTENTION = """
[run]
duration_ms = 300.0
[nodes.n0]
kind = "qpu"
[nodes.n1]
kind = "qpu"
[nodes.n2]
kind = "qpu"
[nodes.n3]
kind = "qpu"
[nodes.s1]
kind = "station"
[nodes.s2]
kind = "station"
[nodes.s3]
kind = "station"
[links.n0-n1]
a = "n0"
b = "n1"
station = "s1"
length_km = 1.0
[links.n1-n2]
a = "n1"
b = "n2"
station = "s2"
length_km = 1.0
[links.n2-n3]
a = "n2"
b = "n3"
station = "s3"
length_km = 1.0
[[workload]]
node = "n0"
remote = "n3"
pairs = 10
[[workload]]
node = "n3"
remote = "n0"
pairs = 10
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_opposite_requests_on_a_chain_of_two_qubit_qpus_are_both_served(seed: int) -> None:
    """The walker's dl.toml, shorter: n0 -> n3 and n3 -> n0 at t = 0, each repeater room for one circuit. Both
    failed ERR NORES after 9 setups that refused each other; now both are served, the report's setup messages
    are the capture's, and the same seed gives the same bytes."""
    captures = []
    for _ in range(2):
        capture = io.BytesIO()
        report = build_report(run_scenario(load_text(CONTENTION, "dl.toml"), seed=seed, pcap=capture,
                                           secret=b"tests only: a fixed key, so same seed same bytes"))
        captures.append(capture.getvalue())
    assert captures[0] == captures[1]
    assert [(w["pairs_delivered"], w["pairs_delivered_remote"], w["errors"]) for w in report["workload"]] \
        == [(10, 10, [])] * 2
    circuits = report["circuits"]
    assert max(c["setup_attempts"] for c in circuits) > 1         # they did contend
    ids = {name: node["node_id"] for name, node in report["nodes"].items()}
    for circuit in circuits:
        head = ids[circuit["head"]]
        captured = Counter(MESSAGE_TYPES[p[1]] for _, port, p in udp_payloads(read_pcap(captures[0]))
                           if port == QNCP_PORT and int.from_bytes(p[8:12], "big") == head)
        counted = {k: v for k, v in circuit["messages"].items() if k != "TRACK"}
        assert counted == dict(captured), circuit["head"]


def test_a_request_without_max_time_waits_until_the_generation_window_ends() -> None:
    """No Max Time, no room at the repeater for 2 s: the head keeps setting up again (it gave up with ERR NORES
    after 8 backoffs, ~0.5 s, though the run went on); the window's end turns the wait into ERR TIMEOUT, which
    the report's record says too (it said "closed", the refused attempt's end)."""
    chain = Chain(2)
    chain.engines[REPEATER].node.circuits.max_circuits = 0
    chain.create(number=1)
    chain.run()
    chain.advance(chain.now + 2 * 10**9)
    stats = chain.engines[1].node.records[(1, 1)]
    assert not chain.errs(1) and stats.setup_attempts > 20        # waits of at most 64 RTOs (~64 ms) at the end
    for node in chain.route:
        chain.apply(node, chain.engines[node].handle(GenerationOver(), chain.now))
    chain.run()
    assert [e.err for e in chain.errs(1)] == [ll.ERR_TIMEOUT] and stats.ended == "TIMEOUT"
    chain.advance(chain.now + 10**10)
    assert chain.settled() and not chain.received[2]


def test_refusal_records_go_once_no_copy_of_the_setup_or_refusal_can_come() -> None:
    """Forty requests refused UNSUPP at the second repeater (4, one qubit), relayed by the first (3) to the head
    (1), every SETUP_REPLY_ACK lost (each refusal is sent retries + 1 times, and each copy answered): each
    node keeps the refusal's record by Circuit ID (and 3 and 4 the refusal itself, wire.md §9.3.3) only until
    the last copy of the SETUP or of the refusal can have come, (retries + 1) RTOs; they no longer pile up
    over a run. Everything each node sent about the refused circuits is still counted in their records: none
    went before its last message."""
    chain = Chain(3)
    chain.engines[4].node.circuits.qubits = 1
    chain.lose = lambda source, target, payload: payload[1] == SETUP_REPLY_ACK
    nodes = (1, 3, 4)
    lifetime = max((chain.engines[n].node.config.retries + 1) * chain.engines[n].node.rto(p)
                   for n in nodes for p in (1, 2, 3, 4) if p != n)
    for request in range(40):
        chain.create(number=1)
        chain.run()
        assert len(chain.errs(1)) == request + 1
        assert all(len(chain.engines[n].node.refusals) == 1 for n in nodes)
        chain.advance(chain.now + lifetime + 1)
        assert not any(chain.engines[n].node.refusals for n in nodes)
        assert not chain.engines[3].signalling.refused and not chain.engines[4].signalling.refused
    signalling = {MESSAGE_TYPES[t] for t in (SETUP, SETUP_ACK, SETUP_REPLY, SETUP_REPLY_ACK)}
    for n in nodes:
        sent = Counter(MESSAGE_TYPES[p[1]] for m, port, p in chain.sent if m == n and port == QNCP_PORT)
        counted: Counter[str] = Counter()
        for record in chain.engines[n].node.records.values():
            counted.update(record.messages)
        assert sent and counted == sent and set(sent) <= signalling
        assert n == 1 or sent["SETUP_REPLY"] == 40 * (chain.engines[n].node.config.retries + 1)
    assert chain.settled()
