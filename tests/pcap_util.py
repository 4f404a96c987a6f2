"""Reading our nanosecond pcaps back without scapy (an independent parser for tests)."""

from __future__ import annotations

import struct
from collections.abc import Iterator

TRAILER = 28
"""The authentication trailer's size (protocols/packets/auth.py), written out: an independent parser."""


def read_pcap(data: bytes) -> list[tuple[int, bytes]]:
    """(timestamp ns since 1970, frame bytes) for every record of a ns pcap."""
    magic, = struct.unpack_from("<I", data)
    assert magic == 0xA1B23C4D, hex(magic)
    records, offset = [], 24
    while offset < len(data):
        sec, nsec, incl, _ = struct.unpack_from("<IIII", data, offset)
        offset += 16
        records.append((sec * 1_000_000_000 + nsec, data[offset:offset + incl]))
        offset += incl
    return records


def udp_payloads(records: list[tuple[int, bytes]], trailer: bool = True) -> Iterator[tuple[str, int, bytes]]:
    """(destination IP, destination port, payload) of each IPv4/UDP frame; with ``trailer``, the payload
    without its 28-byte authentication trailer (docs/wire.md §10)."""
    for _, frame in records:
        if frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0F) * 4
        dst = ".".join(str(b) for b in frame[30:34])
        udp = frame[14 + ihl:]
        dport, length = struct.unpack_from("!HH", udp, 2)
        yield dst, dport, udp[8:length - (TRAILER if trailer else 0)]
