"""A station link's run that ends holding its qubits queues no retry (``Heralding._end_heralded``), and the release
of a station or of a qubit's slot that is the last entry of its instant retries at once instead of queuing the
retry (``Retries.freed_at_end``, which ``Heralding._free_station`` calls and ``Retries.freed_at`` queues): the
same run, byte for byte, as ending every run with the general ``_end_run`` and queuing every retry, which this
module keeps as the oracle.

Only the kernel's count of queue entries run (the report's ``kernel_events``) differs: it is lower by up to two
entries per concluded run, where a link wants more pairs when its run ends (not in a repeater chain, whose hops
ask for one pair at a time), and by one per retry run at once after a slot's release.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack.cli import main
from stack.quantum.heralding import Heralding
from stack.quantum.retry import Retries
from tests.scenarios import keyed
from tests.test_heralding_retry import SHARED_STATION

ROOT = Path(__file__).resolve().parent.parent


def two_qpus(pairs: int, link: str = "") -> str:
    """examples/two-qpus.toml with one create-and-keep request of ``pairs`` pairs (``link``: more link keys)."""
    text = (ROOT / "examples" / "two-qpus.toml").read_text()
    text = text[:text.index("[[workload]]")].replace("depolarizing = 0.05", "depolarizing = 0.05\n" + link)
    return text + f'[[workload]]\nnode = "alice"\nremote = "bob"\ntype = "keep"\npairs = {pairs}\n'


def shortened(name: str, duration_ms: float) -> str:
    """An example scenario run for ``duration_ms`` only."""
    text = (ROOT / "examples" / name).read_text()
    lines = [f"duration_ms = {duration_ms}" if line.startswith("duration_ms") else line for line in text.splitlines()]
    return "\n".join(lines) + "\n"


CASES = {"two-qpus-keep": (two_qpus(200), True), "two-qpus-exact": (two_qpus(10, 'mode = "exact"'), True),
         "shared-station": (SHARED_STATION, True), "default": (shortened("default.toml", 300.0), True),
         "repeater-chain": (shortened("repeater-chain.toml", 300.0), False)}
"""Each case's scenario, and whether a run end queues fewer entries there."""


def capture(tmp_path: Path, text: str, name: str) -> tuple[bytes, dict]:
    scenario = tmp_path / "s.toml"
    scenario.write_text(keyed(text, tmp_path))
    pcap, report = tmp_path / f"{name}.pcap", tmp_path / f"{name}.json"
    assert main(["run", str(scenario), "--quiet", "--pcap", str(pcap), "--json", str(report)]) == 0
    return pcap.read_bytes(), json.loads(report.read_text())


def end_by_end_run(self: Heralding, state: object) -> None:
    """The end of every run before the held case was told apart: release, wait, retry."""
    self._end_run(state)  # type: ignore[arg-type]


def freed_queued(self: Retries, resource: int, link_id: int | None = None) -> None:
    """A station's release after its photons, or a slot's after its readout, before either could retry at once:
    the retry is always queued."""
    self.freed(resource)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_held_run_end_gives_the_bytes_of_the_general_end(tmp_path: Path, case: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    text, fewer = CASES[case]
    held = capture(tmp_path, text, "held")
    with monkeypatch.context() as patch:
        patch.setattr(Heralding, "_end_heralded", end_by_end_run)
        patch.setattr(Retries, "freed_at_end", freed_queued)
        general = capture(tmp_path, text, "general")
    assert len(held[0]) > 5_000
    assert held[0] == general[0]
    held_events, general_events = held[1].pop("kernel_events"), general[1].pop("kernel_events")
    assert held[1] == general[1]
    assert held_events <= general_events
    assert (held_events < general_events) == fewer
