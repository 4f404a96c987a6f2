"""Bulk draws (stack/quantum/bulk.py) against their laws: the geometric pmf ``(1 - p)^k p``, binomial counts
of rare events, a categorical distribution. Each bin is held to ``SIGMAS`` standard errors (binomial), and
the whole histogram to a chi-square test at a 10⁻⁶ false-alarm rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from stack.quantum import bulk

SIGMAS = 5.0
N = 200_000


def _chi_square(observed: np.ndarray, expected: np.ndarray) -> None:
    keep = expected >= 5                                  # pool the sparse bins into one
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] < 5:
        obs, exp = [*obs[:-2].tolist(), obs[-2] + obs[-1]], [*exp[:-2].tolist(), exp[-2] + exp[-1]]
    statistic = float(np.sum((np.asarray(obs) - np.asarray(exp)) ** 2 / np.asarray(exp)))
    assert stats.chi2.sf(statistic, len(exp) - 1) > 1e-6, statistic


@pytest.mark.parametrize("p", [0.9, 0.5, 0.023, 0.003, 1e-4])
def test_failure_counts_follow_the_geometric_law(p: float) -> None:
    drawn = bulk.failures(p, np.random.default_rng(7), N)
    assert drawn.dtype == np.uint64 and len(drawn) == N
    q = 1 - p
    mean, sd = q / p, math.sqrt(q) / p
    assert abs(float(drawn.mean()) - mean) < SIGMAS * sd / math.sqrt(N)
    top = math.ceil(math.log(1e-4) / math.log(q))    # bins 0 .. top-1, then the tail F >= top
    observed = np.bincount(np.minimum(drawn, top).astype(np.int64), minlength=top + 1).astype(float)
    expected = N * np.append(p * q ** np.arange(top), q ** top)
    _chi_square(observed, expected)
    table = bulk._table(p)
    if table is not None:                                  # the memoryless tail is drawn, at its true rate
        tail_k = table[4]
        _close(float(np.mean(drawn >= tail_k)), q ** tail_k, "tail")


def test_the_table_reads_the_thresholds_exactly() -> None:
    """Every 32-bit uniform outside the tail gives the number of thresholds floor((1-p)^k 2^32) above it."""
    p = 0.023
    bits, base, inside, tail, _ = bulk._table(p)  # type: ignore[misc]
    thresholds = np.floor((1 - p) ** np.arange(1, 2000) * 2.0 ** 32).astype(np.int64)
    u = np.random.default_rng(3).integers(tail, 2 ** 32, 100_000, dtype=np.int64)
    u = np.concatenate([u, thresholds[thresholds >= tail], thresholds[thresholds >= tail] - 1])
    bucket = u >> (32 - bits)
    table = base[bucket].astype(np.int64) + (u < inside[bucket])
    assert np.array_equal(table, (thresholds[None, :] > u[:, None]).sum(axis=1))


def _close(measured: float, expected: float, note: object) -> None:
    spread = math.sqrt(expected * (1 - expected) / N)
    assert abs(measured - expected) < SIGMAS * spread + 1e-12, (note, measured, expected)


@pytest.mark.parametrize("r", [0.0, 0.001, 0.03, 0.2, 0.6, 1.0])
def test_rare_events_are_independent_coins(r: float) -> None:
    where = bulk.positions(np.random.default_rng(5), r, N)
    assert np.all(np.diff(where) > 0) and (len(where) == 0 or (where[0] >= 0 and where[-1] < N))
    _close(len(where) / N, r, "rate")
    if len(where) > 100:                                   # spread evenly: each tenth holds a tenth
        tenths = np.bincount(where * 10 // N, minlength=10)
        _chi_square(tenths.astype(float), np.full(10, len(where) / 10))
    plane = bulk.plane(np.random.default_rng(5), r, 13)
    assert len(plane) == 2 and int(plane[-1]) & 0b111 == 0


def test_categories_follow_their_weights() -> None:
    weights = np.array([0.9, 0.04, 0.0, 0.05, 0.01])
    drawn = bulk.categories(np.random.default_rng(9), np.cumsum(weights), N)
    assert drawn.dtype == np.uint8 and not np.any(drawn == 2)
    _chi_square(np.bincount(drawn, minlength=5).astype(float)[weights > 0], N * weights[weights > 0])
    even = bulk.categories(np.random.default_rng(9), np.cumsum([0.25] * 4), N)   # no dominant value: dense
    _chi_square(np.bincount(even, minlength=4).astype(float), np.full(4, N / 4))


def test_freed_block_memory_is_reused_without_page_faults() -> None:
    """With glibc's thresholds raised (stack/quantum/heap.py), a block's temporaries come back from the heap:
    20 rounds of six live 512 kB arrays cost no fresh pages (without it, each round faults ~700 pages in: the
    first is mmapped, the heap top is trimmed when they are freed)."""
    import resource

    from stack.quantum.heap import keep_freed_memory

    if not keep_freed_memory():
        pytest.skip("not glibc: no mallopt")

    def round_of_temporaries() -> int:
        live = [np.ones(1 << 16, dtype=np.uint64) for _ in range(6)]
        return sum(int(a[0]) for a in live)

    round_of_temporaries()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        round_of_temporaries()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 50


@pytest.mark.parametrize("p", [0.5, 0.023, 0.003])
def test_the_top_16_bits_decide_the_count_where_the_fast_table_says_so(p: float) -> None:
    """Where ``_decided`` names a count for a uniform's top 16 bits, every uniform with those bits (both ends of
    each bucket, and random ones) has that many thresholds floor((1-p)^k 2^32) above it; the rest are few."""
    decided = bulk._decided(p)
    assert decided is not None
    thresholds = np.floor((1 - p) ** np.arange(1, 40 / p) * 2.0 ** 32).astype(np.int64)
    ascending = np.sort(thresholds[thresholds > 0])
    lows = np.arange(1 << 16, dtype=np.int64) << 16
    u = np.concatenate([lows, lows + 0xFFFF, np.random.default_rng(4).integers(0, 2 ** 32, 100_000)])
    named = decided[u >> 16]
    fast = named != bulk.SLOW
    exact = len(ascending) - np.searchsorted(ascending, u[fast], side="right")
    assert np.array_equal(named[fast].astype(np.int64), exact)
    assert np.mean(decided == bulk.SLOW) < 0.1          # the tail (at most 5 %) and the buckets holding a threshold


@pytest.mark.parametrize("p", [0.9, 0.5, 0.023, 0.003])
def test_the_two_stage_draw_reads_the_thresholds_exactly(p: float) -> None:
    """``failures`` draws a uniform's top 16 bits first and its low 16 bits only where the fast table (``_fast``:
    ``_decided8`` or ``_decided``) does not name the count: every 16-bit value it names is the count of every
    uniform with those top bits, and for the others (outside the tail) the 2^16-bucket guide table with the low
    bits gives the count of the whole uniform."""
    fast = bulk._fast(p)
    table = bulk._table(p, 16)
    assert fast is not None and table is not None and table[0] == 16
    narrow, mark = fast
    _, base, inside, tail, _ = table
    thresholds = np.floor((1 - p) ** np.arange(1, 40 / p) * 2.0 ** 32).astype(np.int64)
    ascending = np.sort(thresholds[thresholds > 0])

    def exact(u: np.ndarray) -> np.ndarray:
        return len(ascending) - np.searchsorted(ascending, u, side="right")

    high = np.arange(1 << 16, dtype=np.int64)
    named = narrow != mark
    for low in (np.zeros(1 << 16, dtype=np.int64), np.full(1 << 16, 0xFFFF),
                np.random.default_rng(6).integers(0, 1 << 16, 1 << 16)):
        u = high << 16 | low
        assert np.array_equal(narrow[named].astype(np.int64), exact(u[named]))
        rest = ~named & (u >= tail)
        table_count = base[high[rest]].astype(np.int64) + (u[rest] < inside[high[rest]])
        assert np.array_equal(table_count, exact(u[rest]))
    assert np.mean(~named) < 0.05 and tail / 2.0 ** 32 < 0.01          # the low halves are drawn rarely


@pytest.mark.parametrize("r", [0.001, 0.03, 0.6])
def test_flips_are_independent_coins_on_a_packed_plane(r: float) -> None:
    """``flip`` toggles each bit of a packed plane with probability ``r`` (by positions when rare, by a plane
    of coins when not), and leaves the padding alone."""
    count = N + 3
    plane = np.full(-(-count // 8), 0xFF, dtype=np.uint8)
    plane[-1] = 0b1110_0000
    bulk.flip(np.random.default_rng(8), plane, r, count)
    bits = np.unpackbits(plane)
    assert not bits[count:].any()
    _close(1 - float(bits[:count].mean()), r, "flip rate")
