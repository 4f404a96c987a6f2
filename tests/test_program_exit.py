"""stack.cli.program: the qnet process ends with os._exit only when nothing is left to do at exit.

What a skipped interpreter teardown could lose is output: the subprocess test reads a whole JSON report and a
whole capture written by a process that ended that way; the unit tests check when it falls back to sys.exit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import stack.cli
from stack.core.capture import read_pcap

ROOT = Path(__file__).resolve().parent.parent


class Exited(Exception):
    def __init__(self, how: str, status: int) -> None:
        super().__init__(how, status)
        self.how, self.status = how, status


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    ran: list[str] = []

    def os_exit(status: int) -> None:
        raise Exited("os._exit", status)

    def sys_exit(status: int) -> None:
        raise Exited("sys.exit", status)

    monkeypatch.setattr(stack.cli, "_commands", lambda freeze=False: lambda argv: 3)   # the command's status
    monkeypatch.setattr(stack.cli.os, "_exit", os_exit)
    monkeypatch.setattr(stack.cli.sys, "exit", sys_exit)
    monkeypatch.setattr(stack.cli.atexit, "_run_exitfuncs", lambda: ran.append("atexit"))
    return ran


def test_the_status_passes_and_atexit_functions_run_first(exits: list[str]) -> None:
    with pytest.raises(Exited) as done:
        stack.cli.program()
    assert (done.value.how, done.value.status, exits) == ("os._exit", 3, ["atexit"])


def test_a_thread_still_running_means_the_ordinary_exit(exits: list[str]) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with pytest.raises(Exited) as done:
            stack.cli.program()
    finally:
        stop.set()
        thread.join()
    assert (done.value.how, done.value.status, exits) == ("sys.exit", 3, [])


def test_a_whole_report_and_capture_reach_their_files(tmp_path: Path) -> None:
    pcap = tmp_path / "run.pcap"
    done = subprocess.run([sys.executable, "-m", "stack.cli", "run", "examples/two-qpus.toml", "--quiet", "--json", "-",
                           "--pcap", str(pcap)], cwd=ROOT, capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    assert len(read_pcap(pcap.read_bytes())) == report["capture_frames"] > 100
