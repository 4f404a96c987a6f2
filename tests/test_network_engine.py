"""The network layer's engines driven directly (sans-IO), with the link layer and the medium played by
tests/network_harness.py: the P4 rule byte for byte, tracking under reordering and duplication, expiry
("poison") across swaps, setup refusals and retries, and failures ending at both ends the same way.
"""

from __future__ import annotations

import itertools
import random
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common import QNCP_PORT, QNP_PORT
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Confirm, PairMessage, Setup, decode_qncp
from protocols.packets.qncp_common import (
    CONFIRM_ACK,
    EXPIRE,
    REASON_LINK_EXPIRED,
    REASON_SWAP_FAILED,
    REASON_UNKNOWN,
    TEARDOWN,
)
from protocols.physical.hardware import BellMeasure, CommandRejected, Discard, Measure
from tests.network_harness import PURPOSE, Chain


def p4(bell: int) -> int:
    """qnetstack's Bell index x | z << 1 as P4's x << 1 | z (docs/wire.md §9.2.2), written out again."""
    x, z = bell & 1, bell >> 1
    return x << 1 | z


def qncp_sent(chain: Chain, start: int = 0, by: int | None = None) -> list:
    return [decode_qncp(p) for n, port, p in chain.sent[start:] if port == QNCP_PORT and by in (None, n)]


def label_of(chain: Chain, hop: int) -> int:
    a, b = chain.route[hop - 1], chain.route[hop]
    return next(r.label for r in chain.requests if {r.origin, r.peer} == {a, b})


def test_a_repeater_forwards_the_p4_rule_for_all_64_combinations() -> None:
    """out = in ⊕ m ⊕ b_out in the QNP header, the outgoing hop's EGP header, P4's bit order: the exact bytes
    of v1quantum's 0x4402 frame (egp_t then qnp_t, bell_index the top two bits of each second word)."""
    chain = Chain(2)
    chain.create(number=64)
    chain.run()
    circuit_id = chain.engines[1].circuits[0].handle[1]
    for n, (bell_in, m, bell_out) in enumerate(itertools.product(range(4), repeat=3)):
        s1 = chain.pair(1, bell=bell_in)                  # the head's TRACK carries b1 = bell_in
        s2 = chain.pair(2, bell=bell_out)
        start = len(chain.sent)
        chain.answer(m=m)
        tracks = [payload for node, port, payload in chain.sent[start:] if node == 3 and port == QNP_PORT]
        expected = struct.pack("!HHIHHI", label_of(chain, 2), s2, p4(bell_out) << 30, circuit_id, s1,
                               p4(bell_in ^ m ^ bell_out) << 30)
        assert tracks == [expected], (bell_in, m, bell_out)
        truth = bell_in ^ m ^ bell_out
        assert chain.delivered[1][n] == chain.delivered[2][n] == (truth, truth)
    chain.finish()
    assert chain.settled()
    assert all(engine.counters.bell_mismatches == 0 for engine in chain.engines.values())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), hops=st.integers(1, 4), duplicate=st.sampled_from([0.0, 0.3]))
def test_tracking_is_exact_whatever_the_order_and_duplication_of_messages(seed: int, hops: int,
                                                                          duplicate: float) -> None:
    """Every datagram (link OKs included, so TRACKs overtake them) is delivered in a random order, some
    twice: both ends still get every pair once, with the same number and the true Bell state."""
    rng = random.Random(seed)
    pairs = 6
    chain = Chain(hops, window=rng.choice([1, 2]))
    chain.create(number=pairs)
    chain.run(rng, duplicate)
    for _ in range(200):
        if len(chain.delivered[1]) == pairs and len(chain.delivered[2]) == pairs:
            break
        for hop in range(1, hops + 1):
            if chain.open_request(hop) is not None:
                chain.pair(hop, bell=rng.randrange(4), queued=True)
        chain.run(rng, duplicate)
        chain.answer(m=rng.randrange(4))
        chain.run(rng, duplicate)
    head, tail = chain.delivered[1], chain.delivered[2]
    assert sorted(head) == sorted(tail) == list(range(pairs))
    for n in range(pairs):
        assert head[n][0] == head[n][1] == tail[n][0] == tail[n][1]
    assert not chain.errs(1) and not chain.errs(2)
    chain.finish()
    assert chain.settled()


