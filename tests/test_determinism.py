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
