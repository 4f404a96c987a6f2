"""Each pair an end delivered, told apart from every other of its request: its *serial*.

The link layer's Sequence Number (and the network layer's end-to-end pair number) is 16 bits and numbers every pair
of a link, whatever request it is for: a request of N pairs on a link that other requests share can see the same
number again (65 536 link pairs later), after a jump of any size (another request's block of 65 535 measured pairs,
or a run of a higher priority's pairs, comes between). No unwrapping by distance tells such jumps from reordering,
so a serial counts turns instead: the k-th pair (k = 0, 1, ...) an end is delivered (an OK) under number s has
serial k · 2^16 + s. The link layer delivers the same pairs at both ends, and two pairs 65 536 numbers apart never
come in the other order, so both ends give a delivered pair the same serial, except on a number an ERR EXPIRE named
(a pair withdrawn at one end and never delivered at the other shifts that number's turns there): the report leaves
such numbers out of its join (:mod:`stack.report_pairs`). The first turn of a number is the number itself.

>>> serials = SerialNumbers()
>>> [serials.delivered(seq) for seq in (65535, 0, 1, 0)]
[65535, 0, 1, 65536]
>>> serials.block(65534, 3).tolist()            # 65534 new, 65535 and 0 delivered before
[65534, 131071, 131072]
"""

from __future__ import annotations

import numpy as np

SPAN = 1 << 16
"""How many 16-bit sequence numbers there are."""
FEW = 4096
"""Numbers a :class:`SerialNumbers` keeps in a dict before it makes its array of all of them."""


class SerialNumbers:
    """One end's serials: :meth:`delivered` for each OK's number, :meth:`block` for an OK-MB's, in the order the
    end is delivered them. The turns are kept in a dict while few numbers were delivered one by one, and in an
    array of all 2^16 numbers from the first block or the :data:`FEW`-th number on (a collection of one pair,
    as an application's loop of single-pair requests makes, then costs no 512 KiB array)."""

    __slots__ = ("_few", "_turns")

    def __init__(self) -> None:
        self._few: dict[int, int] = {}
        """How many pairs this end was delivered under each number, while :attr:`_turns` is None."""
        self._turns: np.ndarray | None = None
        """The same for every number, once made (:meth:`_array`)."""

    def _array(self) -> np.ndarray:
        if self._turns is None:
            self._turns = np.zeros(SPAN, dtype=np.int64)
            for seq, turns in self._few.items():
                self._turns[seq] = turns
            self._few = {}
        return self._turns

    def delivered(self, seq: int) -> int:
        """The serial of a pair delivered under ``seq``."""
        if self._turns is None and len(self._few) < FEW:
            turn = self._few.get(seq, 0)
            self._few[seq] = turn + 1
            return turn * SPAN + seq
        turns = self._array()
        turn = int(turns[seq])
        turns[seq] = turn + 1
        return turn * SPAN + seq

    def block(self, seq: int, count: int) -> np.ndarray:
        """The serials of ``count`` pairs delivered under consecutive numbers from ``seq`` (an OK-MB)."""
        seqs = (seq + np.arange(count)) & (SPAN - 1)
        all_turns = self._array()
        turns = all_turns[seqs]
        all_turns[seqs] = turns + 1
        return turns * SPAN + seqs

    def latest(self, seq: int) -> int | None:
        """The serial of the last pair this end was delivered under ``seq`` (None: none yet).

        >>> serials = SerialNumbers(); serials.latest(7), serials.delivered(7), serials.latest(7)
        (None, 7, 7)
        """
        turns = self._few.get(seq, 0) if self._turns is None else int(self._turns[seq])
        return None if turns == 0 else (turns - 1) * SPAN + seq

    def forget(self, serial: int) -> None:
        """An OK that delivered nothing (a phantom: its slot held no qubit) was no pair: if ``serial`` is its
        number's latest turn, the next pair of the number takes that turn again, as at the other end, which never
        heard of it.

        >>> serials = SerialNumbers()
        >>> phantom = serials.delivered(9); serials.forget(phantom); serials.delivered(9)
        9
        """
        seq, turn = serial % SPAN, serial // SPAN
        if self._turns is None:
            if self._few.get(seq, 0) == turn + 1:
                self._few[seq] = turn
        elif int(self._turns[seq]) == turn + 1:
            self._turns[seq] = turn
