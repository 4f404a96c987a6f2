"""``qnet sweep`` and ``qnet plot sweep``: their arguments and what they do.

    qnet sweep [SCENARIO] --vary KEY=VALUES [--vary ...] [--seeds N] [--seed ROOT] [--zip]
               [--output DIR] [--workers N | --scheduler ADDRESS] [--timeout S] [--retry-failed]
               [--fresh] [--up [--dilation D]] [--show FIGURE ...] [--max-runs N] [--quiet]
    qnet plot sweep RESULTS --y FIGURE [--x KEY] [--output PATH] [--logx] [--logy]

This module is imported by every ``qnet`` command (to build the parser), so it imports nothing
heavy; Dask, pyarrow, rich and matplotlib are imported when a sweep or a plot runs.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from stack.sweep.show import close, show_problem

EXIT_USAGE, EXIT_FAILED_RUNS, EXIT_INTERRUPTED = 2, 1, 130
MAX_RUNS = 10_000
"""``--max-runs``'s default (:data:`stack.sweep.plan.MAX_RUNS`, not imported here: this module stays light)."""


def add_sweep_parser(commands: argparse._SubParsersAction[Any], default: str) -> None:
    """The ``qnet sweep`` subcommand."""
    sweep = commands.add_parser("sweep", help="run a scenario over a grid of parameter values and seeds (Dask)",
                                description="Run a scenario over a grid of values and seeds on a Dask cluster "
                                "(docs/sweep.md). Running the same command again resumes it.")
    sweep.add_argument("scenario", nargs="?", help=f"scenario TOML file (default: {default})")
    sweep.add_argument("--vary", action="append", required=True, metavar="KEY=VALUES",
                       help="a scenario key and its values: START:STOP:COUNT, START:STOP:COUNT:log or V1,V2,... "
                       "(e.g. links.alice-bob.length_km=1:100:12); repeat for a grid")
    sweep.add_argument("--seeds", type=int, default=1, help="runs (seeds) per point (default 1)")
    sweep.add_argument("--seed", type=int, help="root seed (default: the scenario's run.seed)")
    sweep.add_argument("--zip", action="store_true", help="pair the --vary lists up instead of a grid")
    sweep.add_argument("--output", "-o", metavar="DIR", help="results directory (default: out/sweep-<scenario>)")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="worker processes of the local cluster (default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="use the Dask cluster at this scheduler address")
    sweep.add_argument("--timeout", type=float, metavar="S", help="a run taking longer than S wall seconds fails")
    sweep.add_argument("--retry-failed", action="store_true", help="run again the runs that failed before")
    sweep.add_argument("--fresh", action="store_true", help="discard the results already in the directory")
    sweep.add_argument("--up", action="store_true", help="run each point with qnet up (every node a process)")
    sweep.add_argument("--dilation", type=float, help="with --up: emulated ns per wall ns (default 0.002)")
    sweep.add_argument("--show", action="append", metavar="FIGURE",
                       help="figure for the summary table (default: each workload's pairs_per_s, delivered_per_s and "
                       "fidelity_measured); repeat for more")
    sweep.add_argument("--max-runs", type=int, default=MAX_RUNS, metavar="N",
                       help=f"refuse a sweep of more than N runs, points × seeds (default {MAX_RUNS})")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")


def add_plot_arguments(plot: argparse.ArgumentParser) -> None:
    """``qnet plot sweep``'s options on the ``qnet plot`` parser."""
    plot.add_argument("--x", metavar="KEY", help="sweep: the varied key on the x axis (default: the only one)")
    plot.add_argument("--y", metavar="FIGURE", help="sweep: the figure on the y axis, e.g. workload[0].pairs_per_s")
    plot.add_argument("--logx", action="store_true", help="sweep: logarithmic x axis")
    plot.add_argument("--logy", action="store_true", help="sweep: logarithmic y axis")


