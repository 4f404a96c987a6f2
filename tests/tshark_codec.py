"""The network layer's messages in a capture: tshark with ``wireshark/qnetstack.lua`` against the runtime's
own struct codecs (not scapy) on the same bytes.

:func:`assert_network_matches_codec` decodes every TRACK (UDP 7774, raw EtherType 0x4401/0x4402), QNCP
message (UDP 7775) and network-service message (UDP 7773, the side that is not the link layer's 7771) with
``protocols.packets`` (:class:`~protocols.packets.qnp.TrackFrame`, :func:`~protocols.packets.qncp.decode_qncp`,
``linkservice.Create`` / ``decode_upward``) and checks that each attribute of the decoded message, nested
capabilities, options, rules and route included, is the tshark field ``<proto>.<attribute>`` with the same
values in wire order (the codec's Bell indices converted to P4's encoding for p4egp/qnp). A SETUP's embedded
CREATE is compared with the ``qll`` layer tshark shows after it.
"""

from __future__ import annotations

import dataclasses
import struct
from collections import Counter
from pathlib import Path
from typing import Any

from protocols.common import (
    ETHERTYPE_P4_EGP,
    ETHERTYPE_P4_QNP,
    NETWORK_SERVICE_PORT,
    QNCP_PORT,
    QNP_PORT,
)
from protocols.packets import auth, linkservice
from protocols.packets.qcap_list import QCaps
from protocols.packets.qncp import Setup, decode_qncp
from protocols.packets.qncp_common import CREDIT_TYPES, MESSAGE_TYPES
from protocols.packets.qnp import EgpHeader, TrackFrame, to_p4
from tests.tshark_util import NO_TRAILER, decode_with_tshark, read_frames

_IPV4, _UDP = 0x0800, 17
_RENAMED = {"route": "route_node"}
"""Codec attribute -> tshark field name, where they differ (the rest are named alike)."""
_UPWARD_KINDS = {linkservice.Ack: "NS_ACK", linkservice.OkKeep: "NS_OK_K", linkservice.OkMeasure: "NS_OK_M",
                 linkservice.Err: "NS_ERR"}


def _flatten(message: Any, proto: str, into: dict[str, list[int]]) -> dict[str, list[int]]:
    """Every int attribute of a codec dataclass, nested dataclasses and tuples walked in wire order."""
    for f in dataclasses.fields(message):
        value = getattr(message, f.name)
        if isinstance(value, linkservice.Create):
            continue                        # a SETUP's CREATE: its own layer (qll)
        if dataclasses.is_dataclass(value):
            _flatten(value, proto, into)
        elif isinstance(value, tuple | QCaps):         # a decoded SETUP's QCaps: a sequence, not a tuple
            for item in value:
                if dataclasses.is_dataclass(item):
                    _flatten(item, proto, into)
                else:
                    into.setdefault(f"{proto}.{_RENAMED.get(f.name, f.name)}", []).append(item)
        else:
            into.setdefault(f"{proto}.{_RENAMED.get(f.name, f.name)}", []).append(value)
    return into


def _track_layers(egp: EgpHeader | TrackFrame) -> list[tuple[str, dict[str, list[int]]]]:
    layers = [("p4egp", {"p4egp.link_label": [egp.link_label], "p4egp.pair_seq": [egp.pair_seq],
                         "p4egp.bell_index": [to_p4(egp.link_bell)]})]
    if isinstance(egp, TrackFrame):
        layers.append(("qnp", {"qnp.circuit_id": [egp.circuit_id], "qnp.pair_id": [egp.pair_id],
                               "qnp.bell_index": [to_p4(egp.bell)]}))
    return layers


def _udp(frame: bytes, trailer: bool) -> tuple[int, int, bytes] | None:
    if len(frame) < 14 or int.from_bytes(frame[12:14], "big") != _IPV4 or frame[23] != _UDP:
        return None
    ihl = (frame[14] & 0x0F) * 4
    sport, dport, length = struct.unpack_from("!HHH", frame, 14 + ihl)
    start = 14 + ihl + 8
    return sport, dport, frame[start:start + length - 8]


