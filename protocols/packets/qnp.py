"""TRACK: the P4 EGP and QNP headers of QuTech's v1quantum data plane (UDP port 7774).

A TRACK is exactly the 16 bytes v1quantum sends as an EtherType 0x4402 frame: its EGP
header (``egp_t``) followed by its QNP header (``qnp_t``), as declared in
``v1quantum/protocol/data_plane/p4/headers.p4`` of github.com/QuTech-Delft/v1quantum. We
carry them as the whole payload of a UDP datagram to port 7774 (``docs/wire.md`` §9.2); the
dissectors also read raw 0x4401 (EGP only) and 0x4402 frames::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          Link Label           |         Pair Sequence         |  EGP (egp_t)
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |BI |                       Reserved                            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          Circuit ID           |            Pair ID            |  QNP (qnp_t)
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |BI |                       Reserved                            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

The Bell index (BI) on the wire is P4's ``x << 1 | z`` (00 Φ+, 01 Φ−, 10 Ψ+, 11 Ψ−); the
rest of qnetstack uses ``x | z << 1`` (:class:`protocols.common.BellState`). The two
differ by swapping the bits, so :func:`to_p4` is its own inverse and commutes with XOR:
the tracking rule ``out = in ⊕ swap ⊕ egp_out`` reads the same in both encodings. The
codecs here take and return **our** encoding and convert at the wire; the scapy layers
show the wire value.

>>> t = TrackFrame(link_label=0x8001, pair_seq=7, link_bell=1, circuit_id=0x0101, pair_id=7, bell=2)
>>> t.encode().hex()
'80010007800000000101000740000000'
>>> TrackFrame.decode(t.encode()) == t
True
>>> [to_p4(b) for b in range(4)]
[0, 2, 1, 3]
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.common import ParseError
from protocols.fastinit import fast_init, fast_new

P4_BELL_INDEX = {0b00: "PHI_PLUS", 0b01: "PHI_MINUS", 0b10: "PSI_PLUS", 0b11: "PSI_MINUS"}
"""P4's Bell-index encoding (v1quantum ``processor.py``: ``V1QuantumBellIndex``), by our state names."""

_EGP = struct.Struct("!HHI")
_TRACK = struct.Struct("!HHIHHI")
EGP_SIZE = _EGP.size
TRACK_SIZE = _TRACK.size
_BELL_SHIFT = 30  # the 2-bit index is the top of the header's second 32-bit word


def encode_track(link_label: int, pair_seq: int, link_bell: int, circuit_id: int, pair_id: int, bell: int) -> bytes:
    """The bytes of ``TrackFrame(...)``'s encoding, without building the frame (a TRACK sent, one a link pair).

    >>> encode_track(0x8001, 7, 1, 0x0101, 7, 2) == TrackFrame(0x8001, 7, 1, 0x0101, 7, 2).encode()
    True
    """
    return _TRACK.pack(link_label, pair_seq, _SWAPPED[link_bell & 3] << _BELL_SHIFT, circuit_id, pair_id,
                       _SWAPPED[bell & 3] << _BELL_SHIFT)


def to_p4(bell: int) -> int:
    """Our Bell index ``x | z << 1`` as P4's ``x << 1 | z``."""
    return (bell & 1) << 1 | (bell >> 1 & 1)


def from_p4(p4_bell: int) -> int:
    """P4's Bell index ``x << 1 | z`` as ours ``x | z << 1`` (the same bit swap)."""
    return (p4_bell & 1) << 1 | (p4_bell >> 1 & 1)


_SWAPPED = tuple(to_p4(bell) for bell in range(4))
"""``to_p4`` (and ``from_p4``) of 0..3 as a table: the codecs' per-TRACK conversions without calls."""


@fast_init
@dataclass(frozen=True, slots=True)
class EgpHeader:
    """The 8-byte P4 EGP header alone (a v1quantum station's 0x4401 frame); Bell state in our encoding."""

    link_label: int
    pair_seq: int
    link_bell: int

    def encode(self) -> bytes:
        return _EGP.pack(self.link_label, self.pair_seq, to_p4(self.link_bell) << _BELL_SHIFT)

    @classmethod
    def decode(cls, data: bytes) -> EgpHeader:
        if len(data) != EGP_SIZE:
            raise ParseError(f"P4 EGP header is {EGP_SIZE} bytes, got {len(data)}")
        label, seq, word = _EGP.unpack(data)
        return cls(label, seq, from_p4(word >> _BELL_SHIFT))


@fast_init
@dataclass(frozen=True, slots=True)
class TrackFrame:
    """A TRACK (fast codec). ``link_bell`` is the hop's heralded Bell state and ``bell`` the state
    accumulated so far along the circuit, both in our encoding (:class:`protocols.common.BellState`).

    ``link_label``, ``pair_seq``, ``link_bell``: the EGP header of the link the datagram travels
    over (the label is the hop's link-layer Purpose ID, the pair its link OK's Sequence Number and
    Bell State). ``circuit_id``, ``pair_id``, ``bell``: the QNP header (``pair_id`` is the head's
    hop-1 ``pair_seq``, set by the head and never changed). Reserved bits are sent as 0 and
    ignored on receipt."""

    link_label: int
    pair_seq: int
    link_bell: int
    circuit_id: int
    pair_id: int
    bell: int

    def encode(self) -> bytes:
        return encode_track(self.link_label, self.pair_seq, self.link_bell, self.circuit_id, self.pair_id, self.bell)

    @classmethod
    def decode(cls, data: bytes) -> TrackFrame:
        return decode_track(data)

    @property
    def egp(self) -> EgpHeader:
        return EgpHeader(self.link_label, self.pair_seq, self.link_bell)


_new_track = fast_new(TrackFrame)


def decode_track(data: bytes) -> TrackFrame:
    """``TrackFrame.decode(data)``, the frame built without calling the class (a TRACK received, one a link pair).

    >>> t = TrackFrame(0x8001, 7, 1, 0x0101, 7, 2)
    >>> decode_track(t.encode()) == t, type(decode_track(t.encode())) is TrackFrame
    (True, True)
    """
    if len(data) != TRACK_SIZE:
        raise ParseError(f"TRACK is {TRACK_SIZE} bytes, got {len(data)}")
    label, seq, egp_word, circuit, pair_id, qnp_word = _TRACK.unpack(data)
    return _new_track(label, seq, _SWAPPED[egp_word >> _BELL_SHIFT], circuit, pair_id,
                      _SWAPPED[qnp_word >> _BELL_SHIFT])