def test_a_retracted_link_pair_poisons_the_delivered_pair_across_three_swaps() -> None:
    """A 4-hop chain delivers pair 0; then the link layer retracts the middle hop's pair at both its ends.
    The EXPIREs cross the swap records both ways: both ends report pair 0 expired, once."""
    chain = Chain(4)
    chain.create(number=2)
    chain.run()
    seqs = [chain.pair(hop) for hop in range(1, 5)]
    for _ in range(3):
        chain.answer()
    assert 0 in chain.delivered[1] and 0 in chain.delivered[2]
    start = len(chain.sent)
    for node in (chain.route[1], chain.route[2]):
        chain.link_err(2, node, ll.ERR_EXPIRE, seq=seqs[1])
    for end in (1, 2):
        (err,) = chain.errs(end)
        assert (err.err, err.s, err.sequence_number_low, err.sequence_number_high) == (ll.ERR_EXPIRE, 1, 0, 1)
    expires = [m for m in qncp_sent(chain, start) if isinstance(m, PairMessage) and m.msg_type == EXPIRE]
    assert {m.reason for m in expires} == {REASON_LINK_EXPIRED}
    assert len(expires) <= 2 + 2 * 3          # each hop crossed at most once each way, plus the retracted hop's
    for hop in range(1, 5):                    # the second pair still goes through
        chain.pair(hop)
    for _ in range(3):
        chain.answer()
    assert 1 in chain.delivered[1] and 1 in chain.delivered[2]
    chain.finish()
    assert chain.settled()


def test_an_early_track_whose_link_pair_is_retracted_gets_expire_back() -> None:
    chain = Chain(2)
    chain.create(number=1)
    chain.run()
    seq = chain.pair(1, to=(1,))                  # only the head (the link's master) has its OK so far
    track = [p for n, port, p in chain.sent if n == 1 and port == QNP_PORT]
    assert len(track) == 1                        # the repeater took it as early: TRACK_ACK, no EXPIRE yet
    start = len(chain.sent)
    chain.link_err(1, 3, ll.ERR_EXPIRE, seq=seq)
    (expire,) = [m for m in qncp_sent(chain, start, by=3) if isinstance(m, PairMessage) and m.msg_type == EXPIRE]
    assert (expire.reason, expire.link_id, expire.pair_seq) == (REASON_LINK_EXPIRED, 1, seq)
    assert any(isinstance(c, Discard) for n, c in chain.hardware if n == 1)     # the head dropped its half


def test_a_failed_swap_expires_both_sides() -> None:
    chain = Chain(3)
    chain.create(number=1)
    chain.run()
    s1, s2 = chain.pair(1), chain.pair(2)
    start = len(chain.sent)
    assert [type(c) for n, c in chain.hardware if n == 3] == [BellMeasure]
    chain.answer(success=False)
    expires = {(m.link_id, m.pair_seq): m.reason for m in qncp_sent(chain, start, by=3)
               if isinstance(m, PairMessage) and m.msg_type == EXPIRE}
    assert expires == {(1, s1): REASON_SWAP_FAILED, (2, s2): REASON_SWAP_FAILED}
    assert {n for n, c in chain.hardware if isinstance(c, Discard)} == {1, 4}   # the neighbours' halves


def test_a_refused_bell_measurement_fails_the_swap_at_both_sides() -> None:
    """The medium refuses a repeater's BellMeasure (CommandRejected, no result will come): the halves die as
    in a failed swap (EXPIRE SWAP_FAILED both ways), the repeater drops its slots, and the engine counts it."""
    chain = Chain(3)
    chain.create(number=1)
    chain.run()
    s1, s2 = chain.pair(1), chain.pair(2)
    (command,) = [c for n, c in chain.hardware if n == 3]
    assert isinstance(command, BellMeasure)
    chain.hardware.clear()
    start = len(chain.sent)
    chain.apply(3, chain.engines[3].handle(CommandRejected("BellMeasure", command.slot_a, "no qubit"), chain.now))
    chain.run()
    expires = {(m.link_id, m.pair_seq): m.reason for m in qncp_sent(chain, start, by=3)
               if isinstance(m, PairMessage) and m.msg_type == EXPIRE}
    assert expires == {(1, s1): REASON_SWAP_FAILED, (2, s2): REASON_SWAP_FAILED}
    assert {(n, c.slot) for n, c in chain.hardware if isinstance(c, Discard) and n == 3} == {
        (3, command.slot_a), (3, command.slot_b)}
    assert chain.engines[3].counters.hardware_refusals == 1


