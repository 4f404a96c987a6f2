"""protocols.lazymethods: a dataclass of this project behaves as the same class built by the standard library.

The oracle is the standard library itself: each class below is made twice from the same source, once in a
module of this project's packages (stubs) and once in a module outside them (compiled at once, as Python
does), and every generated method is compared on the same values."""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import itertools
import pickle
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from protocols import lazymethods
from protocols.lazymethods import is_stub

pytestmark = pytest.mark.skipif(not hasattr(dataclasses, "_create_fn"), reason="this Python compiles in one exec")

SOURCE = """
from __future__ import annotations
from dataclasses import dataclass, field

@dataclass({flags})
class Record:
    \"\"\"A probe.\"\"\"
    a: int
    b: tuple = ()
    c: object = field(default=None, compare=False)
    d: int = field(default=0, repr=False, hash=False)
"""
FLAGS = [dict(frozen=frozen, eq=eq, order=order and eq, slots=slots, unsafe_hash=unsafe and not frozen)
         for frozen, eq, order, slots, unsafe in itertools.product([True, False], repeat=5)]


def make(module_name: str, flags: dict[str, bool], docstring: bool = True) -> type:
    module = types.ModuleType(module_name)
    sys.modules[module_name] = module
    source = SOURCE if docstring else SOURCE.replace('    \"\"\"A probe.\"\"\"\n', "")
    assert (source == SOURCE) == docstring
    try:
        exec(source.format(flags=", ".join(f"{k}={v}" for k, v in flags.items())), vars(module))
    finally:
        del sys.modules[module_name]
    return module.Record  # type: ignore[no-any-return]


def values() -> Iterator[tuple[Any, ...]]:
    yield from [(1,), (1, (2,)), (1, (2,), "x"), (1, (2,), "y", 5), (2,), (0, (), None, 1)]


def outcome(function: Any, *args: Any) -> tuple[str, Any]:
    """What ``function(*args)`` returned or raised (type and message), to compare two classes' behaviour."""
    try:
        return "value", function(*args)
    except Exception as error:
        return type(error).__name__, str(error)


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: ",".join(k for k, v in f.items() if v) or "plain")
def test_every_generated_method_behaves_as_the_standard_librarys(flags: dict[str, bool]) -> None:
    lazy, eager = make("protocols._lazy_probe", flags), make("_eager_probe", flags)
    generated = [name for name in sorted(lazymethods.LAZY) if callable(eager.__dict__.get(name))]
    assert is_stub(lazy.__dict__["__init__"]) and not is_stub(eager.__dict__["__init__"])
    assert generated and all(is_stub(lazy.__dict__[name]) or name == "__repr__" for name in generated)
    assert not any(is_stub(eager.__dict__[name]) for name in generated)
    assert inspect.signature(lazy) == inspect.signature(eager) and lazy.__doc__ == eager.__doc__
    assert (lazy.__hash__ is None) == (eager.__hash__ is None)
    pairs = [(lazy(*v), eager(*v)) for v in values()]
    for (x, ex), (y, ey) in itertools.product(pairs, repeat=2):
        for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
            assert outcome(getattr(x, op), y) == outcome(getattr(ex, op), ey), op
        assert outcome(x.__eq__, 3) == outcome(ex.__eq__, 3)
    for x, ex in pairs:
        assert repr(x) == repr(ex)
        if eager.__dict__.get("__hash__") is not None:
            assert hash(x) == hash(ex)
        assert outcome(setattr, x, "a", 9) == outcome(setattr, ex, "a", 9)
        assert outcome(delattr, x, "b") == outcome(delattr, ex, "b")
        assert outcome(setattr, x, "other", 1) == outcome(setattr, ex, "other", 1)
    assert not any(is_stub(lazy.__dict__.get(name)) for name in generated)   # each compiled at its first call
    assert [getattr(lazy, n).__qualname__ for n in generated] == [getattr(eager, n).__qualname__ for n in generated]


