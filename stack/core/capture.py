"""Captures: nanosecond pcap files of classical datagrams and quantum frames.

Every node has a fixed address derived from its 1-based node id ``i`` (see
``docs/wire.md``): IPv4 ``198.18.(i >> 8).(i & 255)`` (RFC 2544's benchmarking range,
never routed) and MAC ``02:00:00:00:(i >> 8):(i & 255)`` (locally administered).
Virtual time 0 is written as 2026-01-01T00:00:00Z so Wireshark shows a sane date.

Frames are built with ``struct`` (IPv4 and UDP checksums included); the tests prove the
bytes equal scapy's ``Ether()/IP()/UDP()``.

>>> node_ip(1), node_mac(258)
('198.18.0.1', '02:00:00:00:01:02')
"""

from __future__ import annotations

import functools
import heapq
import struct
from typing import BinaryIO

from protocols.common import QFRAME_ETHERTYPE

EPOCH_NS = 1_767_225_600 * 1_000_000_000
"""Wall-clock time (ns since 1970) that virtual time 0 is written as."""

LINKTYPE_ETHERNET = 1
_PCAP_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
PCAP_NS_MAGIC = 0xA1B23C4D
_ETHER = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
ETHERTYPE_IPV4 = 0x0800
IP_TTL = 64
PROTO_UDP = 17


@functools.cache
def node_ip(node_id: int) -> str:
    """IPv4 address (text) of the node with this 1-based id."""
    return f"198.18.{node_id >> 8}.{node_id & 255}"


def node_mac(node_id: int) -> str:
    """MAC address (text) of the node with this 1-based id."""
    return f"02:00:00:00:{node_id >> 8:02x}:{node_id & 255:02x}"


def _mac_bytes(node_id: int) -> bytes:
    return bytes((2, 0, 0, 0, node_id >> 8 & 255, node_id & 255))


def _ip_bytes(node_id: int) -> bytes:
    return bytes((198, 18, node_id >> 8 & 255, node_id & 255))


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``, word by word: the reference for :func:`_folded`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _words(data: bytes) -> int:
    """An integer congruent to the sum of ``data``'s 16-bit big-endian words modulo 0xFFFF (as 2¹⁶ ≡ 1),
    zero only when every word is: the whole of ``data`` read as one number, in C."""
    return int.from_bytes(data + b"\0" if len(data) % 2 else data, "big")


def _folded(total: int) -> int:
    """The checksum of words whose sum is congruent to ``total`` (0 only when they are all zero).

    Folding the carries (RFC 1071) keeps the sum modulo 0xFFFF and gives 0xFFFF, never 0, for a
    non-zero multiple; so does ``(total − 1) mod 0xFFFF + 1``, with no loop over the words.
    """
    return ~((total - 1) % 0xFFFF + 1 if total else 0) & 0xFFFF


_HEADERS = struct.Struct("!14sBBHHHBBH4s4sHHHH")
"""Ethernet, IPv4 (no options) and UDP headers of one frame."""


@functools.lru_cache(maxsize=4096)
def _template(src_node: int, sport: int, dst_node: int, dport: int) -> tuple[bytes, bytes, bytes, int, int]:
    """What every frame between these two sockets shares: the Ethernet header, both addresses and the
    sums of the constant words of the IPv4 header and of the UDP pseudo-header and header."""
    src_ip, dst_ip = _ip_bytes(src_node), _ip_bytes(dst_node)
    ether = _ETHER.pack(_mac_bytes(dst_node), _mac_bytes(src_node), ETHERTYPE_IPV4)
    addresses = _words(src_ip) + _words(dst_ip)
    ip_constant = 0x4500 + 0x4000 + (IP_TTL << 8 | PROTO_UDP) + addresses
    udp_constant = addresses + PROTO_UDP + sport + dport
    return ether, src_ip, dst_ip, ip_constant, udp_constant