def codec_layers(frame: bytes, trailer: bool = True) -> tuple[str, list[tuple[str, dict[str, list[int]]]]] | None:
    """(message kind, [(tshark protocol, expected fields)]) of a frame holding a network-layer message, as
    the struct codecs decode it (a UDP payload without its authentication trailer when ``trailer``); None
    for any other frame. Raises ParseError on bytes the codec refuses."""
    ethertype = int.from_bytes(frame[12:14], "big") if len(frame) >= 14 else None
    if ethertype == ETHERTYPE_P4_QNP:
        return "TRACK", _track_layers(TrackFrame.decode(frame[14:30]))
    if ethertype == ETHERTYPE_P4_EGP:
        return "P4_EGP", _track_layers(EgpHeader.decode(frame[14:22]))
    udp = _udp(frame, trailer)
    if udp is None:
        return None
    sport, dport, payload = udp
    if not trailer:
        return _udp_layers(sport, dport, payload)
    payload, sealed = auth.split(payload)
    found = _udp_layers(sport, dport, payload)
    auth_layer = ("qnetauth", {"qnetauth.sender_id": [sealed.sender], "qnetauth.receiver_id": [sealed.receiver],
                               "qnetauth.seq": [sealed.seq]})
    return None if found is None else (found[0], [*found[1], auth_layer])


def _udp_layers(sport: int, dport: int, payload: bytes) -> tuple[str, list[tuple[str, dict[str, list[int]]]]] | None:
    port = min(sport, dport)                # tshark tries the lower port first
    if port == QNP_PORT:
        return "TRACK", _track_layers(TrackFrame.decode(payload))
    if port == QNCP_PORT:
        message = decode_qncp(payload)
        layers = [("qncp", _flatten(message, "qncp", {}))]
        if message.msg_type not in CREDIT_TYPES and "qncp.credit" in layers[0][1]:
            assert layers[0][1].pop("qncp.credit") == [0]      # a Reserved byte outside CREDIT
        if isinstance(message, Setup):
            layers.append(("qll", _flatten(message.create, "qll", {})))
        return "QNCP_" + MESSAGE_TYPES[message.msg_type], layers
    if port == NETWORK_SERVICE_PORT:
        if dport == NETWORK_SERVICE_PORT:
            return "NS_CREATE", [("qns", _flatten(linkservice.Create.decode(payload), "qns", {}))]
        upward = linkservice.decode_upward(payload)
        return _UPWARD_KINDS[type(upward)], [("qns", _flatten(upward, "qns", {}))]
    return None


def codec_mismatches(decoded: dict[str, Any], frame: bytes, trailer: bool = True) -> tuple[str | None, list[str]]:
    """(kind, problems): where tshark's dissection of a network-layer frame differs from the codec's."""
    found = codec_layers(frame, trailer)
    if found is None:
        return None, []
    kind, layers = found
    n = decoded["number"]
    theirs = decoded["layers"]
    if [p for p, _ in layers] != [p for p, _ in theirs]:
        return kind, [f"frame {n} {kind}: codec layers {[p for p, _ in layers]}, tshark {[p for p, _ in theirs]}"]
    problems = []
    for (_, want_fields), (_, fields) in zip(layers, theirs, strict=True):
        for abbrev, want in want_fields.items():
            got = fields.get(abbrev)
            if got is None or [int(g, 0) for g in got] != want:
                problems.append(f"frame {n} {kind}: {abbrev} is {got!r} in tshark, {want!r} in the codec")
    return kind, problems


def assert_network_matches_codec(pcap_path: str | Path, trailer: bool = True) -> Counter[str]:
    """Check every network-layer message of a capture against the struct codecs (module docstring); the
    count of each kind (TRACK, P4_EGP, QNCP_SETUP, ..., NS_CREATE, NS_ACK, NS_OK_K, NS_OK_M, NS_ERR).
    ``trailer``: the capture's datagrams carry the authentication trailer (a run's do, hand-made ones not)."""
    decoded = decode_with_tshark(pcap_path, *(() if trailer else NO_TRAILER))
    frames = read_frames(pcap_path)
    assert len(decoded) == len(frames), f"tshark saw {len(decoded)} frames, the pcap has {len(frames)}"
    kinds: Counter[str] = Counter()
    problems: list[str] = []
    for dec, frame in zip(decoded, frames, strict=True):
        kind, wrong = codec_mismatches(dec, frame, trailer)
        if kind is not None:
            kinds[kind] += 1
            problems.extend(wrong)
    assert not problems, "\n".join(problems[:50])
    return kinds
