"""The ``qnet`` command line.

    qnet run [SCENARIO] [--seed N] [--json PATH] [--pcap PATH | --no-pcap] [--quiet]
    qnet plot rate-vs-distance [SCENARIO] [--output PATH] [--max-km KM] [--pairs N] [--seed N]
    qnet plot sync [SCENARIO] [--output PATH] [--seed N]
    qnet plot sweep RESULTS --y FIGURE [--x KEY] [--output PATH] [--logx] [--logy]
    qnet sweep [SCENARIO] --vary KEY=VALUES [--vary ...] [--seeds N] ...   (stack/sweep/command.py)
    qnet up [SCENARIO] [--dilation D] [--base-port P] [--run-dir DIR] [--seed N] [--json PATH]
            [--pcap PATH | --no-pcap] [--quiet] [--tolerance-us US]
    qnet node NAME [SCENARIO] --run-dir DIR [--seed N] [--base-port P]
    qnet medium [SCENARIO] --run-dir DIR [--seed N] [--dilation D] [--tolerance-us US] [--base-port P]
    qnet compile CIRCUIT --network SCENARIO [--seed N] [--json PATH] [--no-teledata] [--program] [--quiet]
    qnet --version

With no SCENARIO it runs ``examples/default.toml``. Every problem the user can fix is one line
``qnet: error: ...`` on stderr, never a traceback. Exit status: 0 done; 1 an output could not be
written after the run, an application or the circuit failed, the qubit ledger did not balance (an
application left a qubit in memory: no report is written, the run has no ledger), or standard output could not
be written (a full device); 2 a bad command line or scenario (nothing was run); 130 interrupted (Ctrl-C); 141
standard output closed early (e.g. ``| head``).
The exit statuses of ``up``, ``node`` and ``medium`` are listed in :mod:`stack.multiprocess.outcome`.
The arguments are parsed by :mod:`stack.cli.parser`; this module runs the command they name.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path
from typing import Any

from stack import report as reporting
from stack.cli.checks import UsageError, check_distinct, check_numbers, check_output, check_plot_options, plot_output
from stack.cli.compile import main as compile_main
from stack.cli.parser import DEFAULT_SCENARIO, build_parser
from stack.runtime import run_scenario
from stack.scenario import Scenario, ScenarioError, load
from stack.sweep import command as sweep_command


def default_scenario() -> Path:
    """The shipped default scenario: beside the source tree, else under the working directory."""
    for base in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = base / DEFAULT_SCENARIO
        if candidate.is_file():
            return candidate
    return Path(DEFAULT_SCENARIO)


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _refused() -> tuple[type[Exception], ...]:
    """What ends a command with status 2. A function, not a module-level import: an except clause's types
    are looked up only when an exception reaches it, so a run that succeeds never loads the compiler's and
    the DQC applications' modules for their exception classes."""
    from protocols.apps.dqc import NotExecutable
    from protocols.compiler.gates import CompileError

    return (ScenarioError, UsageError, CompileError, NotExecutable)


def _failed() -> type[Exception]:
    """What ends a command with status 1 (looked up as :func:`_refused`)."""
    from protocols.apps.dqc import ExecutionFailed

    return ExecutionFailed


def main(argv: list[str] | None = None) -> int:
    """Run a ``qnet`` command; returns the exit status."""
    try:
        status = _command(build_parser().parse_args(argv))
        sys.stdout.flush()                      # a closed pipe shows here, not at interpreter exit
        return status
    except _refused() as error:
        return _error(str(error), 2)
    except _failed() as error:
        return _error(str(error), 1)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except BaseExceptionGroup as group:         # trio wraps what ends a run in a group
        if group.subgroup(KeyboardInterrupt) is None:
            raise
        return _error("interrupted", 130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())     # nothing more reaches the pipe
        return _error("standard output closed before qnet finished writing (broken pipe)", 141)
    except OSError as error:
        if error.errno not in WRITE_FAILURES:
            raise
        _drop_unwritable_stdout()
        return _error(f"cannot write {error.filename or 'the output'}: {error.strerror or error}", 1)


WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
"""What a write to a full or failing device raises (``qnet run > /dev/full``): exit status 1, one line."""


