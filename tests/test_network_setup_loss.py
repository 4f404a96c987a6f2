"""Circuit setup under classical loss: a refusal a repeater relays is retransmitted until SETUP_REPLY_ACK, so
the head learns the real cause (REJECTED, NORES and its backoff) and not ERR TIMEOUT; a copy of the SETUP that
comes after the repeater relayed the refusal sets nothing up; and every setup message sent, over every attempt
of a request, is counted in the nodes' records (the report's ``circuits[].messages``): engines driven directly
(tests/network_harness.py), and the walker's rej.toml run on every seed.
"""

from __future__ import annotations

import io
import itertools
from collections import Counter
from collections.abc import Callable

import pytest

from protocols.common import QNCP_PORT
from protocols.packets import linkservice as ll
from protocols.packets.qncp_common import MESSAGE_TYPES, SETUP, SETUP_ACK, SETUP_REPLY, SETUP_REPLY_ACK
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_text
from tests.network_harness import Chain, ip
from tests.pcap_util import read_pcap, udp_payloads
from tests.test_network_nores import deliver

REPEATER = 3


def lose_first(kind: int, source: int, target: int, copies: int = 1) -> Callable[[int, int, bytes], bool]:
    """A channel that loses the first ``copies`` datagrams of QNCP type ``kind`` from ``source`` to ``target``."""
    lost = itertools.count()

    def lose(s: int, t: int, payload: bytes) -> bool:
        return (s, t) == (source, target) and len(payload) > 1 and payload[1] == kind and next(lost) < copies
    return lose


@pytest.mark.parametrize("copies", [1, 3])
def test_a_relayed_refusal_lost_is_sent_again_and_the_head_gets_its_cause(copies: int) -> None:
    """Nothing listens at the tail: REJECTED, relayed by the repeater. Its relay was dropped when the repeater
    closed the circuit, so one lost copy made the head end ERR TIMEOUT (rej.toml: seeds 1, 2, 4, 6, 7 of 1-8)."""
    chain = Chain(2, listen=False)
    chain.lose = lose_first(SETUP_REPLY, REPEATER, 1, copies)
    chain.create(number=1)
    chain.run()
    assert not chain.errs(1)
    chain.advance(chain.now + 10**9)
    assert [e.err for e in chain.errs(1)] == [ll.ERR_REJECTED]
    relayed = [p for n, _, p in chain.sent if n == REPEATER and p[1] == SETUP_REPLY]
    assert len(relayed) == copies + 1
    assert chain.settled()


def test_a_lost_nores_still_backs_off_and_the_request_is_served() -> None:
    """The tail's circuit table is full: NORES, relayed. A lost relay left the head to its setup timeout (ERR
    TIMEOUT) instead of the backoff; now the copy comes, the head waits and sets up again when there is room."""
    chain = Chain(2)
    tail = chain.engines[2].node.circuits
    tail.max_circuits = 0
    chain.lose = lose_first(SETUP_REPLY, REPEATER, 1)
    chain.create(number=2)
    chain.run()
    chain.advance(chain.now + 3_000_000)            # the relay's retransmission (an RTO), the first backoff
    stats = chain.engines[1].node.records[(1, 1)]
    assert stats.nores_retries >= 1 and not chain.errs(1)
    tail.max_circuits = 64
    chain.advance(chain.now + 200_000_000)
    deliver(chain)
    assert chain.delivered[1].keys() == chain.delivered[2].keys() == {0, 1}
    assert not chain.errs(1) and not chain.errs(2)
    chain.finish()
    assert chain.settled()


def test_a_copy_of_a_setup_after_the_repeater_relayed_its_refusal_goes_no_further() -> None:
    """Once the repeater has relayed the tail's refusal and forgotten the circuit, a late copy of the head's SETUP
    (its SETUP_ACK lost) is answered SETUP_ACK only: it was set up anew and forwarded to the tail again."""
    chain = Chain(2, listen=False)
    chain.create(number=1)
    chain.run()
    (setup,) = [p for n, _, p in chain.sent if n == 1 and p[1] == SETUP]
    chain.advance(chain.now + 1_000)                # the repeater forgets the closed circuit (it installed nothing)
    assert (1, setup[4] << 8 | setup[5]) not in chain.engines[REPEATER].node.circuits.by_handle
    before = len(chain.sent)
    chain.queue.append((REPEATER, setup, (ip(1), QNCP_PORT), QNCP_PORT))
    chain.run()
    assert [(n, p[1]) for n, _, p in chain.sent[before:]] == [(REPEATER, SETUP_ACK)]
    chain.advance(chain.now + 10**9)
    assert not chain.engines[REPEATER].signalling.refused and chain.settled()


