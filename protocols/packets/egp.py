"""EGP: the link-layer peer protocol between the two nodes of a link (UDP port 7772).

The draft defines only the service interface; the peers still have to agree on what to
generate and in which order. A node that accepts a CREATE from its higher layer forwards
it as REQ (the 16-byte header followed by the 24-byte CREATE, whose Remote Node ID is
then the receiver); the peer answers REQ_ACK with Status 0 (accepted) or a draft error
code. The end with the lower node id is the link's *master*: it numbers every accepted
request (Queue Sequence, from 1; 0 means not yet numbered) and decides which request the
link generates for: SCHEDULE (Run, Pairs) makes the other end switch to a request, which it
confirms with SCHEDULE_ACK (Status 0, or the error that refuses it); a SCHEDULE with a
Status aborts a request.

The master also numbers the pairs: for each heralded attempt it delivers its OK and sends
CONFIRM (Attempt Sequence of the herald, the OK's Sequence Number); the other end delivers
its OK only on CONFIRM, and answers CONFIRM_ACK with Status 0, or EXPIRE (5) when it does
not hold that pair (its herald was lost): both ends then report the pair expired.
RELEASE / RELEASE_ACK have the body of CONFIRM (atomic requests)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |    Version    |  Message Type |    Status     |   Reserved    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           Create ID           |            Link ID            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                         Origin Node                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                        Queue Sequence                         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                 CREATE (24 bytes, REQ only) ...               |

    CONFIRM, CONFIRM_ACK, RELEASE and RELEASE_ACK carry, after the header:

    |              Attempt Sequence (64 bits, of the herald)        |
    |                                                               |
    |       Sequence Number         |           Reserved            |

    SCHEDULE and SCHEDULE_ACK carry, after the header:

    |                              Run                              |
    |             Pairs             |           Reserved            |

>>> m = EgpMessage(msg_type=MSG_REQ_ACK, status=0, create_id=3, link_id=1, origin_node=1,
...                queue_seq=4)
>>> EgpMessage.decode(m.encode()) == m
True
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError
from protocols.fastinit import fast_init, fast_new
from protocols.packets.linkservice import CREATE_SIZE, LINK_ERROR_CODES, Create

VERSION = 1
MSG_REQ = 1
MSG_REQ_ACK = 2
MSG_CONFIRM = 3
MSG_CONFIRM_ACK = 4
MSG_SCHEDULE = 5
MSG_SCHEDULE_ACK = 6
MSG_RELEASE = 7
MSG_RELEASE_ACK = 8
MESSAGE_TYPES = {MSG_REQ: "REQ", MSG_REQ_ACK: "REQ_ACK", MSG_CONFIRM: "CONFIRM", MSG_CONFIRM_ACK: "CONFIRM_ACK",
                 MSG_SCHEDULE: "SCHEDULE", MSG_SCHEDULE_ACK: "SCHEDULE_ACK", MSG_RELEASE: "RELEASE",
                 MSG_RELEASE_ACK: "RELEASE_ACK"}
PAIR_MESSAGES = (MSG_CONFIRM, MSG_CONFIRM_ACK, MSG_RELEASE, MSG_RELEASE_ACK)
RUN_MESSAGES = (MSG_SCHEDULE, MSG_SCHEDULE_ACK)
STATUS = {0: "ACCEPTED", **LINK_ERROR_CODES}

_HEADER = struct.Struct("!BBBxHHII")
HEADER_SIZE = _HEADER.size
_PAIR = struct.Struct("!QHxx")
_PAIR_MESSAGE = struct.Struct("!BBBxHHIIQHxx")      # the header and a pair message's body, in one
PAIR_MESSAGE = _PAIR_MESSAGE
"""A pair message (CONFIRM, CONFIRM_ACK, RELEASE, RELEASE_ACK) as one struct: Version, Message Type, Status,
Create ID, Link ID, Origin Node, Queue Sequence, Attempt Sequence, Sequence Number (for a reader that takes the
fields without an :class:`EgpMessage`: the link layer's per-pair CONFIRM and CONFIRM_ACK)."""
PAIR_SIZE = _PAIR_MESSAGE.size
_RUN = struct.Struct("!IHxx")


@fast_init
@dataclass(frozen=True, slots=True)
class EgpMessage:
    """REQ (with ``create``), REQ_ACK, a pair message (CONFIRM, CONFIRM_ACK, RELEASE, RELEASE_ACK: with
    ``attempt_seq`` and ``sequence_number``) or a run message (SCHEDULE, SCHEDULE_ACK: with ``run`` and ``pairs``)."""

    msg_type: int
    status: int
    create_id: int
    link_id: int
    origin_node: int
    queue_seq: int = 0
    create: Create | None = None
    attempt_seq: int = 0
    sequence_number: int = 0
    run: int = 0
    pairs: int = 0

    def encode(self) -> bytes:
        head = _HEADER.pack(VERSION, self.msg_type, self.status, self.create_id, self.link_id,
                            self.origin_node, self.queue_seq)
        if self.msg_type in PAIR_MESSAGES:
            return head + _PAIR.pack(self.attempt_seq, self.sequence_number)
        if self.msg_type in RUN_MESSAGES:
            return head + _RUN.pack(self.run, self.pairs)
        return head + self.create.encode() if self.create is not None else head

    @classmethod
    def decode(cls, data: bytes) -> EgpMessage:
        if len(data) == PAIR_SIZE:             # a pair message (one a pair each way): its fields in one unpack
            version, mtype, status, create_id, link_id, origin, queue_seq, attempt_seq, seq = _PAIR_MESSAGE.unpack(data)
            if version == VERSION and mtype in PAIR_MESSAGES and status in STATUS and cls is EgpMessage:
                return _new_egp(mtype, status, create_id, link_id, origin, queue_seq, None, attempt_seq, seq)
        if len(data) < HEADER_SIZE:
            raise ParseError(f"EGP message too short: {len(data)} bytes")
        version, mtype, status, create_id, link_id, origin, queue_seq = _HEADER.unpack_from(data)
        if version != VERSION or mtype not in MESSAGE_TYPES or status not in STATUS:
            raise ParseError(f"bad EGP header: version {version}, type {mtype}, status {status}")
        body = data[HEADER_SIZE:]
        want = _BODY_SIZE.get(mtype, 0)
        if len(body) != want:
            raise ParseError(f"EGP {MESSAGE_TYPES[mtype]} body is {want} bytes, got {len(body)}")
        create = Create.decode(body) if mtype == MSG_REQ else None
        attempt_seq, sequence_number = _PAIR.unpack(body) if mtype in PAIR_MESSAGES else (0, 0)
        run, pairs = _RUN.unpack(body) if mtype in RUN_MESSAGES else (0, 0)
        return cls(mtype, status, create_id, link_id, origin, queue_seq, create, attempt_seq, sequence_number,
                   run, pairs)


_new_egp = fast_new(EgpMessage)


def pair_message(msg_type: int, status: int, create_id: int, link_id: int, origin_node: int, queue_seq: int,
                 attempt_seq: int, sequence_number: int) -> bytes:
    """The bytes of ``EgpMessage(msg_type, status, create_id, link_id, origin_node, queue_seq, None, attempt_seq,
    sequence_number).encode()`` for a pair message (CONFIRM, CONFIRM_ACK, RELEASE, RELEASE_ACK), packed in one step.

    >>> pair_message(MSG_CONFIRM, 0, 5, 7, 1, 3, 42, 9) == EgpMessage(MSG_CONFIRM, 0, 5, 7, 1, 3, None, 42, 9).encode()
    True
    """
    return _PAIR_MESSAGE.pack(VERSION, msg_type, status, create_id, link_id, origin_node, queue_seq, attempt_seq,
                              sequence_number)


_BODY_SIZE = {MSG_REQ: CREATE_SIZE, **{m: _PAIR.size for m in PAIR_MESSAGES}, **{m: _RUN.size for m in RUN_MESSAGES}}
