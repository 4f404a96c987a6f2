"""The progress bar of a running sweep (rich, on stderr): runs done of all, failures, time left.

The bar only shows the sweep: if stderr stops taking it (``qnet sweep ... 2>&1 | head -1`` closes the
pipe), the bar stops and the sweep goes on, rather than ending as if interrupted. So every write to stderr
is one whose error the bar catches: rich's own refresh thread (``auto_refresh``) is off, and a thread of the
bar's own (:class:`Ticker`) redraws it every :data:`REFRESH_S` seconds, so the elapsed and remaining times
move between runs that take minutes (``--up``); an error of its write stops the bar as the others do.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from stack.sweep.plan import Sweep
from stack.sweep.results import ResultsDir

REFRESH_S = 1.0
"""How often the bar is redrawn while no run finishes."""


class Progress:
    """A rich progress bar over the sweep's runs, or nothing when ``enabled`` is false."""

    def __init__(self, enabled: bool, sweep: Sweep, store: ResultsDir, remaining: int, cluster: str) -> None:
        self.enabled = enabled
        self.total = len(sweep.points()) * sweep.seeds
        self.done_before = max(0, self.total - remaining)
        self.heading = (f"qnet: {_count(len(sweep.points()), 'point')} × {_count(sweep.seeds, 'seed')}; "
                        f"{_count(remaining, 'run')} to go "
                        f"({self.done_before} done before) on {cluster}; results in {store.path}")
        self.failed = 0
        self._bar: Any = None
        self._task: Any = None
        self._ticker: Ticker | None = None

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        class Quiet(Console):
            def on_broken_pipe(self) -> None:
                """rich's default exits (SystemExit) and closes stdout: stop showing instead, and let what
                the sweep writes to stderr later go nowhere rather than fail."""
                self.quiet = True
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())

        console = Quiet(stderr=True)
        try:
            console.print(self.heading, highlight=False, soft_wrap=True)
            self._bar = Bar(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=console, auto_refresh=False)
            self._bar.start()
            self._task = self._bar.add_task("sweep", total=self.total, completed=self.done_before, failed=0)
        except OSError:
            self._gone()
        else:
            self._ticker = Ticker(self)
            self._ticker.start()
        return self

    @property
    def showing(self) -> bool:
        """Whether the bar is on stderr (not disabled, not stopped by a closed stderr)."""
        return self._bar is not None

    def refresh(self) -> None:
        """Redraw the bar (its times move on); stop showing it if stderr no longer takes it."""
        bar = self._bar                         # _gone() may clear it from the other thread meanwhile
        if bar is not None:
            try:
                bar.refresh()
            except OSError:
                self._gone()

    def advance(self, row: dict[str, Any]) -> None:
        self.failed += row["status"] != "ok"
        bar = self._bar
        if bar is not None:
            try:
                bar.update(self._task, advance=1, failed=self.failed, refresh=True)
            except OSError:
                self._gone()

    def __exit__(self, *_: object) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        bar = self._bar
        if bar is not None:
            try:
                bar.stop()
            except OSError:
                self._gone()

    def _gone(self) -> None:
        """stderr no longer takes the bar: show nothing more."""
        self._bar = None


class Ticker(threading.Thread):
    """Redraws a :class:`Progress` every :data:`REFRESH_S` seconds until stopped (a daemon: it never holds
    the process up)."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(name="qnet-sweep-progress", daemon=True)
        self.progress = progress
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(REFRESH_S) and self.progress.showing:
            self.progress.refresh()

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
