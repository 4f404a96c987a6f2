"""A GHZ application's memory needs are checked before the run (stack/api/ghz_memory.py): the center holds a half
per leaf; a leaf that repeats for a later leaf holds its own half and one on each side of the swap. Each need is
shown to be real: the same scenario without the check does not finish, and the fixes the error names run."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.api import ghz_memory
from stack.cli import main
from stack.scenario import ScenarioError, load_text

NET = """[run]
duration_ms = 300.0
[nodes.c]
kind = "qpu"
communication_qubits = CENTER
[nodes.l1]
kind = "qpu"
[nodes.l2]
kind = "qpu"
communication_qubits = L2
[nodes.l3]
kind = "qpu"
[links.a]
a = "c"
b = "l1"
scheme = "coupler"
length_km = 0.005
[links.b]
a = "c"
b = "l2"
scheme = "coupler"
length_km = 0.005
[links.d]
a = "l2"
b = "l3"
scheme = "coupler"
length_km = 0.005
[[application]]
kind = "ghz"
node = "c"
remotes = REMOTES
shots = 27
"""
"""A star c–l1, c–l2 and a chain l2–l3: l3's pairs with c are swapped at l2."""


def _text(center: int = 3, l2: int = 3, remotes: str = '["l1", "l2", "l3"]') -> str:
    return NET.replace("CENTER", str(center)).replace("L2", str(l2)).replace("REMOTES", remotes)


def _refusal(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        ghz_memory.check_ghz_memory(load_text(text, "g.toml"))
    return str(caught.value)


def test_a_center_with_less_memory_than_leaves_is_refused() -> None:
    error = _refusal(_text(center=2))
    assert error.startswith("g.toml: nodes.c.communication_qubits: 'c' is the center of application[0] (ghz)")
    assert "3 pairs at once, but has 2 communication + storage qubits: at least 3" in error
    ghz_memory.check_ghz_memory(load_text(_text(center=3), "g.toml"))
    ghz_memory.check_ghz_memory(load_text(_text(center=1).replace('communication_qubits = 1',
                                                                  'communication_qubits = 1\nstorage_qubits = 2'),
                                          "g.toml"))


def test_a_leaf_repeating_for_a_later_leaf_needs_three_qubits() -> None:
    error = _refusal(_text(l2=2))
    assert error.startswith("g.toml: nodes.l2.communication_qubits: 'l2', a party of application[0] (ghz), is also "
                            "the repeater from 'c' to 'l3'")
    assert "at least 3 (or list 'l3' before 'l2' in application[0].remotes)" in error
    ghz_memory.check_ghz_memory(load_text(_text(l2=2, remotes='["l1", "l3", "l2"]'), "g.toml"))   # l2 holds none yet
    ghz_memory.check_ghz_memory(load_text(_text(l2=2).replace('remotes = ["l1", "l2", "l3"]',
                                                              'remotes = ["l1", "l2", "l3"]\nservice = "network"')
                                          .replace('[links.d]', '[links.e]\na = "c"\nb = "l3"\nscheme = "coupler"\n'
                                                   'length_km = 0.005\n[links.d]'), "g.toml"))   # l3 linked to c


@pytest.mark.parametrize("command", ["run", "up"])
def test_qnet_refuses_before_anything_runs(tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "g.toml"
    scenario.write_text(_text(l2=2))
    extra = ["--run-dir", str(tmp_path / "run")] if command == "up" else []
    assert main([command, str(scenario), *extra, "--pcap", str(tmp_path / "c.pcap")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"qnet: error: {scenario}: nodes.l2.communication_qubits: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.toml"]


@pytest.mark.parametrize(("text", "runs"), [
    (_text(center=2), False), (_text(l2=2), False),
    (_text(center=3, l2=3), True), (_text(l2=2, remotes='["l1", "l3", "l2"]'), True),
])
def test_the_needs_are_real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                            text: str, runs: bool) -> None:
    """Without the check, a refused scenario does not finish its shots; an accepted one measures all of them."""
    monkeypatch.setattr(ghz_memory, "check_ghz_memory", lambda scenario: None)
    monkeypatch.setattr("stack.api.scenario_apps.check_ghz_memory", lambda scenario: None)
    scenario, report = tmp_path / "g.toml", tmp_path / "r.json"
    scenario.write_text(text)
    status = main(["run", str(scenario), "--no-pcap", "--quiet", "--json", str(report)])
    if runs:
        assert status == 0 and '"shots": 27' in report.read_text()
    else:
        assert status == 1 and not report.exists(), capsys.readouterr().err
