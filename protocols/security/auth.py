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

In one process the emulated network seals and opens the same datagram: its :class:`LocalChannel` per socket
pair (:meth:`Authenticator.local`) seals as :meth:`Authenticator.seal` does, and at the receiver only the
anti-replay window can refuse those very bytes (:meth:`LocalChannel.accept`). :meth:`Authenticator.seal_local`
seals and remembers what it sealed, and :meth:`Authenticator.open` of those very bytes, between the same ports,
knows their ICV is the one it computed without computing it again. Every other check runs as before, and any
other bytes (a forged, altered or misdirected datagram, anything from a socket) have their ICV verified.

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
from _hashlib import HASH as _Hash
from _hashlib import compare_digest, openssl_sha256

from protocols.packets.auth import ICV_BYTES, PSEUDO_HEADER, SIZE
from protocols.security.keys import pair_key_from, pair_prk
from protocols.security.replay import DEFAULT_SIZE, ReplayWindow

_TRAILER_HEAD = struct.Struct("!HHQ")
_U64 = (1 << 64) - 1
_BLOCK = 64
"""SHA-256's block size, in bytes: HMAC pads its key to it."""
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


def _pads(key: bytes) -> tuple[_Hash, _Hash]:
    """SHA-256 after HMAC's inner and outer padded keys (RFC 2104): HMAC(key, m) is ``outer`` updated with the
    digest of ``inner`` updated with ``m``. Copying two hash states costs less than copying OpenSSL's HMAC."""
    if len(key) > _BLOCK:
        key = openssl_sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return openssl_sha256(key.translate(_XOR_IPAD)), openssl_sha256(key.translate(_XOR_OPAD))


_XOR_IPAD = bytes(byte ^ 0x36 for byte in range(256))
"""Each byte XOR HMAC's ipad, as a ``bytes.translate`` table (RFC 2104's padded key in one C call)."""
_XOR_OPAD = bytes(byte ^ 0x5C for byte in range(256))


class _Pair:
    """One ordered node pair's security association: its key's two SHA-256 states of HMAC's construction
    (:func:`_pads`, copied per datagram), the next sequence number it sends and, at the receiver, its anti-replay
    window."""

    __slots__ = ("inner", "outer", "seq", "window")

    def __init__(self, key: bytes, window: int) -> None:
        self.inner, self.outer = _pads(key)
        self.seq = 1
        self.window = ReplayWindow(window)

    def next_seq(self, sender: int, receiver: int) -> int:
        """The sequence number of the pair's next datagram (counted as sent): the sequence rule's home, which
        :meth:`LocalChannel.seal` and :meth:`LocalChannel.pass_in_order` write out (a call there costs more than
        noise; tests/test_auth.py holds every send path to the rule)."""
        seq = self.seq
        if seq > _U64:
            raise SequenceExhausted(f"node {sender} has sent 2^64 - 1 datagrams to node {receiver}")
        self.seq = seq + 1
        return seq

    def icv(self, pseudo: bytes, payload: bytes) -> bytes:
        """HMAC-SHA256-128 of ``pseudo`` then ``payload`` under the pair's key, from its two hash states (the payload
        is hashed where it is, not copied: a BATCH block's is ~50 kB)."""
        inner = self.inner.copy()
        inner.update(pseudo)
        inner.update(payload)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:ICV_BYTES]


