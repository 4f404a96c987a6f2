"""Every parser of outside input, as a fuzz target: what it may raise, and valid inputs to mutate.

A parser takes bytes from a peer (a datagram, a medium-socket message, a scenario file) and must answer
with a value or its own documented error (:class:`protocols.common.ParseError`, the medium protocol's
:class:`MediumProtocolError`, :class:`stack.scenario.ScenarioError`), never anything else: any other
exception is a crash of the process that reads it. ``tests/test_fuzz_parsers.py`` runs each target on a
few hundred inputs in the regular suite; ``bench/fuzz.py`` runs a million or more on demand.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protocols.common import Basis, ParseError
from protocols.packets import auth as auth_trailer
from protocols.packets import linkservice as ll
from protocols.packets import ptp
from protocols.packets.egp import MSG_CONFIRM, MSG_REQ, MSG_SCHEDULE, EgpMessage
from protocols.packets.exchange import FLAG_REPLY, ExchangeMessage
from protocols.packets.heralding import Herald
from protocols.packets.heralding_batch import RICE, HeraldBatch, decode_qhp
from protocols.packets.qframe import QuantumFrame
from protocols.packets.qncp import CircuitEnd, Confirm, HopAck, PairMessage, decode_qncp
from protocols.packets.qncp_caps import HopRule, LinkCap, LinkOption, NodeCap, QCap
from protocols.packets.qncp_common import (
    COMPLETE,
    CONFIRM,
    CREDIT,
    DISTIL,
    EXPIRE,
    SCOPE_END_TO_END,
    SCOPE_HOP,
    SETUP_ACK,
)
from protocols.packets.qncp_distil import Distil
from protocols.packets.qncp_setup import Setup, SetupReply
from protocols.packets.qnp import EgpHeader, TrackFrame
from protocols.packets.qtp import ERR_DEADLINE, TYPE_ACK, TYPE_DATA, TYPE_ERR, Qtp
from protocols.physical.hardware import Arm, EmittedBlock, Measure
from protocols.security import Authenticator
from stack.multiprocess.medium_protocol import MediumProtocolError, decode_hardware, encode_hardware, parse
from stack.multiprocess.results import result_problem
from stack.scenario import ScenarioError, load_text

ROOT = Path(__file__).resolve().parent.parent
FUZZ_SOURCE = str(ROOT / "examples" / "fuzz.toml")
"""The source fuzzed scenarios claim: in examples/, so the examples' key file (keys/demo.key) is found."""


@dataclass(frozen=True)
class Target:
    """One parser: ``parse(data)`` may raise only ``allowed``; ``seeds`` are valid inputs."""

    name: str
    parse: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...]
    seeds: tuple[bytes, ...]


def _ptp(data: bytes) -> object:
    """The PTP codec and the two helpers a runtime applies to any datagram on 319/320."""
    ptp.event_key(data)
    ptp.add_correction(data, 1 << 62)
    return ptp.PtpMessage.decode(data)


def _medium(data: bytes) -> object:
    """What the medium does with a message from a node: frame it, decode its command, check a result."""
    message = parse(data)
    if "command" in message:
        decode_hardware(message["command"])
    if message["op"] == "result":
        result_problem(message, "alice")
    return message


def _scenario(data: bytes) -> object:
    return load_text(data.decode("utf-8", errors="replace"), FUZZ_SOURCE)


def _decode_qncp_whole(data: bytes) -> object:
    """decode_qncp, and a SETUP's QCaps, which are decoded at their first use (protocols.packets.qcap_list)."""
    message = decode_qncp(data)
    return tuple(message.qcaps) if isinstance(message, Setup) else message


