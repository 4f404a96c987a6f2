"""Sans-IO engines driven by hand: no trio, no runtime, just method calls with ``now``.

Expected bytes are read with ``struct`` straight from the bit diagrams (heralding.py,
egp.py, draft-dahlberg-ll-quantum-03 figures 2-5) and expected goodness values from the
closed form for a dephased Werner state, not from the engines' own helpers.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.apps.workload import EntanglementUser
from protocols.common import EGP_PORT, HERALD_PORT, LINK_SERVICE_PORT, Actions, Basis, BellState, ParseError
from protocols.link import layer as linkmod
from protocols.link.layer import TRANSITIONS, LinkConfig, LinkLayer, QueuePolicy, RequestEvent, RequestState
from protocols.link.types import FOLLOW_PAIRS, RELIABLE_RETRIES
from protocols.packets.egp import EgpMessage
from protocols.packets.heralding import Herald, decode_shared_herald
from protocols.packets.linkservice import Create
from protocols.physical.hardware import Arm, Detection, Disarm, Discard, Emitted, Measure, MeasureResult
from protocols.physical.node import (
    AttemptLost,
    NodePhysical,
    PairReady,
    StartGeneration,
    Station,
    StopGeneration,
)

A_HERALD = ("198.18.0.1", HERALD_PORT)
B_HERALD = ("198.18.0.2", HERALD_PORT)
IP1, IP2 = "198.18.0.1", "198.18.0.2"
APP1 = (IP1, 49152)
APP2 = (IP2, 49152)
EGP1, EGP2 = (IP1, EGP_PORT), (IP2, EGP_PORT)
PURPOSE = 5
LINK = 1

# Message type nibbles and error codes, from draft-dahlberg-ll-quantum-03 section 4.
T_ACK, T_OK_K, T_OK_M, T_ERR = 1, 2, 3, 4
E_UNSUPP, E_CREATE, E_REJECTED, E_TIMEOUT = 1, 2, 3, 6


# -- decoding by hand -------------------------------------------------------------------------

def parse_herald(data: bytes) -> dict[str, int]:
    """HERALD, 28 bytes: ver, type, outcome, bell | link(16), scheme, rsvd | seq(64) | attempts(32) | time(64)."""
    assert len(data) == 28
    return {"version": data[0], "type": data[1], "outcome": data[2], "bell": data[3],
            "link": int.from_bytes(data[4:6], "big"), "scheme": data[6], "reserved": data[7],
            "seq": int.from_bytes(data[8:16], "big"), "attempts": int.from_bytes(data[16:20], "big"),
            "time": int.from_bytes(data[20:28], "big")}


def w0(data: bytes) -> int:
    return int.from_bytes(data[:4], "big")


def parse_ack(data: bytes) -> int:
    assert len(data) == 4 and data[0] >> 4 == T_ACK
    return w0(data) >> 12 & 0xFFFF


def parse_err(data: bytes) -> dict[str, int]:
    assert len(data) == 12 and data[0] >> 4 == T_ERR
    word = w0(data)
    return {"create_id": word >> 12 & 0xFFFF, "err": word >> 8 & 0xF,
            "origin": int.from_bytes(data[8:12], "big")}


def parse_ok(data: bytes) -> dict[str, int]:
    """OK-K / OK-M: 16 bytes; word 0 differs, the rest is seq, purpose, remote, goodness, (tog)."""
    assert len(data) == 16
    word = w0(data)
    kind = word >> 28
    fields = {"type": kind, "create_id": word >> 12 & 0xFFFF, "bell": word >> 5 & 3,
              "seq": int.from_bytes(data[4:6], "big"), "purpose": int.from_bytes(data[6:8], "big"),
              "remote": int.from_bytes(data[8:12], "big"), "goodness": int.from_bytes(data[12:14], "big"),
              "tog": int.from_bytes(data[14:16], "big")}
    if kind == T_OK_K:
        fields.update(lqid=word >> 8 & 0xF, d=word >> 7 & 1)
    else:
        assert kind == T_OK_M
        fields.update(m=word >> 11 & 1, d=word >> 10 & 1, basis=word >> 7 & 7)
    return fields


def parse_egp(data: bytes) -> dict[str, Any]:
    """EGP header: ver, type, status, rsvd | create_id(16), link_id(16) | origin(32) | queue seq(32)
    [+ CREATE, REQ only]."""
    assert len(data) in (16, 24, 28, 40)       # header, + SCHEDULE body, + CONFIRM body, + CREATE
    fields = {"version": data[0], "type": data[1], "status": data[2],
              "create_id": int.from_bytes(data[4:6], "big"), "link": int.from_bytes(data[6:8], "big"),
              "origin": int.from_bytes(data[8:12], "big"), "queue_seq": int.from_bytes(data[12:16], "big"),
              "body": data[16:]}
    if len(data) == 24:                        # SCHEDULE / SCHEDULE_ACK: run(32) | pairs(16) | reserved(16)
        fields.update(run=int.from_bytes(data[16:20], "big"), pairs=int.from_bytes(data[20:22], "big"))
    return fields


# -- Station ----------------------------------------------------------------------------------

def station(window: int = 2) -> Station:
    return Station({LINK: (A_HERALD, B_HERALD)}, detection_window_ns=window)


@pytest.mark.parametrize(("clicks", "outcome", "bell"), [
    (((1, 0, 100), (2, 0, 200)), 1, BellState.PSI_PLUS),
    (((1, 1, 100), (2, 1, 200)), 1, BellState.PSI_PLUS),
    (((1, 0, 100), (2, 1, 200)), 1, BellState.PSI_MINUS),
    (((1, 1, 100), (2, 0, 200)), 1, BellState.PSI_MINUS),
    (((1, 0, 100), (1, 1, 101), (2, 0, 200)), 0, None),   # two clicks in round 1
    (((1, 0, 100), (2, 0, 200), (2, 1, 201)), 0, None),   # two clicks in round 2
    (((1, 0, 100),), 0, None),                            # nothing in round 2
    (((2, 0, 200),), 0, None),                            # nothing in round 1
    ((), 0, None),
])
def test_station_heralds_double_click_pattern(clicks: Any, outcome: int, bell: BellState | None) -> None:
    st_ = station()
    out = st_.handle(Detection(LINK, attempt_seq=0x1_0000_0007, attempts=42, clicks=clicks,
                               arrivals=(1000, 1001)), now=5_000_000_123)
    assert [dest for dest, _ in out.send] == [A_HERALD, B_HERALD]
    assert out.send[0][1] == out.send[1][1]
    raw = parse_herald(out.send[0][1])
    assert raw["version"] == 1 and raw["type"] == 1 and raw["scheme"] == 1 and raw["reserved"] == 0
    assert raw["outcome"] == outcome
    assert raw["link"] == LINK
    assert raw["seq"] == 0x1_0000_0007
    assert raw["attempts"] == 42
    assert raw["time"] == 5_000_000_123
    herald = Herald.decode(out.send[0][1])
    assert herald.outcome == outcome
    if bell is not None:
        assert herald.bell_state == bell
        assert (st_.successes, st_.failures) == (1, 0)
    else:
        assert (st_.successes, st_.failures) == (0, 1)
    assert out.up == [] and out.down == [] and out.hardware == [] and out.deadline is None


@pytest.mark.parametrize(("arrivals", "outcome"), [
    ((1000, 1000), 1), ((1000, 1005), 1), ((1005, 1000), 1),   # |Δ| == window: still interferes
    ((1000, 1006), 0), ((1006, 1000), 0), ((0, 10**9), 0),
])
def test_station_detection_window(arrivals: tuple[int, int], outcome: int) -> None:
    out = station(window=5).handle(Detection(LINK, 3, 1, ((1, 0, 1), (2, 0, 2)), arrivals), now=7)
    assert Herald.decode(out.send[0][1]).outcome == outcome
    assert parse_herald(out.send[1][1])["outcome"] == outcome


def test_station_ignores_unknown_link_and_counts_datagrams_as_malformed() -> None:
    st_ = station()
    out = st_.handle(Detection(99, 1, 1, ((1, 0, 1), (2, 0, 2)), (0, 0)), now=1)
    assert out.send == []
    assert st_.receive(b"\x01\x01", ("198.18.0.9", 1), HERALD_PORT, now=2).send == []
    assert st_.malformed == 1


# -- NodePhysical -----------------------------------------------------------------------------

WERNER_PSI_MINUS = (0.025, 0.025, 0.025, 0.925)


def emitted(seq: int, t: int, slot: int = 0, outcome: int | None = None,
            basis: Basis | None = None) -> Emitted:
    return Emitted(LINK, slot, qubit_id=100 + seq, attempt_seq=seq, emission_time=t,
                   distribution=WERNER_PSI_MINUS, outcome=outcome, basis=basis)


def herald_bytes(seq: int, outcome: int = 1, bell: int = 3, attempts: int = 17, link: int = LINK,
                 t: int = 0) -> bytes:
    """A HERALD built field by field from the bit diagram."""
    return (bytes((1, 1, outcome, bell)) + link.to_bytes(2, "big") + bytes((1, 0))
            + seq.to_bytes(8, "big") + attempts.to_bytes(4, "big") + t.to_bytes(8, "big"))


def test_node_physical_arms_and_disarms_hardware() -> None:
    phy = NodePhysical(herald_timeout_ns=10_000)
    out = phy.handle(StartGeneration(LINK, pairs=7), now=0)
    assert out.hardware == [Arm(LINK, 7, None)]
    assert out.up == [] and out.send == []
    out = phy.handle(StartGeneration(LINK, pairs=2, measure_basis=Basis.X), now=0)
    assert out.hardware == [Arm(LINK, 2, Basis.X)]
    assert phy.handle(StopGeneration(LINK), now=0).hardware == [Disarm(LINK)]


def test_node_physical_pair_ready_on_matching_herald() -> None:
    phy = NodePhysical(herald_timeout_ns=10_000)
    out = phy.handle(emitted(seq=9, t=1_000, slot=1), now=1_000)
    assert out.deadline == 1_000 + 10_000
    assert out.up == []
    assert phy.held_slots() == {1}
    out = phy.receive(herald_bytes(9, bell=BellState.PSI_PLUS, attempts=123), B_HERALD, HERALD_PORT, now=6_000)
    assert len(out.up) == 1
    ready = out.up[0]
    assert isinstance(ready, PairReady)
    assert ready.bell_state == BellState.PSI_PLUS
    assert ready.attempts == 123
    assert (ready.link_id, ready.slot, ready.qubit_id, ready.attempt_seq) == (LINK, 1, 109, 9)
    assert ready.emission_time == 1_000
    assert ready.distribution == WERNER_PSI_MINUS
    assert ready.outcome is None and ready.basis is None
    assert out.hardware == []
    assert out.deadline is None
    assert phy.held_slots() == set()
    # The timer no longer loses it.
    late = phy.on_timer(now=50_000)
    assert late.up == [] and late.hardware == []


def test_node_physical_deadline_is_the_earliest_pending() -> None:
    phy = NodePhysical(herald_timeout_ns=500)
    assert phy.handle(emitted(1, t=2_000, slot=0), now=2_000).deadline == 2_500
    assert phy.handle(emitted(2, t=1_000, slot=1), now=2_000).deadline == 1_500
    assert phy.held_slots() == {0, 1}
    out = phy.receive(herald_bytes(2), A_HERALD, HERALD_PORT, now=1_200)
    assert out.deadline == 2_500


def test_node_physical_timeout_discards_and_reports_lost() -> None:
    phy = NodePhysical(herald_timeout_ns=10_000)
    phy.handle(emitted(seq=4, t=1_000, slot=3), now=1_000)
    early = phy.on_timer(now=10_999)
    assert early.up == [] and early.hardware == []
    assert early.deadline == 11_000
    out = phy.on_timer(now=11_000)
    assert out.hardware == [Discard(3)]
    assert out.up == [AttemptLost(LINK, 4)]
    assert out.deadline is None
    assert phy.lost == 1
    assert phy.held_slots() == set()
    # Its herald now arrives too late: unexpected, not a pair.
    late = phy.receive(herald_bytes(4), A_HERALD, HERALD_PORT, now=12_000)
    assert late.up == []
    assert phy.unexpected == 1


def test_node_physical_timeout_of_measured_emission_discards_nothing() -> None:
    phy = NodePhysical(herald_timeout_ns=100)
    phy.handle(emitted(seq=5, t=0, slot=0, outcome=1, basis=Basis.Z), now=0)
    assert phy.held_slots() == set()          # measured on emission: no qubit is held
    out = phy.on_timer(now=1_000)
    assert out.hardware == []
    assert out.up == [AttemptLost(LINK, 5)]


def test_node_physical_failure_herald_discards_without_telling_the_link_layer() -> None:
    # The hardware knows the attempt failed and keeps attempting: no re-arm is needed.
    phy = NodePhysical(herald_timeout_ns=10_000)
    phy.handle(emitted(seq=6, t=0, slot=2), now=0)
    out = phy.receive(herald_bytes(6, outcome=0, bell=0), A_HERALD, HERALD_PORT, now=10)
    assert out.up == []
    assert out.hardware == [Discard(2)]
    assert (phy.failed, phy.lost) == (1, 0)


def test_node_physical_measured_pair_carries_outcome() -> None:
    phy = NodePhysical(herald_timeout_ns=10_000)
    phy.handle(emitted(seq=8, t=0, slot=0, outcome=1, basis=Basis.Y), now=0)
    ready = phy.receive(herald_bytes(8, bell=2), A_HERALD, HERALD_PORT, now=10).up[0]
    assert (ready.outcome, ready.basis, ready.bell_state) == (1, Basis.Y, BellState.PHI_MINUS)


def test_both_ends_share_one_decoded_herald() -> None:
    payload = herald_bytes(9, bell=BellState.PSI_PLUS)
    first = decode_shared_herald(payload)
    assert first == Herald.decode(payload) and decode_shared_herald(bytes(bytearray(payload))) is first
    pairs = []
    for source in (A_HERALD, B_HERALD):               # the same bytes at both ends: the same pair at each
        phy = NodePhysical(herald_timeout_ns=10_000)
        phy.handle(emitted(seq=9, t=1_000, slot=1), now=1_000)
        pairs += phy.receive(bytes(bytearray(payload)), source, HERALD_PORT, now=6_000).up
    assert len(pairs) == 2 and pairs[0] == pairs[1] and pairs[0].bell_state == BellState.PSI_PLUS
    with pytest.raises(ParseError):
        decode_shared_herald(b"\x02" + payload[1:])      # not kept: it raises each time
    with pytest.raises(ParseError):
        decode_shared_herald(b"\x02" + payload[1:])


@pytest.mark.parametrize("payload", [
    b"", b"\x01", herald_bytes(1)[:-1], herald_bytes(1) + b"\x00",
    b"\x02" + herald_bytes(1)[1:],               # version 2
    herald_bytes(1)[:1] + b"\x03" + herald_bytes(1)[2:],   # message type 3 (undefined)
    herald_bytes(1, outcome=2), herald_bytes(1, bell=4),
    herald_bytes(1)[:6] + b"\x07" + herald_bytes(1)[7:],   # unknown scheme
])
def test_node_physical_malformed_is_counted(payload: bytes) -> None:
    phy = NodePhysical(herald_timeout_ns=10_000)
    phy.handle(emitted(seq=1, t=0), now=0)
    out = phy.receive(payload, A_HERALD, HERALD_PORT, now=5)
    assert out.up == [] and out.hardware == []
    assert out.deadline == 10_000
    assert (phy.malformed, phy.unexpected) == (1, 0)
    assert phy.held_slots() == {0}


def test_node_physical_report_on_a_station_link_is_unexpected() -> None:
    phy = NodePhysical(herald_timeout_ns=10_000)
    phy.handle(emitted(seq=1, t=0), now=0)
    report = herald_bytes(1)[:1] + b"\x02" + herald_bytes(1)[2:]
    out = phy.receive(report, A_HERALD, HERALD_PORT, now=5)
    assert out.up == [] and (phy.malformed, phy.unexpected) == (0, 1)


def test_node_physical_unknown_attempt_is_unexpected() -> None:
    phy = NodePhysical(herald_timeout_ns=10_000)
    phy.handle(emitted(seq=1, t=0), now=0)
    for payload in (herald_bytes(2), herald_bytes(1, link=2)):
        out = phy.receive(payload, A_HERALD, HERALD_PORT, now=5)
        assert out.up == []
    assert (phy.unexpected, phy.malformed) == (0, 0)        # kept a while: its emission may still come
    phy.on_timer(now=10_000)
    assert (phy.unexpected, phy.malformed) == (2, 0)
    assert phy.held_slots() == set()                        # seq 1's own herald never came either


def test_node_physical_herald_overtaking_its_emission_event_still_makes_a_pair() -> None:
    """Between processes the station's HERALD can reach the node before the medium's Emitted."""
    phy = NodePhysical(herald_timeout_ns=10_000)
    assert phy.receive(herald_bytes(5, t=900), A_HERALD, HERALD_PORT, now=950).up == []
    out = phy.handle(emitted(seq=5, t=100), now=1_000)
    [ready] = out.up
    assert isinstance(ready, PairReady) and ready.attempt_seq == 5 and phy.unexpected == 0


# -- LinkLayer --------------------------------------------------------------------------------

T2_1, T2_2 = 1_000_000.0, 2_000_000.0


def link_pair(purposes2: dict[int, Any] | None = None, retransmit_ns: int = 50_000,
              retries: int = 3, policy: QueuePolicy | None = None,
              reliable_retries: int = RELIABLE_RETRIES) -> tuple[LinkLayer, LinkLayer]:
    policy = policy or QueuePolicy()
    n1 = LinkLayer(1, [LinkConfig(LINK, 2, EGP2, T2_1, T2_2, policy=policy)], {}, retransmit_ns, retries,
                   reliable_retries=reliable_retries)
    n2 = LinkLayer(2, [LinkConfig(LINK, 1, EGP1, T2_2, T2_1, policy=policy)],
                   {PURPOSE: APP2} if purposes2 is None else purposes2, retransmit_ns, retries,
                   reliable_retries=reliable_retries)
    return n1, n2


FOLLOW = [StopGeneration(LINK), StartGeneration(LINK, FOLLOW_PAIRS, None)]
"""What the other end (node 2) does on a SCHEDULE for a create-and-keep request."""


def settle(n1: LinkLayer, n2: LinkLayer, out1: Actions, out2: Actions, now: int) -> tuple[Actions, Actions]:
    """Deliver every EGP message in flight between the two ends, and what they answer, until none is
    left; returns everything each end did (``out1`` and ``out2`` included)."""
    all1, all2 = Actions().extend(out1), Actions().extend(out2)
    to2, to1 = only(out1.send, EGP2), only(out2.send, EGP1)
    while to2 or to1:
        next2: list[bytes] = []
        next1: list[bytes] = []
        for payload in to2:
            out = n2.receive(payload, EGP1, EGP_PORT, now)
            all2.extend(out)
            next1 += only(out.send, EGP1)
        for payload in to1:
            out = n1.receive(payload, EGP2, EGP_PORT, now)
            all1.extend(out)
            next2 += only(out.send, EGP2)
        to2, to1 = next2, next1
    return all1, all2


def herald_both(n1: LinkLayer, n2: LinkLayer, attempt: int, now: int, pair1: PairReady | None = None,
                pair2: PairReady | None = None) -> tuple[Actions, Actions]:
    """Both ends get the pair of one attempt; the master (node 1) numbers it and CONFIRMs it to node 2,
    whose OK comes out on the CONFIRM; its CONFIRM_ACK goes back to the master."""
    default = PairReady(LINK, 0, 1, BellState.PHI_PLUS, attempt, 1, now, (1.0, 0.0, 0.0, 0.0), None, None)
    out1 = n1.handle(pair1 or default, now)
    out2 = n2.handle(pair2 or default, now)
    for payload in only(out1.send, EGP2):
        out2.extend(n2.receive(payload, EGP1, EGP_PORT, now))
    for payload in only(out2.send, EGP1):
        out1.extend(n1.receive(payload, EGP2, EGP_PORT, now))
    return out1, out2


def keep_create(number: int = 2, remote: int = 2) -> Create:
    return Create(remote_node_id=remote, purpose_id=PURPOSE, number=number)


def only(sends: list[tuple[Any, bytes]], dest: Any) -> list[bytes]:
    return [payload for d, payload in sends if d == dest]


def open_request(n1: LinkLayer, n2: LinkLayer, create: Create, now: int = 0
                 ) -> tuple[int, Actions, Actions, Actions]:
    """CREATE → ACK + REQ → REQ_ACK, then the master's SCHEDULE → SCHEDULE_ACK if it starts a run;
    returns the create id, node 1's output on the CREATE, and everything nodes 2 and 1 did after it."""
    a1 = n1.receive(create.encode(), APP1, LINK_SERVICE_PORT, now)
    create_id = parse_ack(only(a1.send, APP1)[0])
    req = only(a1.send, EGP2)[0]
    a2 = n2.receive(req, EGP1, EGP_PORT, now + 1_000)
    reply = only(a2.send, EGP1)[0]
    a3 = n1.receive(reply, EGP2, EGP_PORT, now + 2_000)
    a3, later2 = settle(n1, n2, a3, Actions(), now + 3_000)
    return create_id, a1, Actions().extend(a2).extend(later2), a3


