"""The progress bar of a running sweep (rich, on stderr): runs done of all, failures, time left.

The bar only shows the sweep: if stderr stops taking it (``qnet sweep ... 2>&1 | head -1`` closes the
pipe), the bar stops and the sweep goes on, rather than ending as if interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from stack.sweep.plan import Sweep
from stack.sweep.results import ResultsDir


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
        return self

    def advance(self, row: dict[str, Any]) -> None:
        self.failed += row["status"] != "ok"
        if self._bar is not None:
            try:
                self._bar.update(self._task, advance=1, failed=self.failed, refresh=True)
            except OSError:
                self._gone()

    def __exit__(self, *_: object) -> None:
        if self._bar is not None:
            try:
                self._bar.stop()
            except OSError:
                self._gone()

    def _gone(self) -> None:
        """stderr no longer takes the bar: show nothing more."""
        self._bar = None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
