"""What a sweep varies: ``KEY=SPEC`` axes and the points they span.

A KEY is a scenario key written as in the scenario's own error messages: dotted, with
``workload[i]`` for the i-th ``[[workload]]`` entry (``links.alice-bob.length_km``,
``nodes.alice.transducer_efficiency``, ``workload[0].pairs``). A SPEC is

- ``START:STOP:COUNT``: COUNT evenly spaced values from START to STOP inclusive (integers when
  START and STOP are integers and every value is one);
- ``START:STOP:COUNT:log``: COUNT values evenly spaced on a log scale (integers likewise);

A range's integer values are exact, however many digits (``1000000000001:1000000000003:3``); its other
values are rounded to 12 significant digits, or to as many as START or STOP is written with (``0.1:0.5:5`` is
0.1, 0.2, 0.3, 0.4, 0.5, not numpy's 0.30000000000000004). COUNT is at most :data:`MAX_COUNT`. No
value may repeat (``5:5:3``, ``1,1``, ``10,10.0``): more runs of a point are ``--seeds``.
- ``V1,V2,...``: a list; a value is ``true``/``false``, a number, or else a string;
- ``V``: one value.

>>> parse_axis("links.alice-bob.length_km=1:100:3").values
(1.0, 50.5, 100.0)
>>> parse_axis("workload[0].pairs=10:30:3").values
(10, 20, 30)
>>> parse_axis("links.ab.mode=sampled,exact").path
('links', 'ab', 'mode')
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

Path = tuple[str | int, ...]
"""A key as a path into the TOML document: table names and array indices."""

MAX_COUNT = 1_000_000
"""The most values one range may have (a sweep's runs are bounded separately: ``--max-runs``)."""
SIGNIFICANT = 12
"""Significant digits a log range's values keep at least: numpy's float noise goes, every value a user means
stays."""

_INTEGER = re.compile(r"[+-]?\d+")
_PART = re.compile(r"^(?P<name>[^.\[\]]+)(?P<indices>(\[\d+\])*)$")


class SweepError(ValueError):
    """A sweep the user must fix: one line naming what is wrong."""


@dataclass(frozen=True, slots=True)
class Axis:
    """One varied key and its values."""

    key: str
    values: tuple[Any, ...]
    spec: str = ""

    @property
    def path(self) -> Path:
        return key_path(self.key)


def key_path(key: str) -> Path:
    """``"workload[0].pairs"`` → ``("workload", 0, "pairs")``."""
    path: list[str | int] = []
    for part in key.split("."):
        match = _PART.match(part.strip())
        if match is None:
            raise SweepError(f"{key!r} is not a scenario key (dotted names, e.g. links.alice-bob.length_km "
                             "or workload[0].pairs)")
        path.append(match["name"])
        path.extend(int(index) for index in re.findall(r"\[(\d+)\]", match["indices"]))
    return tuple(path)


def key_name(path: Path) -> str:
    """The inverse of :func:`key_path`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def parse_value(token: str) -> Any:
    """A value as a scenario would hold it: bool, int, float, else a string (quotes optional)."""
    token = token.strip()
    if token in ("true", "false"):
        return token == "true"
    if _INTEGER.fullmatch(token):
        return int(token)
    try:
        return float(token)
    except ValueError:
        pass
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def _number(token: str, what: str, spec: str) -> float:
    value = parse_value(token)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SweepError(f"--vary {spec}: {what} must be a finite number, got {token!r}")
    return value


def parse_range(spec: str, text: str) -> tuple[Any, ...]:
    parts = text.split(":")
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "log"):
        raise SweepError(f"--vary {spec}: a range is START:STOP:COUNT or START:STOP:COUNT:log")
    start, stop = _number(parts[0], "START", spec), _number(parts[1], "STOP", spec)
    count = parse_value(parts[2])
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise SweepError(f"--vary {spec}: COUNT must be a positive integer, got {parts[2]!r}")
    if count > MAX_COUNT:
        raise SweepError(f"--vary {spec}: COUNT must be at most {MAX_COUNT}, got {count}")
    if count > 1 and start == stop:
        raise SweepError(f"--vary {spec}: START and STOP are equal, so its {count} values would be one point "
                         "repeated (more runs of a point: --seeds)")
    if len(parts) == 4:
        if start <= 0 or stop <= 0:
            raise SweepError(f"--vary {spec}: a log range needs positive START and STOP")
        return _log_range(start, stop, count, max(SIGNIFICANT, *map(_digits, parts[:2])))
    return _linear_range(_exact(parts[0], start), _exact(parts[1], stop), count,
                         isinstance(start, int) and isinstance(stop, int), max(SIGNIFICANT, *map(_digits, parts[:2])))


def _exact(token: str, value: float) -> Fraction:
    """The number a token writes, exactly (``0.1`` is 1/10, not the float nearest it)."""
    try:
        return Fraction(token.strip())
    except ValueError:
        return Fraction(value)


def _digits(token: str) -> int:
    """The significant digits a number is written with (``1000000000001`` 13, ``0.250`` 3)."""
    mantissa = re.split(r"[eE]", token.strip().lstrip("+-"))[0].replace(".", "").replace("_", "")
    return len(mantissa.lstrip("0"))


def _linear_range(start: Fraction, stop: Fraction, count: int, integers: bool, digits: int) -> tuple[Any, ...]:
    """START + k (STOP − START) / (COUNT − 1) for each k, computed exactly: integers when START and STOP are
    and every value is one, however many digits; else floats rounded to ``digits`` significant digits
    (``0:1:4`` is 0, 0.333333333333, ...)."""
    steps = max(count - 1, 1)
    denominator = start.denominator * stop.denominator * steps
    first = start.numerator * stop.denominator * steps
    step = stop.numerator * start.denominator - start.numerator * stop.denominator
    numerators = [first + step * k for k in range(count)]
    if integers and all(numerator % denominator == 0 for numerator in numerators):
        return tuple(numerator // denominator for numerator in numerators)
    return tuple(float(f"{numerator / denominator:.{digits}g}") for numerator in numerators)


def _log_range(start: float, stop: float, count: int, digits: int) -> tuple[Any, ...]:
    """COUNT values evenly spaced on a log scale, START and STOP as given: integers when START and STOP are
    and every value is one to 1e-9; else floats rounded to ``digits`` significant digits (numpy's noise
    goes: ``1:1000:4:log`` is 1, 10, 100, 1000, not 9.999999999999998)."""
    values: list[Any] = [float(value) for value in np.geomspace(start, stop, count)]
    values[0], values[-1] = start, stop
    if isinstance(start, int) and isinstance(stop, int) and \
            all(abs(value - round(value)) <= 1e-9 * abs(value) for value in values):
        return tuple(value if isinstance(value, int) else round(value) for value in values)
    return tuple(float(f"{value:.{digits}g}") if isinstance(value, float) else float(value) for value in values)


def parse_axis(spec: str) -> Axis:
    """``KEY=SPEC`` → an :class:`Axis`."""
    key, equals, text = spec.partition("=")
    key, text = key.strip(), text.strip()
    if not equals or not key or not text:
        raise SweepError(f"--vary {spec}: expected KEY=VALUES, e.g. links.alice-bob.length_km=1:100:12")
    key = key_name(key_path(key))
    if "," in text:
        values = tuple(parse_value(item) for item in text.split(","))
    elif ":" in text:
        values = parse_range(spec, text)
    else:
        values = (parse_value(text),)
    return _check_distinct(Axis(key, values, text))


def axes_from(vary: Sequence[str] | dict[str, Any]) -> tuple[Axis, ...]:
    """Axes from ``KEY=SPEC`` strings, or from a mapping of keys to values (the Python API): a list of
    values, one value, or a SPEC string (``{"links.ab.length_km": "1:40:5"}``)."""
    if isinstance(vary, str):
        raise SweepError(f"vary must be a list of KEY=VALUES strings or a dict, got the string {vary!r}")
    if isinstance(vary, dict):
        axes = [_axis_of(key, values) for key, values in vary.items()]
    else:
        axes = [parse_axis(spec) if isinstance(spec, str) else _not_a_spec(spec) for spec in vary]
    keys = [axis.key for axis in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise SweepError(f"--vary {key}: given more than once")
    if not axes:
        raise SweepError("nothing to vary: give at least one --vary KEY=VALUES")
    return tuple(axes)


def _axis_of(key: Any, values: Any) -> Axis:
    if not isinstance(key, str):
        raise SweepError(f"vary: a key must be a string such as 'links.ab.length_km', got {key!r}")
    if isinstance(values, str):
        return parse_axis(f"{key}={values}")
    if isinstance(values, bool | int | float):
        values = (values,)
    if not isinstance(values, Sequence):
        raise SweepError(f"--vary {key}: values must be a list, a value or a SPEC string, got {values!r}")
    values = tuple(values)
    if not values:
        raise SweepError(f"--vary {key}: no values")
    return _check_distinct(Axis(key_name(key_path(key)), values, ",".join(map(str, values))))


def _not_a_spec(spec: Any) -> Axis:
    raise SweepError(f"vary: {spec!r} is not a KEY=VALUES string")


def _check_distinct(axis: Axis) -> Axis:
    """No value twice: compared as values (10 and 10.0 are one point), a boolean never equal to a number."""
    seen: list[Any] = []
    for value in axis.values:
        if any(isinstance(value, bool) == isinstance(known, bool) and value == known for known in seen):
            raise SweepError(f"--vary {axis.key}={axis.spec}: the value {value!r} is given more than once "
                             "(more runs of a point: --seeds)")
        seen.append(value)
    return axis


def points(axes: tuple[Axis, ...], zipped: bool = False) -> list[dict[str, Any]]:
    """Every point: the grid (Cartesian product, first axis slowest), or the axes zipped together."""
    if zipped:
        counts = {len(axis.values) for axis in axes}
        if len(counts) > 1:
            raise SweepError("--zip needs the same number of values on every --vary: got "
                             + ", ".join(f"{axis.key} {len(axis.values)}" for axis in axes))
        combos: Any = zip(*(axis.values for axis in axes), strict=True)
    else:
        combos = itertools.product(*(axis.values for axis in axes))
    return [dict(zip((axis.key for axis in axes), combo, strict=True)) for combo in combos]