class LocalChannel:
    """The datagrams of one socket pair that stay in this process (the emulated network's): :meth:`seal` makes the
    bytes that leave, exactly as :meth:`Authenticator.seal`, and :meth:`accept` is :meth:`Authenticator.open` of
    those very bytes at their receiver: their trailer names this pair and their ICV is the one just computed, so
    of its checks only the anti-replay window's can refuse them (a duplicated or very late copy)."""

    __slots__ = ("_head", "_inner", "_outer", "_pair", "receiver", "sender")

    def __init__(self, pair: _Pair, sender: int, receiver: int, sport: int, dport: int) -> None:
        self._pair = pair
        self.sender, self.receiver = sender, receiver
        self._inner = pair.inner.copy()             # the pair's inner state after the pseudo-header's first 8 bytes
        self._inner.update(PSEUDO_HEADER.pack(sender, receiver, sport, dport, 0)[:-8])      # (all but the number)
        self._outer = pair.outer
        self._head = _TRAILER_HEAD.pack(sender, receiver, 0)[:-8]

    def seal(self, payload: bytes) -> tuple[bytes, int]:
        """The bytes that leave (``payload`` and its trailer) and their sequence number."""
        # _Pair.next_seq written out: calling it costs +2.8-3.2 k instructions a create-and-keep pair with capture
        # (+0.4 %; callgrind, two-qpus, (600 - 200 pairs) / 400, 2026-12-03), more than the runs' noise (~0.5 k)
        pair = self._pair
        seq = pair.seq
        if seq > _U64:
            raise SequenceExhausted(f"node {self.sender} has sent 2^64 - 1 datagrams to node {self.receiver}")
        pair.seq = seq + 1
        number = seq.to_bytes(8, "big")
        inner = self._inner.copy()                              # HMAC-SHA256 as icv(), from its two hash states
        inner.update(number + payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return payload + self._head + number + outer.digest()[:ICV_BYTES], seq

    def accept(self, seq: int) -> bool:
        """Whether the datagram this channel sealed with ``seq`` opens at its receiver (False: refused as
        :attr:`Drop.REPLAYED`)."""
        return self._pair.window.take(seq)

    def seal_in_order(self, payload: bytes) -> tuple[bytes, bool]:
        """:meth:`seal` and :meth:`accept` in one, for a datagram that arrives once and in the order sent (a clean
        route): the bytes that leave and whether they open at the receiver (the anti-replay window taken as they
        leave, with the verdict it would give them on arrival; True unless the window was moved past this pair's
        own numbers, by :meth:`Authenticator.open` of bytes another instance sealed under the same secret)."""
        # seal() and the window's take(), inline (a call each less per datagram of a clean route, every datagram of
        # a run with capture on): the same sequence number, bytes and window
        pair = self._pair
        seq = pair.seq
        if seq > _U64:
            raise SequenceExhausted(f"node {self.sender} has sent 2^64 - 1 datagrams to node {self.receiver}")
        pair.seq = seq + 1
        number = seq.to_bytes(8, "big")
        inner = self._inner.copy()
        inner.update(number + payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        window = pair.window
        if seq == window.top + 1 and not window.missing:
            window.top = seq                # ReplayWindow.take of the next number with none missing: top moves
            fresh = True
        else:
            fresh = window.take(seq)
        return payload + self._head + number + outer.digest()[:ICV_BYTES], fresh

    def pass_in_order(self) -> bool:
        """:meth:`seal_in_order` of a datagram whose sealed bytes nothing will read (in one process, with no
        capture: its receiver is handed the payload): the sequence number and the window move as they would, and
        the verdict is the same; the trailer and its ICV, which would be thrown away unread, are not computed."""
        # _Pair.next_seq written out: calling it costs 6 calls and +54 bytecodes a create-and-keep pair with capture
        # off (two-qpus, 200 pairs, bench/opcodes.py, 2026-12-03), more than noise
        pair = self._pair
        seq = pair.seq
        if seq > _U64:
            raise SequenceExhausted(f"node {self.sender} has sent 2^64 - 1 datagrams to node {self.receiver}")
        pair.seq = seq + 1
        return pair.window.take(seq)


class Authenticator:
    """Keys, send sequence numbers and anti-replay windows for every ordered node pair it meets."""

    __slots__ = ("_pairs", "_prk", "_sealed", "window")

    def __init__(self, secret: bytes, window: int = DEFAULT_SIZE) -> None:
        self._prk = pair_prk(secret)        # checks the secret; every pair key is expanded from it
        self.window = window
        ReplayWindow(window)        # refuse a bad width now, not at the first datagram
        self._pairs: dict[tuple[int, int], _Pair] = {}
        self._sealed: dict[tuple[int, int, int], tuple[bytes, int, int]] = {}
        """What :meth:`seal_local` sealed and no :meth:`open` has taken yet: (sender, receiver, sequence number) ->
        (the datagram, its source port, its destination port)."""

    def _pair(self, sender: int, receiver: int) -> _Pair:
        """The pair's association, made at its first datagram (its key's HMAC states made once)."""
        key = (sender, receiver)
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pairs[key] = _Pair(pair_key_from(self._prk, sender, receiver), self.window)
        return pair

    def icv(self, sender: int, receiver: int, sport: int, dport: int, seq: int, payload: bytes) -> bytes:
        """HMAC-SHA256-128 of the pseudo-header and the payload under the pair's key."""
        return self._pair(sender, receiver).icv(PSEUDO_HEADER.pack(sender, receiver, sport, dport, seq), payload)

    def local(self, sender: int, receiver: int, sport: int, dport: int) -> LocalChannel:
        """The :class:`LocalChannel` of datagrams from ``sender``'s port ``sport`` to ``receiver``'s ``dport`` (its
        sequence numbers and window are the pair's, shared with every other port and with :meth:`seal`)."""
        return LocalChannel(self._pair(sender, receiver), sender, receiver, sport, dport)

    def seal(self, sender: int, receiver: int, sport: int, dport: int, payload: bytes) -> bytes:
        """``payload`` with its trailer: the pair's next sequence number (from 1) and the ICV."""
        pair = self._pair(sender, receiver)
        seq = pair.next_seq(sender, receiver)
        return (payload + _TRAILER_HEAD.pack(sender, receiver, seq)
                + pair.icv(PSEUDO_HEADER.pack(sender, receiver, sport, dport, seq), payload))

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
        pair = self._pair(sender, receiver)
        window = pair.window
        if not window.check(seq):
            return Drop.REPLAYED
        payload = datagram[:end]
        sealed = self._sealed
        if not sealed or sealed.pop((sender, receiver, seq), None) != (datagram, sport, dport):
            # not the bytes seal_local made for these ports: verify the ICV
            icv = pair.icv(PSEUDO_HEADER.pack(sender, receiver, sport, dport, seq), payload)
            if not compare_digest(icv, datagram[end + _TRAILER_HEAD.size:]):
                return Drop.BAD_TAG
        window.accept(seq)
        return payload

    def seal_local(self, sender: int, receiver: int, sport: int, dport: int, payload: bytes) -> bytes:
        """:meth:`seal`, remembering the result: :meth:`open` of the same bytes between the same ports (the same
        process's receiver) then knows their ICV verifies without computing it a second time."""
        wire = self.seal(sender, receiver, sport, dport, payload)
        sealed = self._sealed
        if len(sealed) >= SEALED_MAX:
            del sealed[next(iter(sealed))]
        sealed[sender, receiver, _TRAILER_HEAD.unpack_from(wire, len(wire) - SIZE)[2]] = (wire, sport, dport)
        return wire
