"""Run tshark with ``wireshark/qnetstack.lua`` and check its dissection against scapy's.

Reusable on any capture (e.g. one written by ``qnet run --pcap PATH``)::

    from tests.tshark_util import assert_matches_scapy, have_tshark
    if have_tshark():
        kinds = assert_matches_scapy(path)   # Counter of message kinds, e.g. kinds["OK_K"]

:func:`decode_with_tshark` gives one dict per frame:

* ``number`` (int), ``time_epoch`` (str, as tshark prints it), ``protocols`` (``frame.protocols``)
* ``layers``: ``[(proto, {abbrev: [value, ...]})]`` for the qnetstack protocols (``qhp``,
  ``qll``, ``egp``, ``qframe``, ``qns``, ``p4egp``, ``qnp``, ``qncp``) in dissection order; values
  are tshark's strings, a list because an abbreviation may occur more than once (a SETUP's
  route and QCaps: every ``qncp.node_id`` in order)
* ``experts``: ``[Expert(abbrev, message, severity, group)]`` anywhere in the frame
* ``malformed``: whether ``_ws.malformed`` occurs
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scapy.fields import ConditionalField
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import RawPcapReader

from protocols.common import ETHERTYPE_P4_EGP, ETHERTYPE_P4_QNP, QFRAME_ETHERTYPE
from protocols.packets.auth import SIZE as AUTH_SIZE
from protocols.packets.egp import MESSAGE_TYPES as EGP_TYPES
from protocols.packets.qncp_common import MESSAGE_TYPES as QNCP_TYPES
from protocols.packets.qtp import TYPES as QTP_TYPES

# Imported for their bind_layers: scapy must dissect what the Lua dissector dissects.
from protocols.packets.scapy_layers.auth import AuthTrailer, split_frame
from protocols.packets.scapy_layers.egp import EGP
from protocols.packets.scapy_layers.heralding import QHPBatch, QHPHerald
from protocols.packets.scapy_layers.linkservice import LLAck, LLCreate, LLErr, LLOkK, LLOkM, LLOkMB, LLUpward
from protocols.packets.scapy_layers.netservice import NSAck, NSCreate, NSErr, NSOkK, NSOkM, NSUpward
from protocols.packets.scapy_layers.qframe import QFrame
from protocols.packets.scapy_layers.qncp import QNCP_LAYERS
from protocols.packets.scapy_layers.qnp import P4Egp, P4Qnp
from protocols.packets.scapy_layers.qtp import QTP

LUA_SCRIPT = Path(__file__).resolve().parents[1] / "wireshark" / "qnetstack.lua"
PROTOCOLS = ("qhp", "qll", "egp", "qframe", "qns", "p4egp", "qnp", "qncp", "qtp", "qnetauth")
NO_TRAILER = ("-o", "qnetauth.trailer:FALSE")
"""tshark options for captures whose datagrams carry no authentication trailer (hand-made frames, runs with
``[security] authenticate = false``)."""

SEVERITY_CHAT = 0x00200000
SEVERITY_NOTE = 0x00400000
SEVERITY_WARN = 0x00600000
SEVERITY_ERROR = 0x00800000

# scapy layer class -> tshark protocol, and the message kind it carries
_PROTO_OF: dict[type[Packet], str] = {
    AuthTrailer: "qnetauth", QHPHerald: "qhp", QHPBatch: "qhp", QFrame: "qframe", EGP: "egp", LLCreate: "qll",
    LLUpward: "qll", LLAck: "qll", LLOkK: "qll", LLOkM: "qll", LLErr: "qll", LLOkMB: "qll",
    NSCreate: "qns", NSUpward: "qns", NSAck: "qns", NSOkK: "qns", NSOkM: "qns", NSErr: "qns",
    P4Egp: "p4egp", P4Qnp: "qnp", **dict.fromkeys(QNCP_LAYERS, "qncp"), QTP: "qtp",
}
_KIND_OF: dict[type[Packet], str] = {
    QHPHerald: "HERALD", QHPBatch: "BATCH", QFrame: "QFRAME", LLCreate: "CREATE", LLAck: "ACK", LLOkK: "OK_K",
    LLOkM: "OK_M", LLErr: "ERR", LLOkMB: "OK_MB", NSCreate: "NS_CREATE", NSAck: "NS_ACK", NSOkK: "NS_OK_K",
    NSOkM: "NS_OK_M", NSErr: "NS_ERR", P4Egp: "P4_EGP", P4Qnp: "TRACK", AuthTrailer: "AUTH_TRAILER", QTP: "QTP",
}


@dataclass(frozen=True)
class Expert:
    abbrev: str
    message: str
    severity: int
    group: int


class _Obj(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs: tshark repeats keys."""


