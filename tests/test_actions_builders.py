"""protocols.common's Actions builders: the same Actions as the class call, every field set."""

from __future__ import annotations

import dataclasses

import pytest

from protocols.common import Actions, commanding, going_down, going_up, sending

BUILDERS = {"send": sending, "up": going_up, "down": going_down, "hardware": commanding}


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("deadline", [None, 0, 17])
def test_builder_equals_the_class_call(name: str, deadline: int | None) -> None:
    items = [("x", 1)]
    built = BUILDERS[name](items, deadline)
    assert type(built) is Actions and built == Actions(**{name: items}, deadline=deadline)
    assert getattr(built, name) is items                 # the caller's list, as the class keeps it
    others = [getattr(built, f.name) for f in dataclasses.fields(Actions) if f.name not in (name, "deadline")]
    assert others == [[], [], []] and len({id(o) for o in others}) == 3   # each its own empty list


def test_builders_set_every_field() -> None:
    """A field added to Actions must be set by the builders too (they do not call __init__)."""
    assert {f.name for f in dataclasses.fields(Actions)} == {*BUILDERS, "deadline"}
    for builder in BUILDERS.values():
        built = builder([])
        for f in dataclasses.fields(Actions):
            getattr(built, f.name)                       # AttributeError if a slot was left unset
