"""`qnet run` loads only what it runs: no scapy (the struct codecs are the runtime's; scapy layers are the
reference dissector, in protocols/packets/scapy_layers), no networkx (unless the network layer runs),
matplotlib or Dask, no stim (a run whose qubits stay Pauli frames needs no tableau).

Checked on the modules loaded by a whole `qnet run` in a fresh interpreter, not by a time (bench/README.md
has the start-up figures).
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_ON_THE_RUN_PATH = ("scapy", "networkx", "matplotlib", "dask", "distributed", "pyarrow", "scipy", "rich",
                       "importlib.metadata", "protocols.packets.scapy_layers", "stim")
DEFERRED = ("json", "difflib", "stack.multiprocess", "stack.report_circuits", "protocols.packets.qncp_common")
"""Imported only where they are used: the report's --json, a misspelt key, `qnet up`/`node`/`medium`, a report
with circuits or a summary to print."""


def loaded_after(args: list[str]) -> list[str]:
    """Which of :data:`NOT_ON_THE_RUN_PATH` a fresh ``qnet ARGS`` loaded."""
    return modules_after(args)[0]


def modules_after(args: list[str]) -> tuple[list[str], list[str]]:
    """What a fresh ``qnet ARGS`` loaded: of :data:`NOT_ON_THE_RUN_PATH`, and of :data:`DEFERRED` (both read
    before anything more is imported)."""
    code = ("import sys; from stack.cli import main; status = main(sys.argv[1:]); "
            f"loaded = [m for m in sys.modules if m.split('.')[0] in {NOT_ON_THE_RUN_PATH!r} "
            f"or m in {NOT_ON_THE_RUN_PATH!r}]; "
            f"deferred = sorted(m for m in sys.modules if any(m == d or m.startswith(d + '.') for d in {DEFERRED!r})); "
            "print(repr((loaded, deferred))); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    loaded, deferred = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    return loaded, deferred


@dataclass(frozen=True)
class TwoQpuRuns:
    """``qnet run examples/two-qpus.toml`` twice in fresh interpreters: quiet with a capture only, and with a
    capture, a report and the summary; what each loaded (:func:`modules_after`)."""

    quiet: tuple[list[str], list[str]]
    full: tuple[list[str], list[str]]
    pcap: Path
    report: Path


@pytest.fixture(scope="module")
def two_qpu_runs(tmp_path_factory: pytest.TempPathFactory) -> TwoQpuRuns:
    """The two runs both link-layer checks below read (a fresh interpreter costs ~1 s of imports)."""
    directory = tmp_path_factory.mktemp("startup")
    pcap, report = directory / "b.pcap", directory / "b.json"
    quiet = modules_after(["run", "examples/two-qpus.toml", "--quiet", "--pcap", str(directory / "a.pcap")])
    full = modules_after(["run", "examples/two-qpus.toml", "--pcap", str(pcap), "--json", str(report)])
    return TwoQpuRuns(quiet, full, pcap, report)


def test_qnet_run_loads_no_dissector_graph_or_sweep_library(two_qpu_runs: TwoQpuRuns) -> None:
    """Quiet, and with a report and the summary."""
    assert two_qpu_runs.quiet[0] == [] and two_qpu_runs.full[0] == []
    assert two_qpu_runs.pcap.stat().st_size > 10_000
    assert json.loads(two_qpu_runs.report.read_text())["capture_frames"] > 100


def test_a_network_layer_run_loads_networkx_and_nothing_else(tmp_path: Path) -> None:
    """The network layer's Topology (classical delays along the fibre graph) and Router use networkx, so a
    scenario with a network-layer entry (all-messages.toml has four) loads it; nothing else."""
    pcap, report = tmp_path / "run.pcap", tmp_path / "run.json"
    loaded = loaded_after(["run", "examples/all-messages.toml", "--quiet", "--pcap", str(pcap), "--json",
                           str(report)])
    assert {m for m in loaded if not m.startswith("networkx")} <= {"importlib.metadata"}   # networkx loads it
    assert "networkx" in loaded
    assert json.loads(report.read_text())["circuits"]


def test_the_check_sees_a_library_that_is_loaded() -> None:
    """Not vacuous: in a process that has imported them, the same check names them."""
    code = ("import sys, protocols.packets.scapy_layers, networkx; "
            f"print([m for m in {NOT_ON_THE_RUN_PATH!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "scapy" in done.stdout and "networkx" in done.stdout and "protocols.packets.scapy_layers" in done.stdout


def test_a_quiet_run_without_json_loads_what_it_does_not_use_only_when_used(two_qpu_runs: TwoQpuRuns) -> None:
    """A quiet link-layer run that writes no report loads none of them; with a report and a summary it loads
    json and the circuit tables (the check sees what is loaded)."""
    assert two_qpu_runs.quiet[1] == []
    loaded = two_qpu_runs.full[1]
    assert {"json", "stack.report_circuits"} <= set(loaded)
    assert not any(m.startswith("stack.multiprocess") for m in loaded)


def test_the_program_freezes_what_its_imports_made_and_main_does_not(tmp_path: Path) -> None:
    """`qnet` (``program``) moves the objects its imports made to the collector's permanent generation before
    the command runs (the first collections of a run walked them all); :func:`stack.cli.main`, which a process
    may call many times, leaves the collector as it was."""
    pcap = tmp_path / "run.pcap"
    code = ("import atexit, gc, sys; atexit.register(lambda: print('FROZEN', gc.get_freeze_count())); "
            "sys.argv = ['qnet', *sys.argv[1:]]; from stack.cli import program; program()")
    done = subprocess.run([sys.executable, "-c", code, "run", "examples/two-qpus.toml", "--quiet", "--pcap",
                           str(pcap)], cwd=ROOT, capture_output=True, text=True, check=True)
    assert int(done.stdout.split("FROZEN ")[1]) > 20_000         # ~64,000 in a run of two-qpus
    code = ("import gc, sys; from stack.cli import main; status = main(sys.argv[1:]); "
            "print('FROZEN', gc.get_freeze_count(), gc.isenabled()); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, "run", "examples/two-qpus.toml", "--quiet", "--pcap",
                           str(pcap)], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split("FROZEN ")[1].split() == ["0", "True"]


def test_the_parser_adds_a_sub_command_s_arguments_when_it_is_used() -> None:
    """``qnet run`` builds only its own arguments (and ``sweep``'s): ``plot``, ``compile``, ``up``, ``node`` and
    ``medium`` get theirs when parsed or when their help is shown, the same arguments either way."""
    from stack.cli.parser import build_parser

    def sub_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    commands = sub_commands(build_parser())
    lazy = ("plot", "compile", "up", "node", "medium")
    assert all(len(commands[name]._actions) == 1 for name in lazy)          # --help only
    assert len(commands["run"]._actions) > 1 and len(commands["sweep"]._actions) > 1
    shown = {name: commands[name].format_help() for name in lazy}
    assert all(len(commands[name]._actions) > 2 for name in lazy)
    parsed = sub_commands(build_parser())
    args = build_parser().parse_args(["plot", "rate-vs-distance", "--seed", "3", "--max-km", "50"])
    assert (args.figure, args.seed, args.max_km, args.pairs) == ("rate-vs-distance", 3, 50.0, None)
    assert all(parsed[name].format_help() == shown[name] for name in lazy)
