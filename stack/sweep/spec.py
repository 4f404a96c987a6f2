"""What a sweep varies: ``KEY=SPEC`` axes and the points they span.

A KEY is a scenario key written as in the scenario's own error messages: dotted, with
``workload[i]`` for the i-th ``[[workload]]`` entry (``links.alice-bob.length_km``,
``nodes.alice.transducer_efficiency``, ``workload[0].pairs``). A SPEC is

- ``START:STOP:COUNT``: COUNT evenly spaced values from START to STOP inclusive (integers when
  START and STOP are integers and every value is one);
- ``START:STOP:COUNT:log``: COUNT values evenly spaced on a log scale;
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

import numpy as np

Path = tuple[str | int, ...]
"""A key as a path into the TOML document: table names and array indices."""

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
    if len(parts) == 4:
        if start <= 0 or stop <= 0:
            raise SweepError(f"--vary {spec}: a log range needs positive START and STOP")
        values = np.geomspace(start, stop, count)
    else:
        values = np.linspace(start, stop, count)
    if isinstance(start, int) and isinstance(stop, int) and len(parts) == 3 and np.all(values == np.round(values)):
        return tuple(int(v) for v in np.round(values))
    return tuple(float(v) for v in values)


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
    return Axis(key, values, text)


def axes_from(vary: Sequence[str] | dict[str, Sequence[Any]]) -> tuple[Axis, ...]:
    """Axes from ``KEY=SPEC`` strings, or from a mapping of keys to value lists (the Python API)."""
    if isinstance(vary, dict):
        axes = []
        for key, values in vary.items():
            values = tuple(values)
            if not values:
                raise SweepError(f"--vary {key}: no values")
            axes.append(Axis(key_name(key_path(key)), values, ",".join(map(str, values))))
    else:
        axes = [parse_axis(spec) for spec in vary]
    keys = [axis.key for axis in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise SweepError(f"--vary {key}: given more than once")
    if not axes:
        raise SweepError("nothing to vary: give at least one --vary KEY=VALUES")
    return tuple(axes)


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