def test_create_acks_and_sends_req_with_the_create() -> None:
    n1, _ = link_pair()
    create = keep_create(number=3)
    out = n1.receive(create.encode(), APP1, LINK_SERVICE_PORT, now=0)
    assert [d for d, _ in out.send] == [APP1, EGP2]
    create_id = parse_ack(out.send[0][1])
    assert 1 <= create_id <= 0xFFFF
    req = parse_egp(out.send[1][1])
    assert (req["version"], req["type"], req["status"]) == (1, 1, 0)
    assert req["create_id"] == create_id
    assert req["link"] == LINK
    assert req["origin"] == 1
    assert req["queue_seq"] == 1                   # node 1 < node 2: the master numbers its own CREATE
    assert req["body"] == create.encode()
    assert out.down == []                          # nothing is generated before the peer agrees
    assert out.deadline == 50_000
    # A second CREATE gets a different id.
    again = n1.receive(create.encode(), APP1, LINK_SERVICE_PORT, now=1)
    assert parse_ack(again.send[0][1]) != create_id


def test_peer_accepts_and_both_ends_start_generation() -> None:
    n1, n2 = link_pair()
    create_id, _, a2, a3 = open_request(n1, n2, keep_create(number=4))
    reply = parse_egp(only(a2.send, EGP1)[0])
    assert len(only(a2.send, EGP1)[0]) == 16
    assert reply["queue_seq"] == 1                 # numbered by the master (node 1, the origin)
    assert (reply["version"], reply["type"], reply["status"]) == (1, 2, 0)
    assert (reply["create_id"], reply["link"], reply["origin"]) == (create_id, LINK, 1)
    assert a2.down == FOLLOW                       # the other end follows the master's SCHEDULE ...
    assert only(a2.send, APP2) == []               # the responder hears of the request only with OKs
    assert a3.down == [StartGeneration(LINK, 4, None)]     # ... which starts once it is acknowledged
    schedule = parse_egp(only(a3.send, EGP2)[0])
    assert (schedule["type"], schedule["status"], schedule["create_id"], schedule["origin"]) == (5, 0, create_id, 1)
    assert (schedule["queue_seq"], schedule["run"], schedule["pairs"]) == (1, 1, 4)
    assert n1.settled() and n2.settled()
    assert n1.on_timer(10**9).send == []           # no retransmission pending any more


