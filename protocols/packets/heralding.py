"""QHP: the heralding protocol, UDP port 7770.

HERALD (type 1): a midpoint station reports an attempt's outcome to both ends of a link
(single- and double-click schemes). REPORT (type 2): an end tells the other end whether
it heralded its own half locally (source-in-the-middle and coupler schemes, where there
is no station); a pair exists when both ends did. In sampled mode only successes are
sent and ``attempts`` says how many attempts the success took; in exact mode every
attempt is reported. Both are 28 bytes::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |    Version    |  Message Type |    Outcome    |  Bell State   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |            Link ID            |    Scheme     |   Reserved    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                   Attempt Sequence Number                     |
    |                          (64 bits)                            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           Attempts                            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                 Detection Time (64 bits, ns)                  |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

>>> h = Herald(outcome=1, bell_state=3, link_id=1, scheme=1, attempt_seq=7, attempts=3,
...            detection_time=1000)
>>> Herald.decode(h.encode()) == h
True
>>> decode_shared_herald(h.encode()) is decode_shared_herald(h.encode())
True
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError
from protocols.fastinit import fast_init, fast_new

VERSION = 1
MSG_HERALD = 1
MSG_REPORT = 2
OUTCOME_FAILURE = 0
OUTCOME_SUCCESS = 1
SCHEME_DOUBLE_CLICK = 1
SCHEME_SINGLE_CLICK = 2
SCHEME_SOURCE = 3
SCHEME_COUPLER = 4

_FORMAT = struct.Struct("!BBBBHBxQIQ")
_U64 = (1 << 64) - 1
SIZE = _FORMAT.size

OUTCOMES = {OUTCOME_FAILURE: "FAILURE", OUTCOME_SUCCESS: "SUCCESS"}
BELL_STATES = {0: "PHI_PLUS", 1: "PSI_PLUS", 2: "PHI_MINUS", 3: "PSI_MINUS"}
SCHEMES = {SCHEME_DOUBLE_CLICK: "DOUBLE_CLICK", SCHEME_SINGLE_CLICK: "SINGLE_CLICK", SCHEME_SOURCE: "SOURCE",
           SCHEME_COUPLER: "COUPLER"}
MESSAGE_TYPES = {MSG_HERALD: "HERALD", MSG_REPORT: "REPORT"}


@fast_init
@dataclass(frozen=True, slots=True)
class Herald:
    """A station's report of one attempt's outcome (fast codec)."""

    outcome: int
    bell_state: int
    link_id: int
    scheme: int
    attempt_seq: int
    attempts: int
    detection_time: int
    msg_type: int = MSG_HERALD

    def encode(self) -> bytes:
        """The message's bytes; a Detection Time outside [0, 2^64) (a clock that reads before the run's start,
        or one stepped far away) is sent saturated at the nearer end of that range."""
        return herald_bytes(self.outcome, self.bell_state, self.link_id, self.scheme, self.attempt_seq, self.attempts,
                            self.detection_time, self.msg_type)

    @classmethod
    def decode(cls, data: bytes) -> Herald:
        if len(data) != SIZE:
            raise ParseError(f"HERALD is {SIZE} bytes, got {len(data)}")
        version, mtype, outcome, bell, link, scheme, seq, attempts, t = _FORMAT.unpack(data)
        if version != VERSION or mtype not in MESSAGE_TYPES:
            raise ParseError(f"not a QHP v{VERSION} message: version {version}, type {mtype}")
        if outcome not in OUTCOMES or bell > 3 or scheme not in SCHEMES:
            raise ParseError(f"bad HERALD field: outcome {outcome}, bell {bell}, scheme {scheme}")
        return (_new_herald if cls is Herald else cls)(outcome, bell, link, scheme, seq, attempts, t, mtype)


_new_herald = fast_new(Herald)


def herald_bytes(outcome: int, bell_state: int, link_id: int, scheme: int, attempt_seq: int, attempts: int,
                 detection_time: int, msg_type: int = MSG_HERALD) -> bytes:
    """The bytes of ``Herald(...).encode()`` with these fields, without the object (one a heralded attempt).

    >>> herald_bytes(1, 3, 1, 1, 7, 3, -5) == Herald(1, 3, 1, 1, 7, 3, -5).encode()
    True
    """
    if type(detection_time) is not int or not 0 <= detection_time <= _U64:     # an int in range is sent as it is
        detection_time = min(max(int(detection_time), 0), _U64)
    return _FORMAT.pack(VERSION, msg_type, outcome, bell_state, link_id, scheme, attempt_seq, attempts,
                        detection_time)


SHARED: dict[bytes, Herald] = {}
"""The recently decoded HERALDs by their bytes (:func:`decode_shared_herald`'s; a receiver may look one up first)."""
SHARED_KEPT = 8
"""How many recently decoded HERALDs :func:`decode_shared_herald` keeps (each goes to a link's two ends)."""


def decode_shared_herald(data: bytes) -> Herald:
    """:meth:`Herald.decode`, the result shared by every receiver of the same bytes: a station sends both ends of a
    link the same HERALD, and in one process the second end's decoding (its checks, its object) would repeat the
    first's. A pure function of the bytes (a hash and a compare instead; a :class:`Herald` is immutable), so
    nothing else changes; bytes that do not parse raise :class:`ParseError` and are not kept."""
    if type(data) is not bytes:
        data = bytes(data)
    herald = SHARED.get(data)
    if herald is None:
        herald = SHARED[data] = Herald.decode(data)
        if len(SHARED) > SHARED_KEPT:
            del SHARED[next(iter(SHARED))]          # the oldest
    return herald