REQUIRE = "QNET_REQUIRE_TSHARK"
"""Set (CI sets it to 1): a missing tshark is an error, not a reason to skip."""


class TsharkMissing(RuntimeError):
    """tshark is not on PATH though :data:`REQUIRE` is set."""


def have_tshark() -> bool:
    """Whether tshark is on PATH, for ``skipif(not have_tshark())`` and ``if have_tshark():``. With
    QNET_REQUIRE_TSHARK set it never answers no: it raises :class:`TsharkMissing`, so that a test that would have
    skipped (or left out its tshark half) fails instead; a ``skipif`` is evaluated as its module is collected, so
    there the whole pytest session stops with that one error before any test runs (loud, which is the point)."""
    if shutil.which("tshark") is not None:
        return True
    if os.environ.get(REQUIRE):
        raise TsharkMissing(f"{REQUIRE} is set but tshark is not on PATH")
    return False


_OUTPUTS: OrderedDict[tuple[str, bytes, tuple[str, ...]], str] = OrderedDict()
"""tshark's output by (dissector, capture bytes, options): the tests of a module decode one capture several
ways (scapy's fields, the codec's, the Info column) and each tshark start costs ~0.5 s of CPU; the few most
recent outputs under :data:`_CACHED_BYTES` are kept."""
_CACHED_BYTES = 8_000_000


