"""Conformance against qnetstack's link layer: play a node's EGP peer and its higher layer with bytes built from
docs/wire.md alone, against our sans-IO :class:`~protocols.link.layer.LinkLayer`
(python examples/conformance/egp_peer.py).

Node 1 runs our link layer (the link's master: the lower node id). This script is node 2's EGP (UDP 7772, §4.4)
and node 1's application (UDP 7771, §4.1/§4.2): every message it sends is packed with ``struct`` from the bit
diagrams, every message it gets is unpacked the same way and checked against the spec, and nothing of
qnetstack's codecs is used. Replace the peer's side (``create``, ``answer``: the bytes it sends; ``egp``,
``upward``: how it reads ours) with calls into your own EGP implementation and the checks are a conformance test of
yours against ours. Times are integer nanoseconds; the engine
reads no clock, so the exchange is the same on every run.

The exchange: CREATE → ACK + REQ; (silence) → the REQ again at its deadline, byte for byte; REQ_ACK → SCHEDULE;
SCHEDULE_ACK → StartGeneration to the physical layer; a heralded pair (the physical layer's PairReady) → OK-K
to the application and CONFIRM to the peer; CONFIRM_ACK; the second pair completes the request. Last, a CREATE
whose Time Unit is 3 (unused) → ERR CREATE with Create ID 0.
"""

from __future__ import annotations

import struct
from typing import Any

from protocols.common import EGP_PORT, LINK_SERVICE_PORT, Actions, BellState
from protocols.link.layer import LinkConfig, LinkLayer
from protocols.physical.service import PairReady, StartGeneration

LINK_ID, PURPOSE = 7, 1
APP = ("198.18.0.1", 49152)                   # node 1's application (§2.2: 49152 and up → 7771)
PEER_EGP = ("198.18.0.2", EGP_PORT)          # node 2's EGP: this script

# -- docs/wire.md, by hand ------------------------------------------------------------------------------------
EGP_HEADER = struct.Struct("!BBBBHHII")       # §4.4: Version, Message Type, Status, Reserved, Create ID, Link ID,
#                                               Origin Node, Queue Sequence
REQ, REQ_ACK, CONFIRM, CONFIRM_ACK, SCHEDULE, SCHEDULE_ACK = 1, 2, 3, 4, 5, 6
PAIR_BODY = struct.Struct("!QHH")             # CONFIRM..RELEASE_ACK: Attempt Sequence, Sequence Number, Reserved
RUN_BODY = struct.Struct("!IHH")              # SCHEDULE, SCHEDULE_ACK: Run, Pairs, Reserved
T_ACK, T_OK_K, T_ERR = 1, 2, 4                # §4.2: the Type nibble
ERR_CREATE = 2                                # §4.3


def create(remote: int, purpose: int, number: int, tu: int = 0, max_time: int = 0) -> bytes:
    """§4.1: a create-and-keep CREATE (TPE 0), CON set, everything else 0."""
    flags = 0 << 5 | 0 << 4 | 0 << 3 | 1 << 2      # Priority, TPE, ATO, CON (RL = 0)
    return struct.pack("!IHHHHBB", remote, 0, tu << 14 | max_time, purpose, number, flags, 0) + bytes(10)


def upward(data: bytes) -> dict[str, int]:
    """§4.2: ACK, OK-K or ERR from port 7771."""
    word, = struct.unpack_from("!I", data)
    kind, fields = word >> 28, {"type": word >> 28, "create_id": word >> 12 & 0xFFFF}
    if kind == T_ACK:
        assert len(data) == 4 and word & 0xFFF == 0, data.hex()
    elif kind == T_OK_K:
        assert len(data) == 16, data.hex()
        seq, purpose, remote, goodness, _tog = struct.unpack_from("!HHIHH", data, 4)
        fields.update(lqid=word >> 8 & 0xF, d=word >> 7 & 1, bell_state=word >> 5 & 3, sequence_number=seq,
                      purpose_id=purpose, remote_node_id=remote, goodness=goodness)
    elif kind == T_ERR:
        assert len(data) == 12, data.hex()
        fields.update(err=word >> 8 & 0xF, origin_node=struct.unpack_from("!I", data, 8)[0])
    else:
        raise AssertionError(f"unexpected message to the application: {data.hex()}")
    return fields


def egp(data: bytes) -> dict[str, Any]:
    """§4.4: any EGP message."""
    version, mtype, status, reserved, create_id, link_id, origin, queue_seq = EGP_HEADER.unpack_from(data)
    assert version == 1 and reserved == 0, data.hex()
    fields: dict[str, Any] = {"type": mtype, "status": status, "create_id": create_id, "link_id": link_id,
                              "origin_node": origin, "queue_seq": queue_seq}
    body = data[EGP_HEADER.size:]
    if mtype == REQ:
        assert len(body) == 24, data.hex()
        fields["create"] = body
    elif mtype in (CONFIRM, CONFIRM_ACK):
        fields["attempt_seq"], fields["sequence_number"], _ = PAIR_BODY.unpack(body)
    elif mtype in (SCHEDULE, SCHEDULE_ACK):
        fields["run"], fields["pairs"], _ = RUN_BODY.unpack(body)
    else:
        assert mtype == REQ_ACK and body == b"", data.hex()
    return fields


