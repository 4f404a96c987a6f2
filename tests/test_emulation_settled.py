"""Emulation.settled asks the layer found waiting last time first; its answer is always all layers' answer."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stack.emulation import Emulation


class FakeLayer:
    def __init__(self) -> None:
        self.waiting = False
        self.asked = 0

    def settled(self) -> bool:
        self.asked += 1
        return not self.waiting


def _emulation(links: int, networks: int) -> tuple[Any, list[FakeLayer]]:
    emu: Any = object.__new__(Emulation)
    emu.link_layers = [FakeLayer() for _ in range(links)]
    emu.network_layers = [FakeLayer() for _ in range(networks)]
    emu._settle_order, emu._waiting_layer = [], 0
    return emu, [*emu.link_layers, *emu.network_layers]


@given(st.integers(0, 5), st.integers(0, 5), st.lists(st.sets(st.integers(0, 9)), max_size=30))
def test_settled_is_every_layers_answer(links: int, networks: int, waits: list[set[int]]) -> None:
    emu, layers = _emulation(links, networks)
    for waiting in waits:
        for index, layer in enumerate(layers):
            layer.waiting = index in waiting
        assert emu.settled() == all(layer.settled() for layer in layers)


def test_one_layer_waiting_long_is_asked_alone() -> None:
    emu, layers = _emulation(20, 20)
    layers[33].waiting = True
    assert not emu.settled()
    asked = [layer.asked for layer in layers]
    for _ in range(100):
        assert not emu.settled()
    assert [layer.asked - before for layer, before in zip(layers, asked, strict=True)] == \
        [0] * 33 + [100] + [0] * 6
    layers[33].waiting = False
    assert emu.settled()


def test_a_layer_added_later_is_asked() -> None:
    emu, _ = _emulation(2, 0)
    assert emu.settled()
    late = FakeLayer()
    late.waiting = True
    emu.network_layers.append(late)
    assert not emu.settled()
