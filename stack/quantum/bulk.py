"""Bulk draws for blocks of pairs (:mod:`stack.quantum.batch`): a few nanoseconds a pair, in numpy.

Three draws dominate a block, and each has a cheaper exact form than the obvious one:

* **Geometric failure counts** (:func:`failures`). ``rng.geometric`` costs a logarithm a draw. Here each
  count is read from a 32-bit uniform ``u`` by a guide table: ``F >= k`` exactly when
  ``u < floor((1 - p)^k * 2^32)``, so the top ``bits`` bits of ``u`` name a bucket, the table holds the
  count at the bucket's top and the one threshold inside it, and one comparison finishes the draw. The
  tail, where buckets hold more than one threshold (``u < t[K]``, probability ``(1 - p)^K``, a few per
  cent at most), is drawn as ``K`` plus a fresh geometric: the geometric distribution is memoryless, so
  that is the same law. The only departure from the continuous law is the rounding of each threshold to
  a multiple of 2⁻³² (below 2.4 × 10⁻¹⁰ per value). Most counts need only half of their uniform: its top
  16 bits are drawn first (four a 64-bit word), and a table of 2^16 entries (:func:`_fast`: one byte each
  when counts of 255 or more are rare) names the count wherever those bits decide it (all but ~0.65 % of
  uniforms at p = 0.023); only for the rest are the low 16 bits drawn and the guide table of 2^16 buckets
  read. The two halves are independent uniform bits, so their join is the same 32-bit uniform.
* **Rare events** (:func:`positions`): which of ``count`` independent trials of probability ``r`` occur,
  as the running sum of geometric gaps (the same law as ``count`` coins; ``rng.geometric`` when they are
  few, the guide table when many) when ``r`` is small, so the cost is per event, not per trial.
  :func:`flip` applies them to a bit-packed plane (eight trials a byte).
* **Categorical draws dominated by one value** (:func:`categories`): the positions of the other values by
  :func:`positions`, then each one's value from the distribution conditioned on not being the dominant one.

>>> rng = np.random.default_rng(1)
>>> f = failures(0.25, rng, 100_000)
>>> f.dtype.name, round(float(f.mean()), 1)          # mean (1 - p) / p = 3
('uint64', 3.0)
>>> positions(rng, 0.0, 10).tolist(), len(positions(rng, 1.0, 10))
([], 10)
"""

from __future__ import annotations

import functools
import math

import numpy as np

_SPAN = 2.0 ** 32
DENSE = 0.25
"""Above this probability a rare event is not rare: :func:`positions` compares ``count`` uniforms instead."""


@functools.lru_cache(maxsize=64)
def _table(p: float, bits: int = 0) -> tuple[int, np.ndarray, np.ndarray, int, int] | None:
    """The guide table for geometric failure counts of success probability ``p``: (bits, count at each
    bucket's top, the threshold inside each bucket (0: none), tail threshold ``t[K]``, ``K``); None when the
    tail would be too heavy for a table of at most 2^16 buckets (tiny ``p``: ``rng.geometric`` then).
    ``bits`` (8 to 16) fixes the number of buckets (2^bits); by default buckets are ~64 times finer than
    the first bin."""
    if p < 2.0 ** -12:
        return None
    q = 1.0 - p
    bits = bits or min(16, max(8, math.ceil(math.log2(64 / p))))
    width = 1 << (32 - bits)
    k = np.arange(1, math.ceil(23 / p) + 2, dtype=np.float64)    # (1 - p)^k * 2^32 falls below 1
    thresholds = np.floor(np.power(q, k) * _SPAN).astype(np.int64)  # t[1], t[2], ...: F >= k iff u < t[k]
    thresholds = thresholds[thresholds > 0]
    ascending = thresholds[::-1]

    def count_at(u: np.ndarray) -> np.ndarray:                   # F(u): how many thresholds lie above u
        return len(ascending) - np.searchsorted(ascending, u, side="right")

    low = np.arange(1 << bits, dtype=np.int64) * width
    top, bottom = count_at(low + width - 1), count_at(low)
    single = bottom - top <= 1
    bad = np.flatnonzero(~single)
    first_good = int(bad.max()) + 1 if len(bad) else 0
    # the tail: u < t[K], the smallest threshold at or above every multi-threshold bucket
    tail_k = int(count_at(np.array([first_good * width]))[0])       # thresholds above the good region's floor
    tail = int(thresholds[tail_k - 1]) if tail_k >= 1 else int(_SPAN)
    if tail / _SPAN > 0.05:
        return None
    inside = np.where(bottom > top, thresholds[np.minimum(top, len(thresholds) - 1)], 0)
    narrow = np.uint16 if top.max() < (1 << 16) - 1 else np.uint32      # room for the count plus one
    return bits, top.astype(narrow), inside.astype(np.uint32), tail, tail_k


