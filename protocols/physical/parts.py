"""A block's BATCHes: a block larger than one datagram is heralded in consecutive parts (docs/wire.md §3.3).

The station reports a block of attempts in as many BATCHes as its failure counts need datagrams
(:func:`split`): each names its own first attempt and attempts, the first the block's first attempt, each
next one the attempt after the previous part's. An end collects them in an :class:`Assembly` until they name
the block's ``count`` pairs in its ``attempts`` attempts; anything else (too many pairs or attempts, a part
out of order) is not this end's block.

>>> failures = np.zeros(100, dtype=np.uint64)
>>> [(part.start, part.stop) for part in split(failures, limit=40)]
[(0, 40), (40, 80), (80, 100)]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from protocols.packets.bitpack import join_planes
from protocols.packets.heralding_batch import HEADER_SIZE, MAX_PAYLOAD, HeraldBatch, delta_bits_for, max_count
from protocols.physical.hardware import EmittedBlock


def split(failures: np.ndarray, limit: int | None = None, low_bits: int | None = None,
          total: int | None = None) -> list[slice]:
    """The successes of a block, as the parts one BATCH each can carry: at most what fits one datagram (and at
    most ``limit``), all of one size but the last. ``low_bits`` None: fixed-width BATCHes at the width the
    block's largest failure count needs; else Rice-coded ones at ``low_bits`` (:func:`_rice_split`; ``total``,
    if given, bounds the failures' sum: the block's attempts less its successes)."""
    count = len(failures)
    if low_bits is not None:
        return _rice_split(failures, low_bits, limit, total)
    size = max(1, max_count(delta_bits_for(failures)) if limit is None else limit)
    return [slice(start, min(start + size, count)) for start in range(0, max(count, 1), size)]


def _rice_split(failures: np.ndarray, low_bits: int, limit: int | None, total: int | None) -> list[slice]:
    """As few equal parts as the block's bits need, by a bound that needs only sums: a success takes 2 bits of
    Bell state, ``low_bits`` and ``q + 1`` unary bits, and the quotients of a part sum to at most its failures'
    sum shifted right by ``low_bits`` (3 bytes cover the planes' padding). A part over the bound (its failures
    well above the block's mean) is halved until it fits."""
    count, per = len(failures), low_bits + 3
    budget = (MAX_PAYLOAD - HEADER_SIZE - 3) * 8

    def bits(start: int, stop: int) -> int:
        return (stop - start) * per + (int(failures[start:stop].sum(dtype=np.uint64)) >> low_bits)

    whole = bits(0, count) if total is None else count * per + (total >> low_bits)
    if whole <= budget and not (limit and limit < count):
        return [slice(0, count)]                       # one datagram: no part to check again
    size = max(1, -(-count // max(1, -(-whole // budget))))
    size = min(size, limit) if limit else size
    parts, start = [], 0
    while start < count:
        stop = min(start + size, count)
        while stop - start > 1 and bits(start, stop) > budget:
            stop = start + (stop - start) // 2
        parts.append(slice(start, stop))
        start = stop
    return parts or [slice(0, 0)]


def part_attempts(failures: np.ndarray, part: slice, attempt_seq: int, attempts: int) -> tuple[int, int]:
    """(first attempt, attempts) of a part of a block of ``attempts`` attempts from ``attempt_seq``: a part
    ends at its last success, the last part at the block's end."""
    before = int(failures[:part.start].sum(dtype=np.uint64)) + part.start
    if part.stop >= len(failures):
        return attempt_seq + before, attempts - before
    return attempt_seq + before, int(failures[part].sum(dtype=np.uint64)) + (part.stop - part.start)


@dataclass(slots=True)
class Assembly:
    """The parts of one block's BATCHes received so far."""

    emitted: EmittedBlock
    bells: list[np.ndarray] = field(default_factory=list)
    planes: list[bytes] = field(default_factory=list)
    count: int = 0
    attempts: int = 0

    @property
    def next_attempt(self) -> int:
        """The first attempt the next part must name."""
        return self.emitted.attempt_seq + self.attempts

    def add(self, batch: HeraldBatch) -> bool | None:
        """Take a part: True when the block is whole, None when the parts cannot be this block's (more pairs
        or attempts than it has, or all its attempts without all its pairs), False while parts are missing."""
        self.bells.append(batch.bells)
        self.planes.append(batch.bell_plane())
        self.count += batch.count
        self.attempts += batch.attempts
        whole = min(self.emitted.attempts, 0xFFFF_FFFF) if len(self.bells) == 1 else self.emitted.attempts
        if self.count > self.emitted.count or self.attempts > whole:
            return None
        if self.attempts == whole or self.count == self.emitted.count:
            return True if (self.attempts, self.count) == (whole, self.emitted.count) else None
        return False

    def block_bells(self) -> tuple[np.ndarray, bytes]:
        """The Bell state of every pair, and their packed plane (the parts' planes joined, not repacked)."""
        if len(self.bells) == 1:
            return self.bells[0], self.planes[0]
        return np.concatenate(self.bells), join_planes(self.planes, [len(bells) for bells in self.bells], 2)