def run_tshark(pcap_path: str | Path, *args: str, timeout: float = 120) -> str:
    """``tshark -n -X lua_script:<qnetstack.lua> -r PCAP ARGS``; its stdout. Fails on Lua errors. The same
    bytes with the same options are dissected once (by content: a rewritten file is dissected again)."""
    exe = shutil.which("tshark")
    if exe is None:
        raise RuntimeError("tshark is not on PATH")
    key = (LUA_SCRIPT.read_text(), hashlib.sha256(Path(pcap_path).read_bytes()).digest(), args)
    if key in _OUTPUTS:
        _OUTPUTS.move_to_end(key)
        return _OUTPUTS[key]
    cmd = [exe, "-n", "-X", f"lua_script:{LUA_SCRIPT}", "-r", str(pcap_path), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    problems = [line for line in proc.stderr.splitlines()
                if line.startswith("tshark:") or "Lua" in line]
    if proc.returncode != 0 or problems:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    if len(proc.stdout) < _CACHED_BYTES:
        _OUTPUTS[key] = proc.stdout
        while len(_OUTPUTS) > 6:
            _OUTPUTS.popitem(last=False)
    return proc.stdout


def _get(obj: _Obj, key: str) -> Any:
    return next((v for k, v in obj if k == key), None)


def _expert(value: _Obj) -> Expert:
    abbrev = next((k for k, _ in value if not k.startswith("_ws.expert.")), "")
    return Expert(abbrev, _get(value, "_ws.expert.message") or "", int(_get(value, "_ws.expert.severity") or 0),
                  int(_get(value, "_ws.expert.group") or 0))


def _scan(obj: list[Any], prefix: str | None, fields: dict[str, list[str]], experts: list[Expert]) -> bool:
    """One pass over every (key, value) pair nested in ``obj``: the string values of keys starting with
    ``prefix`` go to ``fields``, every ``_ws.expert`` object to ``experts`` (in document order); True if a
    ``_ws.malformed`` key occurs. (Three generator walks of the same tree took ~2 ms a frame.)"""
    malformed = False
    if isinstance(obj, _Obj):
        for key, value in obj:
            if key == "_ws.expert" and isinstance(value, _Obj):
                experts.append(_expert(value))
            elif key == "_ws.malformed":
                malformed = True
            if isinstance(value, list):
                malformed = _scan(value, prefix, fields, experts) or malformed
            elif prefix is not None and isinstance(value, str) and key.startswith(prefix):
                fields.setdefault(key, []).append(value)
    else:
        for item in obj:
            if isinstance(item, list):
                malformed = _scan(item, prefix, fields, experts) or malformed
    return malformed


def decode_with_tshark(pcap_path: str | Path, *args: str) -> list[dict[str, Any]]:
    """tshark's dissection of every frame of the capture (see the module docstring); ``args`` are more
    tshark options (e.g. ``-o qnetmp.base_port:40000``)."""
    packets = json.loads(run_tshark(pcap_path, *args, "-T", "json"), object_pairs_hook=_Obj)
    frames = []
    for packet in packets:
        layers = _get(_get(packet, "_source"), "layers")
        frame = _get(layers, "frame")
        found: list[tuple[str, dict[str, list[str]]]] = []
        experts: list[Expert] = []
        malformed = False
        for key, value in layers:
            fields: dict[str, list[str]] = {}
            if key == "_ws.expert" and isinstance(value, _Obj):
                experts.append(_expert(value))
            elif key == "_ws.malformed":
                malformed = True
            if isinstance(value, list):
                malformed = _scan(value, key + "." if key in PROTOCOLS else None, fields, experts) or malformed
            if key in PROTOCOLS:
                found.append((key, fields))
        frames.append({
            "number": int(_get(frame, "frame.number")),
            "time_epoch": _get(frame, "frame.time_epoch"),
            "protocols": _get(frame, "frame.protocols"),
            "layers": found,
            "experts": experts,
            "malformed": malformed,
        })
    return frames


def tshark_columns(pcap_path: str | Path, *fields: str, options: tuple[str, ...] = ()) -> list[list[str]]:
    """``-T fields`` output: one list of the requested field values per frame (``options``: more tshark options)."""
    out = run_tshark(pcap_path, *options, "-T", "fields", "-E", "separator=/t",
                     *(arg for f in fields for arg in ("-e", f)))
    return [line.split("\t") for line in out.splitlines()]


def read_frames(pcap_path: str | Path) -> list[bytes]:
    """The frame bytes of a pcap (microsecond or nanosecond)."""
    with RawPcapReader(str(pcap_path)) as reader:
        return [bytes(data) for data, _meta in reader]


_NOT_UDP = {QFRAME_ETHERTYPE, ETHERTYPE_P4_EGP, ETHERTYPE_P4_QNP}


def _split(frame: bytes) -> tuple[Packet, AuthTrailer | None]:
    """:func:`~protocols.packets.scapy_layers.auth.split_frame`, with one scapy dissection instead of two where
    the headers say what it would find: a QFRAME or P4 frame, or an IPv4/UDP frame whose lengths agree (its
    UDP payload is the frame's tail; the trailer, when the payload can hold one, its last bytes)."""
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype in _NOT_UDP:
        return Ether(frame), None
    if (ethertype == 0x0800 and len(frame) >= 42 and frame[14] == 0x45 and frame[23] == 17
            and int.from_bytes(frame[20:22], "big") & 0x3FFF == 0
            and int.from_bytes(frame[16:18], "big") == len(frame) - 14
            and int.from_bytes(frame[38:40], "big") == len(frame) - 34):
        if len(frame) - 42 < AUTH_SIZE:
            return Ether(frame), None
        return Ether(frame[:-AUTH_SIZE]), AuthTrailer(frame[-AUTH_SIZE:])
    return split_frame(frame)


def scapy_layers(frame: bytes, trailer: bool = True) -> list[tuple[str, Packet]]:
    """The qnetstack layers scapy finds in an Ethernet frame, as (tshark protocol, layer). A message
    embedded in a field (a SETUP's CREATE) is a layer of its own right after its container, as the
    Lua dissector shows it; with ``trailer``, a UDP datagram's authentication trailer is the last."""
    found = []
    layer: Packet | None
    layer, auth = _split(frame) if trailer else (Ether(frame), None)
    while layer is not None:
        proto = _PROTO_OF.get(type(layer))
        if proto is not None:
            found.append((proto, layer))
            for fdesc in layer.fields_desc:
                inner = layer.getfieldval(fdesc.name)
                if isinstance(inner, Packet) and type(inner) in _PROTO_OF:
                    found.append((_PROTO_OF[type(inner)], inner))
        layer = layer.payload if layer.payload else None
    if auth is not None:
        found.append(("qnetauth", auth))
    return found


def message_kind(layer: Packet) -> str:
    if isinstance(layer, EGP):
        return EGP_TYPES.get(layer.msg_type, f"EGP_{layer.msg_type}")
    if isinstance(layer, QNCP_LAYERS):
        return "QNCP_" + QNCP_TYPES.get(layer.msg_type, str(layer.msg_type))
    if isinstance(layer, QTP):
        return "QTP_" + QTP_TYPES.get(layer.msg_type, str(layer.msg_type))
    return _KIND_OF.get(type(layer), type(layer).__name__)


def scapy_values(proto: str, layer: Packet) -> dict[str, list[int]]:
    """Every field of a layer as ``{"<proto>.<name>": [value, ...]}``: list fields and the fields of
    sub-packets in lists (a SETUP's QCaps and their options) flattened in wire order, absent
    conditional fields and embedded layers (a SETUP's CREATE) left out."""
    values: dict[str, list[int]] = {}

    def walk(pkt: Packet) -> None:
        for fdesc in pkt.fields_desc:
            if isinstance(fdesc, ConditionalField) and not fdesc._evalcond(pkt):
                continue
            value = pkt.getfieldval(fdesc.name)
            if isinstance(value, Packet):
                continue
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, Packet):
                        walk(item)
                    else:
                        values.setdefault(f"{proto}.{fdesc.name}", []).append(item)
                continue
            values.setdefault(f"{proto}.{fdesc.name}", []).append(value)

    walk(layer)
    return values


