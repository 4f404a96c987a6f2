"""What an EPR socket's collection of one measure-directly request has taken so far
(:meth:`stack.api.epr.EPRSocket.create_measure_arrays`, ``recv_measure_arrays``), told apart by *serial*, not by
Sequence Number.

The link layer numbers every pair of a link with one 16-bit counter, whatever request it is for: a request of
many pairs on a link that other requests share (a workload, another application, a block of 65,535 measured
pairs of another request in between) can be delivered the same number twice. Counting the request's pairs by
Sequence Number would then never reach the number asked for, and the collection would wait until the run's end.
So each pair gets the serial of :mod:`protocols.apps.serials` (its number plus 2^16 for each earlier pair of the
request under that number), as the workload does, and the collection counts serials.

An ERR EXPIRE names Sequence Numbers. The link layer reports a pair it delivered expired after its OK
(docs/wire.md §4.5), so a number whose latest pair here is still held is that pair, withdrawn (left out of the
outcomes); a number with no pair here is one not delivered here (delivered at the other end, or at neither),
which takes its number's next serial, as the pair took it at the other end, so that both ends keep giving the
same pair the same serial; a number whose latest pair was already retracted is a repeat and changes nothing.
A request with CON clear holds its OKs until it completes but reports an expiry at once, so the OK of a pair an
ERR EXPIRE already named may come after it: it takes the serial the expiry gave (withdrawn, counted once), not a
new turn. A pair withdrawn is never handed out as good. The Sequence Number does not tell two pairs of a
request under one number apart, so two cases are read wrongly, both needing the request's numbers to come
round (65,536 link pairs of other requests while it runs):

- an expiry of a later pair never delivered here, under a number whose earlier pair was delivered here, is
  read as that earlier pair's withdrawal: the earlier pair, good and kept at the other end, is left out here
  (in the statistics, a pair delivered at one end only), and the expiry settles no pair, so the collection
  waits for one pair more than come (until the run's end);
- an expiry of a pair never delivered here, then a later pair delivered under the same number, is read as a
  held OK (CON clear) after its expiry: that later pair is left out as the expired one, and again the
  collection waits for one pair more than come.

The first is the only reading at the end that delivers at the herald (the link's master, the network
service's tail), where every expiry follows its pair's OK; the second is the CON-clear reading, and with CON
set the layer never delivers an expired pair's OK afterwards (:class:`stack.api.stream.RequestPairs` reads it
that way for teleport streams, whose requests have CON set).

>>> tally = MeasuredTally()
>>> tally.block(65535, [0, 1], [1, 0], [0, 0]); tally.single(0, 1, 1, 0); tally.count
3
>>> tally.expire([0]); tally.expire([5]); tally.count          # 0 (its second pair) withdrawn, 5 never came
4
>>> pairs = tally.pairs("bob", 7, correct=False)
>>> pairs.serials.tolist(), pairs.sequence_numbers.tolist(), pairs.settled.tolist()
([65535, 0], [65535, 0], [0, 5, 65535, 65536])
>>> tally.single(5, 0, 1, 0); tally.count                       # 5's held OK (CON clear): withdrawn already
4
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence

import numpy as np

from protocols.apps.serials import SPAN, SerialNumbers
from stack.api.pairs import MeasuredPairs, parity_correction


class SettledSerials:
    """One request's pairs settled at this end (delivered, or retracted by ERR EXPIRE), by serial (module
    docstring): what :class:`MeasuredTally` and a collection of kept pairs (:meth:`stack.api.epr.EPRSocket._collect`)
    count, so that a request whose Sequence Numbers come round is neither cut short nor waited for forever.

    >>> settled = SettledSerials()
    >>> settled.delivered(7), settled.delivered(7), settled.count          # 7 twice: two pairs
    (7, 65543, 2)
    >>> settled.expire([7]); sorted(settled.retracted)                      # the latest pair under 7
    [65543]
    """

    __slots__ = ("_early", "_serials", "count", "retracted")

    def __init__(self) -> None:
        self._serials = SerialNumbers()
        self.retracted: set[int] = set()
        """Serials withdrawn after delivery here, or never delivered here (an ERR EXPIRE named them)."""
        self._early: defaultdict[int, deque[int]] = defaultdict(deque)
        """By number: serials an ERR EXPIRE gave before any OK of them here, which that pair's OK takes if it
        comes after all (CON clear)."""
        self.count = 0
        """Pairs settled: delivered here or retracted (the serials given out)."""

    def delivered(self, seq: int) -> int:
        """The serial of a pair delivered under ``seq``: the one an earlier ERR EXPIRE of it gave, or the next."""
        early = self._early.get(seq)
        if early:
            serial = early.popleft()
            if not early:
                del self._early[seq]
            return serial
        self.count += 1
        return self._serials.delivered(seq)

    def block(self, seq: int, count: int) -> np.ndarray:
        """The serials of ``count`` pairs delivered under consecutive numbers from ``seq`` (an OK-MB)."""
        if not self._early:
            self.count += count
            return self._serials.block(seq, count)
        return np.array([self.delivered((seq + i) % SPAN) for i in range(count)], np.int64)

    def expire(self, seqs: Iterable[int]) -> None:
        """An ERR EXPIRE named ``seqs`` (module docstring)."""
        for seq in seqs:
            latest = self._serials.latest(seq)
            if latest is None or latest in self._early.get(seq, ()):
                if latest is not None:
                    continue                    # a repeat of an expiry whose OK has not come
                serial = self._serials.delivered(seq)
                self.retracted.add(serial)
                self._early[seq].append(serial)
                self.count += 1
            else:
                self.retracted.add(latest)


class MeasuredTally:
    """One collection's pairs (delivered, in arrival order) and retractions, by serial."""

    __slots__ = ("_parts", "_settled")

    def __init__(self) -> None:
        self._settled = SettledSerials()
        self._parts: list[tuple[np.ndarray, ...]] = []
        """(serials, bases, outcomes, Bell indices) of each OK-M or OK-MB."""

    @property
    def count(self) -> int:
        """Pairs settled: delivered here or retracted (the serials given out)."""
        return self._settled.count

    def single(self, seq: int, basis: int, outcome: int, bell: int) -> None:
        """An OK-M's pair."""
        self._add(np.array([self._settled.delivered(seq)], np.int64), [basis], [outcome], [bell])

    def block(self, seq: int, bases: Sequence[int] | np.ndarray, outcomes: Sequence[int] | np.ndarray,
              bells: Sequence[int] | np.ndarray) -> None:
        """An OK-MB's pairs, numbered from ``seq`` on."""
        self._add(self._settled.block(seq, len(bases)), bases, outcomes, bells)

    def _add(self, serials: np.ndarray, *arrays: Sequence[int] | np.ndarray) -> None:
        self._parts.append((serials.astype(np.int64), *(np.asarray(a, np.uint8) for a in arrays)))

    def expire(self, seqs: Iterable[int]) -> None:
        """An ERR EXPIRE named ``seqs`` (module docstring)."""
        self._settled.expire(seqs)

    def pairs(self, remote: str, create_id: int, correct: bool) -> MeasuredPairs:
        """The delivered pairs not retracted, as :class:`MeasuredPairs` (outcomes turned into |Φ+⟩'s if
        ``correct``)."""
        retracted = self._settled.retracted
        serials, bases, outcomes, bells = (
            np.concatenate([p[i] for p in self._parts]) if self._parts
            else np.zeros(0, np.int64 if i == 0 else np.uint8) for i in range(4))
        settled = np.union1d(serials, np.fromiter(retracted, np.int64, len(retracted)))
        if retracted:
            keep = ~np.isin(serials, list(retracted))
            serials, bases, outcomes, bells = serials[keep], bases[keep], outcomes[keep], bells[keep]
        if correct:
            outcomes = outcomes ^ parity_correction(bells, bases)
        return MeasuredPairs(serials % SPAN, bases, outcomes, bells, settled, remote, create_id, correct, serials)
