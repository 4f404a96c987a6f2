"""QHP BATCH (type 3, UDP port 7770): a station's report of a block of attempts at once.

The batched measure-directly path (docs/wire.md §3.3) heralds a block of attempts in one message
instead of one HERALD per success: which attempts of the block succeeded, as the number of failed
attempts before each success (``failures``), and the Bell state each success heralded (``bells``, 2 bits
each, the index ``x | z << 1`` of HERALD). Success ``i`` is attempt ``attempt_seq + sum(failures[:i + 1]) +
i``. The fourth byte, Coding, says how the failures are carried: 0, fixed width (``delta_bits`` bits each,
before the Bell states); 1, Rice-coded at ``delta_bits`` low bits after the Bell states
(:mod:`protocols.packets.rice`; what the station sends). Every array is packed most significant bit first
and padded with zero bits to a whole byte::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |    Version    | Msg Type (3)  |  Delta Bits   |    Coding     |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |            Link ID            |    Scheme     |   Reserved    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |             First Attempt Sequence Number (64 bits)           |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           Attempts                            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                             Count                             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                 Detection Time (64 bits, ns)                  |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Coding 0: Failures (Count x Delta Bits bits), Bell States    |
    |  Coding 1: Bell States, Low Bits (Count x Delta Bits bits),   |
    |            Quotients (Count unary codes) to the end           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

>>> b = HeraldBatch(link_id=1, scheme=1, attempt_seq=7, attempts=10, detection_time=50,
...                 failures=np.array([2, 0, 5]), bells=np.array([1, 3, 1]))
>>> data = b.encode()
>>> len(data), data[32:].hex()          # 3 bits each: 010 000 101 + pad, then 01 11 01 + pad
(35, '428074')
>>> HeraldBatch.decode(data) == b, HeraldBatch.decode(data).successes().tolist()
(True, [9, 10, 16])
>>> coded = HeraldBatch(1, 1, 7, 10, 50, np.array([2, 0, 5]), np.array([1, 3, 1]), delta_bits=1, coding=RICE)
>>> coded.encode()[32:].hex()         # 01 11 01 + pad; low bits 0 0 1 + pad; quotients 1, 0, 2: 01 1 001 + pad
'742064'
"""

from __future__ import annotations

import struct

import numpy as np

from protocols.common import ParseError
from protocols.packets import rice
from protocols.packets.auth import SIZE as AUTH_TRAILER_SIZE
from protocols.packets.bitpack import pack_bits, unpack_bits
from protocols.packets.heralding import SCHEMES, VERSION, Herald

MSG_BATCH = 3
HEADER = struct.Struct("!BBBBHBxQIIQ")
HEADER_SIZE = HEADER.size
MAX_DELTA_BITS = 32
FIXED, RICE = 0, 1
"""Codings of the failure counts (the header's fourth byte): fixed-width fields, or Rice-coded."""
CODINGS = (FIXED, RICE)
MAX_PAYLOAD = 65_535 - 42 - AUTH_TRAILER_SIZE
"""The largest BATCH (or OK-MB): one UDP datagram whose Ethernet/IPv4/UDP frame (42 bytes of headers), with the
authentication trailer after the message (28 bytes, :mod:`protocols.packets.auth`), fits a capture's
65,535-byte snapshot length, so every capture holds it whole (IPv4 alone would allow 65,507)."""
_U64 = (1 << 64) - 1