def _drop_unwritable_stdout() -> None:
    """If standard output still cannot take what is buffered for it, send the rest to /dev/null, so that the
    exit does not fail on it again (a traceback from the interpreter's last flush)."""
    try:
        sys.stdout.flush()
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _error(message: str, status: int) -> int:
    print(f"qnet: error: {message}", file=sys.stderr)
    return status


def _command(args: argparse.Namespace) -> int:
    if args.command == "plot":
        check_plot_options(args)
    if args.command == "plot" and args.figure == "sweep":
        return sweep_command.plot_main(args, plot_output(args.output, "sweep", make_directory=True))
    check_numbers(args)
    if args.command == "compile":
        return compile_main(args)
    path = Path(args.scenario) if args.scenario else default_scenario()
    scenario = load(path if args.scenario else _relative(path))
    if args.command == "plot":
        return _plot(args, scenario)
    if args.command == "sweep":
        return sweep_command.sweep_main(args, path if args.scenario else _relative(path))
    if args.command in ("up", "node", "medium"):
        from stack.cli import up as cli_up

        if args.command in ("up", "medium"):
            _check_outputs(args, scenario)
        if args.command == "up":
            _check_api(path, scenario)
        return cli_up.dispatch(args, path, scenario, main)
    return _run(args, path, scenario)


def _check_api(path: Path, scenario: Scenario) -> None:
    """``qnet up`` with ``[[application]]`` entries or a ``[[circuit]]``: the circuit compiles and is executable
    (CompileError, NotExecutable), every application has a port (UsageError), before any process starts."""
    from stack.multiprocess.node_apps import api_plan, plan_problem

    try:
        plan = api_plan(scenario)
    except _refused():                      # a user's application file or function, the circuit (they name the key)
        raise
    except ValueError as error:             # a role on a node that is not a QPU
        raise UsageError(f"{path}: {error}") from None
    problem = None if plan is None else plan_problem(scenario, plan)
    if problem is not None:
        raise UsageError(f"{path}: {problem}")


def _check_outputs(args: argparse.Namespace, scenario: Scenario, default_pcap: Path | None = None) -> None:
    """The outputs the user named can be written, are distinct files and are none of the run's inputs (the
    scenario, its circuit, application and key files), checked before a run that may take minutes; ``--pcap`` and
    ``--no-pcap`` exclude each other."""
    from stack.scenario.files import input_files

    json_path = getattr(args, "json", None)
    if args.pcap is not None and args.no_pcap:
        raise UsageError(f"--pcap {args.pcap} and --no-pcap exclude each other: give one")
    if args.pcap is not None or args.no_pcap or default_pcap is None:
        captures = {"--pcap": None if args.no_pcap else args.pcap}
    else:
        captures = {"the default capture": str(default_pcap)}
    check_distinct({"--json": json_path, **captures}, input_files(scenario))
    if json_path not in (None, "-"):
        check_output(Path(json_path), "--json")
    if args.pcap is not None:
        check_output(Path(args.pcap), "--pcap")


def _plot(args: argparse.Namespace, scenario: Scenario) -> int:
    from stack.cli.plots import rate_vs_distance

    output = plot_output(args.output, args.figure)
    seed = scenario.run.seed if args.seed is None else args.seed
    if args.figure == "sync":
        from stack.cli.plots import sync_offsets

        result = run_scenario(scenario, seed)
        try:
            sync_offsets(reporting.build_report(result), output)
        except ValueError as error:
            return _error(str(error), 2)
        print(f"qnet: wrote {output}")
        return 0
    rate_vs_distance(scenario, output, max_km=100.0 if args.max_km is None else args.max_km,
                     pairs=300 if args.pairs is None else args.pairs, seed=seed)
    print(f"qnet: wrote {output}")
    return 0


