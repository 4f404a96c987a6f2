"""The `qnet` command: run, plot, and the multi-process commands (up, node, medium)."""

import atexit
import gc
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

# No linear algebra here is worth BLAS threads; one thread fewer per process, and `qnet up` forks its node
# processes from a process with no thread but its own (stack/multiprocess/forked.py). Read when numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__all__ = ["main", "program"]


def main(argv: list[str] | None = None) -> int:
    """Run ``qnet`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit status.

    Imported from :mod:`stack.cli.commands` at the call, so that module and its siblings can import one
    another through this package without an import cycle.

        >>> main(["--help"])  # doctest: +SKIP
    """
    return _commands()(argv)


def _commands(freeze: bool = False) -> Callable[[list[str] | None], int]:
    """:func:`stack.cli.commands.main`, imported with the garbage collector off: the import makes ~10^5
    objects and few cycles (~100 collections, ~3 % of its work). With ``freeze``, what the process has made so
    far then moves to the permanent generation, before the collector is on again: else the first allocation
    after it starts a collection of everything the import made."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        from stack.cli.commands import main as run

        if freeze:
            gc.freeze()
    finally:
        if collecting:
            gc.enable()
    return run


def program() -> NoReturn:
    """The ``qnet`` program (its console script and ``python -m stack.cli``): :func:`main`, then exit.

    Once its commands are imported, every object the collector tracks (functions, classes, dicts...: ~6·10^4,
    alive until the process ends) moves to the collector's permanent generation (``gc.freeze``): otherwise the
    first collections of the command walk them all, ~5 % of a short run's CPU time. :func:`main` does not: a
    process that calls it more than once (the tests) would never collect what an earlier call left.

    Once the output is flushed, the ``atexit`` functions have run and no other thread is left, the process ends
    with ``os._exit``: tearing down a stack-sized interpreter (every module, then a collection of every object
    left) costs ~7 % of a short run's instructions and changes nothing outside the process. Otherwise (a thread
    still running, output that cannot be flushed) it exits the ordinary way."""
    status = _commands(freeze=True)(None)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(status)                  # the interpreter reports it, as it always has
    if threading.active_count() > 1:
        sys.exit(status)
    atexit._run_exitfuncs()
    os._exit(status)