SLOW = 0xFFFF
"""In :func:`_decided`: the top 16 bits of the uniform do not decide the count."""


@functools.lru_cache(maxsize=64)
def _decided(p: float) -> np.ndarray | None:
    """For each value of a uniform's top 16 bits, the failure count the guide table of 2^16 buckets
    (``_table(p, 16)``) reads for every uniform with those bits (uint16), or :data:`SLOW` where they do not
    decide it (the bucket holds a threshold, or lies in the tail: ~0.4 % of uniforms at p = 0.023); None
    when there is no table or its counts need 32 bits."""
    table = _table(p, 16)
    if table is None or table[1].dtype != np.uint16:
        return None
    bits, base, inside, tail, _ = table
    low = np.arange(1 << 16, dtype=np.int64) << 16
    high = low + 0xFFFF
    coarse = low >> (32 - bits)
    threshold = inside[coarse].astype(np.int64)
    value = base[coarse].astype(np.int64) + (high < threshold)   # wholly below the threshold: one failure more
    decided = ((threshold == 0) | (low >= threshold) | (high < threshold)) & (low >= tail) & (value < SLOW)
    out = np.where(decided, value, SLOW).astype(np.uint16)
    out.flags.writeable = False
    return out


SLOW8 = 0xFF
"""In :func:`_decided8`: the top 16 bits of the uniform do not decide the count, or it is 255 or more."""


@functools.lru_cache(maxsize=64)
def _decided8(p: float) -> np.ndarray | None:
    """:func:`_decided` in one byte a value: its counts below 255, :data:`SLOW8` elsewhere (a count of 255 or
    more is then read from the guide table like the undecided ones). A gather from half the memory, and a
    narrower output."""
    decided = _decided(p)
    if decided is None:
        return None
    out = np.where(decided < SLOW8, decided, SLOW8).astype(np.uint8)
    out.flags.writeable = False
    return out


def _fast(p: float) -> tuple[np.ndarray, int] | None:
    """The table :func:`failures` reads a uniform's top 16 bits from, and the value that marks it undecided:
    :func:`_decided8` when counts of 255 or more are rare (below 1 %, p above ~0.018), else :func:`_decided`."""
    if not 0 < p < 1 or _decided(p) is None:
        return None
    if (1.0 - p) ** SLOW8 < 0.01:
        return _decided8(p), SLOW8          # type: ignore[return-value]
    return _decided(p), SLOW                # type: ignore[return-value]


