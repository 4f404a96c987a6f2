"""QNCP SETUP and SETUP_REPLY: circuit setup, with the capabilities collected and the rules decided.

SETUP (type 1) travels from the head along the route; each node appends its QCap (its
NodeCap and the LinkCap of its outgoing hop). SETUP_REPLY (type 3) travels back with the
tail's decisions: the cutoffs, the window, the model state and one rule per hop. Layouts
(``docs/wire.md`` §9.3.2-9.3.3; all integers big-endian)::

    SETUP        header(12) | Tail Node(32) | Create ID(16) Hop Count(8) Hop Index(8) |
                 Window(8) Reserved(24) | CREATE(24 bytes) | Route: (Hop Count + 1) x Node ID(32) |
                 Hop Index x QCap
    QCap         NodeCap(36) | LinkCap(20 + 12 x Options)
    NodeCap      Node ID(32) | Comm(8) Storage(8) Free(8) BSM Success(8) | T1(64) | T2(64) |
                 Gate Fidelity(16) Readout Fidelity(16) | Gate Time(32) | Readout Time(32)
    LinkCap      Link ID(16) Link Label(16) | Peer Node(32) | Attempt Cycle(32) |
                 One-Way Delay(32) | Options(8) Reserved(24) | Options x LinkOption
    LinkOption   Success Probability(32) | Fidelity(16) Error X(16) | Error Z(16) Error Y(16)
    SETUP_REPLY  header(12) | Tail Node(32) | Reporting Node(32) | Hop Count(8) Window(8)
                 Reserved(16) | Cutoff(64) | End Cutoff(64) | Expected Pair Time(64) |
                 Model Fidelity(16) Error X(16) | Error Z(16) Error Y(16) |
                 Route: (Hop Count + 1) x Node ID(32), none when Hop Count is 0 | Hop Count x HopRule
    HopRule      Link ID(16) Link Label(16) | Origin Node(32) | Link Min Fidelity(16) Reserved(16)

Hop Count and Hop Index are not fields of the codecs: they are ``len(route) - 1`` and
``len(qcaps)``. Times are ns; fidelities and errors n / 65535; success probabilities
n / (2^32 - 1); BSM success n / 255; T1/T2 all ones = infinite.

>>> from protocols.packets.linkservice import Create
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
from dataclasses import dataclass, field

from scapy.fields import (
    ByteField,
    FieldLenField,
    FieldListField,
    IntField,
    LongField,
    PacketLenField,
    PacketListField,
    ShortField,
    ThreeBytesField,
)
from scapy.packet import Packet

from protocols.common import ParseError
from protocols.packets.linkservice import CREATE_SIZE, Create, LLCreate
from protocols.packets.qncp_common import (
    HEADER_SIZE,
    INFINITE_NS,
    SETUP,
    SETUP_REPLY,
    STATUS_OK,
    QncpLayer,
    header_fields,
    pack_header,
)

MAX_OPTIONS = 16
_SETUP = struct.Struct("!IHBBB3x")
_REPLY = struct.Struct("!IIBBxxQQQHHHH")
_NODE = struct.Struct("!IBBBBQQHHII")
_LINK = struct.Struct("!HHIIIB3x")
_OPTION = struct.Struct("!IHHHH")
_RULE = struct.Struct("!HHIHxx")
_NODE_ID = struct.Struct("!I")
SETUP_FIXED = HEADER_SIZE + _SETUP.size + CREATE_SIZE
REPLY_FIXED = HEADER_SIZE + _REPLY.size


class _Reader:
    """Sequential unpacking with bounds checks that raise ParseError."""

    def __init__(self, data: bytes, offset: int) -> None:
        self.data, self.offset = data, offset

    def take(self, fmt: struct.Struct, what: str) -> tuple[int, ...]:
        if self.offset + fmt.size > len(self.data):
            raise ParseError(f"QNCP message ends inside {what} (offset {self.offset})")
        values = fmt.unpack_from(self.data, self.offset)
        self.offset += fmt.size
        return values

    def raw(self, size: int, what: str) -> bytes:
        if self.offset + size > len(self.data):
            raise ParseError(f"QNCP message ends inside {what} (offset {self.offset})")
        self.offset += size
        return self.data[self.offset - size:self.offset]

    def route(self, entries: int) -> tuple[int, ...]:
        return tuple(self.take(_NODE_ID, "the route")[0] for _ in range(entries))

    def end(self) -> None:
        if self.offset != len(self.data):
            raise ParseError(f"QNCP message has {len(self.data) - self.offset} bytes after its last field")


@dataclass(frozen=True, slots=True)
class NodeCap:
    """What a node on the route offers (appended by each node that forwards the SETUP)."""

    node_id: int
    comm_qubits: int
    storage_qubits: int
    free_qubits: int
    bsm_success: int
    t1_ns: int
    t2_ns: int
    gate_fidelity: int
    readout_fidelity: int
    gate_time_ns: int
    readout_time_ns: int

    def encode(self) -> bytes:
        return _NODE.pack(self.node_id, self.comm_qubits, self.storage_qubits, self.free_qubits,
                          self.bsm_success, self.t1_ns, self.t2_ns, self.gate_fidelity,
                          self.readout_fidelity, self.gate_time_ns, self.readout_time_ns)


@dataclass(frozen=True, slots=True)
class LinkOption:
    """One way a link can generate (e.g. one α of a single-click link): success probability per
    attempt and the Bell-diagonal distribution at the OK relative to the heralded state."""

    success_probability: int
    fidelity: int
    error_x: int
    error_z: int
    error_y: int


@dataclass(frozen=True, slots=True)
class LinkCap:
    """The hop from a node to the next on the route, with the label that node proposes for it."""

    link_id: int
    link_label: int
    peer_node: int
    attempt_cycle_ns: int
    one_way_delay_ns: int
    options: tuple[LinkOption, ...] = ()

    def encode(self) -> bytes:
        if len(self.options) > MAX_OPTIONS:
            raise ValueError(f"a LinkCap carries at most {MAX_OPTIONS} options, got {len(self.options)}")
        head = _LINK.pack(self.link_id, self.link_label, self.peer_node, self.attempt_cycle_ns,
                          self.one_way_delay_ns, len(self.options))
        return head + b"".join(_OPTION.pack(o.success_probability, o.fidelity, o.error_x, o.error_z,
                                            o.error_y) for o in self.options)


@dataclass(frozen=True, slots=True)
class QCap:
    """One node's entry in a SETUP: its NodeCap and the LinkCap of its outgoing hop."""

    node: NodeCap
    link: LinkCap

    def encode(self) -> bytes:
        return self.node.encode() + self.link.encode()


