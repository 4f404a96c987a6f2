"""Every CREATE gets an answer (docs/wire.md §1, §4.1, §4.4, §9.4): ACK or ERR, on both services, whatever its fields.

A CREATE whose Max Time uses the unused Time Unit 3 cannot be parsed: ERR CREATE (2) with Create ID 0, and no
Create ID is used up; a REQ carrying one is answered REQ_ACK Status CREATE. The expected bytes are read with
``struct`` from the diagrams (ACK and ERR: Type in the top 4 bits, then the 16-bit Create ID; ERR's code in bits
20-23; REQ_ACK: Version, Message Type 2, Status), not with the codecs under test.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common import EGP_PORT, LINK_SERVICE_PORT, NETWORK_SERVICE_PORT
from protocols.link.layer import LinkConfig, LinkLayer
from protocols.packets.egp import MSG_REQ, EgpMessage
from protocols.packets.linkservice import Create
from tests.network_harness import Chain

IP1, IP2 = "198.18.0.1", "198.18.0.2"
APP1, APP2 = (IP1, 49152), (IP2, 49152)
EGP1, EGP2 = (IP1, EGP_PORT), (IP2, EGP_PORT)
PURPOSE, LINK = 5, 1
T_ACK, T_ERR = 1, 4
E_CREATE = 2


def link_pair() -> tuple[LinkLayer, LinkLayer]:
    n1 = LinkLayer(1, [LinkConfig(LINK, 2, EGP2, 1e6, 1e6)], {}, 50_000)
    n2 = LinkLayer(2, [LinkConfig(LINK, 1, EGP1, 1e6, 1e6)], {PURPOSE: APP2}, 50_000)
    return n1, n2


def reply(payload: bytes) -> tuple[int, int, int]:
    """(Type, Create ID, ERR code or 0) of an ACK or ERR, read from the diagram of §4.2."""
    word, = struct.unpack_from("!I", payload)
    kind = word >> 28
    return kind, word >> 12 & 0xFFFF, (word >> 8 & 0xF) if kind == T_ERR else 0


def with_tu3(create: Create) -> bytes:
    """``create``'s bytes with Time Unit 3 and Max Time 1 (bits 48-63, §4.1)."""
    data = bytearray(create.encode())
    data[6:8] = struct.pack("!H", 3 << 14 | 1)
    return bytes(data)


def test_link_service_answers_time_unit_3_with_err_create_and_uses_no_create_id() -> None:
    n1, _ = link_pair()
    out = n1.receive(with_tu3(Create(remote_node_id=2, purpose_id=PURPOSE)), APP1, LINK_SERVICE_PORT, now=0)
    assert [(d, reply(p)) for d, p in out.send] == [(APP1, (T_ERR, 0, E_CREATE))]
    assert (n1.counters.malformed, n1.counters.err_sent) == (1, 1)
    assert n1.open == {}
    good = n1.receive(Create(remote_node_id=2, purpose_id=PURPOSE).encode(), APP1, LINK_SERVICE_PORT, now=1)
    assert [reply(p) for d, p in good.send if d == APP1] == [(T_ACK, 1, 0)]   # Create ID 1: none was used up


def test_time_unit_3_with_max_time_0_is_no_limit_and_accepted() -> None:
    n1, _ = link_pair()
    data = bytearray(Create(remote_node_id=2, purpose_id=PURPOSE).encode())
    data[6] |= 0xC0                                      # TU 3, Max Time 0: "no limit", the unit never read
    out = n1.receive(bytes(data), APP1, LINK_SERVICE_PORT, now=0)
    assert [reply(p) for d, p in out.send if d == APP1] == [(T_ACK, 1, 0)]


def test_peer_answers_a_req_with_time_unit_3_req_ack_create() -> None:
    _, n2 = link_pair()
    req = EgpMessage(MSG_REQ, 0, 9, LINK, 1, 0, Create(remote_node_id=2, purpose_id=PURPOSE)).encode()
    req = req[:16] + with_tu3(Create(remote_node_id=2, purpose_id=PURPOSE))
    out = n2.receive(req, EGP1, EGP_PORT, now=0)
    assert [(d, p[:3]) for d, p in out.send] == [(EGP1, bytes((1, 2, E_CREATE)))]
    assert n2.open == {}