def test_a_refused_measurement_at_an_end_expires_the_pair_at_both_ends() -> None:
    chain = Chain(1)
    chain.create(number=1, tpe=ll.TPE_MEASURE)
    chain.run()
    seq = chain.pair(1)
    measures = [(n, c) for n, c in chain.hardware if isinstance(c, Measure)]
    assert {n for n, _ in measures} == {1, 2}
    chain.hardware.clear()
    start = len(chain.sent)
    slot = next(c.slot for n, c in measures if n == 2)
    chain.apply(2, chain.engines[2].handle(CommandRejected("Measure", slot, "no qubit"), chain.now))
    chain.run()
    (expire,) = [m for m in qncp_sent(chain, start, by=2) if isinstance(m, PairMessage) and m.msg_type == EXPIRE]
    assert (expire.reason, expire.pair_seq) == (REASON_UNKNOWN, seq)
    assert chain.engines[2].counters.hardware_refusals == 1


def test_inuse_makes_the_head_retry_with_another_circuit_id() -> None:
    chain = Chain(2)
    chain.engines[3].node.circuits.by_id[0x0101] = (9, 0x0101)      # another head's circuit at the repeater
    chain.create(number=1)
    chain.run()
    setups = [m.circuit_id for m in qncp_sent(chain) if isinstance(m, Setup) and m.hop_index == 1]
    assert setups == [0x0101, 0x0102]
    for hop in (1, 2):
        chain.pair(hop)
    chain.answer()
    assert len(chain.delivered[1]) == len(chain.delivered[2]) == 1
    assert chain.engines[1].node.records[(1, 1)].setup_attempts == 2


def test_setup_refusals_reach_the_application() -> None:
    cases = [
        (dict(extra_nodes=(9,)), dict(remote=9), ll.ERR_NOPATH),   # an isolated QPU
        ({}, dict(remote=1), ll.ERR_UNSUPP),                      # itself
        ({}, dict(ato=1), ll.ERR_UNSUPP),                         # atomic across repeaters
        ({}, dict(con=0), ll.ERR_UNSUPP),                         # CON clear with keep is atomic too
        (dict(listen=False), {}, ll.ERR_REJECTED),                # nothing listens at the tail
        (dict(comm={3: 1}), {}, ll.ERR_UNSUPP),                   # the repeater has one qubit, never two
    ]                                                             # (NORES, retried: tests/test_network_nores.py)
    for chain_args, create_args, code in cases:
        chain = Chain(2, **chain_args)
        chain.create(**create_args)
        chain.run()
        if code == ll.ERR_NORES:
            chain.advance(10**10)                   # NORES is retried with backoff (within Max Time)
        (err,) = chain.errs(1)
        assert err.err == code, (chain_args, create_args)
        assert not chain.received[2]                              # the tail's application never knew
        chain.advance(10**11)
        assert chain.settled()


def test_a_link_that_goes_down_tears_the_circuit_down_with_down_at_both_ends() -> None:
    chain = Chain(2)
    chain.create(number=5)
    chain.run()
    for hop in (1, 2):
        chain.pair(hop)
    chain.answer()
    start = len(chain.sent)
    chain.link_err(2, 3, ll.ERR_OTHER)            # the hop's link request fails: its link is down
    teardowns = [m for m in qncp_sent(chain, start) if getattr(m, "msg_type", None) == TEARDOWN]
    assert {m.status for m in teardowns} == {ll.ERR_DOWN}
    assert [e.err for e in chain.errs(1)] == [e.err for e in chain.errs(2)] == [ll.ERR_DOWN]
    chain.finish()
    assert chain.settled()


def test_max_time_ends_the_request_with_timeout_at_both_ends() -> None:
    chain = Chain(2)
    chain.create(number=3, tu=0, max_time=500)    # 500 µs
    chain.run()
    chain.advance(600_000)
    assert [e.err for e in chain.errs(1)] == [e.err for e in chain.errs(2)] == [ll.ERR_TIMEOUT]
    chain.finish()
    assert chain.settled()