def _read_qcap(reader: _Reader) -> QCap:
    node = NodeCap(*reader.take(_NODE, "a NodeCap"))
    *link_fields, count = reader.take(_LINK, "a LinkCap")
    if count > MAX_OPTIONS:
        raise ParseError(f"LinkCap has {count} options, at most {MAX_OPTIONS}")
    options = tuple(LinkOption(*reader.take(_OPTION, "a link option")) for _ in range(count))
    return QCap(node, LinkCap(*link_fields, options=options))


@dataclass(frozen=True, slots=True)
class HopRule:
    """The tail's rule for one hop: its label, which end requests pairs, at what link fidelity."""

    link_id: int
    link_label: int
    origin_node: int
    link_min_fidelity: int


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
    qcaps: tuple[QCap, ...]
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
                         self.create.encode(), *(_NODE_ID.pack(n) for n in self.route),
                         *(q.encode() for q in self.qcaps)))
        return pack_header(SETUP, self.status, self.reason, self.circuit_id, HEADER_SIZE + len(body),
                           self.head_node) + body

    @classmethod
    def decode_body(cls, data: bytes, status: int, reason: int, circuit_id: int, head_node: int) -> Setup:
        reader = _Reader(data, HEADER_SIZE)
        tail, create_id, hop_count, hop_index, window = reader.take(_SETUP, "the SETUP fields")
        if not 1 <= hop_index <= hop_count:
            raise ParseError(f"SETUP hop index {hop_index} is not in 1..hop count ({hop_count})")
        create = Create.decode(reader.raw(CREATE_SIZE, "the CREATE"))
        route = reader.route(hop_count + 1)
        qcaps = tuple(_read_qcap(reader) for _ in range(hop_index))
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
    msg_type: int = field(default=SETUP_REPLY, init=False)

    @property
    def hop_count(self) -> int:
        return len(self.rules)

    def encode(self) -> bytes:
        if len(self.route) != (self.hop_count + 1 if self.hop_count else 0) or (self.status == STATUS_OK) != (
                self.hop_count > 0):
            raise ValueError("SETUP_REPLY: status 0 with a route of len(rules) + 1 nodes, or an error with neither")
        body = b"".join((_REPLY.pack(self.tail_node, self.reporting_node, self.hop_count, self.window,
                                     self.cutoff_ns, self.end_cutoff_ns, self.expected_pair_time_ns,
                                     self.model_fidelity, self.model_error_x, self.model_error_z,
                                     self.model_error_y),
                         *(_NODE_ID.pack(n) for n in self.route),
                         *(_RULE.pack(r.link_id, r.link_label, r.origin_node, r.link_min_fidelity)
                           for r in self.rules)))
        return pack_header(SETUP_REPLY, self.status, self.reason, self.circuit_id, HEADER_SIZE + len(body),
                           self.head_node) + body

    @classmethod
    def decode_body(cls, data: bytes, status: int, reason: int, circuit_id: int, head_node: int) -> SetupReply:
        reader = _Reader(data, HEADER_SIZE)
        tail, reporting, hop_count, window, *times_and_model = reader.take(_REPLY, "the SETUP_REPLY fields")
        if (status == STATUS_OK) != (hop_count > 0):
            raise ParseError(f"SETUP_REPLY with status {status} has hop count {hop_count}")
        route = reader.route(hop_count + 1 if hop_count else 0)
        rules = tuple(HopRule(*reader.take(_RULE, "a hop rule")) for _ in range(hop_count))
        reader.end()
        return cls(circuit_id, head_node, tail, reporting, window, *times_and_model, route=route, rules=rules,
                   status=status, reason=reason)


