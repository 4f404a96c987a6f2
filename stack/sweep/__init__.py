"""Parameter sweeps: many runs of a scenario over a grid of values and seeds, on Dask.

>>> from stack.sweep import define_sweep, run_sweep
>>> sweep = define_sweep("examples/two-qpus.toml", ["links.alice-bob.length_km=1:50:4"], seeds=3)
>>> len(sweep.tasks())
12

``run_sweep(sweep, "out/sweep-two-qpus")`` runs them (docs/sweep.md). Importing this package
is cheap: Dask, pyarrow, rich and scipy are imported only when a sweep runs or is summarised.
"""

from stack.sweep.plan import Sweep, UpSettings, define_sweep, run_seed
from stack.sweep.results import SweepResults, read_results
from stack.sweep.runner import run_sweep
from stack.sweep.spec import Axis, SweepError

__all__ = ["Axis", "Sweep", "SweepError", "SweepResults", "UpSettings", "define_sweep", "read_results",
           "run_seed", "run_sweep"]