def udp_frame(src_node: int, sport: int, dst_node: int, dport: int, payload: bytes,
              ip_id: int = 0) -> bytes:
    """An Ethernet/IPv4/UDP frame between two nodes, checksums filled in.

    The headers come from a template per pair of sockets, whose constant words are summed once;
    each frame adds its lengths, its IP ID and its payload to those sums.

    >>> udp_frame(1, 7771, 2, 7772, b"hi", ip_id=3).hex()[28:]
    '4500001e000340004011aea4c6120001c61200021e5b1e5c000ace916869'
    """
    ether, src_ip, dst_ip, ip_constant, udp_constant = _template(src_node, sport, dst_node, dport)
    udp_len = 8 + len(payload)
    ip_id &= 0xFFFF
    ip_sum = _folded(ip_constant + 20 + udp_len + ip_id)
    udp_sum = _folded(udp_constant + 2 * udp_len + _words(payload)) or 0xFFFF
    return _HEADERS.pack(ether, 0x45, 0, 20 + udp_len, ip_id, 0x4000, IP_TTL, PROTO_UDP, ip_sum, src_ip, dst_ip,
                         sport, dport, udp_len, udp_sum) + payload


FrameTemplate = tuple[bytes, bytes, bytes, int, int]
"""What :meth:`PcapWriter.write_udp` needs of a socket pair: the 16 bytes of every frame's headers before the IPv4
total length (Ethernet, IPv4 version and TOS), the 4 between its ID and its checksum (flags, TTL, protocol), the 12
after it (both addresses, both ports), and :func:`_template`'s two sums, each less 1 and the IPv4 one with the 20
bytes of its header added: what :func:`_folded` of a non-zero sum subtracts and every frame adds."""

_VARYING = struct.Struct("!16sHH4sH12sHH")
"""A frame's headers (:data:`_HEADERS`) as the template's constant runs of bytes and the five fields that vary:
IPv4 total length, ID and checksum, UDP length and checksum."""
EPOCH_S = EPOCH_NS // 1_000_000_000


def frame_template(src_node: int, sport: int, dst_node: int, dport: int) -> FrameTemplate:
    """The template of every frame from node ``src_node``'s port ``sport`` to ``dst_node``'s ``dport``."""
    ether, src_ip, dst_ip, ip_constant, udp_constant = _template(src_node, sport, dst_node, dport)
    return (ether + bytes((0x45, 0)), struct.pack("!HBB", 0x4000, IP_TTL, PROTO_UDP),
            src_ip + dst_ip + struct.pack("!HH", sport, dport), ip_constant + 20 - 1, udp_constant - 1)


@functools.lru_cache(maxsize=4096)
def _quantum_header(src_node: int, dst_node: int) -> bytes:
    return _ETHER.pack(_mac_bytes(dst_node), _mac_bytes(src_node), QFRAME_ETHERTYPE)


def quantum_frame(src_node: int, dst_node: int, payload: bytes) -> bytes:
    """An Ethernet frame with EtherType 0x88B5 carrying a QFRAME."""
    return _quantum_header(src_node, dst_node) + payload


SNAPLEN = 262_144
"""The header's snapshot length: libpcap's largest (``MAXIMUM_SNAPLEN``), above the longest frame we write (a
65,507-byte UDP payload in IPv4 and Ethernet: 65,549 bytes), so no reader truncates a record."""