def dephased_werner_fidelity(p: float, t: float, t2a: float, t2b: float) -> float:
    """Fidelity to the heralded Bell state of a Werner state (weight p on the maximally mixed
    state) after each qubit is dephased for t.

    Werner: F0 = 1 - 3p/4 on the target, p/4 on each other Bell state. A Z on either qubit maps
    the target to the Bell state differing by a phase (Φ±, Ψ±) and that state back; two Zs
    cancel. With per-qubit flip probabilities qa, qb the net flip has probability
    q = qa(1-qb) + qb(1-qa), and F = (1-q)F0 + q·(p/4).
    """
    qa = (1 - math.exp(-t / t2a)) / 2
    qb = (1 - math.exp(-t / t2b)) / 2
    q = qa * (1 - qb) + qb * (1 - qa)
    f0 = 1 - 3 * p / 4
    return (1 - q) * f0 + q * p / 4


def test_ok_keep_at_both_ends_with_dephased_goodness() -> None:
    n1, n2 = link_pair()
    create_id, *_ = open_request(n1, n2, keep_create(number=2))
    p = 0.1
    dist = (p / 4, p / 4, p / 4, 1 - 3 * p / 4)          # Werner around Ψ- (index 3)
    emission, now = 1_000_000, 1_300_000
    seen = []
    for seq in range(2):
        pair1 = PairReady(LINK, slot=seq, qubit_id=10 + seq, bell_state=BellState.PSI_MINUS,
                          attempt_seq=seq, attempts=5, emission_time=emission, distribution=dist,
                          outcome=None, basis=None)
        pair2 = PairReady(LINK, slot=1 - seq, qubit_id=20 + seq, bell_state=BellState.PSI_MINUS,
                          attempt_seq=seq, attempts=5, emission_time=emission, distribution=dist,
                          outcome=None, basis=None)
        out1, out2 = herald_both(n1, n2, seq, now, pair1, pair2)
        seen.append((parse_ok(only(out1.send, APP1)[0]), parse_ok(only(out2.send, APP2)[0])))
    expected = round(dephased_werner_fidelity(p, now - emission, T2_1, T2_2) * 65535)
    assert 0.70 * 65535 < expected < 0.8 * 65535       # the test itself is about something
    for seq, (ok1, ok2) in enumerate(seen):
        assert ok1["type"] == ok2["type"] == T_OK_K
        assert ok1["create_id"] == ok2["create_id"] == create_id
        assert (ok1["d"], ok2["d"]) == (0, 1)
        assert ok1["seq"] == ok2["seq"] == seq
        assert ok1["purpose"] == ok2["purpose"] == PURPOSE
        assert (ok1["remote"], ok2["remote"]) == (2, 1)
        assert (ok1["lqid"], ok2["lqid"]) == (seq, 1 - seq)
        assert ok1["bell"] == ok2["bell"] == BellState.PSI_MINUS
        assert abs(ok1["goodness"] - expected) <= 1
        assert abs(ok2["goodness"] - expected) <= 1
        assert ok1["tog"] == (now // 1000) & 0xFFFF
    assert n1.counters.ok_sent == n2.counters.ok_sent == 2


def test_goodness_without_storage_is_the_werner_fidelity() -> None:
    n1, n2 = link_pair()
    open_request(n1, n2, keep_create(number=1))
    p = 0.2
    dist = (1 - 3 * p / 4, p / 4, p / 4, p / 4)          # around Φ+, heralded as Φ+
    pair = PairReady(LINK, 0, 1, BellState.PHI_PLUS, 0, 1, 5_000, dist, None, None)
    ok = parse_ok(n1.handle(pair, now=5_000).send[0][1])
    assert ok["goodness"] == round(0.85 * 65535)


def test_measure_directly_gives_ok_m() -> None:
    n1, n2 = link_pair()
    x = {"rotx1l": 0, "rotyl": 64, "rotx2l": 0, "rotx1r": 0, "rotyr": 64, "rotx2r": 0}
    create = Create(remote_node_id=2, purpose_id=PURPOSE, number=1, tpe=1, **x)
    create_id, _, a2, a3 = open_request(n1, n2, create)
    assert a2.down == [StopGeneration(LINK), StartGeneration(LINK, FOLLOW_PAIRS, Basis.X)]
    assert a3.down == [StartGeneration(LINK, 1, Basis.X)]
    p = 0.08
    dist = (p / 4, 1 - 3 * p / 4, p / 4, p / 4)
    pair = PairReady(LINK, 0, 1, BellState.PSI_PLUS, 0, 3, 5_000, dist, outcome=1, basis=Basis.X)
    out1, out2 = herald_both(n1, n2, 0, 10**9, pair,
                             PairReady(LINK, 0, 2, BellState.PSI_PLUS, 0, 3, 5_000, dist, 0, Basis.X))
    ok1, ok2 = parse_ok(only(out1.send, APP1)[0]), parse_ok(only(out2.send, APP2)[0])
    assert ok1["type"] == ok2["type"] == T_OK_M
    assert (ok1["m"], ok2["m"]) == (1, 0)
    assert (ok1["d"], ok2["d"]) == (0, 1)
    assert ok1["basis"] == ok2["basis"] == Basis.X == 1
    assert ok1["bell"] == BellState.PSI_PLUS
    assert ok1["create_id"] == ok2["create_id"] == create_id
    assert ok1["seq"] == ok2["seq"] == 0
    # Measured on emission: no storage, so no dephasing however late the OK.
    assert ok1["goodness"] == round((1 - 3 * p / 4) * 65535)
    assert ok1["tog"] == 0


def test_create_for_unknown_remote_is_unsupp() -> None:
    n1, _ = link_pair()
    out = n1.receive(keep_create(remote=9).encode(), APP1, LINK_SERVICE_PORT, now=0)
    assert [d for d, _ in out.send] == [APP1]
    err = parse_err(out.send[0][1])
    assert err["err"] == E_UNSUPP
    assert err["origin"] == 1
    assert out.deadline is None
    assert n1.counters.rejected == 1


@pytest.mark.parametrize("fields", [
    {"number": 0}, {"rl": 1}, {"rr": 2}, {"ato": 1, "tpe": 1},       # atomic: create-and-keep only
    {"tpe": 1, "rotx1l": 1},                       # a rotation that is not Z, X or Y
])
def test_unsupported_create_fields(fields: dict[str, int]) -> None:
    n1, _ = link_pair()
    out = n1.receive(Create(remote_node_id=2, purpose_id=PURPOSE, **fields).encode(), APP1,
                     LINK_SERVICE_PORT, now=0)
    assert [d for d, _ in out.send] == [APP1]
    assert parse_err(out.send[0][1])["err"] == E_UNSUPP


@pytest.mark.parametrize("payload", [b"", b"\x00" * 23, b"\x00" * 25, b"garbage"])
def test_garbage_create_is_err_create(payload: bytes) -> None:
    n1, _ = link_pair()
    out = n1.receive(payload, APP1, LINK_SERVICE_PORT, now=0)
    assert [d for d, _ in out.send] == [APP1]
    err = parse_err(out.send[0][1])
    assert err["err"] == E_CREATE
    assert err["create_id"] == 0
    assert n1.counters.malformed == 1
    assert n1.counters.err_sent == 1


def test_req_for_unserved_purpose_is_rejected_and_origin_errs() -> None:
    n1, n2 = link_pair(purposes2={})
    create_id, _, a2, a3 = open_request(n1, n2, keep_create())
    reply = parse_egp(only(a2.send, EGP1)[0])
    assert (reply["type"], reply["status"]) == (2, E_REJECTED)
    assert a2.down == []
    assert n2.counters.rejected == 1
    assert a3.down == []
    assert [d for d, _ in a3.send] == [APP1]
    err = parse_err(a3.send[0][1])
    assert (err["err"], err["create_id"], err["origin"]) == (E_REJECTED, create_id, 1)
    assert a3.deadline is None
    assert n1.requests[(1, create_id)].state == RequestState.FAILED
    assert n1.on_timer(10**9).send == []            # nothing retransmitted after the refusal


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_dead_peer_becomes_err_timeout(retries: int) -> None:
    reliable = retries + 4
    n1, _ = link_pair(retransmit_ns=40_000, retries=retries, reliable_retries=reliable)
    out = n1.receive(keep_create().encode(), APP1, LINK_SERVICE_PORT, now=1_000)
    first_req = only(out.send, EGP2)[0]
    deadlines, reqs, errs = [], [], []
    deadline = out.deadline
    assert n1.on_timer(deadline - 1).send == []     # nothing before the deadline
    for _ in range(retries + reliable + 5):
        if deadline is None:
            break
        deadlines.append(deadline)
        out = n1.on_timer(deadline)
        sent = only(out.send, EGP2)
        new_errs = [parse_err(b) for b in only(out.send, APP1)]
        if new_errs:
            assert parse_egp(sent[-1])["type"] == 5      # the abort goes out with the ERR
        reqs += sent
        errs += new_errs
        deadline = out.deadline
    assert deadline is None
    assert [r for r in reqs if r[1] == 1] == [first_req] * retries
    # then the master aborts the request at the other end (it may have accepted it, its REQ_ACKs lost):
    # SCHEDULE with Status TIMEOUT, retransmitted as often as a CONFIRM (an abort lost for good would leave
    # the other end's copy of the request open), then given up
    aborts = [parse_egp(r) for r in reqs if r[1] == 5]
    assert len(aborts) == reliable + 1
    assert all((a["status"], a["create_id"], a["origin"]) == (E_TIMEOUT, 1, 1) for a in aborts)
    assert deadlines == [1_000 + 40_000 * k for k in range(1, retries + reliable + 3)]
    assert len(errs) == 1 and errs[0]["err"] == E_TIMEOUT and errs[0]["origin"] == 1
    (request,) = n1.requests.values()
    assert request.state == RequestState.FAILED


def test_duplicated_req_is_answered_but_not_restarted() -> None:
    n1, n2 = link_pair()
    out = n1.receive(keep_create(number=3).encode(), APP1, LINK_SERVICE_PORT, now=0)
    req = only(out.send, EGP2)[0]
    first = n2.receive(req, EGP1, EGP_PORT, now=10)
    second = n2.receive(req, EGP1, EGP_PORT, now=20)
    assert first.down == second.down == []         # the other end generates only on the master's SCHEDULE
    assert only(second.send, EGP1) == only(first.send, EGP1)
    assert parse_egp(only(second.send, EGP1)[0])["status"] == 0
    assert len(n2.requests) == 1
    # A duplicated REQ_ACK does not schedule the request twice.
    ack = only(first.send, EGP1)[0]
    scheduled = n1.receive(ack, EGP2, EGP_PORT, now=30)
    assert [parse_egp(m)["type"] for m in only(scheduled.send, EGP2)] == [5]
    assert n1.receive(ack, EGP2, EGP_PORT, now=40).send == []
    # A duplicated SCHEDULE is answered again but switches nothing; a duplicated SCHEDULE_ACK starts nothing.
    schedule = only(scheduled.send, EGP2)[0]
    once = n2.receive(schedule, EGP1, EGP_PORT, now=50)
    twice = n2.receive(schedule, EGP1, EGP_PORT, now=60)
    assert once.down == FOLLOW and twice.down == []
    assert only(once.send, EGP1) == only(twice.send, EGP1)
    schedule_ack = only(once.send, EGP1)[0]
    assert n1.receive(schedule_ack, EGP2, EGP_PORT, now=70).down == [StartGeneration(LINK, 3, None)]
    assert n1.receive(schedule_ack, EGP2, EGP_PORT, now=80).down == []


def test_lost_req_acks_are_repaired_by_the_schedule() -> None:
    """The other end originated the request; every REQ_ACK is lost: the master's SCHEDULE says it was
    accepted, so both ends serve it (before the fix, the origin timed out while the master served it)."""
    n1, n2 = link_pair()
    n1.purposes[6] = APP1
    out = n2.receive(Create(remote_node_id=1, purpose_id=6, number=2).encode(), APP2, LINK_SERVICE_PORT, 0)
    at_master = n1.receive(only(out.send, EGP1)[0], EGP2, EGP_PORT, now=10)
    (req_ack, schedule) = only(at_master.send, EGP2)                  # the REQ_ACK is lost, the SCHEDULE not
    assert parse_egp(req_ack)["type"] == 2 and parse_egp(schedule)["type"] == 5
    followed = n2.receive(schedule, EGP1, EGP_PORT, now=20)
    assert parse_egp(only(followed.send, EGP1)[0])["status"] == 0
    assert followed.down == FOLLOW
    (request,) = n2.requests.values()
    assert request.state == RequestState.GENERATING and request.queue_seq == 1
    assert request.retry_at is None                                   # no REQ retransmitted any more
    assert only(n2.on_timer(10**9).send, EGP1) == []
    started = n1.receive(only(followed.send, EGP1)[0], EGP2, EGP_PORT, now=30)
    assert started.down == [StartGeneration(LINK, 2, None)]


def test_a_request_the_other_end_gave_up_is_aborted_at_both() -> None:
    """The other end's REQs were answered but it timed out waiting (all REQ_ACKs lost, no SCHEDULE yet):
    the master's SCHEDULE is refused with the origin's error and the master fails the request too."""
    n1, n2 = link_pair(retries=0)
    n1.purposes[6] = APP1
    out = n2.receive(Create(remote_node_id=1, purpose_id=6, number=2).encode(), APP2, LINK_SERVICE_PORT, 0)
    assert parse_err(only(n2.on_timer(out.deadline).send, APP2)[0])["err"] == E_TIMEOUT
    at_master = n1.receive(only(out.send, EGP1)[0], EGP2, EGP_PORT, now=10)
    schedule = only(at_master.send, EGP2)[1]
    refused = n2.receive(schedule, EGP1, EGP_PORT, now=20)
    assert parse_egp(only(refused.send, EGP1)[0])["status"] == E_TIMEOUT and refused.down == []
    back = n1.receive(only(refused.send, EGP1)[0], EGP2, EGP_PORT, now=30)
    assert parse_err(only(back.send, APP1)[0])["err"] == E_TIMEOUT and back.down == []
    assert all(r.state == RequestState.FAILED for r in (*n1.requests.values(), *n2.requests.values()))


def test_an_abort_fails_the_request_the_other_end_accepted() -> None:
    """The master's REQs reach the other end but every REQ_ACK is lost: the master times out and aborts;
    the other end's responder gets the same ERR instead of waiting forever."""
    n1, n2 = link_pair(retries=0)
    out = n1.receive(keep_create().encode(), APP1, LINK_SERVICE_PORT, now=0)
    accepted = n2.receive(only(out.send, EGP2)[0], EGP1, EGP_PORT, now=10)   # its REQ_ACK is lost
    assert parse_egp(only(accepted.send, EGP1)[0])["status"] == 0
    gave_up = n1.on_timer(out.deadline)
    assert parse_err(only(gave_up.send, APP1)[0])["err"] == E_TIMEOUT
    abort = only(gave_up.send, EGP2)[0]
    aborted = n2.receive(abort, EGP1, EGP_PORT, now=out.deadline + 10)
    assert parse_err(only(aborted.send, APP2)[0])["err"] == E_TIMEOUT
    assert parse_egp(only(aborted.send, EGP1)[0])["type"] == 6
    assert only(n2.receive(abort, EGP1, EGP_PORT, now=out.deadline + 20).send, APP2) == []   # once only
    n1.receive(only(aborted.send, EGP1)[0], EGP2, EGP_PORT, now=out.deadline + 30)
    assert n1.settled() and not n1.runs.aborting


def test_attempt_lost_restarts_one_pair() -> None:
    n1, n2 = link_pair()
    open_request(n1, n2, keep_create(number=3))
    out = n1.handle(AttemptLost(LINK, 7), now=10_000)
    assert out.down == [StartGeneration(LINK, 1, None)]
    assert n1.counters.lost_attempts == 1


def test_request_states_follow_transition_table(monkeypatch: pytest.MonkeyPatch) -> None:
    fired: list[tuple[int, RequestState, RequestEvent, RequestState]] = []
    original = linkmod.Request.fire

    def recording_fire(self: linkmod.Request, event: RequestEvent) -> None:
        before = self.state
        original(self, event)
        fired.append((self.origin_node * 1000 + self.d, before, event, self.state))

    monkeypatch.setattr(linkmod.Request, "fire", recording_fire)
    n1, n2 = link_pair()
    first_id, *_ = open_request(n1, n2, keep_create(number=1))
    assert n1.requests[(1, first_id)].state == RequestState.GENERATING
    # A second request waits in the queue until the first is done.
    second_id, _, a2, a3 = open_request(n1, n2, keep_create(number=1), now=10_000)
    assert a2.down == [] and a3.down == []
    assert n1.requests[(1, second_id)].state == RequestState.QUEUED
    assert n2.requests[(1, second_id)].state == RequestState.QUEUED
    out1, out2 = herald_both(n1, n2, 0, 20_000)
    assert out1.down == [StartGeneration(LINK, 1, None)]        # after the SCHEDULE_ACK of the second
    assert out2.down == [StopGeneration(LINK), *FOLLOW]          # done with the first, following the second
    assert parse_ok(out1.send[0][1])["create_id"] == first_id
    assert n1.requests[(1, first_id)].state == RequestState.DONE
    assert n1.requests[(1, second_id)].state == RequestState.GENERATING
    out1, _ = herald_both(n1, n2, 1, 30_000)
    ok1 = parse_ok(out1.send[0][1])
    assert (ok1["create_id"], ok1["seq"]) == (second_id, 1)
    for request in (*n1.requests.values(), *n2.requests.values()):
        assert request.state == RequestState.DONE
    for _, before, event, after in fired:
        assert TRANSITIONS[(before, event)] == after
    origin = [(b, e) for who, b, e, _ in fired if who == 1000]
    assert origin == [(RequestState.WAITING_PEER, RequestEvent.PEER_ACCEPTED),
                      (RequestState.QUEUED, RequestEvent.LINK_FREE),
                      (RequestState.WAITING_PEER, RequestEvent.PEER_ACCEPTED),
                      (RequestState.GENERATING, RequestEvent.LAST_PAIR),
                      (RequestState.QUEUED, RequestEvent.LINK_FREE),
                      (RequestState.GENERATING, RequestEvent.LAST_PAIR)]
    peer = [(b, e) for who, b, e, _ in fired if who == 1001]
    assert peer == [(RequestState.QUEUED, RequestEvent.LINK_FREE),
                    (RequestState.GENERATING, RequestEvent.LAST_PAIR),
                    (RequestState.QUEUED, RequestEvent.LINK_FREE),
                    (RequestState.GENERATING, RequestEvent.LAST_PAIR)]


def test_every_transition_is_legal_and_terminal_states_are_final() -> None:
    targets = set(TRANSITIONS.values())
    for state in (RequestState.DONE, RequestState.FAILED):
        assert state in targets
        assert not any(s == state for s, _ in TRANSITIONS)
    request = linkmod.Request(1, 1, keep_create(), LinkConfig(LINK, 2, EGP2, 1.0, 1.0), APP1, 0,
                              RequestState.DONE)
    with pytest.raises(RuntimeError):
        request.fire(RequestEvent.PEER_ACCEPTED)


def test_non_master_origin_is_numbered_by_the_master() -> None:
    n1, n2 = link_pair()
    n1.purposes[PURPOSE] = APP1
    out = n2.receive(keep_create(number=2, remote=1).encode(), APP2, LINK_SERVICE_PORT, now=0)
    req = parse_egp(only(out.send, EGP1)[0])
    assert (req["origin"], req["queue_seq"]) == (2, 0)   # node 2 is not the master: no number yet
    at_master = n1.receive(only(out.send, EGP1)[0], EGP2, EGP_PORT, now=10)
    reply, schedule = (parse_egp(m) for m in only(at_master.send, EGP2))
    assert (reply["status"], reply["queue_seq"], reply["origin"]) == (0, 1, 2)
    assert (schedule["type"], schedule["queue_seq"], schedule["origin"], schedule["pairs"]) == (5, 1, 2, 2)
    assert at_master.down == []
    assert n2.receive(only(at_master.send, EGP2)[0], EGP1, EGP_PORT, now=20).down == []
    followed = n2.receive(only(at_master.send, EGP2)[1], EGP1, EGP_PORT, now=20)
    assert followed.down == FOLLOW
    assert n1.receive(only(followed.send, EGP1)[0], EGP2, EGP_PORT, now=30).down == \
        [StartGeneration(LINK, 2, None)]


DELIVERY_ORDERS = [
    ("reqA", "reqB", "ackA", "ackB"), ("reqA", "reqB", "ackB", "ackA"), ("reqB", "reqA", "ackA", "ackB"),
    ("reqB", "reqA", "ackB", "ackA"), ("reqA", "ackA", "reqB", "ackB"), ("reqB", "ackB", "reqA", "ackA"),
]


@pytest.mark.parametrize("order", DELIVERY_ORDERS)
def test_simultaneous_creates_are_served_in_the_same_order_at_both_ends(order: tuple[str, ...]) -> None:
    n1, n2 = link_pair()
    n1.purposes[6] = APP1
    create_a = keep_create(number=2)                                  # node 1 → node 2, purpose 5
    create_b = Create(remote_node_id=1, purpose_id=6, number=3)       # node 2 → node 1, purpose 6
    out_a = n1.receive(create_a.encode(), APP1, LINK_SERVICE_PORT, now=0)
    out_b = n2.receive(create_b.encode(), APP2, LINK_SERVICE_PORT, now=0)
    id_a, id_b = parse_ack(out_a.send[0][1]), parse_ack(out_b.send[0][1])
    flight = {"reqA": (n2, EGP1, only(out_a.send, EGP2)[0]), "reqB": (n1, EGP2, only(out_b.send, EGP1)[0])}
    later: dict[int, Actions] = {1: Actions(), 2: Actions()}      # what each end sent besides REQ_ACKs
    for t, name in enumerate(order, start=1):
        engine, source, payload = flight.pop(name)
        out = engine.receive(payload, source, EGP_PORT, now=t)
        if name.startswith("req"):
            peer, dest = (n1, EGP2) if engine is n2 else (n2, EGP1)
            flight["ack" + name[3]] = (peer, dest, only(out.send, source)[0])
            out.send = [m for m in out.send if m[1] != flight["ack" + name[3]][2]]
        later[engine.node_id].extend(out)
    out1, out2 = settle(n1, n2, later[1], later[2], 10)
    # The master scheduled one request (whichever it could first); both ends generate for it ...
    assert len(out1.down) == 1 and out2.down[-2:] == [StopGeneration(LINK), StartGeneration(LINK, FOLLOW_PAIRS)]
    first = out1.down[0].pairs
    oks: dict[int, list[tuple[int, int, int]]] = {1: [], 2: []}      # (origin node, create id, seq)
    downs: dict[int, list[Any]] = {1: [], 2: []}
    for k in range(5):
        for node_id, out in zip((1, 2), herald_both(n1, n2, k, 100 + k), strict=True):
            downs[node_id] += out.down
            for dest, b in out.send:
                if dest in (APP1, APP2):
                    ok = parse_ok(b)
                    origin = node_id if ok["d"] == 0 else 3 - node_id
                    oks[node_id].append((origin, ok["create_id"], ok["seq"]))
    # ... then for the other, and every pair is delivered for the same request at both ends.
    assert [d.pairs for d in downs[1]] == [5 - first]
    assert oks[1] == oks[2]
    assert sorted(origin for origin, _, _ in oks[1]) == [1, 1, 2, 2, 2]
    assert {(origin, create_id) for origin, create_id, _ in oks[1]} == {(1, id_a), (2, id_b)}
    assert [seq for _, _, seq in oks[1]] == list(range(5))


def test_timed_out_master_request_does_not_block_the_next() -> None:
    n1, n2 = link_pair(retransmit_ns=1_000, retries=1)
    n1.purposes[6] = APP1
    n1.receive(keep_create().encode(), APP1, LINK_SERVICE_PORT, now=0)     # queue seq 1; peer never answers
    out_b = n2.receive(Create(remote_node_id=1, purpose_id=6, number=4).encode(), APP2, LINK_SERVICE_PORT, 0)
    at_master = n1.receive(only(out_b.send, EGP1)[0], EGP2, EGP_PORT, now=10)
    reply, schedule = only(at_master.send, EGP2)
    assert parse_egp(reply)["queue_seq"] == 2
    assert parse_egp(schedule)["queue_seq"] == 2   # 2 is served at once: 1 is not accepted yet
    followed = n2.receive(schedule, EGP1, EGP_PORT, now=20)
    assert n1.receive(only(followed.send, EGP1)[0], EGP2, EGP_PORT, now=30).down == \
        [StartGeneration(LINK, 4, None)]
    assert n1.on_timer(1_000).down == []
    out = n1.on_timer(2_000)
    assert parse_err(only(out.send, APP1)[0])["err"] == E_TIMEOUT
    assert out.down == []                          # the timed-out request never ran: nothing to stop


def test_pair_with_no_active_request_is_ignored() -> None:
    n1, _ = link_pair()
    pair = PairReady(LINK, 0, 1, BellState.PHI_PLUS, 0, 1, 0, (1.0, 0.0, 0.0, 0.0), None, None)
    assert n1.handle(pair, now=0).send == []


# -- EntanglementUser -------------------------------------------------------------------------

LS1 = (IP1, LINK_SERVICE_PORT)


def ok_k_bytes(seq: int, lqid: int, d: int = 0, bell: int = 0, create_id: int = 1,
               goodness: int = 60_000) -> bytes:
    word = T_OK_K << 28 | create_id << 12 | lqid << 8 | d << 7 | bell << 5
    return struct.pack("!IHHIHH", word, seq, PURPOSE, 2, goodness, 0)


def ok_m_bytes(seq: int, m: int, basis: int, create_id: int = 1) -> bytes:
    word = T_OK_M << 28 | create_id << 12 | m << 11 | basis << 7
    return struct.pack("!IHHIHH", word, seq, PURPOSE, 2, 65535, 0)


def err_bytes(code: int, create_id: int = 1) -> bytes:
    return struct.pack("!IHHI", T_ERR << 28 | create_id << 12 | code << 8, 0, 0, 1)


def test_user_sends_create_once_at_start() -> None:
    create = keep_create(number=2)
    user = EntanglementUser(LS1, create, start_ns=5_000)
    assert user.start(0).deadline == 5_000
    early = user.on_timer(4_999)
    assert early.send == [] and early.deadline == 5_000
    out = user.on_timer(5_000)
    assert out.send == [(LS1, create.encode())]
    assert out.deadline is None
    assert user.sent_at == 5_000
    assert user.on_timer(6_000).send == []
    user.receive(struct.pack("!I", T_ACK << 28 | 77 << 12), LS1, 49152, now=6_000)
    assert user.create_id == 77


def test_user_measures_kept_pairs_in_rotating_basis() -> None:
    user = EntanglementUser(LS1, keep_create(number=3), start_ns=0)
    user.on_timer(0)
    expected_bases = {0: Basis.Z, 1: Basis.X, 2: Basis.Y, 3: Basis.Z, 7: Basis.X, 65535: Basis.Z}
    for seq, basis in expected_bases.items():
        lqid = seq % 16
        out = user.receive(ok_k_bytes(seq, lqid, bell=3, goodness=32768), LS1, 49152, now=100 + seq)
        assert out.hardware == [Measure(lqid, basis)]
    assert len(user.records) == len(expected_bases)
    record = user.records[0]
    assert (record.kind, record.sequence_number, record.bell_state, record.ok_time) == ("K", 0, 3, 100)
    assert record.goodness == pytest.approx(32768 / 65535)
    assert record.outcome is None
    assert user.first_ok_at == 100


def test_user_measure_result_completes_record_and_done() -> None:
    user = EntanglementUser(LS1, keep_create(number=2), start_ns=0)
    user.on_timer(0)
    assert not user.done()
    user.receive(ok_k_bytes(0, lqid=2), LS1, 49152, now=10)
    assert user.held_slots() == {2}
    user.receive(ok_k_bytes(1, lqid=3), LS1, 49152, now=11)
    assert not user.done()                              # both delivered, not yet measured
    user.handle(MeasureResult(slot=3, qubit_id=9, basis=Basis.X, outcome=1), now=20)
    assert not user.done()
    assert user.held_slots() == {2}
    user.handle(MeasureResult(slot=2, qubit_id=8, basis=Basis.Z, outcome=0), now=21)
    assert user.done()
    assert user.held_slots() == set()
    assert [(r.basis, r.outcome) for r in user.records] == [(Basis.Z, 0), (Basis.X, 1)]


def test_user_measure_directly_records_outcome_without_hardware() -> None:
    user = EntanglementUser(LS1, Create(remote_node_id=2, number=1, tpe=1), start_ns=0)
    user.on_timer(0)
    out = user.receive(ok_m_bytes(0, m=1, basis=2), LS1, 49152, now=5)
    assert out.hardware == []
    assert (user.records[0].kind, user.records[0].basis, user.records[0].outcome) == ("M", 2, 1)
    assert user.done()


def test_user_done_on_error_and_responder_semantics() -> None:
    user = EntanglementUser(LS1, keep_create(number=5), start_ns=0)
    user.on_timer(0)
    user.receive(err_bytes(E_REJECTED), LS1, 49152, now=1)
    assert user.errors == [E_REJECTED]
    assert user.done()
    responder = EntanglementUser((IP2, LINK_SERVICE_PORT), None)
    assert responder.start(0).deadline is None
    assert responder.on_timer(10).send == []
    assert responder.done()
    responder.receive(ok_k_bytes(4, lqid=1, d=1), (IP2, LINK_SERVICE_PORT), 49152, now=2)
    assert not responder.done()
    responder.handle(MeasureResult(1, 0, Basis.X, 0), now=3)
    assert responder.done()


# -- random bytes never raise and are counted --------------------------------------------------

def herald_is_valid(b: bytes) -> bool:
    return len(b) == 28 and b[0] == 1 and b[1] == 1 and b[2] in (0, 1) and b[3] <= 3 and b[6] == 1


def create_is_valid(b: bytes) -> bool:
    """24 bytes, and Max Time readable: Time Unit 3 (bits 48-49) is unused unless Max Time (bits 50-63) is 0; a CREDIT
    or CLOSE (Window, byte 13 bits 3-2, = 2 or 3) is read without it (docs/wire.md §4.1, §4.1.1)."""
    if len(b) != 24:
        return False
    return b[6] >> 6 != 3 or (b[6] & 0x3F, b[7]) == (0, 0) or b[13] >> 2 & 3 in (2, 3)


def egp_is_valid(b: bytes) -> bool:
    if len(b) < 16 or b[0] != 1 or b[1] not in (1, 2) or b[2] > 8:
        return False
    return len(b) == (40 if b[1] == 1 else 16)


def upward_is_valid(b: bytes) -> bool:
    if len(b) < 4:
        return False
    word = int.from_bytes(b[:4], "big")
    kind = word >> 28
    return ((kind == T_ACK and len(b) == 4) or (kind == T_OK_K and len(b) == 16)
            or (kind == T_OK_M and len(b) == 16 and (word >> 7 & 7) <= 4)
            or (kind == T_ERR and len(b) == 12 and 1 <= (word >> 8 & 0xF) <= 11))  # 9-11: network layer codes


def _sized(n: int, prefix: bytes = b"") -> st.SearchStrategy[bytes]:
    return st.binary(min_size=n, max_size=n).map(lambda b: prefix + b[len(prefix):])


PAYLOADS = st.one_of(
    st.binary(max_size=48),
    *[_sized(n) for n in (4, 12, 16, 24, 28, 40)],
    # Valid-looking prefixes, so the deeper checks are reached too.
    _sized(16, b"\x01\x02"), _sized(16, b"\x01\x02\x00\x00\x00\x01\x00\x01"),   # REQ_ACK
    _sized(40, b"\x01\x01"), _sized(40, b"\x01\x01\x00\x00\x00\x01\x00\x01\x00\x00\x00\x02"),  # REQ
    _sized(28, b"\x01\x01"), _sized(28, b"\x01\x01\x01\x03\x00\x01\x01"),          # HERALD
    _sized(4, bytes((T_ACK << 4,))), _sized(16, bytes((T_OK_K << 4,))),
    _sized(16, bytes((T_OK_M << 4,))), _sized(12, bytes((T_ERR << 4,))),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([LINK_SERVICE_PORT, EGP_PORT]), PAYLOADS), max_size=12),
       st.integers(0, 10**12))
