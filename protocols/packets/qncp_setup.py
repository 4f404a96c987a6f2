"""QNCP SETUP and SETUP_REPLY: circuit setup, with the capabilities collected and the rules decided.

SETUP (type 1) travels from the head along the route; each node appends its QCap (its
NodeCap and the LinkCap of its outgoing hop). SETUP_REPLY (type 3) travels back with the
tail's decisions: the cutoffs, the window, the model state and one rule per hop. Layouts
(``docs/wire.md`` §9.3.2-9.3.3; all integers big-endian)::

    SETUP        header(12) | Tail Node(32) | Create ID(16) Hop Count(8) Hop Index(8) |
                 Window(8) Reserved(24) | CREATE(24 bytes) | Route: (Hop Count + 1) x Node ID(32) |
                 Hop Index x QCap
    SETUP_REPLY  header(12) | Tail Node(32) | Reporting Node(32) | Hop Count(8) Window(8)
                 End Distil(8) Reserved(8) | Cutoff(64) | End Cutoff(64) | Expected Pair Time(64) |
                 Model Fidelity(16) Error X(16) | Error Z(16) Error Y(16) |
                 Route: (Hop Count + 1) x Node ID(32), none when Hop Count is 0 | Hop Count x HopRule
    (QCap and HopRule: :mod:`protocols.packets.qncp_caps`)

Hop Count and Hop Index are not fields of the codecs: they are ``len(route) - 1`` and
``len(qcaps)``. Times are ns; fidelities n / 65535.

>>> from protocols.packets.linkservice import Create
>>> from protocols.packets.qncp_caps import LinkCap, LinkOption, NodeCap, QCap
>>> from protocols.packets.qncp_common import INFINITE_NS
>>> node = NodeCap(node_id=1, comm_qubits=2, storage_qubits=2, free_qubits=4, bsm_success=255,
...                t1_ns=INFINITE_NS, t2_ns=10**9, gate_fidelity=65470, readout_fidelity=65470,
...                gate_time_ns=20_000, readout_time_ns=10_000)
>>> hop = LinkCap(link_id=1, link_label=0x8001, peer_node=2, attempt_cycle_ns=10_000,
...               one_way_delay_ns=61_000, options=(LinkOption(85_899_346, 64880, 218, 218, 219),))
>>> s = Setup(circuit_id=0x0101, head_node=1, tail_node=3, create_id=5, window=1,
...           create=Create(remote_node_id=3), route=(1, 2, 3), qcaps=(QCap(node, hop),))
>>> len(s.encode()), Setup.decode_body(s.encode(), 0, 0, 0x0101, 1) == s
(128, True)
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from protocols.common import ParseError
from protocols.packets.linkservice import CREATE_SIZE, Create
from protocols.packets.qcap_list import encode_qcaps, read_qcaps
from protocols.packets.qncp_caps import (
    HopRule,
    QCap,
    Reader,
    distil_rule,
    pack_route,
    read_rules,
)
from protocols.packets.qncp_common import (
    HEADER_SIZE,
    SETUP,
    SETUP_REPLY,
    STATUS_OK,
    pack_header,
)

_SETUP = struct.Struct("!IHBBB3x")
_REPLY = struct.Struct("!IIBBBxQQQHHHH")
SETUP_FIXED = HEADER_SIZE + _SETUP.size + CREATE_SIZE
REPLY_FIXED = HEADER_SIZE + _REPLY.size


@dataclass(frozen=True, slots=True)
class Setup:
    """SETUP (type 1). ``hop_count`` = len(route) − 1; ``hop_index`` (the addressee's index in the
    route) = len(qcaps)."""

    circuit_id: int
    head_node: int
    tail_node: int
    create_id: int
    window: int
    create: Create
    route: tuple[int, ...]
    qcaps: Sequence[QCap]
    """A tuple, or the :class:`~protocols.packets.qcap_list.QCaps` of a decoded SETUP (equal to their tuple)."""
    status: int = STATUS_OK
    reason: int = 0
    msg_type: int = field(default=SETUP, init=False)

    @property
    def hop_count(self) -> int:
        return len(self.route) - 1

    @property
    def hop_index(self) -> int:
        return len(self.qcaps)

    def encode(self) -> bytes:
        if not 1 <= self.hop_index <= self.hop_count:
            raise ValueError(f"SETUP needs 1 <= len(qcaps) <= len(route) - 1, got {self.hop_index}, {len(self.route)}")
        body = b"".join((_SETUP.pack(self.tail_node, self.create_id, self.hop_count, self.hop_index, self.window),
                         self.create.encode(), pack_route(self.route), encode_qcaps(self.qcaps)))
        return pack_header(SETUP, self.status, self.reason, self.circuit_id, HEADER_SIZE + len(body),
                           self.head_node) + body

    @classmethod
    def decode_body(cls, data: bytes, status: int, reason: int, circuit_id: int, head_node: int) -> Setup:
        reader = Reader(data, HEADER_SIZE)
        tail, create_id, hop_count, hop_index, window = reader.take(_SETUP, "the SETUP fields")
        if not 1 <= hop_index <= hop_count:
            raise ParseError(f"SETUP hop index {hop_index} is not in 1..hop count ({hop_count})")
        create = Create.decode(reader.raw(CREATE_SIZE, "the CREATE"))
        route = reader.route(hop_count + 1)
        qcaps = read_qcaps(reader, hop_index)
        reader.end()
        return cls(circuit_id, head_node, tail, create_id, window, create, route, qcaps, status, reason)


@dataclass(frozen=True, slots=True)
class SetupReply:
    """SETUP_REPLY (type 3). Status 0: accepted, with the route and one rule per hop. Otherwise the
    refusal's error code from ``reporting_node``, with no route and no rules."""

    circuit_id: int
    head_node: int
    tail_node: int
    reporting_node: int
    window: int = 0
    cutoff_ns: int = 0
    end_cutoff_ns: int = 0
    expected_pair_time_ns: int = 0
    model_fidelity: int = 0
    model_error_x: int = 0
    model_error_z: int = 0
    model_error_y: int = 0
    route: tuple[int, ...] = ()
    rules: tuple[HopRule, ...] = ()
    status: int = STATUS_OK
    reason: int = 0
    end_distil: int = 0
    """How the ends distil end-to-end pairs before delivering them (a rule byte, 0: not)."""
    msg_type: int = field(default=SETUP_REPLY, init=False)

    @property
    def hop_count(self) -> int:
        return len(self.rules)

    def encode(self) -> bytes:
        if len(self.route) != (self.hop_count + 1 if self.hop_count else 0) or (self.status == STATUS_OK) != (
                self.hop_count > 0):
            raise ValueError("SETUP_REPLY: status 0 with a route of len(rules) + 1 nodes, or an error with neither")
        body = b"".join((_REPLY.pack(self.tail_node, self.reporting_node, self.hop_count, self.window,
                                     self.end_distil, self.cutoff_ns, self.end_cutoff_ns, self.expected_pair_time_ns,
                                     self.model_fidelity, self.model_error_x, self.model_error_z,
                                     self.model_error_y),
                         pack_route(self.route),
                         *(r.encode() for r in self.rules)))
        return pack_header(SETUP_REPLY, self.status, self.reason, self.circuit_id, HEADER_SIZE + len(body),
                           self.head_node) + body

    @classmethod
    def decode_body(cls, data: bytes, status: int, reason: int, circuit_id: int, head_node: int) -> SetupReply:
        reader = Reader(data, HEADER_SIZE)
        (tail, reporting, hop_count, window, end_distil, cutoff, end_cutoff, pair_time, fidelity, error_x, error_z,
         error_y) = reader.take(_REPLY, "the SETUP_REPLY fields")
        distil_rule(end_distil)
        if (status == STATUS_OK) != (hop_count > 0):
            raise ParseError(f"SETUP_REPLY with status {status} has hop count {hop_count}")
        route = reader.route(hop_count + 1 if hop_count else 0)
        rules = read_rules(reader, hop_count)
        reader.end()
        return cls(circuit_id, head_node, tail, reporting, window, cutoff, end_cutoff, pair_time, fidelity, error_x,
                   error_z, error_y, route, rules, status, reason, end_distil)
