"""Sealing and opening datagrams: the sans-IO core of authenticated classical control.

:meth:`Authenticator.seal` appends the trailer of :mod:`protocols.packets.auth` (sequence number and
ICV) to a payload from node ``sender``; :meth:`Authenticator.open` checks one that arrived at node
``receiver`` and returns its payload, or the :class:`Drop` reason it is refused:

* ``no_tag``: too short to carry a trailer, or the trailer is not for this node (no security association);
* ``wrong_source``: the trailer names another sender than the node the datagram came from (or it came from
  no node of the run);
* ``replayed``: a sequence number already accepted, or older than the anti-replay window;
* ``bad_tag``: the ICV does not verify (forged or altered).

The checks run in that order (the window before the ICV, RFC 4303 §3.4.3); the window moves only for a
datagram whose ICV verified. Keys are per ordered node pair (:func:`protocols.security.keys.pair_key`).

In one process the emulated network seals and opens the same datagram: :meth:`Authenticator.seal_local` seals
and remembers what it sealed, and :meth:`Authenticator.open` of those very bytes, between the same ports, knows
their ICV is the one it computed without computing it again. Every other check runs as before, and any other
bytes (a forged, altered or misdirected datagram, anything from a socket) have their ICV verified.

>>> a = Authenticator(bytes(32))
>>> wire = a.seal(1, 2, 7770, 7770, b"herald")
>>> a.open(1, 2, 7770, 7770, wire), a.open(1, 2, 7770, 7770, wire)
(b'herald', <Drop.REPLAYED: 'replayed'>)
>>> a.open(3, 2, 7770, 7770, a.seal(1, 2, 7770, 7770, b"x"))
<Drop.WRONG_SOURCE: 'wrong_source'>
"""

from __future__ import annotations

import enum
import struct
from _hashlib import HMAC, compare_digest, hmac_new

from protocols.packets.auth import ICV_BYTES, PSEUDO_HEADER, SIZE
from protocols.security.keys import check_secret, pair_key
from protocols.security.replay import DEFAULT_SIZE, ReplayWindow

_TRAILER_HEAD = struct.Struct("!HHQ")
_U64 = (1 << 64) - 1
SEALED_MAX = 1 << 14
"""How many datagrams :meth:`Authenticator.seal_local` remembers (the oldest go first: a lost datagram's record
goes once this many have been sealed since; a datagram opened after its record went is verified in full)."""


class Drop(enum.Enum):
    """Why a datagram was refused (the report's per-node counters have these names)."""

    NO_TAG = "no_tag"
    BAD_TAG = "bad_tag"
    REPLAYED = "replayed"
    WRONG_SOURCE = "wrong_source"


class SequenceExhausted(RuntimeError):
    """A security association sent 2^64 - 1 datagrams: it must be rekeyed (RFC 4303 §3.3.3)."""


