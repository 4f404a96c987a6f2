"""CREATE, the link-layer service's one message down (draft-03 figure 1; 24 bytes, docs/wire.md §4.1), re-exported
by :mod:`protocols.packets.linkservice` with the messages up.

>>> c = Create(remote_node_id=2, number=5, tpe=TPE_MEASURE, window=WINDOW_OPEN)
>>> Create.decode(c.encode()) == c, c.windowed, len(c.encode()) == CREATE_SIZE
(True, True, True)
>>> credit = Create(remote_node_id=2, purpose_id=0x8001, number=3, window=WINDOW_CREDIT).encode()
>>> CREDIT_FIELDS.unpack_from(credit), credit[WINDOW_BYTE] & WINDOW_BITS == CREDIT_BITS
((2, 32769, 3), True)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError
from protocols.fastinit import fast_init, fast_new
from protocols.packets.linkservice_codes import (
    TIME_UNIT_NS,
    TPE_KEEP,
    TPE_MEASURE,
    WINDOW_CREDIT,
    WINDOW_NONE,
    WINDOW_OPEN,
)

_CREATE = struct.Struct("!IHHHHBB10B")
"""Remote Node ID, Minimum Fidelity, Time Unit and Max Time, Purpose ID, Number, the flags (Priority, TPE, ATO, CON,
RL), the byte of RR, Distil and Window, PL1, PL2, PR1, PR2 and the six rotations."""
CREATE_SIZE = _CREATE.size
CREDIT_FIELDS = struct.Struct("!I4xHH")
"""Of :data:`_CREATE`, Remote Node ID, Purpose ID and Number alone: a CREDIT's fields, read without decoding the
rest (the link layer's windowed hops get one a pair)."""
WINDOW_BYTE, WINDOW_BITS = struct.calcsize("!IHHHHB"), 0b1100
"""Where :data:`_CREATE` holds the Window field: the byte after the flags, its bits 3..2 (docs/wire.md §4.1.1)."""
CREDIT_BITS = WINDOW_CREDIT << 2
"""That byte's Window bits in a CREDIT."""


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
        (remote, fid, tu_time, purpose, number, flags, rr_byte,
         pl1, pl2, pr1, pr2, rotx1l, rotyl, rotx2l, rotx1r, rotyr, rotx2r) = _CREATE.unpack(data)
        # One a windowed hop's credit: built without calling the class (fast_new; a subclass is called)
        new = _new_create if cls is Create else cls
        return new(remote, fid, tu_time >> 14, tu_time & 0x3FFF, purpose, number, flags >> 5, flags >> 4 & 1,
                   flags >> 3 & 1, flags >> 2 & 1, flags & 3, rr_byte >> 6, pl1, pl2, pr1, pr2,
                   rotx1l, rotyl, rotx2l, rotx1r, rotyr, rotx2r, rr_byte >> 4 & 3, rr_byte >> 2 & 3)

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


_new_create = fast_new(Create)
