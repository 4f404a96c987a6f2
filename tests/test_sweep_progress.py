"""The sweep's progress bar between runs: it is redrawn while no run finishes, and a stderr that stops taking
it stops the bar, never the sweep (no cluster: the bar alone, on pytest's captured stderr)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.progress import Progress as Bar

from stack.sweep import progress as progress_module
from stack.sweep.progress import Progress

DEADLINE_S = 120.0       # a generous bound on waiting for the thread, not a measure of speed


def bar_of(tmp_path: Path) -> Progress:
    sweep: Any = SimpleNamespace(points=lambda: [{}, {}], seeds=3)
    store: Any = SimpleNamespace(path=tmp_path)
    return Progress(True, sweep, store, 6, "test")


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition()


def test_the_bar_is_redrawn_while_no_run_finishes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With rich's own refresh off (the closed-stderr fix), elapsed and remaining froze between runs: the
    bar's ticker redraws it until the sweep ends, then stops."""
    calls: list[str] = []
    refresh = Bar.refresh

    def counted(bar: Bar) -> None:
        calls.append(threading.current_thread().name)
        refresh(bar)

    monkeypatch.setattr(progress_module, "REFRESH_S", 0.01)
    monkeypatch.setattr(Bar, "refresh", counted)
    shown = bar_of(tmp_path)
    with shown:
        wait_for(lambda: calls.count("qnet-sweep-progress") >= 3)       # no advance() meanwhile
        shown.advance({"status": "ok"})
    assert shown._ticker is not None and not shown._ticker.is_alive()   # stopped with the sweep


def test_a_redraw_stderr_refuses_stops_the_bar_not_the_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ticker's write failing (a terminal gone: EIO) stops the bar as a failing advance() does; the thread
    ends without an exception, and the runs still finishing are counted without a bar."""
    errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: errors.append(hook.exc_value))
    monkeypatch.setattr(progress_module, "REFRESH_S", 0.01)

    def gone(_: Bar) -> None:
        raise OSError(5, "Input/output error")

    shown = bar_of(tmp_path)
    with shown:
        monkeypatch.setattr(Bar, "refresh", gone)
        wait_for(lambda: not shown.showing)
        shown.advance({"status": "failed"})
    assert shown.failed == 1 and errors == []
    assert shown._ticker is not None and not shown._ticker.is_alive()