def _qncp_seeds() -> tuple[bytes, ...]:
    create = ll.Create(remote_node_id=2, minimum_fidelity=0xE666, tu=1, max_time=500, purpose_id=0x8001, number=100)
    node = NodeCap(1, 2, 3, 4, 128, 10**9, 10**8, 0xFFBE, 0xFFBD, 1000, 10_000)
    link = LinkCap(0xA1, 0xC001, 3, 10_000, 61_000, (LinkOption(0xFFFF_FFFF, 0xFD70, 0xDA, 0xDA, 0xDB),))
    setup = Setup(0xBEEF, 1, tail_node=2, create_id=5, window=2, create=create, route=(1, 3, 2),
                  qcaps=(QCap(node, link), QCap(NodeCap(3, 2, 0, 2, 255, 10**9, 10**8, 1, 2, 3, 4),
                                                LinkCap(0xA2, 0x8001, 2, 5_000, 50_000, ()))))
    reply = SetupReply(0xBEEF, 1, tail_node=2, reporting_node=2, window=1, cutoff_ns=5_000_000,
                       end_cutoff_ns=2**64 - 1, expected_pair_time_ns=2_500_000, model_fidelity=0xF000,
                       model_error_x=0x555, model_error_z=0x555, model_error_y=0x555, route=(1, 3, 2),
                       rules=(HopRule(0xA1, 0xC001, 3, 0xF333), HopRule(0xA2, 0x8001, 3, 0xF334)))
    return (setup.encode(), reply.encode(), HopAck(SETUP_ACK, 0xBEEF, 1, 1).encode(),
            PairMessage(EXPIRE, 0xBEEF, 1, link_label=0xC001, pair_seq=7, link_id=0xA1, reason=2).encode(),
            PairMessage(CREDIT, 0xBEEF, 1, link_label=0xC001, pair_seq=7, link_id=0xA1, window=4).encode(),
            Confirm(CONFIRM, 0xBEEF, 1, 3, 4, 5, 2, 0xFFFF).encode(), CircuitEnd(COMPLETE, 0xBEEF, 1, 3).encode(),
            Distil(DISTIL, 0xBEEF, 1, link_label=0xC001, kept_pair_seq=7, link_id=0xA1, scope=SCOPE_HOP, protocol=2,
                   sacrificed_pair_seq=8, level=1, outcome=1).encode(),
            Distil(DISTIL, 0xBEEF, 1, link_label=0xC001, kept_pair_seq=7, link_id=0xA1, scope=SCOPE_END_TO_END,
                   protocol=1, sacrificed_pair_seq=9, level=0, outcome=1, keep_parity=0, survivor=3).encode())


def _medium_seeds() -> tuple[bytes, ...]:
    messages = [
        {"op": "hello", "node": "alice", "node_id": 1, "seed": 3, "proof": "00" * 32},
        {"op": "command", "at": 1500, "node_id": 2, "reply_to": "bob/link",
         "command": encode_hardware(Measure(1, Basis.Y))},
        {"op": "command", "at": 5, "node_id": 1, "reply_to": "alice/physical",
         "command": encode_hardware(Arm(1, 5, None, 0.1, ((Basis.Z, 0.5), (Basis.X, 0.5))))},
        {"op": "clock", "at": 7, "node_id": 1, "phase_ns": 1.5, "frequency_ppb": None},
        {"op": "command", "at": 9, "node_id": 1, "reply_to": "alice/physical",     # an event's arrays (base64)
         "command": encode_hardware(EmittedBlock(1, 40, 9, 3, 100, (0.9, 0.05, 0.05, 0.0),
                                                 np.packbits([1, 0, 1]), np.array([0, 1, 2], dtype=np.uint8)))},
        {"op": "result", "node": "alice", "at": 9, "held": {"1": [0, 1]},
         "counters": {"sent": 1, "received": 2, "lost": 0, "undeliverable": 0, "malformed": 0, "unknown_clients": 0,
                      "over_quota": 0, "phantom_oks": 0},
         "apps": {"alice/app1": {"sent_at": 0, "first_ok_at": 5, "errors": [], "expired": [],
                                 "records": [[0, 2, "K", 0, 0, 0.9, 5, 0, 1]]}},
         "kernel": {"missed_deadlines": 0, "late_inputs": 0}, "udp": {"send_errors": 0}, "clock_reading": None,
         "ptp": None},
    ]
    return tuple(json.dumps(m).encode() for m in messages)


def _scenario_seeds() -> tuple[bytes, ...]:
    paths = [*sorted((ROOT / "examples").glob("*.toml")), ROOT / "examples" / "api" / "applications.toml"]
    return tuple(path.read_bytes() for path in paths)


_AUTH = Authenticator(bytes(range(32)))


def _auth_open(data: bytes) -> object:
    """A receiver checking any datagram: it answers with a payload or a drop reason, never an exception."""
    return _AUTH.open(1, 2, 7771, 7771, data)


def _auth_seeds() -> tuple[bytes, ...]:
    sender = Authenticator(bytes(range(32)))
    return tuple(sender.seal(1, 2, 7771, 7771, payload) for payload in (b"", b"\x01" * 16, bytes(24)))


def _egp_seeds() -> tuple[bytes, ...]:
    create = ll.Create(remote_node_id=2, purpose_id=1, number=5)
    return (EgpMessage(MSG_REQ, 0, 1, 1, 1, 3, create).encode(), EgpMessage(MSG_CONFIRM, 0, 1, 1, 1, 3).encode(),
            EgpMessage(MSG_SCHEDULE, 0, 1, 1, 1, 3).encode())