def test_random_bytes_never_raise_and_count_malformed(inputs: list[tuple[int, bytes]], now: int) -> None:
    phy = NodePhysical(herald_timeout_ns=1000)
    phy.handle(emitted(seq=1, t=now), now)
    stat = station()
    n1, _ = link_pair()
    user = EntanglementUser(LS1, keep_create(number=3), start_ns=0)
    responder = EntanglementUser(LS1, None)
    link_bad = phy_bad = up_bad = 0
    for port, payload in inputs:
        phy.receive(payload, A_HERALD, HERALD_PORT, now)
        phy_bad += not herald_is_valid(payload)
        stat.receive(payload, A_HERALD, HERALD_PORT, now)
        source = APP1 if port == LINK_SERVICE_PORT else EGP2
        n1.receive(payload, source, port, now)
        link_bad += not create_is_valid(payload) if port == LINK_SERVICE_PORT else not egp_is_valid(payload)
        user.receive(payload, LS1, 49152, now)
        responder.receive(payload, LS1, 49152, now)
        up_bad += not upward_is_valid(payload)
        n1.on_timer(now)
        phy.on_timer(now)
    assert phy.malformed == phy_bad
    assert stat.malformed == len(inputs)
    assert n1.counters.malformed == link_bad
    assert user.malformed == responder.malformed == up_bad


