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
from collections.abc import Iterator
from dataclasses import dataclass

from protocols.common import ParseError
from protocols.fastinit import fast_init, fast_new
from protocols.packets.linkservice_block import OkMeasureBlock, block_size
from protocols.packets.linkservice_codes import (
    BASES,
    BELL_STATES,
    DISTIL_AUTO,
    DISTIL_EXPLICIT,
    DISTIL_MODES,
    DISTIL_NONE,
    ERR_CREATE,
    ERR_DOWN,
    ERR_EXPIRE,
    ERR_INUSE,
    ERR_NOPATH,
    ERR_NORES,
    ERR_NOTIME,
    ERR_OTHER,
    ERR_REJECTED,
    ERR_TIMEOUT,
    ERR_UNSUPP,
    ERROR_CODES,
    FIDELITY_SCALE,
    LINK_ERROR_CODES,
    NETWORK_ERROR_CODES,
    RANDOM_BASIS,
    TIME_UNIT_NS,
    TIME_UNITS,
    TPE_KEEP,
    TPE_MEASURE,
    TYPE_ACK,
    TYPE_ERR,
    TYPE_OK_K,
    TYPE_OK_M,
    TYPE_OK_MB,
    TYPES,
    WINDOW_CLOSE,
    WINDOW_CREDIT,
    WINDOW_NONE,
    WINDOW_OPEN,
    WINDOW_OPS,
    decode_fidelity,
    encode_fidelity,
)
from protocols.packets.linkservice_create import CREATE_SIZE, Create
from protocols.packets.linkservice_okk import OK as _OK
from protocols.packets.linkservice_okk import ok_keep, ok_keep_from, ok_keep_head

__all__ = [
    "BASES",
    "BELL_STATES",
    "CREATE_SIZE",
    "DISTIL_AUTO",
    "DISTIL_EXPLICIT",
    "DISTIL_MODES",
    "DISTIL_NONE",
    "ERROR_CODES",
    "ERR_CREATE",
    "ERR_DOWN",
    "ERR_EXPIRE",
    "ERR_INUSE",
    "ERR_NOPATH",
    "ERR_NORES",
    "ERR_NOTIME",
    "ERR_OTHER",
    "ERR_REJECTED",
    "ERR_TIMEOUT",
    "ERR_UNSUPP",
    "FIDELITY_SCALE",
    "LINK_ERROR_CODES",
    "NETWORK_ERROR_CODES",
    "RANDOM_BASIS",
    "TIME_UNITS",
    "TIME_UNIT_NS",
    "TPE_KEEP",
    "TPE_MEASURE",
    "TYPES",
    "TYPE_ACK",
    "TYPE_ERR",
    "TYPE_OK_K",
    "TYPE_OK_M",
    "TYPE_OK_MB",
    "WINDOW_CLOSE",
    "WINDOW_CREDIT",
    "WINDOW_NONE",
    "WINDOW_OPEN",
    "WINDOW_OPS",
    "Ack",
    "Create",
    "Err",
    "OkKeep",
    "OkMeasure",
    "OkMeasureBlock",
    "Upward",
    "block_size",
    "decode_fidelity",
    "decode_upward",
    "encode_fidelity",
    "ok_keep",
    "ok_keep_from",
    "ok_keep_head",
    "ok_measure",
]
"""Everything the service defines: its field values live in :mod:`~protocols.packets.linkservice_codes`, CREATE in
:mod:`~protocols.packets.linkservice_create`, OK-MB in :mod:`~protocols.packets.linkservice_block` and the OK-K
packers in :mod:`~protocols.packets.linkservice_okk`, all re-exported here (callers use ``ll.NAME``)."""

_W = struct.Struct("!I")
_ERR = struct.Struct("!IHHI")


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


_new_ok_keep = fast_new(OkKeep)


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
        return ok_measure(self.create_id, self.m, self.d, self.basis, self.bell_state, self.sequence_number,
                          self.purpose_id, self.remote_node_id, self.goodness)


def ok_measure(create_id: int, m: int, d: int, basis: int, bell_state: int, sequence_number: int, purpose_id: int,
               remote_node_id: int, goodness: int) -> bytes:
    """The bytes of the OK-M with these fields (``OkMeasure(...).encode()`` without the object: one a measured pair).

    >>> ok_measure(3, 1, 0, 2, 1, 7, 5, 2, 65535) == OkMeasure(3, 1, 0, 2, 1, 7, 5, 2, 65535).encode()
    True
    """
    w0 = TYPE_OK_M << 28 | create_id << 12 | m << 11 | d << 10 | basis << 7 | bell_state << 5
    return _OK.pack(w0, sequence_number, purpose_id, remote_node_id, goodness, 0)


_new_ok_measure = fast_new(OkMeasure)


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

    def sequences(self) -> Iterator[int]:
        """The Sequence Numbers an ERR EXPIRE with S set retracts: from Low up to, not including, High, modulo
        2^16 (Low = High: all 2^16 of them).

        >>> list(Err(1, ERR_EXPIRE, 1, 65534, 1).sequences()), Err(1, ERR_EXPIRE, 1, 65534, 1).retracts(65535)
        ([65534, 65535, 0], True)
        """
        low, high = self.sequence_number_low, self.sequence_number_high
        return (seq & 0xFFFF for seq in range(low, high if high > low else high + 0x10000))

    def retracts(self, seq: int) -> bool:
        """Whether Sequence Number ``seq`` is among :meth:`sequences` (without listing them)."""
        low, high = self.sequence_number_low, self.sequence_number_high
        return (seq - low) & 0xFFFF < (high - low) & 0xFFFF or low == high


Upward = Ack | OkKeep | OkMeasure | Err | OkMeasureBlock


def decode_upward(data: bytes) -> Upward:
    """Decode a message from the link layer to a higher layer, by its Type nibble."""
    if len(data) == _OK.size:                  # an OK-K (one a kept pair): its fields in one unpack
        w0, seq, purpose, remote, goodness, tog = _OK.unpack(data)
        if w0 >> 28 == TYPE_OK_K:
            return _new_ok_keep(w0 >> 12 & 0xFFFF, w0 >> 8 & 0xF, w0 >> 7 & 1, w0 >> 5 & 3, seq, purpose, remote,
                                goodness, tog)
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
        return _new_ok_measure(create_id, w0 >> 11 & 1, w0 >> 10 & 1, basis, bell, seq, purpose,
                               remote, goodness)
    if kind == TYPE_ERR and len(data) == _ERR.size:
        _, low, high, origin = _ERR.unpack(data)
        code = w0 >> 8 & 0xF
        if code not in ERROR_CODES:
            raise ParseError(f"ERR code {code} is undefined")
        return Err(create_id, code, w0 >> 7 & 1, low, high, origin)
    raise ParseError(f"no link-layer message of type {kind} and {len(data)} bytes")
