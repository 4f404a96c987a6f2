"""A SETUP's QCaps as they arrived: checked whole when the SETUP is decoded (the bounds and option counts
:func:`~protocols.packets.qncp_caps.read_qcap` checks, with its errors), each decoded at its first use, and
sent on as the bytes that came (a SETUP grows by one QCap a hop: a node reads the last one, the tail all, and
decoding every QCap at every node would cost the square of the route's length).

>>> from protocols.packets.qncp_caps import LinkCap, NodeCap, QCap, Reader
>>> cap = QCap(NodeCap(1, 2, 0, 2, 255, 10, 10, 1, 1, 0, 0), LinkCap(1, 0x8001, 2, 1000, 50))
>>> caps = read_qcaps(Reader(cap.encode() * 2, 0), 2)
>>> caps == (cap, cap), caps[-1] == cap, encode_qcaps(appended(caps, cap)) == cap.encode() * 3
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

from protocols.packets.qncp_caps import (
    MAX_OPTIONS,
    OPTION_SIZE,
    QCAP_HEAD_SIZE,
    QCAP_OPTIONS_AT,
    QCap,
    Reader,
    read_qcap,
)


class QCaps(Sequence[QCap]):
    """QCaps that arrived as bytes (decoded at first use) and QCaps added since; equal to the tuple of them."""

    __slots__ = ("_decoded", "_entries")

    def __init__(self, entries: tuple[bytes | QCap, ...]) -> None:
        self._entries = entries
        """Each QCap, or its bytes when they are what encoding it gives (Reserved zero) and it is not decoded."""
        self._decoded: dict[int, QCap] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, index: int) -> QCap: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[QCap, ...]: ...

    def __getitem__(self, index: int | slice) -> QCap | tuple[QCap, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self._entries))))
        entry = self._entries[index]
        if isinstance(entry, QCap):
            return entry
        index %= len(self._entries)
        cap = self._decoded.get(index)
        if cap is None:
            cap = self._decoded[index] = read_qcap(Reader(entry, 0))
        return cap

    def __iter__(self) -> Iterator[QCap]:
        return (self[i] for i in range(len(self._entries)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, QCaps | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))

    def plus(self, cap: QCap) -> QCaps:
        """These QCaps and ``cap`` after them; those still undecoded stay so."""
        return QCaps((*self._entries, cap))

    def encode(self) -> bytes:
        """The QCaps' bytes: those that came as they came, the others encoded."""
        return b"".join(entry if isinstance(entry, bytes) else entry.encode() for entry in self._entries)


def read_qcaps(reader: Reader, count: int) -> QCaps:
    """``count`` QCaps from ``reader``, checked as :func:`read_qcap` checks them (ParseError), not decoded."""
    data = reader.data
    entries: list[bytes | QCap] = []
    for _ in range(count):
        start = reader.offset
        head = start + QCAP_HEAD_SIZE
        options = data[start + QCAP_OPTIONS_AT] if head <= len(data) else 0
        end = head + options * OPTION_SIZE
        if head > len(data) or options > MAX_OPTIONS or end > len(data):
            entries.append(read_qcap(reader))           # raises the error at the first field that is wrong
            continue
        reader.offset = end
        raw = bytes(data[start:end])        # (kept as bytes: sent on as they came, whatever buffer held them)
        # Reserved not zero: encoding it again would give other bytes; it is decoded now and encoded when sent.
        entries.append(raw if raw[QCAP_OPTIONS_AT + 1:QCAP_HEAD_SIZE] == b"\0\0\0" else read_qcap(Reader(raw, 0)))
    return QCaps(tuple(entries))


def appended(caps: Sequence[QCap], cap: QCap) -> Sequence[QCap]:
    """``caps`` and ``cap`` after them (what a node forwards in SETUP)."""
    return caps.plus(cap) if isinstance(caps, QCaps) else (*caps, cap)


def encode_qcaps(caps: Sequence[QCap]) -> bytes:
    """The bytes of ``caps``, one after the other."""
    return caps.encode() if isinstance(caps, QCaps) else b"".join(cap.encode() for cap in caps)
