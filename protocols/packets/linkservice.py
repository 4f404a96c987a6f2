"""Link-layer service messages of draft-dahlberg-ll-quantum-03 (section 4).

A higher layer sends CREATE (24 bytes) to its node's link layer on UDP port 7771; the
link layer answers from port 7771 with ACK (4 bytes), OK type K (16), OK type M (16)
or ERR (12), told apart by the 4-bit Type. Bit diagrams are in ``docs/wire.md``.

Where the draft is silent we chose, and ``docs/wire.md`` says so:

* TPE = 0 is create-and-keep (K), 1 is measure-directly (M).
* Goodness uses the draft's fidelity encoding, n / 65535.
* Time of Goodness is the node's clock in microseconds, modulo 2^16.
* OK-K and OK-M carry the delivered Bell state (2 bits, :class:`protocols.common.BellState`)
  in the first two of the word's unused bits; the draft has no field for it and the
  higher layer needs it to interpret the pair or the outcome.
* Error codes NOTIME (7) and NORES (8) extend the draft's list; NOPATH (9), DOWN (10) and
  INUSE (11) are the network layer's only (the link layer never sends them).
* OK type MB (Type 5) delivers a block of measure-directly pairs in one message (the batched path).
* The network-layer service (UDP port 7773) speaks these same messages end to end: its
  scapy view is :mod:`protocols.packets.scapy_layers.netservice`.

>>> c = Create(remote_node_id=2, number=5, tpe=TPE_MEASURE)
>>> Create.decode(c.encode()) == c
True
>>> decode_upward(Ack(create_id=7).encode())
Ack(create_id=7)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from protocols.common import ParseError
from protocols.fastinit import fast_init
from protocols.packets.bitpack import pack_bits, unpack_bits
from protocols.packets.heralding_batch import MAX_PAYLOAD

TYPE_ACK = 0b0001
TYPE_OK_K = 0b0010
TYPE_OK_M = 0b0011
TYPE_ERR = 0b0100
TYPE_OK_MB = 0b0101
TYPES = {TYPE_ACK: "ACK", TYPE_OK_K: "OK_K", TYPE_OK_M: "OK_M", TYPE_ERR: "ERR", TYPE_OK_MB: "OK_MB"}

TPE_KEEP = 0
TPE_MEASURE = 1
TIME_UNITS = {0: "us", 1: "ms", 2: "s", 3: "unused"}
TIME_UNIT_NS = {0: 1_000, 1: 1_000_000, 2: 1_000_000_000}
RANDOM_BASIS = {0: "NONE", 1: "X_Z", 2: "X_Y_Z", 3: "CHSH"}
BASES = {0: "Z", 1: "X", 2: "Y", 3: "Z_ROT_PLUS_PI4_Y", 4: "Z_ROT_MINUS_PI4_Y"}
BELL_STATES = {0: "PHI_PLUS", 1: "PSI_PLUS", 2: "PHI_MINUS", 3: "PSI_MINUS"}

ERR_UNSUPP = 1
ERR_CREATE = 2
ERR_REJECTED = 3
ERR_OTHER = 4
ERR_EXPIRE = 5
ERR_TIMEOUT = 6
ERR_NOTIME = 7
ERR_NORES = 8
ERR_NOPATH = 9
ERR_DOWN = 10
ERR_INUSE = 11
LINK_ERROR_CODES = {ERR_UNSUPP: "UNSUPP", ERR_CREATE: "CREATE", ERR_REJECTED: "REJECTED",
                    ERR_OTHER: "OTHER", ERR_EXPIRE: "EXPIRE", ERR_TIMEOUT: "TIMEOUT",
                    ERR_NOTIME: "NOTIME", ERR_NORES: "NORES"}
"""The codes the link layer sends (ERR, EGP Status)."""
NETWORK_ERROR_CODES = {ERR_NOPATH: "NOPATH", ERR_DOWN: "DOWN", ERR_INUSE: "INUSE"}
"""Network layer only: the network service's ERR (NOPATH, DOWN) and QNCP Status (INUSE, SETUP_REPLY only)."""
ERROR_CODES = {**LINK_ERROR_CODES, **NETWORK_ERROR_CODES}
"""Every ERR code: the ERR message is the same on the link service (7771) and the network service (7773)."""

