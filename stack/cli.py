"""The ``qnet`` command line.

    qnet run [SCENARIO] [--seed N] [--json PATH] [--pcap PATH | --no-pcap] [--quiet]
    qnet plot rate-vs-distance [SCENARIO] [--output PATH] [--max-km KM] [--pairs N]
    qnet plot sync [SCENARIO] [--output PATH] [--seed N]
    qnet up [SCENARIO] [--dilation D] [--base-port P] [--run-dir DIR] [--seed N] [--json PATH]
            [--pcap PATH | --no-pcap] [--quiet] [--tolerance-us US]
    qnet node NAME [SCENARIO] --run-dir DIR [--seed N] [--base-port P]
    qnet medium [SCENARIO] --run-dir DIR [--seed N] [--dilation D] [--tolerance-us US] [--base-port P]
                [--pcap PATH | --no-pcap] [--quiet]

With no SCENARIO it runs ``examples/default.toml``. A bad scenario prints one line
naming the file, the key and the problem, and exits with status 2. The exit statuses of
``up``, ``node`` and ``medium`` are listed in :mod:`stack.mp_outcome`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stack import report as reporting
from stack.runtime import run_scenario
from stack.scenario import Scenario, ScenarioError, load

DEFAULT_SCENARIO = "examples/default.toml"
DEFAULT_DILATION = 0.002


def default_scenario() -> Path:
    """The shipped default scenario: beside the source tree, else under the working directory."""
    for base in (Path(__file__).resolve().parent.parent, Path.cwd()):
        candidate = base / DEFAULT_SCENARIO
        if candidate.is_file():
            return candidate
    return Path(DEFAULT_SCENARIO)


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qnet", description="Packet-level quantum network emulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="emulate a scenario in virtual time and report")
    run.add_argument("scenario", nargs="?", help=f"scenario TOML file (default: {DEFAULT_SCENARIO})")
    run.add_argument("--seed", type=int, help="root seed (default: the scenario's run.seed)")
    run.add_argument("--json", metavar="PATH", help="write the JSON report to PATH ('-' for stdout)")
    run.add_argument("--pcap", metavar="PATH", help="capture file (default: out/<scenario>.pcap)")
    run.add_argument("--no-pcap", action="store_true", help="do not write a capture")
    run.add_argument("--quiet", action="store_true", help="no summary table")
    plot = commands.add_parser("plot", help="draw a figure (PNG)")
    plot.add_argument("figure", choices=["rate-vs-distance", "sync"],
                      help="rate-vs-distance: every scheme over distance; sync: clock offsets over a run")
    plot.add_argument("scenario", nargs="?", help=f"scenario TOML file (default: {DEFAULT_SCENARIO})")
    plot.add_argument("--output", "-o", metavar="PATH", help="PNG to write (default: out/<figure>.png)")
    plot.add_argument("--max-km", type=float, default=100.0, help="longest link of the sweep (default 100)")
    plot.add_argument("--pairs", type=int, default=300, help="pairs per emulated point (default 300)")
    plot.add_argument("--seed", type=int, help="root seed for the run behind a sync plot")
    _multi_process_parsers(commands)
    return parser


def _multi_process_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from stack.realtime import DEFAULT_TOLERANCE_NS
    from stack.udp import DEFAULT_BASE_PORT

    up = commands.add_parser("up", help="run every node as its own process on localhost (real, dilated time)")
    node = commands.add_parser("node", help="run one node process of a multi-process run (started by 'up')")
    node.add_argument("name", help="the node's name in the scenario")
    medium = commands.add_parser("medium", help="run the medium process of a multi-process run (started by 'up')")
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = Path(args.scenario) if args.scenario else default_scenario()
    try:
        scenario = load(path if args.scenario else _relative(path))
    except ScenarioError as error:
        print(f"qnet: error: {error}", file=sys.stderr)
        return 2
    if args.command == "plot":
        return _plot(args, scenario)
    if args.command in ("up", "node", "medium"):
        from stack import cli_up

        return cli_up.dispatch(args, path, scenario)
    return _run(args, path, scenario)


def _plot(args: argparse.Namespace, scenario: Scenario) -> int:
    from stack.plots import rate_vs_distance

    if args.max_km <= 0 or args.pairs < 10:
        print("qnet: error: --max-km must be positive and --pairs at least 10", file=sys.stderr)
        return 2
    output = Path(args.output or f"out/{args.figure}.png")
    if args.figure == "sync":
        from stack.plots import sync_offsets

        result = run_scenario(scenario, args.seed)
        try:
            sync_offsets(reporting.build_report(result), output)
        except ValueError as error:
            print(f"qnet: error: {error}", file=sys.stderr)
            return 2
        print(f"qnet: wrote {output}")
        return 0
    rate_vs_distance(scenario, output, max_km=args.max_km, pairs=args.pairs)
    print(f"qnet: wrote {output}")
    return 0


def _run(args: argparse.Namespace, path: Path, scenario: Scenario) -> int:
    if args.seed is not None and args.seed < 0:
        print("qnet: error: --seed must be a non-negative integer", file=sys.stderr)
        return 2
    pcap_path = None if args.no_pcap else Path(args.pcap or f"out/{path.stem}.pcap")
    if pcap_path is not None:
        pcap_path.parent.mkdir(parents=True, exist_ok=True)
        with pcap_path.open("wb") as stream:
            result = run_scenario(scenario, args.seed, stream)
    else:
        result = run_scenario(scenario, args.seed)
    frames = None
    if pcap_path is not None:
        assert result.emulation.network.pcap is not None
        frames = result.emulation.network.pcap.frames
    document = reporting.build_report(result, frames)
    if args.json == "-":
        sys.stdout.write(reporting.to_json(document))
    elif args.json:
        Path(args.json).write_text(reporting.to_json(document))
    if not args.quiet:
        out = sys.stderr if args.json == "-" else sys.stdout
        print(reporting.summary(document, result.wall_seconds, str(pcap_path) if pcap_path else None), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
