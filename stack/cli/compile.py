"""``qnet compile CIRCUIT --network SCENARIO``: distribute a circuit over a scenario's QPUs (docs/compiler.md).

Imported by :mod:`stack.cli.parser` for its parser and by :mod:`stack.cli.commands` for :func:`main`; the
compiler (Mt-KaHyPar, the QASM parser) loads when the command runs, so ``qnet run`` never imports it.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``compile`` sub-command; its arguments are added when it is used (``deferred``, :mod:`stack.cli.parser`)."""
    compile_ = commands.add_parser("compile", help="distribute a circuit (stim or OpenQASM) over a scenario's QPUs")
    compile_.deferred = functools.partial(_add_arguments, compile_)


def _add_arguments(compile_: argparse.ArgumentParser) -> None:
    compile_.deferred = None  # type: ignore[attr-defined]
    compile_.add_argument("circuit", help="circuit file: .stim, or .qasm (OpenQASM 2 or 3)")
    compile_.add_argument("--network", required=True, metavar="SCENARIO",
                          help="scenario TOML whose QPUs (nodes.NAME.data_qubits) and links run the circuit")
    compile_.add_argument("--seed", type=int, default=0, help="partitioner seed (default 0)")
    compile_.add_argument("--json", metavar="PATH", help="write the partition, budget and program as JSON to PATH "
                          "('-' for stdout)")
    compile_.add_argument("--no-teledata", action="store_true",
                          help="keep every qubit on its first QPU (cat-entanglement only)")
    compile_.add_argument("--program", action="store_true", help="also print every QPU's program")
    compile_.add_argument("--quiet", action="store_true", help="no summary")


def main(args: argparse.Namespace) -> int:
    """Run ``qnet compile``; bad input raises ScenarioError, UsageError or prints one line (status 2)."""
    from protocols.compiler import CompileError, compile_circuit
    from stack import compile as compiler
    from stack.cli.checks import check_distinct, check_output
    from stack.report import to_json
    from stack.scenario import load
    from stack.scenario.files import input_files

    inputs = {"the circuit": Path(args.circuit), "the scenario (--network)": Path(args.network)}
    check_distinct({"--json": args.json}, inputs)
    if args.json not in (None, "-"):
        check_output(Path(args.json), "--json")
    scenario = load(Path(args.network))
    check_distinct({"--json": args.json}, {**input_files(scenario), **inputs})
    try:
        circuit = compiler.read_circuit(args.circuit)
        network = compiler.network_model(scenario)
        program = compile_circuit(circuit, network, seed=args.seed, teledata=not args.no_teledata)
    except CompileError as error:
        print(f"qnet: error: {error}", file=sys.stderr)
        return 2
    if args.json == "-":
        sys.stdout.write(to_json(compiler.document(circuit, program, network)))
    elif args.json:
        try:
            Path(args.json).write_text(to_json(compiler.document(circuit, program, network)))
        except OSError as error:
            print(f"qnet: error: cannot write --json {args.json}: {error.strerror or error}", file=sys.stderr)
            return 1
    if not args.quiet:
        out = sys.stderr if args.json == "-" else sys.stdout
        print(compiler.summary(circuit, program, network, args.circuit), file=out)
        if args.program:
            print("\n" + compiler.listing(program), file=out)
    return 0
