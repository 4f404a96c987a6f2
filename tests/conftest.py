"""Fixtures shared by test modules: runs several modules check (each costs seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.update_readme_sample import run_default


@dataclass(frozen=True)
class DefaultRun:
    """One ``qnet run --pcap --json`` of the default scenario: the capture, the report and what it printed
    (the capture shown as out/default.pcap)."""

    pcap: Path
    report: Path
    printed: str


@pytest.fixture(scope="session")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> DefaultRun:
    """The default scenario's run (63,000 frames, ~9 s): the README's sample output and the capture tests
    read the same one."""
    directory = tmp_path_factory.mktemp("default-run")
    pcap, report = directory / "default.pcap", directory / "default.json"
    printed = run_default(pcap, report)
    return DefaultRun(pcap, report, printed)
