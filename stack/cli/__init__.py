"""The `qnet` command: run, plot, and the multi-process commands (up, node, medium)."""

import os

# No linear algebra here is worth BLAS threads; one thread fewer per process, and `qnet up` forks its node
# processes from a process with no thread but its own (stack/multiprocess/forked.py). Read when numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from stack.cli.commands import main

__all__ = ["main"]
