"""`qnet run` loads only what it runs: no scapy (the struct codecs are the runtime's; scapy layers are the
reference dissector, in protocols/packets/scapy_layers), no networkx (unless the network layer runs),
matplotlib or Dask.

Checked on the modules loaded by a whole `qnet run` in a fresh interpreter, not by a time (bench/README.md
has the start-up figures).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_ON_THE_RUN_PATH = ("scapy", "networkx", "matplotlib", "dask", "distributed", "pyarrow", "scipy", "rich",
                       "importlib.metadata", "protocols.packets.scapy_layers")


def loaded_after(args: list[str]) -> list[str]:
    code = ("import sys; from stack.cli import main; status = main(sys.argv[1:]); import json; "
            f"print(json.dumps([m for m in sys.modules if m.split('.')[0] in {NOT_ON_THE_RUN_PATH!r} "
            f"or m in {NOT_ON_THE_RUN_PATH!r}])); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_qnet_run_loads_no_dissector_graph_or_sweep_library(tmp_path: Path) -> None:
    pcap, report = tmp_path / "run.pcap", tmp_path / "run.json"
    assert loaded_after(["run", "examples/two-qpus.toml", "--quiet", "--pcap", str(pcap), "--json",
                         str(report)]) == []
    assert pcap.stat().st_size > 10_000 and json.loads(report.read_text())["capture_frames"] > 100


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


DEFERRED = ("json", "difflib", "stack.multiprocess", "stack.report_circuits", "protocols.packets.qncp_common")
"""Imported only where they are used: the report's --json, a misspelt key, `qnet up`/`node`/`medium`, a report
with circuits or a summary to print."""


def deferred_loaded(args: list[str]) -> list[str]:
    code = ("import sys; from stack.cli import main; status = main(sys.argv[1:]); "
            f"print(repr(sorted(m for m in sys.modules if any(m == d or m.startswith(d + '.') for d in {DEFERRED!r}))))"
            "; sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def test_a_quiet_run_without_json_loads_what_it_does_not_use_only_when_used(tmp_path: Path) -> None:
    """A quiet link-layer run that writes no report loads none of them; with a report and a summary it loads
    json and the circuit tables (the check sees what is loaded)."""
    assert deferred_loaded(["run", "examples/two-qpus.toml", "--quiet", "--pcap", str(tmp_path / "a.pcap")]) == []
    loaded = deferred_loaded(["run", "examples/two-qpus.toml", "--pcap", str(tmp_path / "b.pcap"), "--json",
                              str(tmp_path / "b.json")])
    assert {"json", "stack.report_circuits"} <= set(loaded)
    assert not any(m.startswith("stack.multiprocess") for m in loaded)
