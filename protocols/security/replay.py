"""The anti-replay window of one security association (RFC 4303 §3.4.3, Appendix A).

The receiver keeps the highest sequence number it has accepted (``top``) and a bitmap of the
``size`` numbers ending there: bit ``i`` of ``missing`` is set when ``top - i`` was *not* accepted (the
complement of RFC 4303's bitmap, so that in-order traffic, the emulated network's, keeps it 0: a small
integer, where the accepted bits of a 1,024-wide window are a 1,024-bit one shifted at every datagram).
A number is fresh when it is above ``top``, or inside the window and its bit is set; 0 is never sent
(senders start at 1) and is refused (numbers below 1 count as missing, but no number below 1 is ever
checked against the bitmap). As in IPsec, :meth:`check` runs before the ICV is verified (cheap rejection) and
:meth:`accept` only after, so a forged datagram cannot move the window.

>>> w = ReplayWindow(64)
>>> w.check(5), w.accept(5), w.check(5), w.check(4), w.check(70), w.accept(70), w.check(7)
(True, None, False, True, True, None, True)
>>> w.check(6)      # now 64 behind the top: too old
False
>>> w.take(69), w.take(69), w.take(71)
(True, False, True)
"""

from __future__ import annotations

DEFAULT_SIZE = 1024
"""Wide enough for the reordering the emulated fibres' jitter causes (RFC 4303 asks for at least 32, advises 64;
RFC 6479 shows large windows are cheap)."""


class ReplayWindow:
    """Sequence numbers accepted so far from one sender, within a sliding window."""

    __slots__ = ("_mask", "missing", "size", "top")

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 32:
            raise ValueError(f"an anti-replay window is at least 32 wide (RFC 4303), not {size}")
        self.size = size
        self._mask = (1 << size) - 1
        self.top = 0
        self.missing = 0

    def check(self, seq: int) -> bool:
        """Whether ``seq`` is fresh: never accepted, and not older than the window."""
        if seq <= 0:
            return False
        if seq > self.top:
            return True
        behind = self.top - seq
        return behind < self.size and bool((self.missing >> behind) & 1)

    def accept(self, seq: int) -> None:
        """Record ``seq`` (which :meth:`check` found fresh and whose ICV verified)."""
        if seq > self.top:
            self._advance(seq)
        else:
            self.missing &= ~(1 << (self.top - seq))

    def _advance(self, seq: int) -> None:
        """Make ``seq`` (above ``top``) the top: the numbers between the two are missing, ``seq`` is not."""
        shift = seq - self.top
        missing = self.missing
        if shift == 1:
            if missing:                 # in order with nothing missing: 0 stays 0
                self.missing = (missing << 1) & self._mask
        elif shift < self.size:
            self.missing = ((missing << shift) | ((1 << shift) - 2)) & self._mask
        else:
            self.missing = self._mask ^ 1
        self.top = seq

    def take(self, seq: int) -> bool:
        """:meth:`check` and, if fresh, :meth:`accept` in one (a datagram whose ICV is known to verify)."""
        top = self.top
        if seq > top:                   # the common case: the newest yet (top >= 0, so seq >= 1)
            if seq == top + 1 and not self.missing:
                self.top = seq          # in order, nothing missing: the bitmap stays 0
            else:
                self._advance(seq)
            return True
        behind = top - seq
        if seq <= 0 or behind >= self.size or not (self.missing >> behind) & 1:
            return False
        self.missing &= ~(1 << behind)
        return True
