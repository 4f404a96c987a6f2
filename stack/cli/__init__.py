"""The `qnet` command: run, plot, and the multi-process commands (up, node, medium)."""

import gc
import os

# No linear algebra here is worth BLAS threads; one thread fewer per process, and `qnet up` forks its node
# processes from a process with no thread but its own (stack/multiprocess/forked.py). Read when numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run ``qnet`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit status.

    Imported from :mod:`stack.cli.commands` at the call, so that module and its siblings can import one
    another through this package without an import cycle.

        >>> main(["--help"])  # doctest: +SKIP
    """
    collecting = gc.isenabled()
    gc.disable()          # the import makes ~10^5 objects and few cycles: ~100 collections, ~3 % of its work
    try:
        from stack.cli.commands import main as run
    finally:
        if collecting:
            gc.enable()
    return run(argv)
