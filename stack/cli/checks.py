"""Checks of the command line before anything runs: numeric options and output paths.

Each problem is a :class:`UsageError` whose message names the option, so that ``qnet`` prints it
as one ``qnet: error:`` line and exits with status 2, before a run that may take minutes.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stack.scenario.files import same_file


class UsageError(Exception):
    """A command line the user must fix; the message names the option."""


@dataclass(frozen=True, slots=True)
class NumberRule:
    dest: str
    option: str
    accepts: Callable[[float], bool]
    wanted: str


def _within(low: float, high: float, above_low: bool = False) -> Callable[[float], bool]:
    return lambda v: math.isfinite(v) and (low < v if above_low else low <= v) and v <= high


NUMBER_RULES = (
    NumberRule("seed", "--seed", _within(0, 2**63 - 1), "an integer from 0 to 2^63 - 1"),
    NumberRule("max_km", "--max-km", _within(0.0, 1e5, above_low=True), "more than 0 and at most 100000 (km)"),
    NumberRule("pairs", "--pairs", _within(10, 0xFFFF), "from 10 to 65535 (a CREATE's Number is 16 bits)"),
    NumberRule("dilation", "--dilation", _within(0.0, math.inf, above_low=True), "a positive finite number"),
    NumberRule("tolerance_us", "--tolerance-us", _within(0.0, math.inf), "a non-negative finite number"),
    NumberRule("base_port", "--base-port", _within(0, 0xFFFF), "a port from 0 to 65535"),
)


def check_numbers(args: argparse.Namespace) -> None:
    """Every numeric option given must be in its range; the first that is not is named."""
    for rule in NUMBER_RULES:
        value = getattr(args, rule.dest, None)
        if value is not None and not rule.accepts(value):
            raise UsageError(f"{rule.option} must be {rule.wanted}, got {value}")


PLOT_OPTIONS = (("x", "--x", "sweep"), ("y", "--y", "sweep"), ("logx", "--logx", "sweep"),
                ("logy", "--logy", "sweep"), ("max_km", "--max-km", "rate-vs-distance"),
                ("pairs", "--pairs", "rate-vs-distance"), ("seed", "--seed", "rate-vs-distance sync"))
"""``qnet plot`` options and the figures they draw."""


def check_plot_options(args: argparse.Namespace) -> None:
    """Each option of ``qnet plot`` draws some figures only (``--x``, ``--y``, ``--logx``, ``--logy``: sweep;
    ``--max-km``, ``--pairs``: rate-vs-distance; ``--seed``: rate-vs-distance and sync): given to another
    figure, it would be ignored, so it is an error."""
    for dest, option, figures in PLOT_OPTIONS:
        if args.figure not in figures.split() and getattr(args, dest, None) not in (None, False):
            only = " and ".join(f"qnet plot {figure}" for figure in figures.split())
            raise UsageError(f"{option} applies to {only} only, not to qnet plot {args.figure}")


def plot_output(given: str | None, figure: str, make_directory: bool = False) -> Path:
    """Where ``qnet plot FIGURE`` writes: ``--output`` (default ``out/FIGURE.png``), checked before any work.
    A name without an extension gets ``.png`` (as matplotlib would add it, so the path printed is the file
    written); an extension matplotlib cannot write, or a directory, is refused."""
    from matplotlib.backend_bases import FigureCanvasBase  # only when a plot is drawn: matplotlib is heavy

    path = Path(given or f"out/{figure}.png")
    if path.is_dir():
        raise UsageError(f"cannot write --output {path}: it is a directory (give a file name, e.g. {path}/"
                         f"{figure}.png)")
    formats = FigureCanvasBase.get_supported_filetypes()
    extension = path.suffix[1:].lower()
    if not extension:
        path = path.with_name(path.name + ".png")
    elif extension not in formats:
        raise UsageError(f"cannot write --output {path}: {path.suffix!r} is not an image format matplotlib "
                         f"writes ({', '.join(sorted(formats))})")
    check_output(path, "--output", make_directory=make_directory or given is None)
    return path


def check_output(path: Path, option: str, make_directory: bool = False) -> None:
    """``path`` can be written: its directory exists (or, for a default path, is created here) and the file
    can be opened for writing. The file itself is left as it was (a new one is removed again)."""
    directory = path.parent
    if make_directory and not directory.exists():
        try:
            directory.mkdir(parents=True)
        except OSError as error:
            raise UsageError(f"cannot create directory {directory} for {option} {path}: {error.strerror}") from None
    if not directory.is_dir():
        problem = "does not exist" if not directory.exists() else "is not a directory"
        raise UsageError(f"cannot write {option} {path}: directory {directory} {problem}")
    if path.is_dir():
        raise UsageError(f"cannot write {option} {path}: it is a directory")
    existed = path.exists()
    try:
        with path.open("ab" if existed else "xb"):
            pass
    except OSError as error:
        raise UsageError(f"cannot write {option} {path}: {error.strerror or error}") from None
    if not existed:
        path.unlink()


def check_distinct(outputs: dict[str, str | None], inputs: dict[str, Path]) -> None:
    """The named outputs (option -> path; None: not written, ``'-'``: standard output, for ``--json`` only) are
    distinct files, none of them an input (what -> path, e.g. ``{"the scenario": Path("s.toml")}``, or
    :func:`stack.scenario.files.input_files`): writing one must not overwrite another or what the run reads.

        >>> check_distinct({"--json": "r.json", "--pcap": "r.json"}, {})
        Traceback (most recent call last):
        ...
        stack.cli.checks.UsageError: --json r.json and --pcap r.json name the same file (one would overwrite the other)
    """
    if outputs.get("--pcap") == "-":
        raise UsageError("--pcap -: a capture cannot go to standard output; name a file (or --no-pcap)")
    named = [(option, path) for option, path in outputs.items() if path not in (None, "-")]
    for index, (option, path) in enumerate(named):
        for what, source in inputs.items():
            if same_file(Path(path), source):
                raise UsageError(f"{option} {path} is {what}, which the run reads: name another file")
        for other, other_path in named[index + 1:]:
            if same_file(Path(path), Path(other_path)):
                raise UsageError(f"{option} {path} and {other} {other_path} name the same file (one would "
                                 "overwrite the other)")