def test_link_layer_discards_a_pair_nobody_asked_for() -> None:
    from protocols.link.layer import LinkConfig as EngineLinkConfig
    from protocols.link.layer import LinkLayer
    from protocols.physical.node import PairReady
    layer = LinkLayer(1, [EngineLinkConfig(7, 2, ("198.18.0.2", 7772), 1e6, 1e6)], {}, retransmit_ns=1000)
    pair = PairReady(7, 1, 99, BellState.PSI_PLUS, 3, 1, 0, (0.0, 1.0, 0.0, 0.0), None, None)
    out = layer.handle(pair, now=10)
    assert out.send == [] and out.hardware == [Discard(1)]
    assert layer.counters.unrequested == 1


def test_a_pair_lost_at_the_other_end_expires_at_both() -> None:
    n1, n2 = link_pair()
    open_request(n1, n2, keep_create(number=2))
    pair = PairReady(LINK, 0, 1, BellState.PHI_PLUS, 7, 1, 10_000, (1.0, 0.0, 0.0, 0.0), None, None)
    at_master = n1.handle(pair, now=10_100)                      # the master got the herald …
    assert n2.handle(AttemptLost(LINK, 7), now=10_150).send == []   # … node 2 lost it
    confirm = only(at_master.send, EGP2)[0]
    at_slave = n2.receive(confirm, EGP1, EGP_PORT, now=10_200)
    expiry = parse_err(only(at_slave.send, APP2)[0])
    assert expiry["err"] == 5
    ack = only(at_slave.send, EGP1)[0]
    assert parse_egp(ack)["status"] == 5
    back = n1.receive(ack, EGP2, EGP_PORT, now=10_300)
    assert parse_err(only(back.send, APP1)[0])["err"] == 5
    # the duplicate CONFIRM is answered the same way and changes nothing
    again = n2.receive(confirm, EGP1, EGP_PORT, now=10_400)
    assert only(again.send, APP2) == [] and parse_egp(only(again.send, EGP1)[0])["status"] == 5
    assert n2.requests[(1, 1)].delivered == n1.requests[(1, 1)].delivered == 1


