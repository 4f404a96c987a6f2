"""protocols.fastinit: the replaced __init__ builds the same objects as the dataclass's own, frozen as before."""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import pickle

import pytest

from protocols import fastinit
from protocols.fastinit import fast_init
from protocols.packets.egp import EgpMessage
from protocols.physical.hardware import Emitted, Gate, Measure


def test_doctests() -> None:
    assert doctest.testmod(fastinit).failed == 0


@dataclasses.dataclass(frozen=True, slots=True)
class _Reference:
    a: int
    b: tuple[int, ...]
    c: int | None = None
    d: bool = True


_Fast = fast_init(dataclasses.make_dataclass("_Fast", [("a", int), ("b", tuple), ("c", int | None, None),
                                                       ("d", bool, True)], frozen=True, slots=True))


def test_same_fields_defaults_and_signature() -> None:
    def shape(cls: type) -> list[tuple[str, object]]:
        return [(p.name, p.default) for p in inspect.signature(cls).parameters.values()]

    assert shape(_Fast) == shape(_Reference)
    for args in [(1, (2,)), (1, (2,), 3), (1, (2,), None, False)]:
        fast, ref = _Fast(*args), _Reference(*args)
        assert dataclasses.astuple(fast) == dataclasses.astuple(ref)
    assert _Fast(a=1, b=(), d=False) == _Fast(1, (), None, False)
    with pytest.raises(TypeError):
        _Fast(1)  # type: ignore[call-arg]


def test_frozen_hashable_picklable_replaceable() -> None:
    emitted = Emitted(1, 2, 3, 4, 5, (0.25, 0.25, 0.25, 0.25))
    with pytest.raises(dataclasses.FrozenInstanceError):
        emitted.slot = 9  # type: ignore[misc]
    assert hash(emitted) == hash(Emitted(1, 2, 3, 4, 5, (0.25, 0.25, 0.25, 0.25)))
    assert pickle.loads(pickle.dumps(emitted)) == emitted
    assert dataclasses.replace(emitted, slot=7).slot == 7
    assert repr(Measure(1, 0)).startswith("Measure(slot=1, basis=0")
    assert EgpMessage.__init__.__qualname__ == "EgpMessage.__init__"


def test_post_init_still_runs() -> None:
    with pytest.raises(ValueError, match="unknown gate"):
        Gate("NOPE", (0,))


def test_refuses_what_it_cannot_build() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class WithFactory:
        items: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(slots=True)
    class NotFrozen:
        a: int

    for cls in (WithFactory, NotFrozen):
        with pytest.raises(TypeError, match="fast_init"):
            fast_init(cls)


def test_fast_new_builds_the_class_own_objects() -> None:
    new = fastinit.fast_new(_Fast)
    for args in [(1, (2,)), (1, (2,), 3), (1, (2,), None, False)]:
        built = new(*args)
        assert type(built) is _Fast and built == _Fast(*args) and hash(built) == hash(_Fast(*args))
        assert repr(built) == repr(_Fast(*args))
        with pytest.raises(dataclasses.FrozenInstanceError):
            built.a = 5  # type: ignore[misc]
    assert new(a=1, b=(), d=False) == _Fast(1, (), None, False)
    assert dataclasses.replace(new(1, ()), c=4) == _Fast(1, (), 4)
    with pytest.raises(TypeError):
        new(1)
    emitted = fastinit.fast_new(Emitted)(1, 2, 3, 4, 5, (0.25, 0.25, 0.25, 0.25))
    assert pickle.loads(pickle.dumps(emitted)) == emitted == Emitted(1, 2, 3, 4, 5, (0.25, 0.25, 0.25, 0.25))


def test_fast_new_refuses_what_it_cannot_build() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(Base):
        b: int

    @dataclasses.dataclass(slots=True)
    class Mutable:
        a: int

    for cls in (Derived, Mutable):
        with pytest.raises(TypeError):
            fastinit.fast_new(cls)


def test_fast_new_calls_post_init() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    new = fastinit.fast_new(Checked)
    assert new(3) == Checked(3)
    with pytest.raises(ValueError, match="negative"):
        new(-1)
