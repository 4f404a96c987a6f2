"""The application API's argument checks: a bad argument is one line naming it and what it may be, raised
before anything is sent (``TypeError`` for the wrong type, ``ValueError`` for a value out of range).

>>> whole("pairs", 70000, 1, MAX_PAIRS)
Traceback (most recent call last):
ValueError: pairs must be an integer from 1 to 65535, got 70000
>>> whole("pairs", "3", 1, MAX_PAIRS)
Traceback (most recent call last):
TypeError: pairs must be an integer from 1 to 65535, got '3' (str)
>>> import numpy; whole("pairs", numpy.int64(3), 1, MAX_PAIRS)      # a count computed with numpy is an integer
3
>>> choice("basis", "z", ("Z", "X", "Y"))
Traceback (most recent call last):
ValueError: basis must be one of 'Z', 'X', 'Y', got 'z'
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable
from typing import Any

import numpy as np

from protocols.common import Basis
from stack.scenario import Scenario
from stack.scenario.workload import MAX_PURPOSE_ID

SERVICES = ("auto", "link", "network")
"""Who serves an application's pairs: "link" (a neighbour), "network" (any QPU), "auto" (link if they share one)."""

MAX_PAIRS = 0xFFFF
"""CREATE's Number of Pairs is 16 bits (docs/wire.md §4.1)."""
MAX_PRIORITY = 7
"""CREATE's Priority, 0-7 (higher first)."""
MAX_TIME_NS = 0x3FFF * 1_000_000_000
"""The longest Max Time a CREATE can carry: 14 bits of seconds (docs/wire.md §4.1)."""


def whole(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int if it is an integer (an int or any integer type, numpy's too; not a bool) from ``low``
    to ``high`` (None: no upper bound)."""
    allowed = f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})") from None
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


def time_limit(name: str, value: Any, high: int) -> int:
    """``value`` as whole ns: any real number (``1e9`` as well as ``10**9``; numpy's too; not a bool) from 0 to
    ``high``, rounded to the ns."""
    duration(name, value)
    if value > high:
        raise ValueError(f"{name} must be a number of ns from 0 to {high}, got {value}")
    return round(value)


def duration(name: str, value: Any) -> None:
    """``value`` is a number of ns (any real number type, numpy's too; not a bool), finite and not negative."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a number of ns (0 or more), got {value!r} ({type(value).__name__})")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of ns (0 or more), got {value}")


def probability(name: str, value: Any) -> None:
    """``value`` is a number from 0 to 1 (any real number type, numpy's too; not a bool)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a number from 0 to 1, got {value!r} ({type(value).__name__})")
    if not 0 <= float(value) <= 1:              # NaN fails too
        raise ValueError(f"{name} must be a number from 0 to 1, got {value}")


def choice(name: str, value: Any, options: Iterable[str]) -> None:
    """``value`` is one of ``options`` (case matters)."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")


def measurement_basis(value: Any) -> Basis:
    """``value`` as a :class:`~protocols.common.Basis`: a Basis, its name ("Z", "X", "Y") or its number (0, 1, 2).

    >>> measurement_basis("X"), measurement_basis(2)
    (<Basis.X: 1>, <Basis.Y: 2>)
    >>> measurement_basis("x")
    Traceback (most recent call last):
    ValueError: basis must be a Basis, 'Z', 'X' or 'Y' (or 0, 1, 2), got 'x'
    """
    if isinstance(value, str) and value in Basis.__members__:
        return Basis[value]
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= int(value) <= 2:
        return Basis(int(value))
    raise ValueError(f"basis must be a Basis, 'Z', 'X' or 'Y' (or 0, 1, 2), got {value!r}")


def purpose(value: Any) -> int:
    """``value`` is a Purpose ID an application may serve: 0 to 0x7FFF (the rest are link labels)."""
    return whole("purpose_id", value, 0, MAX_PURPOSE_ID)


def service(scenario: Scenario, node: str, remote: str, service: str = "auto") -> str:
    """"link" or "network": who serves pairs between ``node`` and ``remote`` ("auto": the link layer if they
    share a link); ValueError unless ``remote`` is another QPU and, for "link", a neighbour.

    >>> from stack.scenario import load
    >>> chain = load("examples/repeater-chain.toml")         # QPUs a, r1, r2, r3, b; stations st1 ... st4
    >>> service(chain, "a", "b"), service(chain, "a", "r1")
    ('network', 'link')
    >>> service(chain, "a", "st1")
    Traceback (most recent call last):
    ValueError: remote 'st1' is a station, not a QPU (pairs are made between QPUs)
    >>> service(chain, "a", "b", "link")
    Traceback (most recent call last):
    ValueError: remote 'b' is not a neighbour of 'a' (service='link'): use service 'network' or 'auto'
    """
    if service not in SERVICES:
        raise ValueError(f"service must be one of {', '.join(SERVICES)}, got {service!r}")
    nodes = scenario.nodes
    if remote not in nodes or remote == node:
        raise ValueError(f"remote must be another node of the scenario, got {remote!r}")
    if nodes[remote].kind != "qpu":
        raise ValueError(f"remote {remote!r} is a {nodes[remote].kind}, not a QPU (pairs are made between QPUs)")
    linked = any({link.a, link.b} == {node, remote} for link in scenario.links)
    if service == "link" and not linked:
        raise ValueError(f"remote {remote!r} is not a neighbour of {node!r} (service='link'): use service "
                         "'network' or 'auto'")
    if service == "auto":
        service = "link" if linked else "network"
    return service


def payload(value: Any) -> None:
    """``value`` is bytes-like (bytes, bytearray, memoryview): a message is bytes, not text."""
    if not isinstance(value, bytes | bytearray | memoryview):
        hint = " (encode it: payload.encode())" if isinstance(value, str) else ""
        raise TypeError(f"payload must be bytes, got {type(value).__name__}{hint}")