def test_a_pair_the_master_never_numbers_is_discarded_and_replaced() -> None:
    n1, n2 = link_pair(retransmit_ns=1_000, retries=1)
    open_request(n1, n2, keep_create(number=2))
    pair = PairReady(LINK, 4, 1, BellState.PHI_PLUS, 9, 1, 10_000, (1.0, 0.0, 0.0, 0.0), None, None)
    held = n2.handle(pair, now=10_100)
    assert held.send == [] and n2.held_slots() == {4}
    out = n2.on_timer(10_100 + n2.timing.confirm_timeout_ns)
    assert out.hardware == [Discard(4)]
    assert out.down == []                          # the master re-arms for its lost herald; this end stays armed
    assert n1.handle(AttemptLost(LINK, 9), now=10_200).down == [StartGeneration(LINK, 1, None)]
    assert n2.held_slots() == set()


def test_the_other_end_attributes_pairs_by_emission_time_and_expires_mismatches() -> None:
    """Node 2 follows request A, then (SCHEDULE) request B. A pair emitted before the switch but heralded
    after it belongs to A: a CONFIRM naming A delivers it. A pair made for A that the master CONFIRMs for B
    (it cannot happen in order, but messages reorder) is not delivered: CONFIRM_ACK EXPIRE, ERR EXPIRE up."""
    n1, n2 = link_pair()
    n2.purposes[6] = APP2
    id_a, *_ = open_request(n1, n2, keep_create(number=3))               # A: origin 1, purpose 5
    b = Create(remote_node_id=2, purpose_id=6, number=3)
    out = n1.receive(b.encode(), APP1, LINK_SERVICE_PORT, now=4_000)
    id_b = parse_ack(only(out.send, APP1)[0])
    n2.receive(only(out.send, EGP2)[0], EGP1, EGP_PORT, now=4_100)     # B accepted at node 2 (queue seq 2)
    late = PairReady(LINK, 1, 50, BellState.PHI_PLUS, 40, 1, 9_000, (1.0, 0.0, 0.0, 0.0), None, None)
    wrong = PairReady(LINK, 0, 51, BellState.PHI_PLUS, 41, 1, 9_500, (1.0, 0.0, 0.0, 0.0), None, None)
    switch = EgpMessage(5, 0, id_b, LINK, 1, 2, run=2, pairs=3)
    assert n2.receive(switch.encode(), EGP1, EGP_PORT, now=10_000).down == FOLLOW
    assert n2.handle(late, now=11_000).send == [] and n2.handle(wrong, now=11_000).send == []
    confirm_a = EgpMessage(3, 0, id_a, LINK, 1, 1, None, 40, 7)
    ok = n2.receive(confirm_a.encode(), EGP1, EGP_PORT, now=12_000)
    assert parse_egp(only(ok.send, EGP1)[0])["status"] == 0
    assert parse_ok(only(ok.send, APP2)[0])["create_id"] == id_a
    confirm_b = EgpMessage(3, 0, id_b, LINK, 1, 2, None, 41, 8)          # names B: the pair was made for A
    refused = n2.receive(confirm_b.encode(), EGP1, EGP_PORT, now=12_100)
    assert parse_egp(only(refused.send, EGP1)[0])["status"] == 5
    assert refused.hardware == [Discard(0)]
    expiry = parse_err(only(refused.send, APP2)[0])
    assert (expiry["err"], expiry["create_id"]) == (5, id_b)
    assert n2.held_slots() == set()


def test_the_master_drops_a_pair_emitted_before_its_run() -> None:
    n1, n2 = link_pair()
    open_request(n1, n2, keep_create(number=2), now=10_000)             # the run starts at 13_000
    early = PairReady(LINK, 0, 1, BellState.PHI_PLUS, 3, 1, 12_000, (1.0, 0.0, 0.0, 0.0), None, None)
    out = n1.handle(early, now=14_000)
    assert out.send == [] and out.hardware == [Discard(0)]
    assert n1.counters.unrequested == 1