def test_network_service_answers_time_unit_3_with_err_create() -> None:
    chain = Chain(1)
    data = with_tu3(Create(remote_node_id=2, purpose_id=7))
    out = chain.engines[1].receive(data, chain.app[1], NETWORK_SERVICE_PORT, 0)
    assert [(d, reply(p)) for d, p in out.send] == [(chain.app[1], (T_ERR, 0, E_CREATE))]


CREATES = st.builds(
    Create, remote_node_id=st.sampled_from([0, 1, 2, 3, 0xFFFFFFFF]), minimum_fidelity=st.integers(0, 0xFFFF),
    tu=st.integers(0, 3), max_time=st.integers(0, 0x3FFF), purpose_id=st.sampled_from([0, PURPOSE, 7, 0x8001]),
    number=st.integers(0, 0xFFFF), priority=st.integers(0, 7), tpe=st.integers(0, 1), ato=st.integers(0, 1),
    con=st.integers(0, 1), rl=st.integers(0, 3), rr=st.integers(0, 3), pl1=st.integers(0, 255),
    pl2=st.integers(0, 255), pr1=st.integers(0, 255), pr2=st.integers(0, 255),
    rotx1l=st.sampled_from([0, 64, 192, 1]), rotyl=st.sampled_from([0, 64, 192, 1]), rotx2l=st.just(0),
    rotx1r=st.sampled_from([0, 64, 192, 1]), rotyr=st.sampled_from([0, 64, 192, 1]), rotx2r=st.just(0),
    distil=st.integers(0, 3), window=st.integers(0, 3))
RESERVED = st.integers(0, 3)
"""Bits 110-111 of the CREATE (Reserved: sent as 0, ignored on receipt, §1)."""


def _bytes(create: Create, reserved: int) -> bytes:
    data = bytearray(create.encode())
    data[13] |= reserved
    return bytes(data)


def _unparseable(create: Create) -> bool:
    return create.tu == 3 and create.max_time != 0


@settings(max_examples=300, deadline=None)
@given(CREATES, RESERVED)
def test_every_link_create_is_answered_ack_or_err(create: Create, reserved: int) -> None:
    n1, _ = link_pair()
    out = n1.receive(_bytes(create, reserved), APP1, LINK_SERVICE_PORT, now=0)
    to_app = [reply(p) for d, p in out.send if d == APP1]
    if create.window in (2, 3):                     # CREDIT and CLOSE are never answered (§4.1.1)
        assert to_app == [] and n1.counters.stale_windows == 1
        return
    assert len(to_app) == 1 and to_app[0][0] in (T_ACK, T_ERR)
    _, create_id, code = to_app[0]
    assert (code == E_CREATE) == _unparseable(create)
    assert create_id == (0 if code == E_CREATE else 1)


@settings(max_examples=300, deadline=None)
@given(CREATES, RESERVED)
def test_every_req_is_answered_req_ack(create: Create, reserved: int) -> None:
    _, n2 = link_pair()
    req = EgpMessage(MSG_REQ, 0, 9, LINK, 1, 0, create).encode()
    out = n2.receive(req[:16] + _bytes(create, reserved), EGP1, EGP_PORT, now=0)
    answers = [p for d, p in out.send if d == EGP1 and p[1] == 2]
    assert len(answers) == 1
    assert (answers[0][2] == E_CREATE) == _unparseable(create)     # read first, as at the origin


@settings(max_examples=200, deadline=None)
@given(CREATES, RESERVED)
def test_every_network_create_is_answered_ack_or_err(create: Create, reserved: int) -> None:
    chain = Chain(1)
    out = chain.engines[1].receive(_bytes(create, reserved), chain.app[1], NETWORK_SERVICE_PORT, 0)
    to_app = [reply(p) for d, p in out.send if d == chain.app[1]]
    assert to_app and to_app[0][0] in (T_ACK, T_ERR)
    _, create_id, code = to_app[0]
    assert (code == E_CREATE) == _unparseable(create)
    assert create_id == (0 if code == E_CREATE else 1)
