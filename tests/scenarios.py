"""Small scenarios for tests, written as TOML text so they go through the real loader."""

from __future__ import annotations

import re
from pathlib import Path

from stack.scenario import Scenario, load_text

TEST_KEY = "5e" * 32
"""A fixed run secret for tests that compare two runs' captures byte for byte (without a key file, every run
draws its own, and the trailers' ICVs differ)."""


def keyed(text: str, folder: Path) -> str:
    """Scenario ``text`` naming a fixed key file (written to ``folder``, where the scenario must be written),
    instead of the one it names, if any."""
    (folder / "test.key").write_text(f"# tests only\n{TEST_KEY}\n")
    if "[security]" not in text:
        return text + '\n[security]\nkey_file = "test.key"\n'
    text = re.sub(r"^key_file\s*=.*$", "", text, flags=re.MULTILINE)
    return text.replace("[security]", '[security]\nkey_file = "test.key"', 1)


def two_qpus(*, length_km: float = 10.0, workload: str = "", depolarizing: float = 0.05,
             emission_efficiency: float = 0.3, detector_efficiency: float = 0.9,
             attenuation: float = 0.2, t2_ms: float = 1.0, duration_ms: float = 1e6,
             seed: int = 1, extra_link: str = "", extra_qpu: str = "", extra_station: str = "") -> Scenario:
    """Two QPUs and a midpoint station; ``workload`` is TOML [[workload]] tables."""
    text = f"""
[run]
duration_ms = {duration_ms}
seed = {seed}

[nodes.alice]
kind = "qpu"
t2_ms = {t2_ms}
emission_efficiency = {emission_efficiency}
transducer_efficiency = 1.0
{extra_qpu}

[nodes.bob]
kind = "qpu"
t2_ms = {t2_ms}
emission_efficiency = {emission_efficiency}
transducer_efficiency = 1.0
{extra_qpu}

[nodes.mid]
kind = "station"
detector_efficiency = {detector_efficiency}
{extra_station}

[links.ab]
a = "alice"
b = "bob"
station = "mid"
length_km = {length_km}
attenuation_db_per_km = {attenuation}
depolarizing = {depolarizing}
{extra_link}
{workload}
"""
    return load_text(text, "<test>")


def workload(kind: str, pairs: int, basis: str = "Z", node: str = "alice", remote: str = "bob") -> str:
    """A ``[[workload]]`` entry (``basis`` only for a measure entry: on a keep entry it is an error)."""
    measured = f'basis = "{basis}"\n' if kind == "measure" else ""
    return f"""
[[workload]]
node = "{node}"
remote = "{remote}"
type = "{kind}"
pairs = {pairs}
{measured}"""
