"""A cheaper ``__init__`` for the frozen slots dataclasses that carry every per-pair event and message.

A frozen dataclass's generated ``__init__`` sets each field with ``object.__setattr__(self, name, value)``
(its own ``__setattr__`` refuses); :func:`fast_init` replaces it with one that calls each slot's member
descriptor directly (``Cls.__dict__[name].__set__``), about half the cost per field. Everything else is the
dataclass's: the same signature and defaults, ``__post_init__`` still called, the instance as immutable as
before (``FrozenInstanceError`` on assignment), ``__eq__``, ``__hash__``, ``__repr__``, ``dataclasses.fields``
and ``dataclasses.replace`` unchanged.

>>> from dataclasses import FrozenInstanceError, dataclass, replace
>>> @fast_init
... @dataclass(frozen=True, slots=True)
... class Point:
...     x: int
...     y: int = 0
>>> p = Point(1)
>>> p, p == Point(1, 0), hash(p) == hash(Point(1, 0)), replace(p, y=2)
(Point(x=1, y=0), True, True, Point(x=1, y=2))
>>> try:
...     p.x = 5
... except FrozenInstanceError:
...     print("frozen")
frozen
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen slots dataclass ``cls`` an ``__init__`` that sets its slots through their descriptors.

    Only for plain fields (positional, no ``default_factory``, no ``InitVar``, all in ``__init__``): anything
    else raises ``TypeError`` at import, so a class that grows such a field is noticed, not mis-built."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"fast_init: {cls.__qualname__} is not a frozen slots dataclass")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if len(fields) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        raise TypeError(f"fast_init: {cls.__qualname__} has an InitVar or ClassVar pseudo-field")
    namespace: dict[str, Any] = {}
    args, lines = [], []
    for f in fields:
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"fast_init: {cls.__qualname__}.{f.name} is not a plain positional field")
        if f.default is dataclasses.MISSING:
            args.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        lines.append(f"    _set_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        lines.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(args)}):\n" + ("\n".join(lines) or "    pass") + "\n"
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = None                         # as the generated one's (not looked up: it may not be compiled yet)
    init.__annotations__ = {f.name: f.type for f in fields} | {"return": None}
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


__all__ = ["fast_init"]
