"""Each pair an end hears of, told apart from every other pair of its request: its *serial*.

The link layer's Sequence Number (and the network layer's end-to-end pair number) is 16 bits and numbers every pair
of a link, whatever request it is for: a request of N pairs on a link that other requests share can see the same
number again (65 536 link pairs later), after a jump of any size (another request's block of 65 535 measured pairs,
or a run of a higher priority's pairs, comes between). No unwrapping by distance can tell such jumps from
reordering, so a serial counts turns instead: the k-th pair (k = 0, 1, ...) an end hears of under number s has
serial k · 2^16 + s. An end is told of each pair once (one OK, or one ERR EXPIRE for a pair it never delivered),
and an ERR EXPIRE of a pair it delivered withdraws that pair (the latest turn of its number, still delivered): so
both ends of a request give a pair the same serial, since the link layer tells both of the same pairs (no pair is
delivered at one end only) and two pairs 65 536 numbers apart never come in the other order. The first turn of a
number is the number itself.

>>> serials = SerialNumbers()
>>> [serials.delivered(seq) for seq in (65535, 0, 1, 0)]
[65535, 0, 1, 65536]
>>> serials.expired(1), serials.expired(2)          # pair 1 withdrawn; pair 2 never delivered here
(1, 2)
>>> serials.expired(1)                              # a pair 1 of a later turn, never delivered here
65537
>>> serials.block(65534, 3).tolist()            # 65534 new, 65535 and 0 heard of before
[65534, 131071, 131072]
"""

from __future__ import annotations

import numpy as np

SPAN = 1 << 16
"""How many 16-bit sequence numbers there are."""


class SerialNumbers:
    """One end's serials: :meth:`delivered` for each OK's number, :meth:`block` for an OK-MB's, :meth:`expired`
    for each number an ERR EXPIRE names, in the order the end hears of them."""

    __slots__ = ("_open", "_turns")

    def __init__(self) -> None:
        self._turns = np.zeros(SPAN, dtype=np.int64)
        """How many pairs this end has heard of under each number."""
        self._open = np.zeros(SPAN, dtype=bool)
        """Whether the latest pair under each number was delivered here and no ERR EXPIRE has withdrawn it."""

    def delivered(self, seq: int) -> int:
        """The serial of a pair delivered under ``seq``."""
        turn = int(self._turns[seq])
        self._turns[seq] = turn + 1
        self._open[seq] = True
        return turn * SPAN + seq

    def block(self, seq: int, count: int) -> np.ndarray:
        """The serials of ``count`` pairs delivered under consecutive numbers from ``seq`` (an OK-MB)."""
        seqs = (seq + np.arange(count)) & (SPAN - 1)
        turns = self._turns[seqs]
        self._turns[seqs] = turns + 1
        self._open[seqs] = True
        return turns * SPAN + seqs

    def forget(self, serial: int) -> None:
        """An OK that delivered nothing (a phantom: its slot held no qubit) was no pair: if ``serial`` is its
        number's latest turn, the next pair of the number takes that turn again, as at the other end, which never
        heard of it.

        >>> serials = SerialNumbers()
        >>> phantom = serials.delivered(9); serials.forget(phantom); serials.delivered(9)
        9
        """
        seq, turn = serial % SPAN, serial // SPAN
        if int(self._turns[seq]) == turn + 1:
            self._turns[seq] = turn
            self._open[seq] = False

    def expired(self, seq: int) -> int:
        """The serial of the pair an ERR EXPIRE names under ``seq``: the delivered pair it withdraws (the latest
        turn of the number, if delivered and not yet withdrawn), else a pair this end never delivered."""
        turns = int(self._turns[seq])
        if self._open[seq]:
            self._open[seq] = False
            return (turns - 1) * SPAN + seq
        self._turns[seq] = turns + 1
        return turns * SPAN + seq