def _run(args: argparse.Namespace, path: Path, scenario: Scenario) -> int:
    default_pcap = Path(f"out/{path.stem}.pcap")
    _check_outputs(args, scenario, default_pcap)
    if scenario.applications:
        from stack.api.ghz_memory import check_ghz_memory
        from stack.api.user_apps import check_user_apps

        check_user_apps(scenario)               # a user's file that cannot run: one line, before the pcap exists
        check_ghz_memory(scenario)
    compiled = None
    if scenario.circuits:
        from stack.compile import scenario_circuit

        compiled = scenario_circuit(scenario)   # a circuit that cannot run: one line, before the pcap exists
    pcap_path = None if args.no_pcap else Path(args.pcap) if args.pcap else default_pcap
    if pcap_path is not None:
        if args.pcap is None:
            check_output(pcap_path, "--pcap", make_directory=True)     # the default out/ is made for you
        with pcap_path.open("wb", buffering=1 << 20) as stream:     # frames are small: few large writes
            result, apps, circuit = _emulate(scenario, args.seed, stream, compiled)
    else:
        result, apps, circuit = _emulate(scenario, args.seed, None, compiled)
    frames = None
    if pcap_path is not None:
        assert result.emulation.network.pcap is not None
        frames = result.emulation.network.pcap.frames
    document = reporting.build_report(result, frames)
    if scenario.applications:
        document["applications"] = apps
    if circuit is not None:
        document["circuit"] = circuit
    if args.json == "-":
        sys.stdout.write(reporting.to_json(document))
    elif args.json:
        try:
            Path(args.json).write_text(reporting.to_json(document))
        except OSError as error:
            return _error(f"cannot write --json {args.json}: {error.strerror or error}", 1)
    if not args.quiet:
        out = sys.stderr if args.json == "-" else sys.stdout
        print(reporting.summary(document, result.wall_seconds, str(pcap_path) if pcap_path else None), file=out)
        if apps:
            from stack.api.scenario_apps import application_table

            print("\n".join(application_table(apps)), file=out)
        if circuit is not None:
            from stack.api.dqc_run import circuit_table

            print("\n".join(circuit_table(circuit)), file=out)
    return _broken_promise(document)


def _broken_promise(document: dict[str, Any]) -> int:
    """Exit status 1, one line, when the run delivered a pair at one end only (in virtual time every exchange
    settles before the run ends, so only a protocol bug or losses beyond the documented bound, docs/architecture.md
    "Known limits", explain it); 0 otherwise. The outputs are written first."""
    one_end = sum(w["pairs_disagreeing"] for w in document["workload"])
    if one_end:
        return _error(f"{one_end} pair(s) delivered at one end only (the link layer promises none within "
                      "the bound of docs/architecture.md, Known limits: report's workload[].pairs_disagreeing)", 1)
    return 0


def _emulate(scenario: Scenario, seed: int | None, stream: Any, compiled: Any
             ) -> tuple[Any, list[dict[str, Any]], dict | None]:
    """Run the scenario; with ``[[application]]`` entries or a ``[[circuit]]``, through the application API
    (virtual time; ``qnet up`` runs them with stack/multiprocess/node_apps.py), the circuit ``compiled`` by
    :func:`stack.compile.scenario_circuit`. Returns the run, the applications' report entries and the circuit's.
    A run whose qubit ledger does not balance (an application left a qubit in memory) raises
    :class:`ExecutionFailed` (one line, exit status 1): the run has no ledger, so no report."""
    from protocols.apps.dqc import ExecutionFailed
    from stack.cli.circuit_run import ledger_failure

    try:
        return _emulate_checked(scenario, seed, stream, compiled)
    except BaseException as error:
        leak = ledger_failure(error)
        if leak is None:
            raise
        raise ExecutionFailed(f"the qubit ledger does not balance: {leak} (an application must measure, teleport "
                              "or discard every qubit it is given; no report was written)") from error


def _emulate_checked(scenario: Scenario, seed: int | None, stream: Any, compiled: Any
                     ) -> tuple[Any, list[dict[str, Any]], dict | None]:
    if compiled is not None:
        from stack.cli.circuit_run import run_circuit

        result, entry = run_circuit(scenario, compiled, seed, stream)
        return result, [], entry
    if not scenario.applications:
        return run_scenario(scenario, seed, stream), [], None
    from protocols.apps.dqc import ExecutionFailed
    from stack.api.scenario_apps import run_applications
    from stack.cli.circuit_run import layer_failure

    try:
        result, apps = run_applications(scenario, seed, stream)
    except BaseException as error:
        failure = layer_failure(error)
        if failure is None:
            raise
        where = getattr(failure, "__notes__", None)        # a built-in kind names itself (stack.api.scenario_apps)
        raise ExecutionFailed(f"an application failed: {where[0] + ': ' if where else ''}{failure}") from error
    return result, apps, None
