"""Scenario keys of network-layer requests (docs/scenario.md): each mistake is one line naming the key."""

from __future__ import annotations

import pytest

from stack.scenario import ScenarioError, load_text
from tests.network_scenarios import chain_text, entry

ISLAND = '[nodes.z]\nkind = "qpu"\n'


def load(workload: str, extra: str = "", network: str = "") -> object:
    return load_text(chain_text(3, workload=workload, qpu="", network=network) + extra, "s.toml")


@pytest.mark.parametrize(("workload", "extra", "message"), [
    (entry(remote="z"), ISLAND, "s.toml: workload[0].remote: no path between 'a' and 'z'"),
    (entry(remote="b", service="link"), "",
     "s.toml: workload[0].remote: no link between 'a' and 'b' (service = \"network\" crosses repeaters)"),
    (entry(remote="r1", service="bogus"), "", "s.toml: workload[0].service: must be one of auto, link, network; "
                                              "got 'bogus'"),
    (entry(path=["a", "r2", "b"]), "", "s.toml: workload[0].path[1]: no link between 'a' and 'r2'"),
    (entry(path=["a", "r1", "x"]), "", "s.toml: workload[0].path[2]: 'x' is not a QPU of the scenario"),
    (entry(path=["r1", "r2", "b"]), "", "s.toml: workload[0].path: must run from 'a' (node) to 'b' (remote), got "
                                        "['r1', 'r2', 'b']"),
    (entry(path="a"), "", "s.toml: workload[0].path: expected a list of at least two node names, got 'a'"),
    (entry(atomic=True), "", "s.toml: workload[0].atomic: atomic requests (atomic, or consecutive = false with type "
                             "keep) are not supported across repeaters"),
    (entry(consecutive=False), "", "s.toml: workload[0].consecutive: atomic requests (atomic, or consecutive = false "
                                   "with type keep) are not supported across repeaters"),
    (entry(remote="r1", cutoff_us=10), "", "s.toml: workload[0].cutoff_us: applies to network-layer requests only "
                                           "(service = \"network\")"),
    (entry(cutoff_us=0.0001), "", "s.toml: workload[0].cutoff_us: must be 0 (none) or at least 0.001 (1 ns), "
                                  "got 0.0001"),
    (entry(purpose_id=0x8000), "", "s.toml: workload[0].purpose_id: must be in [0, 32767], got 32768"),
    (entry(remote="a"), "", "s.toml: workload[0].remote: is the node itself ('a')"),
])
def test_a_bad_network_entry_names_its_key(workload: str, extra: str, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        load(workload, extra)
    assert str(error.value) == message


def test_the_network_table_is_checked_too() -> None:
    with pytest.raises(ScenarioError) as error:
        load(entry(), network="window = 0")
    assert str(error.value) == "s.toml: network.window: must be in [1, 15], got 0"
    with pytest.raises(ScenarioError) as error:
        load(entry(), network="windw = 2")
    assert str(error.value) == "s.toml: network.windw: unknown key (did you mean 'window'?)"


def test_service_auto_resolves_by_whether_the_two_share_a_link() -> None:
    scenario = load(entry(remote="r1") + entry(remote="b", path=["a", "r1", "r2", "b"], cutoff_us=20),
                    network="window = 2\nretries = 4")
    neighbour, far = scenario.workload                      # type: ignore[attr-defined]
    assert (neighbour.service, far.service) == ("link", "network")
    assert far.path == ("a", "r1", "r2", "b") and far.cutoff_ns == 20_000
    assert load(entry(cutoff_us=0.001)).workload[0].cutoff_ns == 1               # type: ignore[attr-defined]
    assert scenario.network.window == 2 and scenario.network.retries == 4     # type: ignore[attr-defined]
    forced = load(entry(remote="r1", service="network")).workload[0]          # type: ignore[attr-defined]
    assert forced.service == "network"                                          # a one-hop circuit