def field_mismatches(decoded: dict[str, Any], frame: bytes, trailer: bool = True,
                     ours: list[tuple[str, Packet]] | None = None) -> list[str]:
    """Where tshark's dissection of ``frame`` disagrees with scapy's (empty if none); ``ours``: scapy's
    layers of ``frame`` if the caller has them already."""
    if ours is None:
        ours = scapy_layers(frame, trailer)
    theirs = decoded["layers"]
    n = decoded["number"]
    if [p for p, _ in ours] != [p for p, _ in theirs]:
        return [f"frame {n}: scapy layers {[p for p, _ in ours]}, tshark {[p for p, _ in theirs]}"]
    problems = []
    for (proto, layer), (_, fields) in zip(ours, theirs, strict=True):
        for abbrev, want in scapy_values(proto, layer).items():
            got = fields.get(abbrev)
            if got is None or len(got) != len(want):
                problems.append(f"frame {n}: {abbrev} is {got!r} in tshark, {want!r} in scapy")
            elif [_number(g, w) for g, w in zip(got, want, strict=True)] != want:
                problems.append(f"frame {n}: {abbrev} = {got} in tshark, {want!r} in scapy")
    return problems


def _number(shown: str, like: Any) -> Any:
    """tshark's text of a value as scapy holds it: bytes (hex, maybe colon-separated) or an integer."""
    return bytes.fromhex(shown.replace(":", "")) if isinstance(like, bytes) else int(shown, 0)


def assert_matches_scapy(pcap_path: str | Path, trailer: bool = True) -> Counter[str]:
    """Check every qnetstack message of a capture (the protocols of :data:`PROTOCOLS`): tshark's
    dissection is clean (no warning or error expert info, nothing malformed) and every scapy field
    has tshark field ``<proto>.<name>`` with the same numeric values. Returns the count of each
    message kind (HERALD, QFRAME, CREATE, ACK, OK_K, OK_M, ERR, REQ, REQ_ACK, ..., NS_CREATE, ...,
    P4_EGP, TRACK, QNCP_SETUP, ..., QNCP_TEARDOWN_ACK)."""
    decoded = decode_with_tshark(pcap_path, *(() if trailer else NO_TRAILER))
    frames = read_frames(pcap_path)
    assert len(decoded) == len(frames), f"tshark saw {len(decoded)} frames, the pcap has {len(frames)}"
    problems: list[str] = []
    kinds: Counter[str] = Counter()
    for dec, frame in zip(decoded, frames, strict=True):
        bad = [e for e in dec["experts"] if e.severity >= SEVERITY_WARN]
        if bad or dec["malformed"]:
            problems.append(f"frame {dec['number']}: malformed={dec['malformed']} experts={bad}")
        ours = scapy_layers(frame, trailer)
        problems.extend(field_mismatches(dec, frame, trailer, ours))
        kinds.update(message_kind(layer) for proto, layer in ours if proto != "qnetauth")
    assert not problems, "\n".join(problems[:50])
    return kinds


def tshark_message_counts(pcap_path: str | Path) -> Counter[tuple[str, str]]:
    """Every frame's (innermost protocol, message name) as tshark's own decoding shows them (``frame.protocols``
    and the first word of the Info column), after checking that no frame is malformed or has a warning or
    error: a cheap whole-capture check where :func:`assert_matches_scapy` would take minutes."""
    rows = tshark_columns(pcap_path, "frame.number", "frame.protocols", "_ws.col.Info", "_ws.malformed",
                          "_ws.expert.severity")
    counts: Counter[tuple[str, str]] = Counter()
    for number, protocols, info, malformed, severities in rows:
        bad = [s for s in severities.split(",") if s and int(s, 0) >= SEVERITY_WARN]
        assert not malformed and not bad, f"frame {number}: malformed={malformed!r} severities={severities}"
        inner = [p for p in protocols.split(":") if p in PROTOCOLS and p != "qnetauth"]
        counts[(inner[-1] if inner else protocols.split(":")[-1], info.split(" ", 1)[0])] += 1
    return counts


def write_sample(pcap_path: str | Path, sample_path: str | Path, first: int, every: int) -> int:
    """Copy the first ``first`` records of a pcap and every ``every``-th after them to ``sample_path``;
    returns how many were copied."""
    data = Path(pcap_path).read_bytes()
    out, offset, index, kept = [data[:24]], 24, 0, 0
    while offset < len(data):
        end = offset + 16 + int.from_bytes(data[offset + 8:offset + 12], "little")
        if index < first or index % every == 0:
            out.append(data[offset:end])
            kept += 1
        offset, index = end, index + 1
    Path(sample_path).write_bytes(b"".join(out))
    return kept
