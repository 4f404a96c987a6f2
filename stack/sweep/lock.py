"""One sweep session at a time per results directory: an advisory lock on ``DIR/sweep.lock``.

Two ``qnet sweep`` commands into the same directory would run the same runs twice and interleave their
journal lines and metadata. The first to start holds an exclusive ``flock`` on the lock file for its
session; the second is refused in one line. The kernel drops the lock when its holder exits, however it
exits (a killed process leaves no stale lock), so the file itself is left in place.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from stack.sweep.spec import SweepError

LOCK = "sweep.lock"


class DirectoryLock:
    """The exclusive lock of one results directory, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK
        self._file: IO[str] | None = None       # closed (so unlocked) with it, even if never released

    def acquire(self) -> DirectoryLock:
        """Take the lock, or raise :class:`SweepError` naming the process that holds it."""
        file = self.path.open("a+")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read(64).strip() or "another process"
            file.close()
            raise SweepError(f"{self.path.parent} is in use by another qnet sweep ({holder}): wait for it to end, "
                             "or choose another --output") from None
        file.truncate(0)
        file.write(f"pid {os.getpid()}\n")
        file.flush()
        self._file = file
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()                  # closing the file drops the flock
            self._file = None