def packed_size(count: int, delta_bits: int) -> int:
    """The size in bytes of a BATCH of ``count`` successes at ``delta_bits`` bits per failure count."""
    return HEADER_SIZE + -(-count * delta_bits // 8) + -(-count * 2 // 8)


def max_count(delta_bits: int) -> int:
    """The most successes one BATCH (one UDP datagram) can carry at ``delta_bits`` bits each."""
    count = (MAX_PAYLOAD - HEADER_SIZE) * 8 // (delta_bits + 2)
    while packed_size(count, delta_bits) > MAX_PAYLOAD:
        count -= 1
    return count


def delta_bits_for(failures: np.ndarray) -> int:
    """The fewest bits that hold every failure count (0 when all are 0)."""
    return int(failures.max()).bit_length() if len(failures) else 0


class HeraldBatch:
    """A block of heralded attempts (fast codec). ``failures`` and ``bells`` are one entry per success.

    ``coding`` is how the failure counts are carried: :data:`FIXED` (0), ``delta_bits`` bits each, or
    :data:`RICE` (1), Rice-coded at ``delta_bits`` low bits (:mod:`protocols.packets.rice`; what the station
    sends). ``delta_bits`` None: the encoder's choice. A decoded Rice BATCH unpacks its failure counts only when
    :attr:`failures` is read (its checks need their sum alone)."""

    __slots__ = ("_failures", "_rice", "attempt_seq", "attempts", "bells", "coding", "count", "delta_bits",
                 "detection_time", "link_id", "packed_bells", "scheme")

    def __init__(self, link_id: int, scheme: int, attempt_seq: int, attempts: int, detection_time: int,
                 failures: np.ndarray | None = None, bells: np.ndarray | None = None, delta_bits: int | None = None,
                 coding: int = 0) -> None:
        self.link_id, self.scheme, self.attempt_seq, self.attempts = link_id, scheme, attempt_seq, attempts
        self.detection_time, self.delta_bits, self.coding = detection_time, delta_bits, coding
        self._failures = np.zeros(0, dtype=np.uint64) if failures is None else failures
        self.bells = np.zeros(0, dtype=np.uint8) if bells is None else bells
        self.count = len(self._failures)
        self._rice: tuple[bytes, bytes] | None = None
        self.packed_bells: bytes | None = None
        """``bells`` as on the wire, if known: a decoded BATCH keeps them (:meth:`bell_plane`)."""

    @property
    def failures(self) -> np.ndarray:
        """The failed attempts before each success (uint64)."""
        if self._rice is not None:
            assert self.delta_bits is not None
            self._failures = rice.decode(*self._rice, self.count, self.delta_bits)
            self._failures.flags.writeable = False
            self._rice = None
        return self._failures

    def successes(self) -> np.ndarray:
        """The attempt sequence number of each success."""
        offsets = np.cumsum(self.failures.astype(np.uint64) + np.uint64(1), dtype=np.uint64) - np.uint64(1)
        return offsets + np.uint64(self.attempt_seq)

    def bell_plane(self) -> bytes:
        """The Bell states packed as on the wire, 2 bits each, zero-padded to a byte."""
        return pack_bits(self.bells, 2) if self.packed_bells is None else self.packed_bells

    def wire_delta_bits(self) -> int:
        """Delta Bits (FIXED) or Low Bits (RICE) on the wire."""
        if self.delta_bits is not None:
            return self.delta_bits
        return delta_bits_for(self.failures) if self.coding == FIXED else rice.low_bits_for(self.failures)

    def encode(self) -> bytes:
        """The message's bytes. Raises ValueError when it breaks the rules :meth:`decode` checks (a field out
        of range, a failure count wider than Delta Bits, more than one datagram)."""
        failures, count = self.failures, self.count
        width = self.wire_delta_bits()
        if len(self.bells) != count:
            raise ValueError(f"BATCH has {count} failure counts but {len(self.bells)} Bell states")
        if self.coding not in CODINGS or not 0 <= width <= MAX_DELTA_BITS:
            raise ValueError(f"BATCH coding {self.coding} or width {width} undefined")
        if count and self.coding == FIXED and delta_bits_for(failures) > width:
            raise ValueError(f"BATCH failure counts do not fit {width} bits")
        if count and int(self.bells.max()) > 3:
            raise ValueError("BATCH Bell state above 3")
        if self.coding == RICE:
            low, unary, failed = rice.encode_summed(failures, width, MAX_PAYLOAD)
            body: tuple[bytes, ...] = (self.bell_plane(), low, unary)
        else:
            failed = int(failures.sum(dtype=np.uint64)) if count else 0
            body = (pack_bits(failures, width), self.bell_plane()) if failed + count <= self.attempts else ()
        if failed + count > self.attempts:
            raise ValueError(f"BATCH of {self.attempts} attempts cannot hold {count} successes after "
                             f"{failed} failures")
        detection_time = min(max(int(self.detection_time), 0), _U64)
        header = HEADER.pack(VERSION, MSG_BATCH, width, self.coding, self.link_id, self.scheme, self.attempt_seq,
                             self.attempts, count, detection_time)
        data = b"".join((header, *body))
        if len(data) > MAX_PAYLOAD:
            raise ValueError(f"BATCH of {count} successes is larger than one datagram")
        return data

    @classmethod
    def decode(cls, data: bytes) -> HeraldBatch:
        if len(data) < HEADER_SIZE:
            raise ParseError(f"BATCH is at least {HEADER_SIZE} bytes, got {len(data)}")
        version, mtype, width, coding, link, scheme, seq, attempts, count, t = HEADER.unpack_from(data)
        if version != VERSION or mtype != MSG_BATCH:
            raise ParseError(f"not a QHP v{VERSION} BATCH: version {version}, type {mtype}")
        if width > MAX_DELTA_BITS or scheme not in SCHEMES or coding not in CODINGS:
            raise ParseError(f"bad BATCH field: delta bits {width}, scheme {scheme}, coding {coding}")
        bell_bytes, field_bytes = -(-count * 2 // 8), -(-count * width // 8)
        if coding == FIXED and len(data) != packed_size(count, width):
            raise ParseError(f"BATCH of {count} successes at {width} bits is {packed_size(count, width)} bytes, "
                             f"got {len(data)}")
        if coding == RICE and len(data) < HEADER_SIZE + bell_bytes + field_bytes:
            raise ParseError(f"BATCH of {count} successes at {width} low bits is at least "
                             f"{HEADER_SIZE + bell_bytes + field_bytes} bytes, got {len(data)}")
        split = HEADER_SIZE + field_bytes if coding == FIXED else HEADER_SIZE + bell_bytes
        fields = data[HEADER_SIZE:split] if coding == FIXED else data[split:split + field_bytes]
        plane = bytes(data[split:]) if coding == FIXED else bytes(data[HEADER_SIZE:split])
        if _padding(fields, count * width) or _padding(plane, count * 2):
            raise ParseError("BATCH padding bits are not zero")
        if coding == RICE:
            unary = bytes(data[split + field_bytes:])
            failed = rice.total(fields, unary, count, width)
            if failed is None:
                raise ParseError(f"BATCH unary plane does not hold {count} codes ending in its last byte")
            failures = None                                                  # unpacked when asked for
        else:
            failures = unpack_bits(fields, count, width)
            failed = int(failures.sum(dtype=np.uint64))
        if failed + count > attempts:
            raise ParseError(f"BATCH of {attempts} attempts cannot hold {count} successes after {failed} failures")
        bells = unpack_bits(plane, count, 2).astype(np.uint8, copy=False)
        batch = cls(link, scheme, seq, attempts, t, failures, bells, width, coding)
        if coding == RICE:
            batch._rice, batch.count = (bytes(fields), unary), count
        batch.packed_bells = plane
        return batch

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HeraldBatch):
            return NotImplemented
        return ((self.link_id, self.scheme, self.attempt_seq, self.attempts, self.detection_time,
                 self.wire_delta_bits(), self.coding) == (other.link_id, other.scheme, other.attempt_seq,
                                                         other.attempts, other.detection_time,
                                                         other.wire_delta_bits(), other.coding)
                and np.array_equal(self.failures, other.failures) and np.array_equal(self.bells, other.bells))

    def __repr__(self) -> str:
        return (f"HeraldBatch(link_id={self.link_id}, scheme={self.scheme}, attempt_seq={self.attempt_seq}, "
                f"attempts={self.attempts}, detection_time={self.detection_time}, count={self.count}, "
                f"delta_bits={self.delta_bits}, coding={self.coding})")

    __hash__ = None  # type: ignore[assignment]


def _padding(data: bytes, used_bits: int) -> int:
    """The padding bits after ``used_bits`` bits of ``data`` (0 when they are all zero)."""
    spare = len(data) * 8 - used_bits
    return data[-1] & ((1 << spare) - 1) if spare and data else 0


def decode_qhp(data: bytes) -> Herald | HeraldBatch:
    """Any QHP message: a :class:`HeraldBatch` (type 3, :func:`decode_shared`) or a HERALD/REPORT."""
    if len(data) >= 2 and data[1] == MSG_BATCH:
        return decode_shared(data)
    return Herald.decode(data)


_SHARED: dict[bytes, HeraldBatch] = {}
SHARED_BATCHES = 4
"""How many recently decoded BATCHes :func:`decode_shared` keeps (a block's parts to its two ends)."""


def decode_shared(data: bytes) -> HeraldBatch:
    """:meth:`HeraldBatch.decode`, the result shared by every receiver of the same bytes: a station sends both
    ends of a block the same BATCH, and in one process the second end's decoding (its checks, its Bell states
    unpacked) would repeat the first's. A pure function of the bytes (a hash and a compare
    instead), so nothing else changes; the shared batch's arrays are read-only."""
    key = bytes(data)
    batch = _SHARED.get(key)
    if batch is None:
        batch = HeraldBatch.decode(key)
        batch._failures.flags.writeable = False      # (a Rice BATCH's, once unpacked, are read-only too)
        batch.bells.flags.writeable = False
        _SHARED[key] = batch
        if len(_SHARED) > SHARED_BATCHES:
            del _SHARED[next(iter(_SHARED))]          # the oldest
    return batch
