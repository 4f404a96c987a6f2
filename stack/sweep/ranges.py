"""The values of a ``START:STOP:COUNT`` range, linear or ``:log`` (docs/sweep.md, "What to vary").

Integers when START and STOP are integers and every value is one, exact however many digits. Other values are
floats: exactly the value the range means when its decimal expansion ends and a float holds it
(``100000000000:100000000001:3`` is 100000000000, 100000000000.5, 100000000001; ``0.1:0.5:5`` is 0.1, 0.2, 0.3, 0.4,
0.5, not numpy's 0.30000000000000004); else rounded to 12 significant digits, to as many as START or STOP is
written with, or to as many as tell neighbouring values apart, whichever is most (``0:1:4`` is 0,
0.333333333333, 0.666666666667, 1). A range whose values a float cannot hold apart, or with a value whose
decimals a float cannot hold (``10000000000000000:10000000000000001:3``, whose middle is ...0.5), is refused
(:class:`RangeError`) rather than run at other values than the ones asked for.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

SIGNIFICANT = 12
"""Significant digits a rounded value keeps at least: numpy's float noise goes, every value a user means stays."""
FLOAT_DIGITS = 17
"""Enough significant digits to name any float."""


class RangeError(ValueError):
    """A range whose values cannot be given as asked: the message says why (without the ``--vary`` prefix)."""


def exact(token: str, value: float) -> Fraction:
    """The number a token writes, exactly (``0.1`` is 1/10, not the float nearest it)."""
    try:
        return Fraction(token.strip())
    except ValueError:
        return Fraction(value)


def digits(token: str) -> int:
    """The significant digits a number is written with (``1000000000001`` 13, ``0.250`` 3)."""
    mantissa = re.split(r"[eE]", token.strip().lstrip("+-"))[0].replace(".", "").replace("_", "")
    return len(mantissa.lstrip("0"))