class Authenticator:
    """Keys, send sequence numbers and anti-replay windows for every ordered node pair it meets."""

    __slots__ = ("_macs", "_next", "_sealed", "_secret", "_windows", "window")

    def __init__(self, secret: bytes, window: int = DEFAULT_SIZE) -> None:
        self._secret = check_secret(secret)
        self.window = window
        ReplayWindow(window)        # refuse a bad width now, not at the first datagram
        self._macs: dict[tuple[int, int], HMAC] = {}
        self._next: dict[tuple[int, int], int] = {}
        self._windows: dict[tuple[int, int], ReplayWindow] = {}
        self._sealed: dict[tuple[int, int, int], tuple[bytes, int, int]] = {}
        """What :meth:`seal_local` sealed and no :meth:`open` has taken yet: (sender, receiver, sequence number) ->
        (the datagram, its source port, its destination port)."""

    def _mac(self, sender: int, receiver: int) -> HMAC:
        """A fresh HMAC-SHA256 under the pair's key (OpenSSL's, keyed once per pair and copied: all in C)."""
        key = (sender, receiver)
        mac = self._macs.get(key)
        if mac is None:
            mac = self._macs[key] = hmac_new(pair_key(self._secret, sender, receiver), digestmod="sha256")
        return mac.copy()

    def icv(self, sender: int, receiver: int, sport: int, dport: int, seq: int, payload: bytes) -> bytes:
        """HMAC-SHA256-128 of the pseudo-header and the payload under the pair's key."""
        mac = self._mac(sender, receiver)
        mac.update(PSEUDO_HEADER.pack(sender, receiver, sport, dport, seq) + payload)
        return mac.digest()[:ICV_BYTES]

    def seal(self, sender: int, receiver: int, sport: int, dport: int, payload: bytes) -> bytes:
        """``payload`` with its trailer: the pair's next sequence number (from 1) and the ICV."""
        key = (sender, receiver)
        seq = self._next.get(key, 1)
        if seq > _U64:
            raise SequenceExhausted(f"node {sender} has sent 2^64 - 1 datagrams to node {receiver}")
        self._next[key] = seq + 1
        keyed = self._macs.get(key)
        mac = keyed.copy() if keyed is not None else self._mac(sender, receiver)
        mac.update(PSEUDO_HEADER.pack(sender, receiver, sport, dport, seq))     # as icv(), without copying
        mac.update(payload)                                                     # the payload (a block's is ~50 kB)
        return payload + _TRAILER_HEAD.pack(sender, receiver, seq) + mac.digest()[:ICV_BYTES]

    def open(self, sender: int | None, receiver: int, sport: int, dport: int, datagram: bytes) -> bytes | Drop:
        """The payload of a datagram from node ``sender`` (None: not a node of the run) to node ``receiver``,
        or why it is refused."""
        if len(datagram) < SIZE:
            return Drop.NO_TAG
        end = len(datagram) - SIZE
        claimed, to, seq = _TRAILER_HEAD.unpack_from(datagram, end)
        if to != receiver:
            return Drop.NO_TAG
        if sender is None or claimed != sender:
            return Drop.WRONG_SOURCE
        key = (sender, receiver)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = ReplayWindow(self.window)
        if not window.check(seq):
            return Drop.REPLAYED
        payload = datagram[:end]
        sealed = self._sealed
        if not sealed or sealed.pop((sender, receiver, seq), None) != (datagram, sport, dport):
            keyed = self._macs.get(key)         # not the bytes seal_local made for these ports: verify the ICV
            mac = keyed.copy() if keyed is not None else self._mac(sender, receiver)
            mac.update(PSEUDO_HEADER.pack(sender, receiver, sport, dport, seq))     # as icv(), without copying
            mac.update(payload)                                                     # the payload (a block's ~50 kB)
            if not compare_digest(mac.digest()[:ICV_BYTES], datagram[end + _TRAILER_HEAD.size:]):
                return Drop.BAD_TAG
        window.accept(seq)
        return payload

    def seal_local(self, sender: int, receiver: int, sport: int, dport: int, payload: bytes) -> bytes:
        """:meth:`seal`, remembering the result: :meth:`open` of the same bytes between the same ports (the same
        process's receiver) then knows their ICV verifies without computing it a second time."""
        key = (sender, receiver)                # seal(), written out: it runs for every datagram in-process
        seq = self._next.get(key, 1)
        if seq > _U64:
            raise SequenceExhausted(f"node {sender} has sent 2^64 - 1 datagrams to node {receiver}")
        self._next[key] = seq + 1
        keyed = self._macs.get(key)
        mac = keyed.copy() if keyed is not None else self._mac(sender, receiver)
        mac.update(PSEUDO_HEADER.pack(sender, receiver, sport, dport, seq) + payload)     # as icv()
        wire = payload + _TRAILER_HEAD.pack(sender, receiver, seq) + mac.digest()[:ICV_BYTES]
        sealed = self._sealed
        if len(sealed) >= SEALED_MAX:
            del sealed[next(iter(sealed))]
        sealed[sender, receiver, seq] = (wire, sport, dport)
        return wire
