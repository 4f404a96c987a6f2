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
