"""A QPU with no fibre to the rest of the network (an island) must not break the run's settling bound.

The bound on how long a network layer goes on after its last request used the delay to every QPU of the
network, so a run that had to settle with an island QPU in it ended in ``ValueError: no fibre path`` (a
traceback in ``qnet run``, every node process exiting with status 2 in ``qnet up``). The bound counts only
the QPUs a node reaches: an island changes nothing for the others.
"""

from __future__ import annotations

from pathlib import Path

from stack.runtime import build, settle_bound_ns
from stack.scenario import load_text

CHAIN = (Path(__file__).resolve().parent.parent / "examples" / "repeater-chain.toml").read_text()
ISLAND = '[nodes.island]\nkind = "qpu"\ncommunication_qubits = 2\n\n'


def with_island(text: str) -> str:
    return text.replace("[nodes.r1]", ISLAND + "[nodes.r1]", 1)


def test_an_island_qpu_leaves_the_settling_bound_as_it_was() -> None:
    plain = settle_bound_ns(build(load_text(CHAIN, "repeater-chain.toml")))
    assert plain > 0
    assert settle_bound_ns(build(load_text(with_island(CHAIN), "island.toml"))) == plain


def test_the_island_itself_has_nothing_to_wait_for() -> None:
    emu = build(load_text(with_island(CHAIN), "island.toml"))
    island = next(layer for layer in emu.network_layers if layer.node.node_id == emu.scenario.nodes["island"].node_id)
    assert island.resolution_ns == 0