def _qhp_whole(data: bytes) -> object:
    """:func:`decode_qhp`, a BATCH's failure counts unpacked too (a Rice BATCH's are unpacked when read)."""
    message = decode_qhp(data)
    if isinstance(message, HeraldBatch):
        message.failures.sum()
    return message


TARGETS: dict[str, Target] = {target.name: target for target in (
    Target("qhp", Herald.decode, (ParseError,), (Herald(1, 2, 1, 1, 40, 39, 2023204).encode(),)),
    Target("qhp_batch", _qhp_whole, (ParseError,), (
        HeraldBatch(1, 1, 40, 60, 2023204, np.array([3, 0, 17, 2]), np.array([1, 3, 3, 1])).encode(),
        HeraldBatch(2, 4, 0, 9, 5, np.zeros(9, dtype=np.uint64), np.zeros(9, dtype=np.uint8)).encode(),
        HeraldBatch(1, 1, 40, 60, 2023204, np.array([3, 0, 17, 2]), np.array([1, 3, 3, 1]), 2, RICE).encode())),
    Target("qframe", QuantumFrame.decode, (ParseError,), (QuantumFrame(1, 1, 2, 9, 5, 11).encode(),)),
    Target("create", ll.Create.decode, (ParseError,),
           (ll.Create(remote_node_id=2, purpose_id=7, number=5, priority=3, tpe=1, rl=1).encode(),)),
    Target("upward", ll.decode_upward, (ParseError,),
           (ll.Ack(1).encode(), ll.OkKeep(1, 0, 0, 1, 2, 7, 2, 60000, 5).encode(),
            ll.OkMeasure(1, 1, 0, 1, 0, 2, 7, 2, 60000).encode(), ll.Err(1, ll.ERR_EXPIRE, 1, 3, 9, 1).encode(),
            ll.OkMeasureBlock(1, 0, 65534, 7, 2, 60000, np.array([1, 0, 1], dtype=np.uint8),
                              np.array([0, 2, 1], dtype=np.uint8), np.array([3, 1, 0], dtype=np.uint8)).encode())),
    Target("egp", EgpMessage.decode, (ParseError,), _egp_seeds()),
    Target("ptp", _ptp, (ParseError,), tuple(ptp.PtpMessage(kind, 0x1234, 0x20000FFFE000001, seconds=5).encode()
                                             for kind in (ptp.SYNC, ptp.FOLLOW_UP, ptp.DELAY_REQ, ptp.DELAY_RESP,
                                                          ptp.ANNOUNCE))),
    Target("track", TrackFrame.decode, (ParseError,), (TrackFrame(0xC001, 0xFFFE, 1, 0xBEEF, 0xFFFE, 1).encode(),)),
    Target("p4egp", EgpHeader.decode, (ParseError,), (TrackFrame(0xC001, 9, 1, 0xBEEF, 9, 1).encode()[:8],)),
    Target("qncp", _decode_qncp_whole, (ParseError,), _qncp_seeds()),
    Target("auth", auth_trailer.split, (ParseError,), _auth_seeds()),
    Target("auth_open", _auth_open, (), _auth_seeds()),
    Target("qtp", Qtp.decode, (ParseError,), (Qtp(TYPE_DATA, 100, 7, 3, 9, 1, cx=1, cz=1, attempt=2).encode(),
                                              Qtp(TYPE_ACK, 100, 7, 3, 9, 1).encode(),
                                              Qtp(TYPE_ERR, 100, 0, 3, 9, 1, error=ERR_DEADLINE).encode())),
    Target("exchange", ExchangeMessage.decode, (ParseError,), (ExchangeMessage(1, 0, b"").encode(),
                                                               ExchangeMessage(7, FLAG_REPLY, bytes(40)).encode())),
    Target("medium", _medium, (MediumProtocolError,), _medium_seeds()),
    Target("scenario", _scenario, (ScenarioError,), _scenario_seeds()),
)}


def mutate(seed: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """``seed`` after byte edits, each (kind, position, value): 0 replace, 1 insert, 2 delete, 3 truncate,
    4 append; positions wrap around the current length (hypothesis and the fuzz script share this)."""
    data = bytearray(seed)
    for kind, position, value in edits:
        at = position % (len(data) + 1)
        if kind == 0 and data:
            data[at % len(data)] = value
        elif kind == 1:
            data.insert(at, value)
        elif kind == 2 and data:
            del data[at % len(data)]
        elif kind == 3:
            del data[at:]
        elif kind == 4:
            data.append(value)
    return bytes(data)


def check(target: Target, data: bytes) -> None:
    """Run ``target`` on ``data``; an exception other than the allowed ones propagates (a finding)."""
    with contextlib.suppress(*target.allowed):
        target.parse(data)