FIDELITY_SCALE = 0xFFFF

DISTIL_NONE = 0
DISTIL_AUTO = 1
DISTIL_EXPLICIT = 2
DISTIL_MODES = {DISTIL_NONE: "NONE", DISTIL_AUTO: "AUTO", DISTIL_EXPLICIT: "EXPLICIT", 3: "RESERVED"}
"""The network-service CREATE's Distil field (2 bits after RR): how the circuit distils its pairs."""

WINDOW_NONE = 0
WINDOW_OPEN = 1
WINDOW_CREDIT = 2
WINDOW_CLOSE = 3
WINDOW_OPS = {WINDOW_NONE: "NONE", WINDOW_OPEN: "OPEN", WINDOW_CREDIT: "CREDIT", WINDOW_CLOSE: "CLOSE"}
"""The link-service CREATE's Window field (2 bits after Distil, docs/wire.md §4.1.1): an ordinary request, or
a windowed request opened, given Number more credits, or closed."""


def encode_fidelity(f: float) -> int:
    """Fidelity in [0, 1] as the draft's 16-bit n with F = n / 65535 (rounded)."""
    return max(0, min(FIDELITY_SCALE, round(f * FIDELITY_SCALE)))


def decode_fidelity(n: int) -> float:
    return n / FIDELITY_SCALE


_CREATE = struct.Struct("!IHHHHBB10B")
CREATE_SIZE = _CREATE.size
_W = struct.Struct("!I")
_OK = struct.Struct("!IHHIHH")
_ERR = struct.Struct("!IHHI")
_OK_MB = struct.Struct("!IHHIHHI")


@fast_init
@dataclass(frozen=True, slots=True)
class Create:
    """CREATE (draft-03 figure 1). Rotation angles are 2π/256 × value."""

    remote_node_id: int
    minimum_fidelity: int = 0
    tu: int = 0
    max_time: int = 0
    purpose_id: int = 0
    number: int = 1
    priority: int = 0
    tpe: int = TPE_KEEP
    ato: int = 0
    con: int = 1
    rl: int = 0
    rr: int = 0
    pl1: int = 0
    pl2: int = 0
    pr1: int = 0
    pr2: int = 0
    rotx1l: int = 0
    rotyl: int = 0
    rotx2l: int = 0
    rotx1r: int = 0
    rotyr: int = 0
    rotx2r: int = 0
    distil: int = 0
    """Network service only (docs/wire.md §9.4): 0 no distillation, 1 auto (the tail picks a policy), 2 the
    policy in PL1 (per hop) and PL2 (end to end), :data:`DISTIL_MODES`; 0 on the link service."""
    window: int = WINDOW_NONE
    """Link service only (docs/wire.md §4.1.1), :data:`WINDOW_OPS`: 0 an ordinary request; 1 OPEN a windowed
    request (Number = the first credits); 2 CREDIT: Number more pairs for the open windowed request of this
    Remote Node ID and Purpose ID; 3 CLOSE it. 0 on the network service."""

    def encode(self) -> bytes:
        flags = (self.priority << 5 | self.tpe << 4 | self.ato << 3 | self.con << 2 | self.rl)
        return _CREATE.pack(self.remote_node_id, self.minimum_fidelity,
                            self.tu << 14 | self.max_time, self.purpose_id, self.number,
                            flags, self.rr << 6 | (self.distil & 3) << 4 | (self.window & 3) << 2,
                            self.pl1, self.pl2, self.pr1, self.pr2,
                            self.rotx1l, self.rotyl, self.rotx2l, self.rotx1r, self.rotyr,
                            self.rotx2r)

    @classmethod
    def decode(cls, data: bytes) -> Create:
        if len(data) != CREATE_SIZE:
            raise ParseError(f"CREATE is {CREATE_SIZE} bytes, got {len(data)}")
        (remote, fid, tu_time, purpose, number, flags, rr_byte, *rest) = _CREATE.unpack(data)
        values = [remote, fid, tu_time >> 14, tu_time & 0x3FFF, purpose, number, flags >> 5, flags >> 4 & 1,
                  flags >> 3 & 1, flags >> 2 & 1, flags & 3, rr_byte >> 6, *rest[:10], rr_byte >> 4 & 3,
                  rr_byte >> 2 & 3]
        return cls(*values)

    @property
    def kept_together(self) -> bool:
        """Create-and-keep pairs all available at once: ATO set, or CON clear (OKs when the request completes,
        so every pair must still be there)."""
        return self.tpe == TPE_KEEP and (bool(self.ato) or not self.con)

    @property
    def outcomes_together(self) -> bool:
        """Measure-directly with CON clear: the OKs are delivered together when the request completes."""
        return self.tpe == TPE_MEASURE and not self.con

    @property
    def windowed(self) -> bool:
        """A windowed request (opened with Window = OPEN): the link layer numbers only the pairs its higher layer
        has given credit for, and the request stays open until closed."""
        return self.window == WINDOW_OPEN

    def max_time_ns(self) -> int | None:
        """Max Time in ns, or None when the field is 0 (no limit)."""
        if self.max_time == 0:
            return None
        if self.tu not in TIME_UNIT_NS:
            raise ParseError("CREATE time unit 11 is unused")
        return self.max_time * TIME_UNIT_NS[self.tu]


