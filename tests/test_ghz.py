"""GHZ states across QPUs by fusing pairs (stack.api.ghz): exact on ideal pairs, and the closed form
[((2F+1)/3)^m + ((4F−1)/3)^m]/2 on Werner pairs, within four standard errors."""

from __future__ import annotations

from typing import Any

from stack.api import AppContext, run_apps
from stack.api.ghz import ghz_center, ghz_leaf, settings, werner_ghz_fidelity
from stack.scenario import load_text

NODE = """
[nodes.{name}]
kind = "qpu"
storage_qubits = 4
t1_ms = 1e9
t2_ms = 1e9
[nodes.s{name}]
kind = "station"
"""
LINK = """
[links.c{name}]
a = "center"
b = "{name}"
station = "s{name}"
length_km = 1.0
depolarizing = {d}
"""


def star(leaves: int, d: float) -> str:
    names = [f"l{i}" for i in range(1, leaves + 1)]
    center = NODE.format(name="center").replace('[nodes.scenter]\nkind = "station"\n', "")
    text = "[run]\nduration_ms = 1e5\n" + center
    for name in names:
        text += NODE.format(name=name) + LINK.format(name=name, d=d)
    return text


def run_ghz(leaves: int, d: float, shots: int, seed: int = 1) -> Any:
    names = [f"l{i}" for i in range(1, leaves + 1)]
    results: list[Any] = []

    async def center(ctx: AppContext) -> None:
        results.append(await ghz_center(ctx, names, shots))

    def leaf(index: int):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            await ghz_leaf(ctx, "center", index, leaves + 1, shots)
        return run

    apps = {"center": center} | {name: leaf(i + 1) for i, name in enumerate(names)}
    run_apps(load_text(star(leaves, d), "<ghz>"), apps, seed=seed)
    return results[0]


def test_fused_ideal_pairs_make_a_perfect_ghz_state() -> None:
    result = run_ghz(3, 0.0, 2 * len(settings(4)))
    value, error = result.fidelity()
    assert value == 1.0 and 0 < error == result.interval().stderr     # not ±0 from 16 shots (Price–Bonett)
    assert result.interval().low < 1.0 == result.interval().high
    assert all(len(set(shot)) == 1 for shot in result.outcomes[settings(4)[0]])


def test_ghz_fidelity_of_fused_werner_pairs() -> None:
    d, leaves = 0.15, 2
    f = 1 - 3 * d / 4
    value, error = run_ghz(leaves, d, 100 * len(settings(leaves + 1)), seed=3).fidelity()
    expected = werner_ghz_fidelity(f, leaves)
    assert abs(value - expected) < 4 * error
    assert abs(werner_ghz_fidelity(f, 1) - f) < 1e-12


def test_a_ghz_application_entry_is_run_and_reported_against_its_closed_form() -> None:
    from stack.api.scenario_apps import application_table, run_applications
    from stack.scenario import ScenarioError

    text = star(2, 0.1) + '\n[[application]]\nkind = "ghz"\nnode = "center"\nremotes = ["l1", "l2"]\nshots = 300\n'
    _, (entry,) = run_applications(load_text(text, "<ghz>"), seed=5)
    assert entry["finished"] and entry["parties"] == ["center", "l1", "l2"]
    assert entry["fidelity_model"] == werner_ghz_fidelity(1 - 3 * 0.1 / 4, 2)
    assert abs(entry["fidelity"] - entry["fidelity_model"]) < 4 * entry["fidelity_stderr"]
    assert "GHZ x3" in "\n".join(application_table([entry]))
    bad = text.replace('remotes = ["l1", "l2"]', 'remotes = ["l1", "center"]')
    try:
        load_text(bad, "<ghz>")
    except ScenarioError as error:
        assert error.key == "application[0].remotes[1]"
    else:
        raise AssertionError("a center among its own remotes was accepted")