def answer(message: bytes, mtype: int, status: int = 0) -> bytes:
    """The peer's answer to ``message`` (REQ → REQ_ACK, SCHEDULE → SCHEDULE_ACK, CONFIRM → CONFIRM_ACK): the same
    header fields (the master's Queue Sequence echoed) and, but for REQ_ACK, the same body."""
    _version, _type, _status, _reserved, create_id, link_id, origin, queue_seq = EGP_HEADER.unpack_from(message)
    body = b"" if mtype == REQ_ACK else message[EGP_HEADER.size:]
    return EGP_HEADER.pack(1, mtype, status, 0, create_id, link_id, origin, queue_seq) + body


# -- driving our engine ----------------------------------------------------------------------------------------
def sent(actions: Actions) -> tuple[list[bytes], list[bytes]]:
    """What the engine sent: to the application, and to the peer (nothing else is addressed)."""
    to_app = [p for d, p in actions.send if d == APP]
    to_peer = [p for d, p in actions.send if d == PEER_EGP]
    assert len(to_app) + len(to_peer) == len(actions.send), actions.send
    return to_app, to_peer


def main() -> None:
    ours = LinkLayer(node_id=1, links=[LinkConfig(LINK_ID, peer_node_id=2, peer_address=PEER_EGP,
                                                  t2_local_ns=1e9, t2_peer_ns=1e9)],
                     purposes={}, retransmit_ns=50_000, retries=3)
    request = create(remote=2, purpose=PURPOSE, number=2)

    out = ours.receive(request, APP, LINK_SERVICE_PORT, now=0)
    (ack,), (req,) = sent(out)
    create_id = upward(ack)["create_id"]
    fields = egp(req)
    assert fields == {"type": REQ, "status": 0, "create_id": create_id, "link_id": LINK_ID, "origin_node": 1,
                      "queue_seq": 1, "create": request}, fields          # the master numbers its own CREATE
    print(f"CREATE -> ACK create_id={create_id} + REQ queue_seq=1 (the CREATE's 24 bytes unchanged)")

    assert out.deadline == 50_000
    again = ours.on_timer(out.deadline)                                  # the peer is silent: retransmitted
    assert sent(again) == ([], [req])
    print(f"no REQ_ACK by {out.deadline} ns -> the same REQ again, byte for byte")

    out = ours.receive(answer(req, REQ_ACK), PEER_EGP, EGP_PORT, now=60_000)
    (schedule,) = sent(out)[1]
    fields = egp(schedule)
    assert (fields["type"], fields["create_id"], fields["queue_seq"], fields["run"]) == (SCHEDULE, create_id, 1, 1)
    print(f"REQ_ACK -> SCHEDULE run=1 pairs={fields['pairs']}")

    out = ours.receive(answer(schedule, SCHEDULE_ACK), PEER_EGP, EGP_PORT, now=61_000)
    assert out.down == [StartGeneration(LINK_ID, 2, None)], out.down
    print(f"SCHEDULE_ACK -> the physical layer is told {out.down[0]}")

    for n, attempt in enumerate((41, 57)):
        now = 70_000 + 10_000 * n
        pair = PairReady(LINK_ID, slot=0, qubit_id=100 + n, bell_state=BellState.PSI_PLUS, attempt_seq=attempt,
                         attempts=1, emission_time=now - 1_000, distribution=(0.0, 1.0, 0.0, 0.0),
                         outcome=None, basis=None)      # distribution: by Bell index (Φ+, Ψ+, Φ−, Ψ−), a pure Ψ+
        out = ours.handle(pair, now)
        (ok,), (confirm,) = sent(out)
        ok_fields, fields = upward(ok), egp(confirm)
        assert (ok_fields["type"], ok_fields["create_id"], ok_fields["d"]) == (T_OK_K, create_id, 0), ok_fields
        assert (ok_fields["bell_state"], ok_fields["remote_node_id"]) == (BellState.PSI_PLUS, 2), ok_fields
        assert ok_fields["goodness"] >= 65_530, ok_fields     # F = 1 decayed for 1 µs in T2 = 1 s memories
        assert (fields["type"], fields["attempt_seq"]) == (CONFIRM, attempt), fields
        assert fields["sequence_number"] == ok_fields["sequence_number"], (fields, ok_fields)
        print(f"pair of attempt {attempt} -> OK-K seq={ok_fields['sequence_number']} bell=PSI_PLUS "
              f"goodness={ok_fields['goodness']} + CONFIRM")
        out = ours.receive(answer(confirm, CONFIRM_ACK), PEER_EGP, EGP_PORT, now=now + 1_000)
        assert sent(out) == ([], []), out.send
    assert not ours.open, ours.open
    print("CONFIRM_ACK of both pairs -> the request is complete (no request open)")

    out = ours.receive(create(remote=2, purpose=PURPOSE, number=1, tu=3, max_time=5), APP, LINK_SERVICE_PORT,
                       now=200_000)
    (err,), peer = sent(out)
    assert peer == [] and upward(err) == {"type": T_ERR, "create_id": 0, "err": ERR_CREATE, "origin_node": 1}
    print("CREATE with Time Unit 3 -> ERR CREATE create_id=0")
    print("conformance exchange: every message as docs/wire.md specifies")


if __name__ == "__main__":
    main()
