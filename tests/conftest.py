"""Fixtures shared by test modules: runs several modules check (each costs seconds)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from stack.cli import commands
from stack.runtime import RunResult
from stack.scenario import Scenario
from tests.update_readme_sample import run_default

# Hypothesis's per-example deadline (200 ms) measures the machine, not the code: tests hold on a busy one.
settings.register_profile("busy-machine", deadline=None)
settings.load_profile("busy-machine")


@dataclass(frozen=True)
class DefaultRun:
    """One ``qnet run --pcap --json`` of the default scenario: the capture, the report and what it printed
    (the capture shown as out/default.pcap); and the run itself, with the scenario and seed it was made
    from."""

    pcap: Path
    report: Path
    printed: str
    scenario: Scenario
    seed: int
    result: RunResult

    def replay(self, scenario: Scenario, seed: int | None = None, pcap: Any = None) -> RunResult:
        """In place of ``run_scenario``: this run, for the same scenario and seed without a capture (the
        capture does not change a run: the report with and without one is the same)."""
        same = resolved(scenario) == self.scenario and (scenario.run.seed if seed is None else seed) == self.seed
        assert same, "only a run of the default scenario with its seed can be replayed"
        assert pcap is None
        return self.result


def resolved(scenario: Scenario) -> Scenario:
    """``scenario`` named by its absolute path (``qnet run`` from the root names it relative to it)."""
    return dataclasses.replace(scenario, source=str(Path(scenario.source).resolve()))


@pytest.fixture(scope="session")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> DefaultRun:
    """The default scenario's run (63,000 frames, ~9 s): the README's sample output, the capture tests and
    `qnet plot sync` (tests/test_readme.py) read the same one."""
    directory = tmp_path_factory.mktemp("default-run")
    pcap, report = directory / "default.pcap", directory / "default.json"
    runs: list[tuple[Scenario, int, RunResult]] = []

    def recorded(scenario: Scenario, seed: int | None = None, *args: Any, **kwargs: Any) -> RunResult:
        result = run_scenario(scenario, seed, *args, **kwargs)
        runs.append((resolved(scenario), scenario.run.seed if seed is None else seed, result))
        return result

    run_scenario = commands.run_scenario
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(commands, "run_scenario", recorded)
        printed = run_default(pcap, report)
    (run,) = runs
    return DefaultRun(pcap, report, printed, *run)