def failures(p: float, rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` failed-attempt counts before a success of probability ``p`` (uint64), the law of
    ``rng.geometric(p, count) - 1``. Each count's uniform is drawn 16 bits at a time: its top 16 bits first,
    which name the count of most (:func:`_decided`); only where they do not are its low 16 bits drawn and
    the guide table read (:func:`_table`), and the tail's counts are drawn afresh."""
    fast = _fast(float(p))
    table = _table(float(p), 16 if fast is not None else 0) if 0 < p < 1 else None
    if table is None:
        out = rng.geometric(p, count).astype(np.uint64)
        out -= np.uint64(1)
        return out
    bits, base, inside, tail, tail_k = table
    if fast is None:
        u = rng.bit_generator.random_raw(-(-count // 2)).view(np.uint32)[:count]
        bucket = (u >> np.uint32(32 - bits)).astype(np.intp)     # take() would convert its indices twice
        small = base.take(bucket)                                 # in the table's narrow type, widened once
        small += u < inside.take(bucket)
        out = small.astype(np.uint64)
        deep = (u < tail).nonzero()[0]
    else:
        high = _halves(rng, count)                                # the uniforms' top 16 bits
        small = fast[0].take(high)
        slow = (small == fast[1]).nonzero()[0]
        out = small.astype(np.uint64)
        deep = slow[:0]
        if len(slow):                                             # the same uniforms: their low halves drawn now
            high = high[slow]                                     # (the guide table's bucket is the top 16 bits)
            rest = high.astype(np.uint32) << np.uint32(16)
            rest |= _halves(rng, len(slow))
            out[slow] = base.take(high) + (rest < inside.take(high))
            deep = slow[rest < tail]
    if len(deep):
        out[deep] = rng.geometric(p, len(deep)).astype(np.uint64) + np.uint64(tail_k - 1)
    return out


def _halves(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` uniform 16-bit values (uint16), four from each of the generator's raw 64-bit words."""
    return rng.bit_generator.random_raw(-(-count // 4)).view(np.uint16)[:count]


def positions(rng: np.random.Generator, r: float, count: int) -> np.ndarray:
    """The indices (sorted, int64) at which ``count`` independent events of probability ``r`` occur."""
    if r <= 0 or count == 0:
        return np.zeros(0, dtype=np.int64)
    if r >= DENSE:
        return np.flatnonzero(rng.random(count) < r)
    expected = count * r
    found: list[np.ndarray] = []
    start = -1
    while True:
        size = int(expected + 6 * math.sqrt(expected) + 16)
        if size < 1024:                                                   # one call when few
            where = rng.geometric(r, size)
        else:                                                             # by table when many
            where = failures(r, rng, size).view(np.int64)
            where += 1
        np.cumsum(where, out=where)                                       # in place: the gaps' running sum
        where += start
        end = int(where.searchsorted(count))
        if end < size:
            if not found:
                return where[:end]
            found.append(where[:end])
            return np.concatenate(found)
        found.append(where)
        start = int(where[-1])
        expected = (count - start) * r


def categories(rng: np.random.Generator, cdf: np.ndarray, count: int) -> np.ndarray:
    """``count`` draws (uint8) of the categorical law with cumulative weights ``cdf`` (last 1)."""
    common, rest, conditional = split(tuple(np.asarray(cdf, dtype=np.float64).tolist()))
    out = np.full(count, common, dtype=np.uint8)
    where = positions(rng, rest, count)
    if len(where):
        drawn = np.searchsorted(conditional, rng.random(len(where)), side="right")
        out[where] = np.minimum(drawn, len(conditional) - 1)
    return out


@functools.lru_cache(maxsize=256)
def split(cdf: tuple[float, ...]) -> tuple[int, float, np.ndarray]:
    """The dominant value of a categorical law, the probability of any other, and the others' cumulative
    weights given that it is not the dominant one."""
    weights = np.diff(np.array(cdf), prepend=0.0)
    common = int(np.argmax(weights))
    others = weights.copy()
    others[common] = 0.0
    conditional = np.cumsum(others)
    if conditional[-1] > 0:
        conditional /= conditional[-1]
    conditional.flags.writeable = False
    return common, 1.0 - float(weights[common]), conditional


def plane(rng: np.random.Generator, r: float, count: int) -> np.ndarray:
    """``count`` coins of bias ``r``, packed eight a byte (zero padding)."""
    out = np.zeros(-(-count // 8), dtype=np.uint8)
    flip(rng, out, r, count)
    return out


def flip(rng: np.random.Generator, packed: np.ndarray, r: float, count: int) -> None:
    """Flip each of the first ``count`` bits of the packed plane ``packed`` (most significant first) with
    probability ``r``, independently: by their positions (:func:`positions`), or a packed plane of coins when
    they are not rare."""
    if r >= DENSE:
        packed ^= np.packbits(rng.random(count) < r)
    elif r > 0:
        toggle(packed, positions(rng, r, count))


def toggle(packed: np.ndarray, where: np.ndarray) -> None:
    """Flip the bits at the positions ``where`` (distinct) of the packed plane ``packed``, in place."""
    if len(where):
        bits = np.zeros(len(packed) * 8, dtype=bool)     # a pass over one byte a bit costs less than ufunc.at
        bits[where] = True
        packed ^= np.packbits(bits)
