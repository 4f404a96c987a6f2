"""This project's dataclasses compile their generated methods when first used instead of when the class is made.

Python 3.11 and 3.12 build each generated dataclass method by compiling its source (``dataclasses._create_fn``,
one ``exec`` each): six per frozen class, ~530 for the ~100 classes a ``qnet run`` imports, about a fifth of
the start-up's instructions, for methods most runs never call. :func:`install` (done by ``import protocols``)
wraps ``_create_fn`` so that, for classes defined in this project's packages only, each method waits:
``__repr__``, ``__eq__``, ``__hash__``, ordering and frozen ``__setattr__``/``__delattr__`` start as a small stub
whose first call compiles the method and puts it on the class in the stub's place (later calls go straight to
it); ``__init__`` starts as a descriptor that compiles it at its first look-up, through the class
(``Cls.__init__``, ``inspect.signature(Cls)``) or to make an instance, so whoever looks sees the real method.
Each is compiled from exactly the source the dataclass gave, so it behaves as the dataclass's own. A class
without a docstring gets the one the dataclass would write (its name and ``inspect.signature``) when it is first
read, not at import: writing it compiles the ``__init__`` and asks ``inspect`` for its signature, about a tenth
of this project's own import for the 16 classes without one that a ``qnet run`` imports. Every other dataclass (the
standard library's, other packages', a user's) is built as always. On a Python whose ``dataclasses`` has no
``_create_fn`` (3.13 compiles a class's methods in one ``exec``), :func:`install` does nothing. The text of this
project's methods is compiled once across processes (:mod:`protocols.compiling`): :func:`install` gives
``dataclasses`` an ``exec`` that takes it from there.

>>> import dataclasses, sys, types
>>> probe = types.ModuleType("protocols._doctest_probe"); sys.modules[probe.__name__] = probe
>>> source = "from dataclasses import dataclass\\n@dataclass(frozen=True)\\nclass P:\\n    'A point.'\\n    x: int"
>>> exec(source, vars(probe))
>>> P = probe.P
>>> is_stub(P.__dict__["__init__"]), is_stub(P.__dict__["__eq__"])
(True, True)
>>> P(1) == P(1), is_stub(P.__dict__["__init__"]), is_stub(P.__dict__["__eq__"])
(True, False, False)
>>> del sys.modules[probe.__name__]
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from protocols.compiling import FILENAME, code

PACKAGES = ("protocols", "stack")
"""Top-level packages whose dataclasses get stubs (a class's module is one of them or inside one)."""
LAZY = frozenset({"__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__lt__", "__le__", "__gt__",
                  "__ge__"})
"""The generated methods that wait for their first call (``__init__`` waits for its first look-up)."""

_ORIGINAL: Callable[..., Any] | None = getattr(dataclasses, "_create_fn", None)
_PROCESS: Callable[..., Any] | None = getattr(dataclasses, "_process_class", None)
_PENDING = "(docstring written when first read: protocols.lazymethods)"
"""What a class without a docstring holds while the dataclass is made (it writes one only if there is none)."""


def _ours(globals_: dict[str, Any] | None) -> bool:
    module = (globals_ or {}).get("__name__", "")
    return isinstance(module, str) and module.split(".", 1)[0] in PACKAGES


def _create_fn(name: str, args: Any, body: Any, *, globals: dict[str, Any] | None = None,
               locals: dict[str, Any] | None = None, return_type: Any = dataclasses.MISSING) -> Any:
    """``dataclasses._create_fn``'s signature: compile now, or return a stub that compiles at its first call."""
    assert _ORIGINAL is not None
    if (name not in LAZY and name != "__init__") or not _ours(globals):
        return _ORIGINAL(name, args, body, globals=globals, locals=locals, return_type=return_type)
    spec = (tuple(args), tuple(body), globals, None if locals is None else dict(locals), return_type)
    return _LazyInit(spec) if name == "__init__" else _stub(name, spec)


class _LazyInit:
    """A class's ``__init__`` until it is first looked up: through the class (``Cls.__init__``,
    ``inspect.signature(Cls)``, ``help``) or to make an instance. The look-up compiles the dataclass's
    ``__init__``, puts it on the class in this object's place and returns it, so whoever looks sees the
    real method, its signature and annotations."""

    __slots__ = ("spec",)

    def __init__(self, spec: tuple[Any, ...]) -> None:
        self.spec = spec

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        owner = type(instance) if owner is None else owner
        for klass in owner.__mro__:
            if klass.__dict__.get("__init__") is self:
                real = _compile("__init__", self.spec, f"{klass.__qualname__}.__init__")
                klass.__init__ = real  # type: ignore[misc]
                return real if instance is None else real.__get__(instance, owner)
        raise TypeError(f"{owner.__qualname__}: lazy __init__ not found in its class")  # pragma: no cover

    def __call__(self, instance: Any, *args: Any, **kwargs: Any) -> Any:
        """Called from the class's ``__dict__`` (not through a look-up): compile, replace, call."""
        return self.__get__(None, type(instance))(instance, *args, **kwargs)


def _stub(name: str, spec: tuple[Any, ...]) -> Callable[..., Any]:
    compiled: list[Callable[..., Any]] = []

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not compiled:
            compiled.append(_compile(name, spec, method.__qualname__))
            _replace(type(self), name, method, compiled[0])
        return compiled[0](self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


_STUB_CODE = _stub("__eq__", ()).__code__   # every stub runs this code


def _compile(name: str, spec: tuple[Any, ...], qualname: str) -> Callable[..., Any]:
    assert _ORIGINAL is not None
    args, body, globals_, locals_, return_type = spec
    real = _ORIGINAL(name, args, body, globals=globals_, locals=locals_, return_type=return_type)
    real.__qualname__ = qualname   # the dataclass named the stub after its class
    return real


def _replace(cls: type, name: str, stub: object, real: object) -> None:
    """Put ``real`` where ``stub`` is in ``cls``'s MRO (a ``__repr__`` stub sits inside the dataclass's
    recursion guard, which stays and calls the compiled method from then on)."""
    for klass in cls.__mro__:
        if klass.__dict__.get(name) is stub:
            setattr(klass, name, real)
            return


def _process_class(cls: type, *args: Any, **kwargs: Any) -> type:
    """``dataclasses._process_class``; a class of ours without a docstring gets a :class:`_LazyDoc` instead."""
    assert _PROCESS is not None
    lazy = not cls.__dict__.get("__doc__") and _ours({"__name__": cls.__module__})
    if not lazy:
        return _PROCESS(cls, *args, **kwargs)
    original = cls.__dict__.get("__doc__")
    cls.__doc__ = _PENDING
    try:
        made: type = _PROCESS(cls, *args, **kwargs)
    except BaseException:
        cls.__doc__ = original
        raise
    for klass in {cls, made}:       # with slots, the dataclass made a new class (from a copy of cls's dict)
        if klass.__dict__.get("__doc__") is _PENDING:
            klass.__doc__ = _LazyDoc(klass)  # type: ignore[assignment]
    return made


class _LazyDoc:
    """A dataclass's ``__doc__`` until it is first read (``Cls.__doc__``, ``help``, an instance's ``__doc__``):
    the reading writes what the dataclass would have written, ``Name(signature)``, in this object's place."""

    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def __get__(self, instance: Any, owner: type | None = None) -> str:
        cls = self.cls
        try:
            text = str(inspect.signature(cls)).replace(" -> None", "")
        except (TypeError, ValueError):
            text = ""
        doc = cls.__name__ + text
        if cls.__dict__.get("__doc__") is self:
            cls.__doc__ = doc
        return doc


def _exec(source: Any, globals_: dict[str, Any] | None = None, locals_: dict[str, Any] | None = None, /) -> None:
    """``exec`` as ``dataclasses._create_fn`` calls it (``exec(text, globals, namespace)``, from a module without
    ``__future__`` imports): the text of this project's classes' methods compiled once across processes
    (:mod:`protocols.compiling`), any other's compiled as ``exec`` would."""
    if isinstance(source, str):
        source = code(source) if _ours(globals_) else compile(source, FILENAME, "exec", dont_inherit=True)
    exec(source, globals_, locals_)


def is_stub(method: object) -> bool:
    """True if ``method`` (from a class's ``__dict__``) is a stub not yet replaced by its compiled method (or
    a docstring not yet written)."""
    return isinstance(method, _LazyInit | _LazyDoc) or getattr(method, "__code__", None) is _STUB_CODE


def install() -> bool:
    """Wrap ``dataclasses._create_fn`` and ``_process_class`` (once), and give ``_create_fn`` the ``exec`` that
    takes this project's methods from :mod:`protocols.compiling`; False on a Python without them (nothing
    done)."""
    if _ORIGINAL is None or _PROCESS is None:
        return False
    dataclasses.exec = _exec  # type: ignore[attr-defined]   # found before the builtin by _create_fn
    dataclasses._create_fn = _create_fn  # type: ignore[attr-defined]
    dataclasses._process_class = _process_class  # type: ignore[attr-defined]
    return True


__all__ = ["LAZY", "PACKAGES", "install", "is_stub"]