# --------------------------------------------------------------------------------------------
# Scapy layers (reference dissectors). Sub-structures are flat: a QCap is NodeCap + LinkCap. The route
# is the list field ``route_node`` (``Packet.route`` is a scapy method).

class QncpLinkOption(Packet):
    name = "QNCP Link Option"
    fields_desc = [IntField("success_probability", 0), ShortField("fidelity", 0), ShortField("error_x", 0),
                   ShortField("error_z", 0), ShortField("error_y", 0)]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class QncpQCap(Packet):
    name = "QNCP QCap"
    fields_desc = [
        IntField("node_id", 0), ByteField("comm_qubits", 0), ByteField("storage_qubits", 0),
        ByteField("free_qubits", 0), ByteField("bsm_success", 0), LongField("t1_ns", 0), LongField("t2_ns", 0),
        ShortField("gate_fidelity", 0), ShortField("readout_fidelity", 0), IntField("gate_time_ns", 0),
        IntField("readout_time_ns", 0),
        ShortField("link_id", 0), ShortField("link_label", 0), IntField("peer_node", 0),
        IntField("attempt_cycle_ns", 0), IntField("one_way_delay_ns", 0),
        FieldLenField("option_count", None, count_of="options", fmt="B"), ThreeBytesField("link_reserved", 0),
        PacketListField("options", [], QncpLinkOption, count_from=lambda pkt: pkt.option_count),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class QncpHopRule(Packet):
    name = "QNCP Hop Rule"
    fields_desc = [ShortField("link_id", 0), ShortField("link_label", 0), IntField("origin_node", 0),
                   ShortField("link_min_fidelity", 0), ShortField("rule_reserved", 0)]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class QncpSetup(QncpLayer):
    name = "QNCP SETUP"
    fields_desc = [
        *header_fields(SETUP),
        IntField("tail_node", 0), ShortField("create_id", 0),
        FieldLenField("hop_count", None, count_of="route_node", fmt="B", adjust=lambda pkt, n: n - 1),
        FieldLenField("hop_index", None, count_of="qcaps", fmt="B"),
        ByteField("window", 1), ThreeBytesField("reserved", 0),
        PacketLenField("create", LLCreate(), LLCreate, length_from=lambda pkt: CREATE_SIZE),
        FieldListField("route_node", [], IntField("", 0), count_from=lambda pkt: pkt.hop_count + 1),
        PacketListField("qcaps", [], QncpQCap, count_from=lambda pkt: pkt.hop_index),
    ]


class QncpSetupReply(QncpLayer):
    name = "QNCP SETUP_REPLY"
    fields_desc = [
        *header_fields(SETUP_REPLY),
        IntField("tail_node", 0), IntField("reporting_node", 0),
        FieldLenField("hop_count", None, count_of="rules", fmt="B"), ByteField("window", 0),
        ShortField("reserved", 0),
        LongField("cutoff_ns", 0), LongField("end_cutoff_ns", 0), LongField("expected_pair_time_ns", 0),
        ShortField("model_fidelity", 0), ShortField("model_error_x", 0), ShortField("model_error_z", 0),
        ShortField("model_error_y", 0),
        FieldListField("route_node", [], IntField("", 0),
                       count_from=lambda pkt: pkt.hop_count + 1 if pkt.hop_count else 0),
        PacketListField("rules", [], QncpHopRule, count_from=lambda pkt: pkt.hop_count),
    ]
