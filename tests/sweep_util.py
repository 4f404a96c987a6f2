"""Small scenarios for the sweep tests: two QPUs 1 km apart, a few pairs, each run a fraction of a second."""

from __future__ import annotations

from pathlib import Path


def tiny_toml(pairs: int = 12) -> str:
    return f"""
[run]
duration_ms = 100000.0
seed = 5

[nodes.alice]
kind = "qpu"
t2_ms = 10.0
emission_efficiency = 0.8
transducer_efficiency = 0.8

[nodes.bob]
kind = "qpu"
t2_ms = 10.0
emission_efficiency = 0.8
transducer_efficiency = 0.8

[nodes.mid]
kind = "station"
detector_efficiency = 0.9

[links.alice-bob]
a = "alice"
b = "bob"
station = "mid"
length_km = 1.0

[[workload]]
node = "alice"
remote = "bob"
type = "keep"
pairs = {pairs}
"""


def write_tiny(directory: Path, pairs: int = 12) -> Path:
    path = directory / "tiny.toml"
    path.write_text(tiny_toml(pairs))
    return path
