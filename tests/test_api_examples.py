"""The application API's examples (examples/api/*.py) run as a user runs them."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "api").glob("*.py"))


def test_there_are_examples() -> None:
    assert {path.stem for path in EXAMPLES} >= {"epr_and_gates", "teleport", "qkd_chsh", "remote_gates"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_an_example_runs(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert {"epr_and_gates": "always equal", "teleport": "average fidelity", "qkd_chsh": "CHSH: S",
            "remote_gates": "GHZ over carol", "parity": "outcomes equal in X"}[path.stem] in out
    if path.stem == "epr_and_gates":
        assert "the hardware refuses Gate" in out or "the hardware refused Gate" in out
