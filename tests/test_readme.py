"""The README's commands and sample output are what the code does today."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from stack import cli
from stack.cli import commands
from tests import update_readme_sample as sample
from tests.conftest import DefaultRun

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_sample_output_is_what_qnet_run_prints_today(default_run: DefaultRun) -> None:
    expected = sample.without_wall_time(default_run.printed)
    assert sample.without_wall_time(sample.readme_sample()) == expected, (
        f"README.md's sample output of `qnet run` is stale: regenerate it with `{sample.COMMAND}` "
        "(from the repository root, in the venv) and commit README.md")


def test_only_the_wall_clock_figure_is_ignored() -> None:
    line = "qnet: examples/default.toml seed 1: emulated 880.784 ms in 1.58 s wall"
    assert sample.without_wall_time(line) == sample.without_wall_time(line.replace("1.58", "12.03"))
    assert sample.without_wall_time(line) != sample.without_wall_time(line.replace("880.784", "880.785"))


def readme_command(prefix: str) -> list[str]:
    """The README's command line that starts with ``prefix`` (its comment cut), as argv after ``qnet``."""
    text = sample.README.read_text(encoding="utf-8")
    lines = [line.split("#")[0].strip() for line in text.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"README.md should show `{prefix}` once"
    return shlex.split(lines[0])[1:]


@pytest.mark.parametrize(("prefix", "png"), [("qnet plot rate-vs-distance", "out/rate-vs-distance.png"),
                                             ("qnet plot sync", "out/sync.png")])
def test_the_readme_plot_commands_draw_on_the_default_scenario(prefix: str, png: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str],
                                                               default_run: DefaultRun) -> None:
    """Each command as written. `qnet plot sync` draws on one run of the default scenario with its seed: the
    session's (tests/conftest.py; the replay refuses any other scenario or seed), not a second emulation."""
    argv = readme_command(prefix)
    assert argv[:2] == ["plot", prefix.split()[-1]] and len(argv) == 2        # as written: the default scenario
    monkeypatch.setattr(commands, "run_scenario", default_run.replay)
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 0
    assert (tmp_path / png).read_bytes()[:8] == PNG
    assert re.fullmatch(rf"qnet: wrote {re.escape(png)}\n", capsys.readouterr().out)
