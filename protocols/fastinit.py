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

:func:`fast_new` goes further for the few classes built several times a pair (a decoded message, a heralded
pair): a function that builds the same object without calling the class. It fills the slots of an instance of
a twin class that has the same slots and no ``__setattr__`` of its own (plain attribute stores, which the
interpreter specialises, instead of a descriptor's call per field), then makes it an instance of the class
(``__class__`` assignment, allowed between classes of the same slot layout). The object is the class's in every
respect; the class, its ``__init__``, pickling and ``replace`` are untouched.

Both compile the function they build from its source text once across processes (:mod:`protocols.compiling`).

>>> new_point = fast_new(Point)
>>> q = new_point(1)
>>> type(q) is Point, q == Point(1), hash(q) == hash(Point(1)), new_point(x=3, y=4)
(True, True, True, Point(x=3, y=4))
"""

from __future__ import annotations
import __future__

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from protocols.compiling import code

T = TypeVar("T")
_FLAGS = __future__.annotations.compiler_flag
"""The flags ``exec`` of a string here would inherit from this module (its ``from __future__ import annotations``)."""


def _plain_fields(cls: type, who: str) -> tuple[dataclasses.Field[Any], ...]:
    """``cls``'s fields, if it is a frozen slots dataclass whose fields are all plain (positional, no
    ``default_factory``, no ``InitVar``, all in ``__init__``); else ``TypeError``."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{who}: {cls.__qualname__} is not a frozen slots dataclass")
    fields = dataclasses.fields(cls)
    if len(fields) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        raise TypeError(f"{who}: {cls.__qualname__} has an InitVar or ClassVar pseudo-field")
    for f in fields:
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{who}: {cls.__qualname__}.{f.name} is not a plain positional field")
    return fields


def _parameters(fields: tuple[dataclasses.Field[Any], ...], namespace: dict[str, Any]) -> list[str]:
    """The generated function's parameters, as the dataclass's ``__init__`` has them (defaults put in
    ``namespace``)."""
    args = []
    for f in fields:
        if f.default is dataclasses.MISSING:
            args.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
    return args


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen slots dataclass ``cls`` an ``__init__`` that sets its slots through their descriptors.

    Only for plain fields (positional, no ``default_factory``, no ``InitVar``, all in ``__init__``): anything
    else raises ``TypeError`` at import, so a class that grows such a field is noticed, not mis-built."""
    fields = _plain_fields(cls, "fast_init")
    namespace: dict[str, Any] = {}
    args, lines = _parameters(fields, namespace), []
    for f in fields:
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        lines.append(f"    _set_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        lines.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(args)}):\n" + ("\n".join(lines) or "    pass") + "\n"
    exec(code(source, _FLAGS), namespace)   # compiled once across processes
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = None                         # as the generated one's (not looked up: it may not be compiled yet)
    init.__annotations__ = {f.name: f.type for f in fields} | {"return": None}
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


def fast_new(cls: type[T]) -> Callable[..., T]:
    """A function with ``cls``'s ``__init__`` signature that returns the instance ``cls(...)`` would, built
    without calling ``cls`` (the module's docstring says how). For frozen slots dataclasses whose only base is
    ``object`` and whose fields are plain (as :func:`fast_init` requires): anything else raises ``TypeError``
    at import. ``__post_init__``, if any, is called as the class's ``__init__`` would."""
    fields = _plain_fields(cls, "fast_new")
    if cls.__bases__ != (object,):
        raise TypeError(f"fast_new: {cls.__qualname__} has a base class")
    twin = type(f"{cls.__name__}Twin", (object,), {"__slots__": cls.__dict__["__slots__"],
                                                   "__module__": cls.__module__})
    namespace: dict[str, Any] = {"_cls": cls, "_twin": twin, "_new": object.__new__}
    args, lines = _parameters(fields, namespace), ["    self = _new(_twin)"]
    lines += [f"    self.{f.name} = {f.name}" for f in fields]
    lines.append("    self.__class__ = _cls")          # the twin has object's __setattr__: a plain store
    if hasattr(cls, "__post_init__"):
        lines.append("    self.__post_init__()")
    source = f"def new_{cls.__name__}({', '.join(args)}):\n" + "\n".join(lines) + "\n    return self\n"
    exec(code(source, _FLAGS), namespace)   # compiled once across processes
    new: Callable[..., T] = namespace[f"new_{cls.__name__}"]
    new.__qualname__ = f"fast_new({cls.__qualname__})"
    new.__module__ = cls.__module__
    new.__doc__ = f"``{cls.__qualname__}(...)``, built without calling the class (:func:`protocols.fastinit.fast_new`)."
    return new


__all__ = ["fast_init", "fast_new"]