def test_the_tail_decides_a_teardown_that_comes_after_every_pair_is_numbered() -> None:
    """The repeater tears the circuit down (its link failed) while the tail's CONFIRM of the last pair is on
    its way to the head. The tail has numbered every pair, so the request is decided: no ERR at either
    end; the head, which discarded its half on the TEARDOWN, answers CONFIRM with EXPIRE and both ends
    report the pair expired."""
    chain = Chain(2)
    chain.create(number=1)
    chain.run()
    chain.pair(1)
    chain.pair(2)
    chain.held = {1}                               # the head hears nothing for now
    chain.answer()
    assert 0 in chain.delivered[2]
    chain.link_err(1, 3, ll.ERR_OTHER)             # the repeater's hop-1 link goes down: TEARDOWN(DOWN)
    assert not chain.errs(2)                       # the tail decided: no ERR
    chain.waiting.rotate(1)                        # the TEARDOWN overtakes the CONFIRM
    chain.release()
    chain.finish()
    assert [e.err for e in chain.errs(1)] == [e.err for e in chain.errs(2)] == [ll.ERR_EXPIRE]
    assert 0 not in chain.delivered[1]
    assert chain.settled()
    assert chain.engines[2].purposes[PURPOSE] == chain.app[2]


def test_the_link_layer_hands_requests_for_link_labels_to_the_network_layer() -> None:
    """Purpose IDs 0x8000 and above are a circuit's link labels: the peer's link layer takes such a request
    for its network layer (its OKs and ERRs go to port 7773), or refuses it when the node has none."""
    from protocols.common import EGP_PORT, LINK_SERVICE_PORT, NETWORK_SERVICE_PORT
    from protocols.link.layer import LinkConfig, LinkLayer
    from protocols.packets.egp import EgpMessage

    network = ("198.18.0.2", NETWORK_SERVICE_PORT)
    for listener, status in ((network, 0), (None, ll.ERR_REJECTED)):
        origin = LinkLayer(1, [LinkConfig(1, 2, ("198.18.0.2", EGP_PORT), 1e9, 1e9)], {}, 50_000, 3)
        peer = LinkLayer(2, [LinkConfig(1, 1, ("198.18.0.1", EGP_PORT), 1e9, 1e9)], {7: ("198.18.0.2", 49152)},
                         50_000, 3, network=listener)
        out = origin.receive(ll.Create(remote_node_id=2, purpose_id=0x8001).encode(),
                             ("198.18.0.1", NETWORK_SERVICE_PORT), LINK_SERVICE_PORT, 0)
        (req,) = [payload for destination, payload in out.send if destination[1] == EGP_PORT]
        (reply,) = [p for _, p in peer.receive(req, ("198.18.0.1", EGP_PORT), EGP_PORT, 1_000).send]
        assert EgpMessage.decode(reply).status == status
        if listener is not None:
            (request,) = peer.requests.values()
            assert request.app == network


def test_a_confirm_that_waited_for_the_head_s_measurement_is_answered_to_the_node_it_came_from() -> None:
    """Measure-directly across a repeater: the tail's CONFIRM, relayed by r1, reaches the head while its half is
    still being measured, and waits. The CONFIRM_ACK then goes back to r1, as an answer given at once does (it
    went to the tail itself, which dropped it as from the wrong sender, and r1 waited for a retransmission)."""
    chain = Chain(2)
    chain.create(number=1, tpe=ll.TPE_MEASURE)
    chain.run()
    for hop in (1, 2):
        chain.pair(hop)
    head_measures = [(n, c) for n, c in chain.hardware if n == 1]
    assert head_measures and all(isinstance(c, Measure) for _, c in head_measures)
    chain.hardware = [(n, c) for n, c in chain.hardware if n != 1]
    chain.answer()                                  # the swap, the tail's measurement, its CONFIRM to r1, to the head
    start = len(chain.sent)
    chain.hardware = head_measures
    chain.answer()
    acks = [m for m in qncp_sent(chain, start, by=1) if isinstance(m, Confirm) and m.msg_type == CONFIRM_ACK]
    assert len(acks) == 1                           # the head answered once its measurement came, not before
    assert chain.engines[2].counters.wrong_sender == chain.engines[3].counters.wrong_sender == 0
    assert [len([m for m in chain.received[n] if isinstance(m, ll.OkMeasure)]) for n in (1, 2)] == [1, 1]