def _error(message: str) -> int:
    print(f"qnet: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _sigterm(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt


def sweep_main(args: argparse.Namespace, path: Path) -> int:
    """``qnet sweep``: check everything, run what is left, print the summary."""
    from stack.scenario import ScenarioError
    from stack.sweep.plan import DEFAULT_DILATION, UpSettings, define_sweep
    from stack.sweep.spec import SweepError

    if args.dilation is not None and not args.up:
        return _error("--dilation applies only with --up")
    up = UpSettings(DEFAULT_DILATION if args.dilation is None else args.dilation) if args.up else None
    output = Path(args.output or f"out/sweep-{path.stem}")
    started = False
    try:
        sweep = define_sweep(path, args.vary, args.seeds, args.seed, zipped=args.zip, up=up, max_runs=args.max_runs)
        problem = _overwritten_input(output, sweep) or show_problem(args.show or [], sweep, output)
        if problem is not None:
            return _error(problem)
        started = True
        results = _run(sweep, output, args)
    except (ScenarioError, SweepError) as error:
        return _error(str(error))
    except KeyboardInterrupt:
        done = _progress(output) if started else ""
        print(f"\nqnet: interrupted: {done}run the same command again to resume" if done else
              "\nqnet: interrupted before any run finished: nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.seeds < results.metadata["seeds"]:
        print(f"qnet: note: {results.path} already holds {results.metadata['seeds']} seeds per point, more than "
              f"--seeds {args.seeds}: every run there is shown (--fresh to start over)", file=sys.stderr)
    return _report(results, args)


def _overwritten_input(output: Path, sweep: Any) -> str | None:
    """A file the sweep writes in ``output`` that is one of its inputs (the scenario, its key file), or None:
    e.g. a scenario named ``sweep.json`` in the results directory would be overwritten."""
    from stack.scenario import load_text
    from stack.scenario.files import input_files, same_file
    from stack.sweep.lock import LOCK
    from stack.sweep.results import JOURNAL, META, SUMMARY, TABLE

    inputs = input_files(load_text(sweep.text, sweep.scenario))
    for name in (META, META + ".part", JOURNAL, TABLE, SUMMARY, LOCK):
        for what, path in inputs.items():
            if same_file(output / name, path):
                return f"--output {output}: the sweep writes {output / name}, which is {what}: name another directory"
    return None


def _progress(output: Path) -> str:
    """How far an interrupted sweep got, or "" when it saved no run."""
    from stack.sweep.results import read_results
    from stack.sweep.spec import SweepError

    try:
        done = read_results(output)
    except SweepError:                           # interrupted before the results directory existed
        return ""
    if not done.rows:
        return ""
    return f"{len(done.rows)} of {done.metadata['runs']} runs done in {output}; "


def _run(sweep: Any, output: Path, args: argparse.Namespace) -> Any:
    from stack.sweep.runner import run_sweep

    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        return run_sweep(sweep, output, workers=args.workers, scheduler=args.scheduler, timeout_s=args.timeout,
                         retry_failed=args.retry_failed, fresh=args.fresh, progress=not args.quiet)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _report(results: Any, args: argparse.Namespace) -> int:
    from stack.sweep.render import print_failures, print_summary
    from stack.sweep.summary import headline_figures

    figures = results.figures
    shown = args.show or headline_figures(figures, results.rows)
    unknown = [name for name in shown if name not in figures]
    if unknown:
        return _error(f"{results.path}: no figure {unknown[0]!r}{close(unknown[0], figures)} (every figure is a "
                      "column of results.parquet); the runs are saved: the same command with that --show "
                      "corrected prints the table without running them again")
    if not args.quiet:
        if results.metadata["sessions"][-1]["ran"] == 0:
            print(f"qnet: nothing to run: every run is already in {results.path}", file=sys.stderr)
        print_summary(results, shown)
    print_failures(results)
    runs = f"{len(results.rows)} run{'' if len(results.rows) == 1 else 's'}"
    print(f"qnet: {runs} ({len(results.failed)} failed) in {results.path}/results.parquet; "
          f"mean and 95 % interval per point in {results.path}/summary.parquet", file=sys.stderr)
    return EXIT_FAILED_RUNS if results.failed else 0


def plot_main(args: argparse.Namespace, output: Path) -> int:
    """``qnet plot sweep RESULTS --y FIGURE [--x KEY]``, drawn to ``output`` (checked by the caller:
    :func:`stack.cli.checks.plot_output`)."""
    from stack.sweep.results import read_results
    from stack.sweep.spec import SweepError

    if args.scenario is None:
        return _error("qnet plot sweep needs the results directory: qnet plot sweep RESULTS --y FIGURE")
    try:
        results = read_results(args.scenario)
    except SweepError as error:
        return _error(str(error))
    keys = results.keys
    x = args.x or (keys[0] if len(keys) == 1 else None)
    if x is None:
        return _error(f"--x is needed: the sweep varies {', '.join(keys)}")
    if x not in keys:
        return _error(f"--x {x}: not a key the sweep varies ({', '.join(keys)})")
    if args.y is None:
        from stack.sweep.summary import headline_figures

        some = headline_figures(results.figures, results.rows)[:3] or results.figures[:3]
        return _error(f"--y FIGURE is needed, a column of {results.path}/results.parquet such as {', '.join(some)}")
    if args.y not in results.figures:
        return _error(f"--y {args.y}: no such figure in {results.path}{close(args.y, results.figures)}")
    from stack.sweep.plot import plot_sweep

    try:
        plot_sweep(results, x, args.y, output, logx=args.logx, logy=args.logy)
    except SweepError as error:
        return _error(str(error))
    except OSError as error:
        return _error(f"cannot write --output {output}: {error.strerror or error}")
    print(f"qnet: wrote {output}")
    return 0