@fast_init
@dataclass(frozen=True, slots=True)
class Ack:
    """ACK (draft-03 figure 2)."""

    create_id: int

    def encode(self) -> bytes:
        return _W.pack(TYPE_ACK << 28 | self.create_id << 12)


@fast_init
@dataclass(frozen=True, slots=True)
class OkKeep:
    """OK type K (draft-03 figure 3) plus the Bell-state extension."""

    create_id: int
    lqid: int
    d: int
    bell_state: int
    sequence_number: int
    purpose_id: int
    remote_node_id: int
    goodness: int
    time_of_goodness: int

    def encode(self) -> bytes:
        return ok_keep(self.create_id, self.lqid, self.d, self.bell_state, self.sequence_number, self.purpose_id,
                       self.remote_node_id, self.goodness, self.time_of_goodness)


def ok_keep(create_id: int, lqid: int, d: int, bell_state: int, sequence_number: int, purpose_id: int,
            remote_node_id: int, goodness: int, time_of_goodness: int) -> bytes:
    """The bytes of the OK-K with these fields (``OkKeep(...).encode()`` without the object: one a kept pair).

    >>> ok_keep(3, 1, 0, 2, 7, 0, 2, 65535, 9) == OkKeep(3, 1, 0, 2, 7, 0, 2, 65535, 9).encode()
    True
    """
    w0 = TYPE_OK_K << 28 | create_id << 12 | lqid << 8 | d << 7 | bell_state << 5
    return _OK.pack(w0, sequence_number, purpose_id, remote_node_id, goodness, time_of_goodness)


@fast_init
@dataclass(frozen=True, slots=True)
class OkMeasure:
    """OK type M (draft-03 figure 4, field order of the figure) plus the Bell-state extension."""

    create_id: int
    m: int
    d: int
    basis: int
    bell_state: int
    sequence_number: int
    purpose_id: int
    remote_node_id: int
    goodness: int

    def encode(self) -> bytes:
        w0 = (TYPE_OK_M << 28 | self.create_id << 12 | self.m << 11 | self.d << 10
              | self.basis << 7 | self.bell_state << 5)
        return _OK.pack(w0, self.sequence_number, self.purpose_id, self.remote_node_id,
                        self.goodness, 0)


@fast_init
@dataclass(frozen=True, slots=True)
class Err:
    """ERR (draft-03 figure 5); an expiry is code EXPIRE with a sequence range."""

    create_id: int
    err: int
    s: int = 0
    sequence_number_low: int = 0
    sequence_number_high: int = 0
    origin_node: int = 0

    def encode(self) -> bytes:
        w0 = TYPE_ERR << 28 | self.create_id << 12 | self.err << 8 | self.s << 7
        return _ERR.pack(w0, self.sequence_number_low, self.sequence_number_high, self.origin_node)


