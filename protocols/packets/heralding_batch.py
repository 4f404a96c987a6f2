"""QHP BATCH (type 3, UDP port 7770): a station's report of a block of attempts at once.

The batched measure-directly path (docs/wire.md §3.3) heralds a block of attempts in one message
instead of one HERALD per success: which attempts of the block succeeded, as the number of failed
attempts before each success (``failures``, bit-packed at ``delta_bits`` bits each), and the Bell
state each success heralded (``bells``, 2 bits each, the index ``x | z << 1`` of HERALD). Success
``i`` is attempt ``attempt_seq + sum(failures[:i + 1]) + i``. Both arrays are packed most significant
bit first and each is padded with zero bits to a whole byte::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |    Version    | Msg Type (3)  |  Delta Bits   |   Reserved    |
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
    |  Failures: Count x Delta Bits bits, then zero padding ...     |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Bell States: Count x 2 bits, then zero padding ...           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

>>> b = HeraldBatch(link_id=1, scheme=1, attempt_seq=7, attempts=10, detection_time=50,
...                 failures=np.array([2, 0, 5]), bells=np.array([1, 3, 1]))
>>> data = b.encode()
>>> len(data), data[32:].hex()          # 3 bits each: 010 000 101 + pad, then 01 11 01 + pad
(35, '428074')
>>> HeraldBatch.decode(data) == b, HeraldBatch.decode(data).successes().tolist()
(True, [9, 10, 16])
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from protocols.common import ParseError
from protocols.packets.auth import SIZE as AUTH_TRAILER_SIZE
from protocols.packets.bitpack import pack_bits, unpack_bits
from protocols.packets.heralding import SCHEMES, VERSION, Herald

MSG_BATCH = 3
HEADER = struct.Struct("!BBBBHBxQIIQ")
HEADER_SIZE = HEADER.size
MAX_DELTA_BITS = 32
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


@dataclass(frozen=True, eq=False)
class HeraldBatch:
    """A block of heralded attempts (fast codec). ``failures`` and ``bells`` are one entry per success."""

    link_id: int
    scheme: int
    attempt_seq: int
    attempts: int
    detection_time: int
    failures: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    bells: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    delta_bits: int | None = None
    """Bits per failure count on the wire; None: the fewest that hold them."""
    packed_bells: bytes | None = field(default=None, init=False, repr=False, compare=False)
    """``bells`` as on the wire, if known: a decoded BATCH keeps them (:meth:`bell_plane`); a copy made with
    ``dataclasses.replace`` does not."""

    @property
    def count(self) -> int:
        return len(self.failures)

    def successes(self) -> np.ndarray:
        """The attempt sequence number of each success."""
        offsets = np.cumsum(self.failures.astype(np.uint64) + np.uint64(1), dtype=np.uint64) - np.uint64(1)
        return offsets + np.uint64(self.attempt_seq)

    def bell_plane(self) -> bytes:
        """The Bell states packed as on the wire, 2 bits each, zero-padded to a byte."""
        return pack_bits(self.bells, 2) if self.packed_bells is None else self.packed_bells

    def wire_delta_bits(self) -> int:
        return delta_bits_for(self.failures) if self.delta_bits is None else self.delta_bits

    def encode(self) -> bytes:
        """The message's bytes. Raises ValueError when it breaks the rules :meth:`decode` checks (a field out
        of range, a failure count wider than Delta Bits, more than one datagram)."""
        width = self.wire_delta_bits()
        count = self.count
        if len(self.bells) != count:
            raise ValueError(f"BATCH has {count} failure counts but {len(self.bells)} Bell states")
        if not 0 <= width <= MAX_DELTA_BITS or (count and delta_bits_for(self.failures) > width):
            raise ValueError(f"BATCH failure counts do not fit {width} bits")
        if count and int(self.bells.max()) > 3:
            raise ValueError("BATCH Bell state above 3")
        if int(self.failures.sum(dtype=np.uint64)) + count > self.attempts:
            raise ValueError(f"BATCH of {self.attempts} attempts cannot hold {count} successes after "
                             f"{int(self.failures.sum())} failures")
        if packed_size(count, width) > MAX_PAYLOAD:
            raise ValueError(f"BATCH of {count} successes is larger than one datagram")
        detection_time = min(max(int(self.detection_time), 0), _U64)
        header = HEADER.pack(VERSION, MSG_BATCH, width, 0, self.link_id, self.scheme, self.attempt_seq,
                             self.attempts, count, detection_time)
        return b"".join((header, pack_bits(self.failures, width), self.bell_plane()))

    @classmethod
    def decode(cls, data: bytes) -> HeraldBatch:
        if len(data) < HEADER_SIZE:
            raise ParseError(f"BATCH is at least {HEADER_SIZE} bytes, got {len(data)}")
        version, mtype, width, _, link, scheme, seq, attempts, count, t = HEADER.unpack_from(data)
        if version != VERSION or mtype != MSG_BATCH:
            raise ParseError(f"not a QHP v{VERSION} BATCH: version {version}, type {mtype}")
        if width > MAX_DELTA_BITS or scheme not in SCHEMES:
            raise ParseError(f"bad BATCH field: delta bits {width}, scheme {scheme}")
        if len(data) != packed_size(count, width):
            raise ParseError(f"BATCH of {count} successes at {width} bits is {packed_size(count, width)} bytes, "
                             f"got {len(data)}")
        split = HEADER_SIZE + -(-count * width // 8)
        if _padding(data[HEADER_SIZE:split], count * width) or _padding(data[split:], count * 2):
            raise ParseError("BATCH padding bits are not zero")
        failures = unpack_bits(data[HEADER_SIZE:split], count, width)
        plane = bytes(data[split:])
        bells = unpack_bits(plane, count, 2).astype(np.uint8, copy=False)
        if int(failures.sum(dtype=np.uint64)) + count > attempts:
            raise ParseError(f"BATCH of {attempts} attempts cannot hold {count} successes after "
                             f"{int(failures.sum(dtype=np.uint64))} failures")
        batch = cls(link, scheme, seq, attempts, t, failures, bells, width)
        object.__setattr__(batch, "packed_bells", plane)
        return batch

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HeraldBatch):
            return NotImplemented
        return ((self.link_id, self.scheme, self.attempt_seq, self.attempts, self.detection_time,
                 self.wire_delta_bits()) == (other.link_id, other.scheme, other.attempt_seq, other.attempts,
                                             other.detection_time, other.wire_delta_bits())
                and np.array_equal(self.failures, other.failures) and np.array_equal(self.bells, other.bells))

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
    ends of a block the same BATCH, and in one process the second end's decoding (~5 ns a pair: its failure
    counts unpacked and summed) would repeat the first's. A pure function of the bytes (a hash and a compare
    instead), so nothing else changes; the shared batch's arrays are read-only."""
    key = bytes(data)
    batch = _SHARED.get(key)
    if batch is None:
        batch = HeraldBatch.decode(key)
        batch.failures.flags.writeable = False
        batch.bells.flags.writeable = False
        _SHARED[key] = batch
        if len(_SHARED) > SHARED_BATCHES:
            del _SHARED[next(iter(_SHARED))]          # the oldest
    return batch