def sent_by(chain: Chain, node: int, head: int) -> Counter[str]:
    """QNCP datagrams ``node`` sent about circuits of ``head`` (lost ones too), by type: the capture's count."""
    return Counter(MESSAGE_TYPES[p[1]] for n, port, p in chain.sent
                   if n == node and port == QNCP_PORT and int.from_bytes(p[8:12], "big") == head)


@pytest.mark.parametrize("lossy", [False, True])
def test_setup_messages_of_every_attempt_are_counted_as_sent(lossy: bool) -> None:
    """A request refused NORES at the second repeater (1 - 3 - 4 - 2, 4's table full) three times (``lossy``: the
    first repeater's ACKs and relays lost now and then), then served: each node's record counts what it sent,
    every attempt's setup messages included. The first repeater's record of an earlier attempt was replaced by
    the next one's (the walker's nores.toml: 10 setup messages of each type in the report, 18 in the capture)."""
    chain = Chain(3)
    far = chain.engines[4].node.circuits
    far.max_circuits = 0
    lost = itertools.count()
    chain.lose = lambda s, t, p: lossy and s == REPEATER and p[1] in (SETUP_REPLY, SETUP_ACK) and next(lost) % 3 == 0
    chain.create(number=2)
    chain.run()
    for _ in range(100):
        if chain.engines[1].node.records[(1, 1)].setup_attempts >= 3 or chain.errs(1):
            break
        chain.advance(chain.now + 1_000_000)
    assert chain.engines[1].node.records[(1, 1)].setup_attempts == 3 and not chain.errs(1)
    far.max_circuits = 64
    chain.lose = lambda s, t, p: False
    chain.advance(chain.now + 300_000_000)
    deliver(chain)
    assert chain.delivered[1].keys() == chain.delivered[2].keys() == {0, 1}
    chain.finish()
    for node in chain.route:
        counted = Counter(chain.engines[node].node.records[(1, 1)].messages)
        counted.pop("TRACK", None)
        assert counted == sent_by(chain, node, 1), node
    assert sent_by(chain, REPEATER, 1)[MESSAGE_TYPES[SETUP_REPLY_ACK]] >= 3       # one per attempt at least


REJ = """
[run]
duration_ms = 1000.0
[nodes.a]
kind = "qpu"
[nodes.r]
kind = "qpu"
[nodes.b]
kind = "qpu"
[nodes.s1]
kind = "station"
[nodes.s2]
kind = "station"
[links.a-r]
a = "a"
b = "r"
station = "s1"
length_km = 1.0
classical_loss = 0.3
[links.r-b]
a = "r"
b = "b"
station = "s2"
length_km = 1.0
[[workload]]
node = "a"
remote = "b"
pairs = 5
listen = false
"""


@pytest.mark.parametrize("seed", range(1, 9))
def test_a_refusal_under_loss_reaches_the_head_on_every_seed(seed: int) -> None:
    """The walker's rej.toml (nothing listens at b, 30 % loss between a and r): ERR REJECTED at the head on every
    seed (seeds 1, 2, 4, 6, 7 ended ERR TIMEOUT), and the report counts the setup messages the capture holds."""
    capture = io.BytesIO()
    report = build_report(run_scenario(load_text(REJ, "rej.toml"), seed=seed, pcap=capture))
    (circuit,) = report["circuits"]
    assert circuit["errors"] == {"head": ["REJECTED"], "tail": []}
    captured = Counter(MESSAGE_TYPES[p[1]] for _, port, p in udp_payloads(read_pcap(capture.getvalue()))
                       if port == QNCP_PORT)
    assert circuit["messages"] == dict(captured) and captured["SETUP_REPLY"] >= 2