class PcapWriter:
    """Writes a nanosecond-resolution pcap (magic a1b23c4d, Ethernet link type).

    >>> import io
    >>> buf = io.BytesIO()
    >>> w = PcapWriter(buf)
    >>> w.write(1_500, b"\\x00" * 14)
    >>> len(buf.getvalue())
    54
    """

    def __init__(self, stream: BinaryIO, snaplen: int = SNAPLEN) -> None:
        self._stream = stream
        self.frames = 0
        stream.write(_PCAP_HEADER.pack(PCAP_NS_MAGIC, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))

    def write(self, virtual_ns: int, frame: bytes) -> None:
        """Append one frame stamped with virtual time ``virtual_ns``."""
        sec, nsec = divmod(EPOCH_NS + virtual_ns, 1_000_000_000)
        self._stream.write(_RECORD.pack(sec, nsec, len(frame), len(frame)) + frame)
        self.frames += 1

    def write_quantum(self, virtual_ns: int, src_node: int, dst_node: int, payload: bytes) -> None:
        """``write(virtual_ns, quantum_frame(src_node, dst_node, payload))`` in one call."""
        frame_len = 14 + len(payload)
        self._stream.write(_RECORD.pack(EPOCH_S + virtual_ns // 1_000_000_000, virtual_ns % 1_000_000_000, frame_len,
                                        frame_len) + _quantum_header(src_node, dst_node) + payload)
        self.frames += 1

    def write_udp(self, virtual_ns: int, template: FrameTemplate, ip_ids: list[int], payload: bytes) -> None:
        """``write(virtual_ns, udp_frame(src_node, sport, dst_node, dport, payload, ip_id))`` with the socket pair's
        :func:`frame_template`, in one write (the network captures every datagram so). ``ip_ids`` holds the sending
        node's next IPv4 ID (its one item, which this takes and moves on, modulo 2¹⁶).

        The checksums are :func:`_folded` of non-zero sums, ``~((total − 1) mod 0xFFFF + 1) & 0xFFFF``, written as
        ``0xFFFE − (total − 1) mod 0xFFFF`` (the template holds its constant words' sums less 1). The payload's
        words are read as one little-endian number: byte-swapped words, whose sum is ≡ 2⁸ × that of the big-endian
        ones modulo 0xFFFF (RFC 1071's byte-order independence; 2⁸ × 2⁸ ≡ 1), so ``<< 8`` gives the big-endian sum,
        and an odd last byte needs no zero after it.
        """
        head, middle, addresses, ip_base, udp_base = template
        ip_id = ip_ids[0]
        ip_ids[0] = ip_id + 1 & 0xFFFF
        udp_len = 8 + len(payload)
        ip_sum = 0xFFFE - (ip_base + udp_len + ip_id) % 0xFFFF
        udp_sum = 0xFFFE - (udp_base + 2 * udp_len + (int.from_bytes(payload, "little") << 8)) % 0xFFFF or 0xFFFF
        # EPOCH_NS is whole seconds: the timestamp is divided before the epoch is added (no large sum to divide)
        self._stream.write(_RECORD.pack(EPOCH_S + virtual_ns // 1_000_000_000, virtual_ns % 1_000_000_000,
                                        34 + udp_len, 34 + udp_len)
                           + _VARYING.pack(head, 20 + udp_len, ip_id, middle, ip_sum, addresses, udp_len, udp_sum)
                           + payload)
        self.frames += 1


def read_pcap(data: bytes) -> list[tuple[int, bytes]]:
    """The (timestamp ns, frame) records of a pcap this module wrote; ValueError if it is not one."""
    if len(data) < _PCAP_HEADER.size or _PCAP_HEADER.unpack_from(data)[0] != PCAP_NS_MAGIC:
        raise ValueError("not a nanosecond pcap written by qnetstack")
    records, offset = [], _PCAP_HEADER.size
    while offset + _RECORD.size <= len(data):
        sec, nsec, length, _ = _RECORD.unpack_from(data, offset)
        offset += _RECORD.size
        if offset + length > len(data):          # cut short (a killed writer): drop the partial record
            break
        records.append((sec * 1_000_000_000 + nsec, data[offset:offset + length]))
        offset += length
    return records


def merge_pcaps(sources: list[bytes], stream: BinaryIO) -> int:
    """Merge captures into one by timestamp (ties keep source order, like ``mergecap``); returns frames."""
    merged = heapq.merge(*(read_pcap(data) for data in sources), key=lambda record: record[0])
    writer = PcapWriter(stream)
    for stamp, frame in merged:
        writer.write(stamp - EPOCH_NS, frame)
    return writer.frames
