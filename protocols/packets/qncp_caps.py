"""The variable parts of QNCP's SETUP and SETUP_REPLY: QCaps (NodeCap + LinkCap + options) and hop rules.

Layouts (``docs/wire.md`` §9.3.2 and §9.3.3; all integers big-endian)::

    QCap         NodeCap(36) | LinkCap(20 + 12 x Options)
    NodeCap      Node ID(32) | Comm(8) Storage(8) Free(8) BSM Success(8) | T1(64) | T2(64) |
                 Gate Fidelity(16) Readout Fidelity(16) | Gate Time(32) | Readout Time(32)
    LinkCap      Link ID(16) Link Label(16) | Peer Node(32) | Attempt Cycle(32) |
                 One-Way Delay(32) | Options(8) Reserved(24) | Options x LinkOption
    LinkOption   Success Probability(32) | Fidelity(16) Error X(16) | Error Z(16) Error Y(16)
    HopRule      Link ID(16) Link Label(16) | Origin Node(32) | Link Min Fidelity(16) Distil(8) Reserved(8)
    Distil       Protocol(2) Schedule(2) Rounds(4): 0 none; Protocol 1 BBPSSW, 2 DEJMPS; Schedule 0 recurrence,
                 1 pumping; Rounds 1-15 (also the SETUP_REPLY's End Distil and the CREATE's PL1/PL2)

Times are ns; fidelities and errors n / 65535; success probabilities n / (2^32 − 1)
(:func:`protocols.packets.qncp_common.encode_probability`); BSM success n / 255; T1/T2 all
ones = infinite (:data:`protocols.packets.qncp_common.INFINITE_NS`). The scapy sub-packets
are flat: a :class:`QncpQCap` holds the NodeCap and LinkCap fields and its options.

>>> r = HopRule(link_id=1, link_label=0x8001, origin_node=3, link_min_fidelity=0xF333)
>>> r.encode().hex(), read_rule(Reader(r.encode(), 0)) == r
('0001800100000003f3330000', True)
>>> distil_rule(distil_byte(2, 1, 3))
(2, 1, 3)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError

MAX_OPTIONS = 16
"""A LinkCap carries at most this many link options."""
_NODE = struct.Struct("!IBBBBQQHHII")
_LINK = struct.Struct("!HHIIIB3x")
_OPTION = struct.Struct("!IHHHH")
_RULE = struct.Struct("!HHIHBx")
_NODE_ID = struct.Struct("!I")
QCAP_HEAD_SIZE = _NODE.size + _LINK.size
"""A QCap's NodeCap and LinkCap, before its options."""
QCAP_OPTIONS_AT = _NODE.size + 16
"""Where a QCap's Options count is, from its start (its Reserved follows)."""
OPTION_SIZE = _OPTION.size


def pack_route(route: tuple[int, ...]) -> bytes:
    return struct.pack(f"!{len(route)}I", *route)


class Reader:
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
        end = self.offset + entries * _NODE_ID.size
        if end > len(self.data):                        # node by node, to say where it ends
            return tuple(self.take(_NODE_ID, "the route")[0] for _ in range(entries))
        route = struct.unpack_from(f"!{entries}I", self.data, self.offset)
        self.offset = end
        return route

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


def read_qcap(reader: Reader) -> QCap:
    node = NodeCap(*reader.take(_NODE, "a NodeCap"))
    link_id, label, peer, cycle, delay, count = reader.take(_LINK, "a LinkCap")
    if count > MAX_OPTIONS:
        raise ParseError(f"LinkCap has {count} options, at most {MAX_OPTIONS}")
    options = tuple(LinkOption(*reader.take(_OPTION, "a link option")) for _ in range(count))
    return QCap(node, LinkCap(link_id, label, peer, cycle, delay, options))


DISTIL_SCHEDULES = {0: "RECURRENCE", 1: "PUMPING"}
"""A distillation rule's Schedule (:class:`protocols.network.distillation.Schedule`)."""


def distil_byte(protocol: int, schedule: int, rounds: int) -> int:
    """A distillation rule as its byte: Protocol(2) Schedule(2) Rounds(4); (0, 0, 0) is none."""
    if not (0 <= protocol <= 2 and schedule in DISTIL_SCHEDULES and 0 <= rounds <= 15
            and (protocol == 0) == (rounds == 0) and (protocol or not schedule)):
        raise ValueError(f"no distillation rule has protocol {protocol}, schedule {schedule}, rounds {rounds}")
    return protocol << 6 | schedule << 4 | rounds


def distil_rule(value: int) -> tuple[int, int, int]:
    """(protocol, schedule, rounds) of a rule's byte; ParseError for an undefined one."""
    protocol, schedule, rounds = value >> 6, value >> 4 & 3, value & 15
    try:
        distil_byte(protocol, schedule, rounds)
    except ValueError as error:
        raise ParseError(f"distillation rule 0x{value:02x}: {error}") from None
    return protocol, schedule, rounds


@dataclass(frozen=True, slots=True)
class HopRule:
    """The tail's rule for one hop: its label, which end requests pairs, at what link fidelity, and how the
    hop distils its pairs before they are swapped or delivered (:func:`distil_byte`; 0: not)."""

    link_id: int
    link_label: int
    origin_node: int
    link_min_fidelity: int
    distil: int = 0

    def encode(self) -> bytes:
        return _RULE.pack(self.link_id, self.link_label, self.origin_node, self.link_min_fidelity, self.distil)


def read_rule(reader: Reader) -> HopRule:
    rule = HopRule(*reader.take(_RULE, "a hop rule"))
    distil_rule(rule.distil)
    return rule


def read_rules(reader: Reader, count: int) -> tuple[HopRule, ...]:
    """``count`` hop rules, as ``count`` calls of :func:`read_rule` read them (the same errors)."""
    start, end = reader.offset, reader.offset + count * _RULE.size
    if end > len(reader.data):
        return tuple(read_rule(reader) for _ in range(count))
    rules = tuple(HopRule(*values) for values in _RULE.iter_unpack(reader.data[start:end]))
    for distil in dict.fromkeys(rule.distil for rule in rules):     # in order: the first wrong one is told
        distil_rule(distil)
    reader.offset = end
    return rules