def test_init_is_compiled_at_its_first_look_up_whichever_it_is() -> None:
    eager = make("_eager_probe", {"frozen": True, "slots": True})
    for look_up in ("instance", "class", "signature", "subclass", "dict"):
        lazy = make("protocols._lazy_probe", {"frozen": True, "slots": True})
        assert is_stub(lazy.__dict__["__init__"])
        if look_up == "instance":
            made = lazy(1, (2,), d=3)
        elif look_up == "class":
            assert lazy.__init__.__qualname__ == eager.__init__.__qualname__ == "Record.__init__"
            assert lazy.__init__.__annotations__ == eager.__init__.__annotations__
            made = lazy(1, (2,), d=3)
        elif look_up == "signature":
            assert inspect.signature(lazy) == inspect.signature(eager)
            made = lazy(1, (2,), d=3)
        elif look_up == "subclass":
            class Sub(lazy):  # type: ignore[valid-type,misc]
                __slots__ = ()

                def __init__(self, a: int) -> None:
                    super().__init__(a, (2,), d=3)
            made = Sub(1)
        else:
            made = object.__new__(lazy)
            lazy.__dict__["__init__"](made, 1, (2,), d=3)
        assert not is_stub(lazy.__dict__["__init__"]), look_up
        assert dataclasses.astuple(made) == dataclasses.astuple(eager(1, (2,), d=3)) == (1, (2,), None, 3)
        assert outcome(lazy, 1, 2, 3, 4, 5) == outcome(eager, 1, 2, 3, 4, 5)
        assert outcome(lazy) == outcome(eager)


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: ",".join(k for k, v in f.items() if v) or "plain")
def test_a_class_without_docstring_gets_the_standard_librarys_when_first_read(flags: dict[str, bool]) -> None:
    """The dataclass writes ``Name(signature)`` as the docstring of a class without one; ours writes it at the
    first read (through the class, an instance or a subclass's look-up), so making the class compiles nothing."""
    eager = make("_eager_probe", flags, docstring=False)
    assert eager.__doc__ == "Record(a: 'int', b: 'tuple' = (), c: 'object' = None, d: 'int' = 0)"
    for read in ("class", "instance", "getdoc"):
        lazy = make("protocols._lazy_probe", flags, docstring=False)
        assert is_stub(lazy.__dict__["__doc__"]) and is_stub(lazy.__dict__["__init__"])
        if read == "class":
            assert lazy.__doc__ == eager.__doc__
        elif read == "instance":
            assert lazy(1).__doc__ == eager(1).__doc__ == eager.__doc__
        else:
            assert inspect.getdoc(lazy) == inspect.getdoc(eager)
        assert lazy.__dict__["__doc__"] == eager.__doc__          # written in the descriptor's place
        assert inspect.signature(lazy) == inspect.signature(eager)
    with_doc = make("protocols._lazy_probe", flags)
    assert with_doc.__dict__["__doc__"] == "A probe." and is_stub(with_doc.__dict__["__init__"])


def test_a_failing_dataclass_leaves_the_class_as_it_was() -> None:
    module = types.ModuleType("protocols._lazy_probe")
    sys.modules[module.__name__] = module
    try:
        exec("class Bad:\n    a: int = 0\n    b: int\n", vars(module))
        with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
            dataclasses.dataclass(module.Bad)
    finally:
        del sys.modules[module.__name__]
    assert module.Bad.__doc__ is None


def test_recursive_repr_and_pickle_and_replace() -> None:
    lazy, eager = make("protocols._lazy_probe", {"slots": True}), make("_eager_probe", {"slots": True})
    x, ex = lazy(1, [], None), eager(1, [], None)
    x.b.append(x)
    ex.b.append(ex)
    assert repr(x) == repr(ex) == "Record(a=1, b=[...], c=None)"
    frozen = make("protocols._lazy_probe", {"frozen": True, "slots": True})
    globals()["Record"] = frozen       # pickle finds the class by module and name
    frozen.__module__ = __name__
    try:
        p = frozen(1, (2,), "c", 4)
        assert pickle.loads(pickle.dumps(p)) == p and dataclasses.replace(p, a=2) == frozen(2, (2,), "c", 4)
        assert dataclasses.astuple(p) == (1, (2,), "c", 4)
    finally:
        del globals()["Record"]


def test_only_this_projects_classes_get_stubs() -> None:
    inside = make("stack._lazy_probe", {"frozen": True})
    assert all(is_stub(inside.__dict__[name]) for name in ("__init__", "__eq__", "__hash__", "__setattr__",
                                                            "__delattr__"))
    outside = make("elsewhere.module", {"frozen": True})
    assert not any(is_stub(v) for v in vars(outside).values())
    assert lazymethods._ours({"__name__": "stack.core.capture"}) and not lazymethods._ours({"__name__": "stackx"})


def test_doctests() -> None:
    assert doctest.testmod(lazymethods).failed == 0