class OkMeasureBlock:
    """OK type MB: a block of measure-directly pairs in one message (qnetstack's extension, docs/wire.md §4.6).

    Pairs ``sequence_number`` to ``sequence_number + count - 1`` (modulo 2^16); for each, this end's outcome
    (1 bit), its basis (2 bits: 0 Z, 1 X, 2 Y) and the Bell state delivered (2 bits), each array packed most
    significant bit first and padded with zero bits to a byte, after a 20-byte header.

    Made from one array per field (one entry a pair), or from the packed arrays (:meth:`from_planes`, what the
    link layer sends and :meth:`decode` returns): each form is computed from the other only when asked for, so
    a block passes through the runtime packed, ~5 bits a pair.
    """

    __slots__ = (
        "_arrays",
        "_planes",
        "count",
        "create_id",
        "d",
        "goodness",
        "purpose_id",
        "remote_node_id",
        "sequence_number",
    )

    def __init__(self, create_id: int, d: int, sequence_number: int, purpose_id: int, remote_node_id: int,
                 goodness: int, outcomes: np.ndarray, bases: np.ndarray, bell_states: np.ndarray) -> None:
        self.create_id, self.d, self.sequence_number = create_id, d, sequence_number
        self.purpose_id, self.remote_node_id, self.goodness = purpose_id, remote_node_id, goodness
        self.count = len(outcomes)
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = (outcomes, bases, bell_states)
        self._planes: tuple[bytes, bytes, bytes] | None = None

    @classmethod
    def from_planes(cls, create_id: int, d: int, sequence_number: int, purpose_id: int, remote_node_id: int,
                    goodness: int, count: int, outcomes: bytes | memoryview, bases: bytes | memoryview,
                    bell_states: bytes | memoryview) -> OkMeasureBlock:
        """The block of ``count`` pairs whose arrays are already packed (checked as :meth:`decode` checks them;
        ParseError when they break the rules)."""
        planes = (bytes(outcomes), bytes(bases), bytes(bell_states))
        for plane, width in zip(planes, _OK_MB_WIDTHS, strict=True):
            if len(plane) != -(-count * width // 8):
                raise ParseError(f"OK-MB of {count} pairs has a {width}-bit array of {len(plane)} bytes")
            spare = len(plane) * 8 - count * width
            if spare and plane[-1] & ((1 << spare) - 1):
                raise ParseError("OK-MB padding bits are not zero")
        if has_three(planes[1]):
            raise ParseError("OK-MB basis 3 is unused")
        block = cls.__new__(cls)
        block.create_id, block.d, block.sequence_number = create_id, d, sequence_number
        block.purpose_id, block.remote_node_id, block.goodness = purpose_id, remote_node_id, goodness
        block.count = count
        block._arrays, block._planes = None, planes
        return block

    def _unpacked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            assert self._planes is not None
            outcomes, bases, bells = (unpack_bits(plane, self.count, width).astype(np.uint8, copy=False)
                                      for plane, width in zip(self._planes, _OK_MB_WIDTHS, strict=True))
            self._arrays = (outcomes, bases, bells)
        return self._arrays

    @property
    def outcomes(self) -> np.ndarray:
        """This end's outcome of each pair (uint8, 0 or 1)."""
        return self._unpacked()[0]

    @property
    def bases(self) -> np.ndarray:
        """This end's basis of each pair (uint8: 0 Z, 1 X, 2 Y)."""
        return self._unpacked()[1]

    @property
    def bell_states(self) -> np.ndarray:
        """The Bell state each outcome refers to (uint8)."""
        return self._unpacked()[2]

    def planes(self) -> tuple[bytes, bytes, bytes]:
        """The three arrays as they are on the wire: outcomes, bases, Bell states, each zero-padded to a byte."""
        if self._planes is None:
            outcomes, bases, bells = self._unpacked()
            count = self.count
            if not len(bases) == len(bells) == count:
                raise ValueError(f"OK-MB arrays differ in length: {count}, {len(bases)}, {len(bells)}")
            if count and (int(bases.max()) > 2 or int(bells.max()) > 3 or int(outcomes.max()) > 1):
                raise ValueError("OK-MB value out of range")
            self._planes = (pack_bits(outcomes, 1), pack_bits(bases, 2), pack_bits(bells, 2))
        return self._planes

    def encode(self) -> bytes:
        planes = self.planes()
        if block_size(self.count) > MAX_PAYLOAD:
            raise ValueError(f"OK-MB of {self.count} pairs is larger than one datagram")
        w0 = TYPE_OK_MB << 28 | self.create_id << 12 | self.d << 11
        return b"".join((_OK_MB.pack(w0, self.sequence_number, self.purpose_id, self.remote_node_id, self.goodness, 0,
                                     self.count), *planes))

    @classmethod
    def decode(cls, data: bytes) -> OkMeasureBlock:
        if len(data) < _OK_MB.size:
            raise ParseError(f"OK-MB is at least {_OK_MB.size} bytes, got {len(data)}")
        w0, seq, purpose, remote, goodness, _, count = _OK_MB.unpack_from(data)
        if len(data) != block_size(count):
            raise ParseError(f"OK-MB of {count} pairs is {block_size(count)} bytes, got {len(data)}")
        view, start, planes = memoryview(data), _OK_MB.size, []
        for width in _OK_MB_WIDTHS:
            end = start + -(-count * width // 8)
            planes.append(view[start:end])
            start = end
        return cls.from_planes(w0 >> 12 & 0xFFFF, w0 >> 11 & 1, seq, purpose, remote, goodness, count, *planes)

    def _head(self) -> tuple[int, ...]:
        return (self.create_id, self.d, self.sequence_number, self.purpose_id, self.remote_node_id, self.goodness,
                self.count)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OkMeasureBlock):
            return NotImplemented
        return self._head() == other._head() and self.planes() == other.planes()

    def __repr__(self) -> str:
        return (f"OkMeasureBlock(create_id={self.create_id}, d={self.d}, sequence_number={self.sequence_number}, "
                f"purpose_id={self.purpose_id}, remote_node_id={self.remote_node_id}, goodness={self.goodness}, "
                f"count={self.count})")

    __hash__ = None  # type: ignore[assignment]


_OK_MB_WIDTHS = (1, 2, 2)


def has_three(plane: bytes) -> bool:
    """Whether a plane of 2-bit fields (zero-padded) holds a 3: both bits of a field set."""
    raw = np.frombuffer(plane, dtype=np.uint8)
    return bool(np.any(raw & (raw >> 1) & 0x55))


def block_size(count: int) -> int:
    """The size in bytes of an OK-MB of ``count`` pairs."""
    return _OK_MB.size + -(-count // 8) + 2 * -(-count * 2 // 8)


Upward = Ack | OkKeep | OkMeasure | Err | OkMeasureBlock


def decode_upward(data: bytes) -> Upward:
    """Decode a message from the link layer to a higher layer, by its Type nibble."""
    if len(data) == _OK.size:                  # an OK-K (one a kept pair): its fields in one unpack
        w0, seq, purpose, remote, goodness, tog = _OK.unpack(data)
        if w0 >> 28 == TYPE_OK_K:
            return OkKeep(w0 >> 12 & 0xFFFF, w0 >> 8 & 0xF, w0 >> 7 & 1, w0 >> 5 & 3, seq, purpose, remote, goodness,
                          tog)
    if len(data) < 4:
        raise ParseError(f"link-layer message too short: {len(data)} bytes")
    (w0,) = _W.unpack_from(data)
    kind, create_id = w0 >> 28, w0 >> 12 & 0xFFFF
    if kind == TYPE_ACK and len(data) == 4:
        return Ack(create_id)
    if kind == TYPE_OK_MB:
        return OkMeasureBlock.decode(data)
    if kind in (TYPE_OK_K, TYPE_OK_M) and len(data) == _OK.size:
        _, seq, purpose, remote, goodness, tog = _OK.unpack(data)
        bell = w0 >> 5 & 3
        if kind == TYPE_OK_K:
            return OkKeep(create_id, w0 >> 8 & 0xF, w0 >> 7 & 1, bell, seq, purpose, remote,
                          goodness, tog)
        basis = w0 >> 7 & 7
        if basis not in BASES:
            raise ParseError(f"OK-M basis {basis:03b} is unused")
        return OkMeasure(create_id, w0 >> 11 & 1, w0 >> 10 & 1, basis, bell, seq, purpose,
                         remote, goodness)
    if kind == TYPE_ERR and len(data) == _ERR.size:
        _, low, high, origin = _ERR.unpack(data)
        code = w0 >> 8 & 0xF
        if code not in ERROR_CODES:
            raise ParseError(f"ERR code {code} is undefined")
        return Err(create_id, code, w0 >> 7 & 1, low, high, origin)
    raise ParseError(f"no link-layer message of type {kind} and {len(data)} bytes")
