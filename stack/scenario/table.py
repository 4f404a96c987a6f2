"""Reading TOML tables with errors that name the file and the dotted key.

>>> t = Table("x.toml", "run", {"seed": "one"})
>>> try:
...     t.number("seed", 1, integer=True)
... except ScenarioError as error:
...     print(error)
x.toml: run.seed: expected an integer, got 'one'
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Iterable
from typing import Any

REQUIRED: Any = object()
"""Default meaning "the key must be present"."""

_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlevel = 40, 40, 2


def shown(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut short (a deeply nested or long value stays one
    short line)."""
    return _SHORT.repr(value)


def suggestion(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known`` to a misspelt ``name``, else nothing."""
    import difflib  # here and below: only a scenario with a mistake needs it, not every run's start-up

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ScenarioError(ValueError):
    """A scenario file the user must fix: names the file, the key and what is wrong."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source, self.key, self.problem = source, key, problem


class Table:
    """One TOML table being read: typed getters that name the key on error."""

    def __init__(self, source: str, prefix: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(source, prefix, f"expected a table, got {shown(data)}")
        self.source, self.prefix, self.data = source, prefix, data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        """The dotted key of ``name`` in this table, quoted as TOML quotes it when it is not a bare key."""
        if re.fullmatch(r"[A-Za-z0-9_-]+", name) is None:
            import json

            name = json.dumps(name)
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, problem: str) -> ScenarioError:
        return ScenarioError(self.source, self.key(name), problem)

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, default: Any) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is REQUIRED:
                import difflib

                strays = difflib.get_close_matches(name, [k for k in self.data if k not in self.used], n=1)
                raise self.error(name, "is required" + (f" ({strays[0]!r} misspelt?)" if strays else ""))
            return default
        return self.data[name]

    def number(self, name: str, default: Any = REQUIRED, low: float = -math.inf,
               high: float = math.inf, integer: bool = False, finite: bool = True) -> Any:
        value = self.get(name, default)
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            kind = "an integer" if integer else "a number"
            raise self.error(name, f"expected {kind}, got {shown(value)}")
        if finite and isinstance(value, float) and math.isinf(value):
            raise self.error(name, f"must be finite, got {value!r}")
        if not low <= value <= high or (isinstance(value, float) and math.isnan(value)):
            raise self.error(name, f"must be in [{low}, {high}], got {value!r}")
        return value

    def probability(self, name: str, default: Any = REQUIRED) -> float:
        return float(self.number(name, default, low=0.0, high=1.0))

    def text(self, name: str, default: Any = REQUIRED, choices: tuple[str, ...] | None = None) -> str:
        value = self.get(name, default)
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {shown(value)}")
        if choices is not None and value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}; got {shown(value)}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {shown(value)}")
        return value

    def finish(self) -> None:
        """Every key of the table must have been read: the first other one is an unknown key."""
        self.only(self.used)

    def only(self, known: Iterable[str]) -> None:
        """Reject the first key not in ``known``, suggesting the closest known one."""
        known = set(known)
        unknown = sorted(set(self.data) - known)
        if unknown:
            kind = "table" if isinstance(self.data[unknown[0]], dict | list) else "key"
            raise self.error(unknown[0], f"unknown {kind}" + suggestion(unknown[0], known))
