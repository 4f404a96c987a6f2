"""What a sweep varies: ``KEY=SPEC`` axes and the points they span.

A KEY is a scenario key written as in the scenario's own error messages: dotted, with
``workload[i]`` for the i-th ``[[workload]]`` entry (``links.alice-bob.length_km``,
``nodes.alice.transducer_efficiency``, ``workload[0].pairs``). A SPEC is

- ``START:STOP:COUNT``: COUNT evenly spaced values from START to STOP inclusive (integers when
  START and STOP are integers and every value is one);
- ``START:STOP:COUNT:log``: COUNT values evenly spaced on a log scale (integers likewise);

A range's integer values are exact, however many digits (``1000000000001:1000000000003:3``); so are its
other values that a float holds (``0.1:0.5:5`` is 0.1, 0.2, 0.3, 0.4, 0.5, not numpy's 0.30000000000000004), the
rest rounded (:mod:`stack.sweep.ranges`). COUNT is at most :data:`MAX_COUNT`. No value may repeat (``5:5:3``,
``1,1``, ``10,10.0``): more runs of a point are ``--seeds``.
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
from typing import Any

from stack.sweep.ranges import RangeError, digits, exact, linear_range, log_range

Path = tuple[str | int, ...]
"""A key as a path into the TOML document: table names and array indices."""

MAX_COUNT = 1_000_000
"""The most values one range may have (a sweep's runs are bounded separately: ``--max-runs``)."""

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
    if len(parts) == 4 and (start <= 0 or stop <= 0):
        raise SweepError(f"--vary {spec}: a log range needs positive START and STOP")
    make = log_range if len(parts) == 4 else linear_range
    try:
        return make(exact(parts[0], start), exact(parts[1], stop), count,
                    isinstance(start, int) and isinstance(stop, int), max(map(digits, parts[:2])))
    except RangeError as error:
        raise SweepError(f"--vary {spec}: {error}") from None


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
    seen: set[tuple[bool, Any]] = set()
    for value in axis.values:
        key = (isinstance(value, bool), value)          # hashes as it compares: 10 and 10.0 are one key
        if key in seen:
            raise SweepError(f"--vary {axis.key}={axis.spec}: the value {value!r} is given more than once "
                             "(more runs of a point: --seeds)")
        seen.add(key)
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
