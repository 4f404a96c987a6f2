"""The ``qnet`` command line's arguments: the parser of every command (``qnet --help``).

Parsing only: :mod:`stack.cli.commands` runs what was parsed. ``sweep`` and ``compile`` add their own
sub-parsers (:mod:`stack.sweep.command`, :mod:`stack.cli.compile`); building the parser imports nothing heavy
(the compiler loads only when ``qnet compile`` runs).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from stack.cli.compile import add_parser as add_compile_parser
from stack.sweep import command as sweep_command

DEFAULT_SCENARIO = "examples/default.toml"
DEFAULT_DILATION = 0.002


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one ``qnet: error:`` line (status 2) instead of usage and error.

    A sub-command's arguments may be added when it is first used (``deferred``: parsing its arguments or
    showing its usage or help), so that building the parser imports only what ``qnet run`` needs."""

    deferred: Callable[[], None] | None = None

    def error(self, message: str) -> NoReturn:
        print(f"qnet: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)

    def _ready(self) -> None:
        if self.deferred is not None:
            add_arguments, self.deferred = self.deferred, None
            add_arguments()

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._ready()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._ready()
        return super().format_usage()

    def format_help(self) -> str:
        self._ready()
        return super().format_help()


def version() -> str:
    """The installed package's version (``unknown`` when run from a source tree that is not installed)."""
    from importlib import metadata  # here: importing it costs ~30 ms that only --version needs

    try:
        return metadata.version("qnetstack")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Version(argparse.Action):
    """``--version``, looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"qnet {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``qnet`` command line and its sub-commands."""
    parser = _Parser(prog="qnet", description="Packet-level quantum network emulator.")
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="emulate a scenario in virtual time and report")
    run.add_argument("scenario", nargs="?", help=f"scenario TOML file (default: {DEFAULT_SCENARIO})")
    run.add_argument("--seed", type=int, help="root seed (default: the scenario's run.seed)")
    run.add_argument("--json", metavar="PATH", help="write the JSON report to PATH ('-' for stdout)")
    run.add_argument("--pcap", metavar="PATH", help="capture file (default: out/<scenario>.pcap)")
    run.add_argument("--no-pcap", action="store_true", help="do not write a capture")
    run.add_argument("--quiet", action="store_true", help="no summary table")
    plot = commands.add_parser("plot", help="draw a figure (PNG)")
    plot.deferred = functools.partial(_plot_arguments, plot)
    _multi_process_parsers(commands)
    sweep_command.add_sweep_parser(commands, DEFAULT_SCENARIO)
    add_compile_parser(commands)
    return parser


def _plot_arguments(plot: _Parser) -> None:
    """``plot``'s arguments, added when it is used (as ``compile``'s, ``up``'s, ``node``'s and ``medium``'s):
    ``add_argument`` is most of building the parser, which ``qnet run`` does once per process."""
    plot.deferred = None
    plot.add_argument("figure", choices=["rate-vs-distance", "sync", "sweep"],
                      help="rate-vs-distance: every scheme over distance; sync: clock offsets over a run; "
                      "sweep: a figure of a sweep's results with error bars")
    plot.add_argument("scenario", nargs="?", help=f"scenario TOML file (default: {DEFAULT_SCENARIO}); "
                      "for sweep: the results directory")
    plot.add_argument("--output", "-o", metavar="PATH", help="image to write: .png (added to a name without an "
                      "extension), .pdf, .svg, ... (default: out/<figure>.png)")
    plot.add_argument("--max-km", type=float, help="longest link of the sweep (default 100)")
    plot.add_argument("--pairs", type=int, help="pairs per emulated point (default 300)")
    plot.add_argument("--seed", type=int, help="root seed (default: the scenario's run.seed)")
    sweep_command.add_plot_arguments(plot)


def _multi_process_parsers(commands: argparse._SubParsersAction[_Parser]) -> None:
    """``up``, ``node`` and ``medium``: their arguments are added when one of them is used (their defaults come
    from the multi-process runtime, which ``qnet run`` does not import)."""
    up = commands.add_parser("up", help="run every node as its own process on localhost (real, dilated time)")
    node = commands.add_parser("node", help="run one node process of a multi-process run (started by 'up')")
    medium = commands.add_parser("medium", help="run the medium process of a multi-process run (started by 'up')")
    up.deferred = node.deferred = medium.deferred = functools.partial(_multi_process_arguments, up, node, medium)


def _multi_process_arguments(up: _Parser, node: _Parser, medium: _Parser) -> None:
    from stack.multiprocess.outcome import EXIT_STATUS_HELP
    from stack.multiprocess.realtime import DEFAULT_TOLERANCE_NS
    from stack.multiprocess.udp import DEFAULT_BASE_PORT

    up.deferred = node.deferred = medium.deferred = None
    for sub in (up, medium):
        sub.epilog, sub.formatter_class = EXIT_STATUS_HELP, argparse.RawDescriptionHelpFormatter
    node.add_argument("name", help="the node's name in the scenario")
    for sub in (up, node, medium):
        sub.add_argument("scenario", nargs="?", help=f"scenario TOML file (default: {DEFAULT_SCENARIO})")
        sub.add_argument("--seed", type=int, help="root seed (default: the scenario's run.seed)")
        sub.add_argument("--base-port", type=int,
                         help=f"first UDP port of the port map on 127.0.0.1 (default: the scenario's run.base_port, "
                         f"else {DEFAULT_BASE_PORT}; 0 with 'up': the first free block from 20000, reported in "
                         "RUN_DIR/ports.json)")
        sub.add_argument("--run-dir", required=sub is not up, metavar="DIR",
                         help="directory for the medium socket, captures, logs and report")
    for sub in (up, medium):
        sub.add_argument("--dilation", type=float, default=DEFAULT_DILATION,
                         help=f"emulated ns per wall ns (default {DEFAULT_DILATION})")
        sub.add_argument("--tolerance-us", type=float, default=DEFAULT_TOLERANCE_NS / 1e3,
                         help="emulated lateness that counts as a missed deadline (default %(default)s µs)")
    up.add_argument("--json", metavar="PATH", help="write the JSON report to PATH ('-' for stdout)")
    for sub in (up, medium):
        sub.add_argument("--pcap", metavar="PATH", help="merged capture (default: RUN_DIR/merged.pcap)")
        sub.add_argument("--no-pcap", action="store_true", help="do not merge the captures")
        sub.add_argument("--quiet", action="store_true", help="no summary table")
