"""Frames from cached templates equal frames built header by header, checksum word by word (RFC 1071)."""

from __future__ import annotations

import io
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from stack.core.capture import (
    _ETHER,
    _IPV4,
    _UDP,
    ETHERTYPE_IPV4,
    IP_TTL,
    PROTO_UDP,
    PcapWriter,
    _checksum,
    _ip_bytes,
    _mac_bytes,
    frame_template,
    quantum_frame,
    read_pcap,
    udp_frame,
)


def reference_frame(src: int, sport: int, dst: int, dport: int, payload: bytes, ip_id: int) -> bytes:
    """Every header packed and every checksum summed word by word, for each frame."""
    src_ip, dst_ip = _ip_bytes(src), _ip_bytes(dst)
    udp_len = 8 + len(payload)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, PROTO_UDP, udp_len)
    udp_sum = _checksum(pseudo + _UDP.pack(sport, dport, udp_len, 0) + payload) or 0xFFFF
    header = _IPV4.pack(0x45, 0, 20 + udp_len, ip_id & 0xFFFF, 0x4000, IP_TTL, PROTO_UDP, 0, src_ip, dst_ip)
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    ether = _ETHER.pack(_mac_bytes(dst), _mac_bytes(src), ETHERTYPE_IPV4)
    return ether + header + _UDP.pack(sport, dport, udp_len, udp_sum) + payload


u16 = st.integers(0, 0xFFFF)


@settings(max_examples=500, deadline=None)
@given(src=st.integers(1, 0xFFFF), dst=st.integers(1, 0xFFFF), sport=u16, dport=u16,
       payload=st.binary(max_size=300), ip_id=st.integers(0, 0x1FFFF))
def test_template_frames_equal_the_reference(src: int, dst: int, sport: int, dport: int, payload: bytes,
                                             ip_id: int) -> None:
    assert udp_frame(src, sport, dst, dport, payload, ip_id) == reference_frame(src, sport, dst, dport, payload,
                                                                                ip_id)


@settings(max_examples=300, deadline=None)
@given(src=st.integers(1, 0xFFFF), dst=st.integers(1, 0xFFFF), sport=u16, dport=u16,
       payload=st.binary(max_size=300), ip_id=st.integers(0, 0x1FFFF), stamp=st.integers(0, 10**15))
def test_write_udp_writes_the_record_of_udp_frame(src: int, dst: int, sport: int, dport: int, payload: bytes,
                                                  ip_id: int, stamp: int) -> None:
    """The network's one-call capture of a datagram: the bytes ``write(stamp, udp_frame(...))`` writes."""
    fused, plain, ip_ids = io.BytesIO(), io.BytesIO(), [ip_id & 0xFFFF]
    PcapWriter(fused).write_udp(stamp, frame_template(src, sport, dst, dport), ip_ids, payload)
    PcapWriter(plain).write(stamp, udp_frame(src, sport, dst, dport, payload, ip_id))
    assert fused.getvalue() == plain.getvalue()
    assert ip_ids == [(ip_id + 1) & 0xFFFF]          # the node's next ID, modulo 2¹⁶


@settings(max_examples=100, deadline=None)
@given(src=st.integers(1, 0xFFFF), dst=st.integers(1, 0xFFFF), payload=st.binary(max_size=100),
       stamp=st.integers(0, 10**15))
def test_write_quantum_writes_the_record_of_quantum_frame(src: int, dst: int, payload: bytes, stamp: int) -> None:
    fused, plain = io.BytesIO(), io.BytesIO()
    PcapWriter(fused).write_quantum(stamp, src, dst, payload)
    PcapWriter(plain).write(stamp, quantum_frame(src, dst, payload))
    assert fused.getvalue() == plain.getvalue()


def test_checksums_that_fold_to_zero_and_to_all_ones() -> None:
    """Payloads chosen so the UDP sum is 0xFFFF (checksum 0, sent as 0xFFFF) or a multiple of 0xFFFF, and
    zero payloads (the only words summing to 0)."""
    src, sport, dst, dport = 3, 7772, 9, 7772
    base = reference_frame(src, sport, dst, dport, b"\0\0", 0)
    partial = base[40] * 256 + base[41]             # adding this word makes the sum 0xFFFF: checksum 0
    assert reference_frame(src, sport, dst, dport, partial.to_bytes(2, "big"), 0)[40:42] == b"\xff\xff"
    for word in (partial, partial - 1, partial + 1, 0xFFFF, 0):
        for payload in (word.to_bytes(2, "big"), word.to_bytes(2, "big") * 3, b"\0" * 7, b""):
            for ip_id in (0, 1, 0xFFFF, 0x10000):
                assert udp_frame(src, sport, dst, dport, payload, ip_id) == reference_frame(
                    src, sport, dst, dport, payload, ip_id)
                fused = io.BytesIO()                # and the network's one-call capture of the same frame
                PcapWriter(fused).write_udp(7, frame_template(src, sport, dst, dport), [ip_id & 0xFFFF], payload)
                assert read_pcap(fused.getvalue())[0][1] == reference_frame(src, sport, dst, dport, payload, ip_id)


def test_pcap_records_read_back() -> None:
    stream = io.BytesIO()
    writer = PcapWriter(stream)
    frames = [(5, udp_frame(1, 1, 2, 2, b"a")), (1_000_000_007, udp_frame(2, 2, 1, 1, b"bc"))]
    for stamp, frame in frames:
        writer.write(stamp, frame)
    assert writer.frames == 2
    assert [(stamp - 1_767_225_600 * 10**9, frame) for stamp, frame in read_pcap(stream.getvalue())] == frames



def test_the_longest_datagram_fits_the_snapshot_length() -> None:
    """A 65,507-byte UDP payload (IPv4's largest) is a 65,549-byte frame: a pcap whose header says snaplen
    65535 would hold a record longer than its own limit (which readers may reject or cut); ours says more."""
    frame = udp_frame(1, 7770, 2, 7770, bytes(range(256)) * 255 + bytes(227))
    assert len(frame) == 65_549
    stream = io.BytesIO()
    PcapWriter(stream).write(0, frame)
    data = stream.getvalue()
    snaplen = struct.unpack_from("<I", data, 16)[0]
    caplen, length = struct.unpack_from("<II", data, 24 + 8)
    assert caplen == length == len(frame) <= snaplen
    assert read_pcap(data)[0][1] == frame
