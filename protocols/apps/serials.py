"""16-bit sequence numbers unwrapped into serials, in the order one end sees them.

The link layer's Sequence Number (and the network layer's end-to-end pair number) is 16 bits and numbers every pair
of a link, whatever request it is for: a request of N pairs on a link that other requests share can see the same
number twice (65 536 link pairs apart). An end that counts or joins pairs by number needs them apart, so each end
maps every number it is told of (an OK, an ERR EXPIRE) to the integer congruent to it modulo 2^16 nearest to the
highest serial so far: serial number arithmetic (RFC 1982, §3.2), which holds while the numbers an end hears of
are never 2^15 or more apart out of order. The first number is its own serial.

>>> serials = SerialNumbers()
>>> [serials.serial(seq) for seq in (65534, 65535, 1, 0, 65533, 2)]
[65534, 65535, 65537, 65536, 65533, 65538]
>>> serials.block(3, 4), serials.serial(7)
(65539, 65543)
>>> nearest(5, 131_070), nearest(65_530, 65_600)
(131077, 65530)
"""

from __future__ import annotations

SPAN = 1 << 16
"""How many 16-bit sequence numbers there are."""
_HALF = SPAN // 2


def nearest(seq: int, near: int) -> int:
    """The integer congruent to ``seq`` modulo 2^16 nearest to ``near`` (half-way: the lower one)."""
    return near + (seq - near + _HALF) % SPAN - _HALF


class SerialNumbers:
    """One end's serials: :meth:`serial` for each number in the order the end hears of them."""

    __slots__ = ("high",)

    def __init__(self) -> None:
        self.high: int | None = None
        """The highest serial given so far (None: none yet)."""

    def serial(self, seq: int) -> int:
        """``seq``'s serial: congruent to it, nearest to the highest so far."""
        high = self.high
        if high is None:
            self.high = seq
            return seq
        serial = nearest(seq, high)
        if serial > high:
            self.high = serial
        return serial

    def block(self, seq: int, count: int) -> int:
        """The serial of the first of ``count`` consecutive numbers from ``seq`` (an OK-MB, an ERR EXPIRE's range);
        the others follow it one by one."""
        first = self.serial(seq)
        if count > 1:
            self.serial((seq + count - 1) & (SPAN - 1))
        return first
