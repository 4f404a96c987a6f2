"""The timestamp sideband's records and the table of stamps waiting for their datagrams.

For every datagram, the sender also sends a 16-byte :data:`SIDEBAND` record to the receiving node's slot 31:
the emulated time the datagram reaches the receiver's interface and a hash of its payload
(:func:`payload_digest`). The receiver keeps the stamps in :class:`Arrivals` until their datagrams come
(:class:`stack.multiprocess.udp.UdpNetwork`, whose docstring says why and how the stamps are checked).
"""

from __future__ import annotations

import hashlib
import struct
from collections import deque
from dataclasses import dataclass, field

SIDEBAND = struct.Struct("!q8s")
"""Timestamp sideband record: arrival time (emulated ns), BLAKE2b-64 of the datagram's payload."""
MAX_SIDEBAND_RECORDS = 1 << 16
"""Sideband records a node keeps waiting for their datagrams (a few MB; a busy run needs a few thousand)."""


def payload_digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=8).digest()


@dataclass(slots=True)
class Arrivals:
    """Sideband stamps waiting for their datagrams, by payload digest, at most ``limit`` of them."""

    limit: int = MAX_SIDEBAND_RECORDS
    by_digest: dict[bytes, deque[int]] = field(default_factory=dict)
    size: int = 0
    dropped: int = 0
    """Stamps forgotten unused: stale ones when the table was full, and new ones while it stayed full."""

    full_adds: int = 0

    def add(self, digest: bytes, arrival: int, stale_before: int) -> None:
        """Keep a stamp, unless the table is full even of stamps later than ``stale_before``. (A full table is
        searched for stale stamps once per sixteenth of its size of stamps that find it full, so a flood of
        fresh stamps costs a constant time each.)"""
        if self.size >= self.limit:
            if self.full_adds % max(1, self.limit // 16) == 0:
                self.dropped += self.forget_before(stale_before)
            self.full_adds += 1
        if self.size >= self.limit:
            self.dropped += 1
            return
        self.by_digest.setdefault(digest, deque()).append(arrival)
        self.size += 1

    def take(self, digest: bytes) -> int | None:
        """The oldest stamp of ``digest`` (None: there is none)."""
        queued = self.by_digest.get(digest)
        if not queued:
            return None
        arrival = queued.popleft()
        self.size -= 1
        if not queued:
            del self.by_digest[digest]
        return arrival

    def forget_before(self, time_ns: int) -> int:
        """Forget every stamp earlier than ``time_ns``; how many were forgotten."""
        forgotten = 0
        for digest in list(self.by_digest):
            queued = self.by_digest[digest]
            kept = deque(t for t in queued if t >= time_ns)
            forgotten += len(queued) - len(kept)
            if kept:
                self.by_digest[digest] = kept
            else:
                del self.by_digest[digest]
        self.size -= forgotten
        return forgotten
