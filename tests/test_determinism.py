"""Same seed ⇒ byte-identical capture and JSON report; different seed ⇒ different."""

from __future__ import annotations

from pathlib import Path

from stack.cli import main
from tests.scenarios import keyed

SCENARIO = """
[run]
duration_ms = 1000.0
seed = 3
[nodes.a]
kind = "qpu"
[nodes.b]
kind = "qpu"
[nodes.s]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "s"
length_km = 4.0
classical_jitter_ns = 500
[[workload]]
node = "a"
remote = "b"
type = "keep"
pairs = 150
[[workload]]
node = "b"
remote = "a"
type = "measure"
basis = "X"
pairs = 150
"""


def run_once(tmp_path: Path, name: str, *seed: str) -> tuple[bytes, bytes]:
    scenario = tmp_path / "s.toml"
    scenario.write_text(keyed(SCENARIO, tmp_path))
    pcap, report = tmp_path / f"{name}.pcap", tmp_path / f"{name}.json"
    assert main(["run", str(scenario), "--quiet", "--pcap", str(pcap), "--json", str(report), *seed]) == 0
    return pcap.read_bytes(), report.read_bytes()


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first = run_once(tmp_path, "one")
    second = run_once(tmp_path, "two")
    assert len(first[0]) > 10_000
    assert first == second


def test_other_seed_gives_other_bytes(tmp_path: Path) -> None:
    base = run_once(tmp_path, "one")
    other = run_once(tmp_path, "two", "--seed", "4")
    assert base[0] != other[0]
    assert base[1] != other[1]


def test_the_circuit_reports_distances_are_the_same_float_under_any_hash_seed() -> None:
    """compute.toml's report carries the TVD of the distributed circuit's outcomes against stim's; summed over a
    set of bit strings, its last digits followed the process's string hashing (PYTHONHASHSEED)."""
    import os
    import subprocess
    import sys

    code = ("from collections import Counter\nfrom protocols.apps.dqc import total_variation, "
            "expected_total_variation\na = Counter({format(i, '06b'): 3 * i % 17 + 1 for i in range(64)})\n"
            "b = Counter({format(i, '06b'): 5 * i % 13 + 1 for i in range(0, 64, 3)})\n"
            "print(repr(total_variation(a, b)), repr(expected_total_variation(a, b)))")
    root = Path(__file__).resolve().parents[1]
    outputs = {subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(1, 7)}
    assert len(outputs) == 1, outputs
