"""SIGINT and SIGTERM while ``qnet up`` runs: the launcher stops the run, but never in the middle of starting a
process.

Python runs a signal handler in the main thread at the next bytecode boundary, even while the main thread has
the signal blocked: another thread (numpy's OpenBLAS starts one at import) may take the signal from the kernel.
So blocking signals around ``os.fork`` does not keep the handler out of the fork: it may run inside one of
``os.fork``'s Python hooks (where an exception is printed and swallowed) or just after the fork returns, before
the new child is on the list of processes to stop. While a process starts, the handler only records the signal;
it is raised once the process is listed (:meth:`Interruptions.starting`).

>>> import signal
>>> before = signal.getsignal(signal.SIGINT)
>>> interruptions = Interruptions()
>>> interruptions.install()
>>> try:
...     with interruptions.starting():
...         interruptions.handle(signal.SIGINT, None)        # a Ctrl-C while a process starts: recorded
...         print("the process is listed")
... except Interrupted as stopped:
...     print("then stopped by", stopped)
the process is listed
then stopped by SIGINT
>>> interruptions.restore()                                  # the handlers from before install()
>>> signal.getsignal(signal.SIGINT) is before
True
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOPPING = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """The launcher was told to stop by ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Interruptions:
    """The launcher's handler of SIGINT and SIGTERM (installed by :meth:`install`): the first one raises
    :class:`Interrupted` (at once, or when the process being started is listed); later ones are ignored, so
    they cannot interrupt the clean-up."""

    def __init__(self) -> None:
        self.previous: dict[int, object] = {}
        self.pending: int | None = None
        self._starting = False

    def install(self) -> None:
        self.previous = {sig: signal.signal(sig, self.handle) for sig in STOPPING}

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)        # type: ignore[arg-type]
        self.previous = {}

    def handle(self, signum: int, _: FrameType | None) -> None:
        for sig in STOPPING:
            signal.signal(sig, signal.SIG_IGN)
        if self._starting:
            self.pending = signum
            return
        raise Interrupted(signum)

    @contextmanager
    def starting(self) -> Iterator[None]:
        """Around starting one process and listing it: a signal meanwhile is raised when the block ends."""
        self._starting = True
        try:
            yield
        finally:
            self._starting = False
        if self.pending is not None:
            raise Interrupted(self.pending)
