"""Parameter sweeps: many runs of a scenario over a grid of values and seeds, on Dask.

>>> from stack.sweep import define_sweep, run_sweep
>>> sweep = define_sweep("examples/two-qpus.toml", ["links.alice-bob.length_km=1:50:4"], seeds=3)
>>> len(sweep.tasks())
12

``run_sweep(sweep, "out/sweep-two-qpus")`` runs them (docs/sweep.md). Importing this package
is cheap: its modules load when one of these names is first used (every ``qnet`` command imports
:mod:`stack.sweep.command`, and so this package), and Dask, pyarrow, rich and scipy only when a
sweep runs or is summarised.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Axis", "Sweep", "SweepError", "SweepResults", "UpSettings", "define_sweep", "read_results",
           "run_seed", "run_sweep"]
_HOMES = {"Sweep": "plan", "UpSettings": "plan", "define_sweep": "plan", "run_seed": "plan",
          "SweepResults": "results", "read_results": "results", "run_sweep": "runner", "Axis": "spec",
          "SweepError": "spec"}


def __getattr__(name: str) -> Any:
    """The public names, imported from their modules on first use (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"stack.sweep.{_HOMES[name]}"), name)