def linear_range(start: Fraction, stop: Fraction, count: int, integers: bool, written: int) -> tuple[object, ...]:
    """START + k (STOP − START) / (COUNT − 1) for each k, computed exactly (over one common denominator, in
    integers: a million values in about a second); ``written``: the most significant digits START or STOP is
    written with.

    >>> linear_range(Fraction(100000000000), Fraction(100000000001), 3, True, 12)
    (100000000000.0, 100000000000.5, 100000000001.0)
    >>> linear_range(Fraction(0), Fraction(1), 4, True, 1)
    (0.0, 0.333333333333, 0.666666666667, 1.0)
    """
    steps = max(count - 1, 1)
    denominator = start.denominator * stop.denominator * steps
    first = start.numerator * stop.denominator * steps
    step = stop.numerator * start.denominator - start.numerator * stop.denominator
    numerators = [first + step * k for k in range(count)]
    if integers and all(numerator % denominator == 0 for numerator in numerators):
        return tuple(numerator // denominator for numerator in numerators)
    largest = max(abs(numerators[0]), abs(numerators[-1]))
    apart = _digits_apart(largest / denominator, abs(step) / denominator) if step else 0
    kept = min(max(SIGNIFICANT, written, apart), FLOAT_DIGITS)
    decimal = _Decimals(denominator)
    return _distinct([decimal.float(numerator, kept) for numerator in numerators])


class _Decimals:
    """Values n / ``denominator`` as floats: exactly when the decimal expansion ends (the denominator's factors
    other than 2 and 5 divide n) and a float holds it, else rounded to the digits asked for."""

    def __init__(self, denominator: int) -> None:
        self.denominator = denominator
        self.other = denominator            # the denominator without its factors 2 and 5
        self.scale = 0                      # 10**scale * n / denominator is an integer when the expansion ends
        for prime in (2, 5):
            power = 0
            while self.other % prime == 0:
                self.other //= prime
                power += 1
            self.scale = max(self.scale, power)

    def float(self, numerator: int, kept: int) -> float:
        near = numerator / self.denominator                # correctly rounded
        if numerator % self.other:
            return float(f"{near:.{kept}g}")
        whole = abs(numerator) * 10**self.scale // self.denominator
        if len(str(whole).rstrip("0")) > 15 and Fraction(repr(near)) != Fraction(numerator, self.denominator):
            value = f"{'-' if numerator < 0 else ''}{whole // 10**self.scale}.{whole % 10**self.scale:0{self.scale}d}"
            raise RangeError(f"{value.rstrip('0').rstrip('.')} is not a value a float holds (the nearest is "
                             f"{near!r}): give a range whose values have at most 15 significant digits")
        return near


def log_range(start: Fraction, stop: Fraction, count: int, integers: bool, written: int) -> tuple[object, ...]:
    """COUNT values evenly spaced on a log scale (numpy's ``geomspace``), START and STOP exactly as written:
    integers when START and STOP are and every value is one to 1e-9 of it (and 0.001); else floats, the values
    between rounded
    (numpy's noise goes: ``1:1000:4:log`` is 1, 10, 100, 1000, not 9.999999999999998).

    >>> log_range(Fraction(1), Fraction(1000), 4, True, 1)
    (1, 10, 100, 1000)
    >>> log_range(Fraction(1), Fraction(100), 4, True, 1)
    (1.0, 4.64158883361, 21.5443469003, 100.0)
    """
    between = [float(value) for value in np.geomspace(float(start), float(stop), count)[1:-1]]
    if integers and max(abs(start), abs(stop)) >= 2 ** 52:     # a float's error is a whole number there
        exact = _exact_powers(int(start), int(stop), count, between)
        if exact is not None:
            return (int(start), *exact, int(stop))[:count]
    elif integers and all(abs(value - round(value)) <= min(1e-9 * abs(value), 1e-3) for value in between):
        return (int(start), *(round(value) for value in between), int(stop))[:count]
    values: list[Fraction | float] = [start, *between, stop]
    return _floats(values[:count], written)


def _exact_powers(start: int, stop: int, count: int, near: list[float]) -> list[int] | None:
    """The values between START and STOP on a log scale if each is an integer exactly (value ** (COUNT − 1) ==
    START ** (COUNT − 1 − k) · STOP ** k), found next to numpy's ``near``; None if one is not (or COUNT is too
    large to check exactly).

    >>> _exact_powers(3, 3 * 10 ** 18, 7, [3e3, 3e6, 3e9, 3e12, 3000000000000001.0])
    [3000, 3000000, 3000000000, 3000000000000, 3000000000000000]
    >>> _exact_powers(1, 10 ** 40, 3, [1.0000000000000303e20])
    [100000000000000000000]
    """
    steps = count - 1
    if steps > 64:
        return None
    exact = []
    for k, value in enumerate(near, start=1):
        target = start ** (steps - k) * stop ** k
        found = _integer_root(target, steps, max(1, round(value)))
        if found ** steps != target:
            return None
        exact.append(found)
    return exact


def _integer_root(target: int, degree: int, guess: int) -> int:
    """The largest integer whose ``degree``-th power is at most ``target`` (> 0), by Newton's method in integers
    from just above ``guess`` (or from a power of two above the root if ``guess`` is low): a float's root is off
    by more than one above 2 ** 53.

    >>> _integer_root(10 ** 40, 2, 10 ** 20 - 7), _integer_root(10 ** 40 - 1, 2, 1), _integer_root(8, 3, 2)
    (100000000000000000000, 99999999999999999999, 2)
    """
    root = guess + 1 if (guess + 1) ** degree > target else 1 << -(-target.bit_length() // degree)
    while root ** degree > target:                      # from above: Newton's steps go down to the floor
        root = ((degree - 1) * root + target // root ** (degree - 1)) // degree
    return root


def _floats(values: Sequence[Fraction | float], written: int) -> tuple[float, ...]:
    """Each value as the float the module docstring says: a Fraction is exact, a float an approximation to
    round."""
    gaps = [abs(after - before) for before, after in itertools.pairwise(map(float, values)) if after != before]
    largest = max(abs(float(value)) for value in values)
    kept = min(max(SIGNIFICANT, written, _digits_apart(largest, min(gaps)) if gaps else 0), FLOAT_DIGITS)
    out = []
    for value in values:
        if isinstance(value, Fraction):
            out.append(_Decimals(value.denominator).float(value.numerator, kept))
        else:
            out.append(float(f"{value:.{kept}g}"))
    return _distinct(out)


def _distinct(values: list[float]) -> tuple[float, ...]:
    """``values``, or RangeError if two neighbours are one float."""
    for before, after in itertools.pairwise(values):
        if before == after:
            raise RangeError(f"its values are closer than a float can tell apart near {before!r} (about 15 "
                             "significant digits): use fewer values or a wider range")
    return tuple(values)


def _digits_apart(largest: float, gap: float) -> int:
    """Significant digits that tell values ``gap`` apart at the magnitude of ``largest``."""
    if largest == 0 or gap == 0:
        return 0
    return math.floor(math.log10(largest)) - math.floor(math.log10(gap)) + 2
