"""The heralding's retry tries only the waiting links that may start: the same run, byte for byte, as trying
every waiting link (the exhaustive retry this module keeps as the oracle), on networks where links wait a lot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.cli import main
from stack.quantum.retry import Retries
from tests.scenarios import keyed


def exhaustive_retry(self: Retries, _: object = None) -> None:
    """The retry before it was narrowed: every waiting link, in the order they first waited (the marks of what
    was freed, which it does not need, are dropped as the narrow retry drops them: a run end that finds none
    pending queues no retry, ``Heralding._end_heralded``)."""
    self._queued = False
    self._freed.clear()
    self._changed.clear()
    for link_id in list(self.waiting.order):
        self.try_start(link_id)


def chain(nodes: int, qubits: int, kind: str) -> str:
    """A chain of coupler links with a request on every link: with one qubit a node serves one link at a time."""
    lines = ["[run]", "duration_ms = 50.0", "seed = 5"]
    for i in range(1, nodes + 1):
        lines += [f"[nodes.q{i}]", 'kind = "qpu"', f"communication_qubits = {qubits}"]
    for i in range(1, nodes):
        lines += [f"[links.l{i}]", f'a = "q{i}"', f'b = "q{i + 1}"', 'scheme = "coupler"']
        lines += ["attempt_duration_ns = 100000"]
        lines += ["[[workload]]", f'node = "q{i}"', f'remote = "q{i + 1}"', f'type = "{kind}"', "pairs = 12"]
    return "\n".join(lines) + "\n"


SHARED_STATION = """
[run]
duration_ms = 40.0
seed = 9
[nodes.a]
kind = "qpu"
communication_qubits = 1
[nodes.b]
kind = "qpu"
communication_qubits = 1
[nodes.c]
kind = "qpu"
communication_qubits = 1
[nodes.d]
kind = "qpu"
[nodes.st]
kind = "station"
[nodes.sw]
kind = "switch"
reconfiguration_ns = 3000
[links.ab]
a = "a"
b = "b"
station = "st"
switch = "sw"
length_km = 0.1
[links.cd]
a = "c"
b = "d"
station = "st"
switch = "sw"
length_km = 0.1
[links.bc]
a = "b"
b = "c"
scheme = "coupler"
[links.ad]
a = "a"
b = "d"
scheme = "coupler"
[[workload]]
node = "a"
remote = "b"
type = "keep"
pairs = 15
[[workload]]
node = "c"
remote = "d"
type = "measure"
pairs = 15
[[workload]]
node = "b"
remote = "c"
type = "measure"
pairs = 15
[[workload]]
node = "d"
remote = "a"
type = "keep"
pairs = 15
"""

CASES = {"chain-one-qubit-measure": chain(12, 1, "measure"), "chain-one-qubit-keep": chain(12, 1, "keep"),
         "chain-two-qubits-measure": chain(12, 2, "measure"), "shared-station": SHARED_STATION}


def capture(tmp_path: Path, text: str, name: str) -> tuple[bytes, bytes]:
    scenario = tmp_path / "s.toml"
    scenario.write_text(keyed(text, tmp_path))
    pcap, report = tmp_path / f"{name}.pcap", tmp_path / f"{name}.json"
    assert main(["run", str(scenario), "--quiet", "--pcap", str(pcap), "--json", str(report)]) == 0
    return pcap.read_bytes(), report.read_bytes()


@pytest.mark.parametrize("case", sorted(CASES))
def test_narrow_retry_gives_the_bytes_of_trying_every_waiting_link(tmp_path: Path, case: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    narrow = capture(tmp_path, CASES[case], "narrow")
    with monkeypatch.context() as patch:
        patch.setattr(Retries, "_retry_waiting", exhaustive_retry)
        every = capture(tmp_path, CASES[case], "every")
    assert len(narrow[0]) > 5_000
    assert narrow == every
