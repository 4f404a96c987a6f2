"""Whole-scenario checks: size limits (docs/scenario.md, "Limits"), one link per pair of QPUs, PTP
reachability, helpful names for misspelt keys; and a report whose cost is linear in the network."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from stack.core.capture import node_ip, node_mac
from stack.report import build_report
from stack.runtime import build, run_async
from stack.scenario import ScenarioError, checks, load_text
from tests.mp_util import two_node_toml

PAIR = """
[nodes.a]
kind = "qpu"
[nodes.b]
kind = "qpu"
[nodes.st]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "st"
"""


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_text(text, "x.toml")
    assert len(str(info.value).splitlines()) == 1
    return info.value


def test_node_limit_is_the_address_space() -> None:
    """Node ids from 1 to MAX_NODES have distinct addresses in 198.18.0.0/15 and MACs; one more has none."""
    network = ipaddress.ip_network("198.18.0.0/15")
    assert ipaddress.ip_address(node_ip(checks.MAX_NODES)) in network
    assert node_mac(checks.MAX_NODES) == "02:00:00:00:ff:ff"
    with pytest.raises(ValueError):
        ipaddress.ip_address(node_ip(checks.MAX_NODES + 1))
    struct.pack("!H", checks.MAX_LINKS)                      # the Link ID field holds it ...
    with pytest.raises(struct.error):
        struct.pack("!H", checks.MAX_LINKS + 1)              # ... and not one more


def test_one_node_too_many_is_rejected_naming_the_limit() -> None:
    nodes = "[nodes]\n" + "".join(f's{i} = {{kind = "station"}}\n' for i in range(checks.MAX_NODES + 1))
    error = error_of(nodes)
    assert error.key == "nodes"
    assert f"{checks.MAX_NODES + 1} nodes; at most {checks.MAX_NODES}" in error.problem


def test_one_link_too_many_is_rejected_naming_the_limit() -> None:
    links = "[links]\n" + "".join(f'l{i} = {{a = "a", b = "b"}}\n' for i in range(checks.MAX_LINKS + 1))
    error = error_of('[nodes.a]\nkind = "qpu"\n[nodes.b]\nkind = "qpu"\n' + links)
    assert error.key == "links"
    assert f"at most {checks.MAX_LINKS}" in error.problem


def test_applications_per_node_are_bounded_by_its_ports() -> None:
    entries = ", ".join(['{node = "a", remote = "b", listen = false}'] * (checks.MAX_APPLICATIONS_PER_NODE + 1))
    error = error_of(f"workload = [{entries}]\n" + PAIR)
    assert error.key == f"workload[{checks.MAX_APPLICATIONS_PER_NODE}]"
    assert f"more than {checks.MAX_APPLICATIONS_PER_NODE} applications" in error.problem
    assert checks.MAX_APPLICATIONS_PER_NODE + 49152 - 1 == 0xFFFF      # the last port is the last UDP port


def test_a_second_link_between_the_same_pair_names_both() -> None:
    error = error_of(PAIR + '[links.ba]\na = "b"\nb = "a"\nscheme = "coupler"\n')
    assert error.key == "links.ba"
    assert "'b' and 'a' already share link 'ab'" in error.problem


def test_an_isolated_ptp_node_is_named() -> None:
    text = PAIR.replace('kind = "station"', 'kind = "station"\nptp = "grandmaster"') + """
[nodes.c]
kind = "qpu"
ptp = "slave"
[nodes.d]
kind = "qpu"
[links.cd]
a = "c"
b = "d"
scheme = "coupler"
"""
    error = error_of(text)
    assert error.key == "nodes.c.ptp"
    assert "no fibre path to PTP node 'st'" in error.problem
    connected = text + '[links.bc]\na = "b"\nb = "c"\nscheme = "coupler"\n'
    assert load_text(connected, "x.toml").nodes["c"].clock.ptp == "slave"


@pytest.mark.parametrize(("text", "key", "words"), [
    ("[node.a]\nkind = 'qpu'\n" + PAIR, "node", "unknown table (did you mean 'nodes'?)"),
    (PAIR + "[[workloads]]\nnode = 'a'\n", "workloads", "unknown table (did you mean 'workload'?)"),
    (PAIR.replace('[nodes.a]\nkind = "qpu"', '[nodes.a]\nkind = "qpu"\ncomunication_qubits = 2'),
     "nodes.a.comunication_qubits", "unknown key (did you mean 'communication_qubits'?)"),
    (PAIR.replace('[nodes.a]\nkind = "qpu"', '[nodes.a]\nkidn = "qpu"'), "nodes.a.kind",
     "is required ('kidn' misspelt?)"),
    (PAIR + '[nodes.c]\nkind = "router"\n', 'nodes.c.kind', "must be one of"),
    (PAIR + '[nodes."x\\ny"]\nkind = "router"\n', 'nodes."x\\ny"', "a node name is"),
])
def test_misspelt_names_are_reported_first_with_the_closest_known_name(text: str, key: str, words: str) -> None:
    error = error_of(text)
    assert error.key == key
    assert words in error.problem


def test_a_clashing_purpose_id_names_the_earlier_entry() -> None:
    error = error_of(PAIR + "[[workload]]\nnode = 'a'\nremote = 'b'\npurpose_id = 5\n"
                            "[[workload]]\nnode = 'b'\nremote = 'a'\n[[workload]]\nnode = 'a'\nremote = 'b'\n"
                            "purpose_id = 5\n")
    assert error.key == "workload[2].purpose_id"
    assert "(workload[0])" in error.problem


class CountingList(list):  # type: ignore[type-arg]
    """A list that counts the items its iterations hand out."""

    visits = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        for item in super().__iter__():
            self.visits += 1
            yield item


async def test_the_report_visits_each_layer_a_bounded_number_of_times() -> None:
    """The report costs O(nodes + layers), not nodes × layers (which made 100 k stations hang)."""
    stations = 300
    text = PAIR + "[[workload]]\nnode = 'a'\nremote = 'b'\npairs = 2\n" + "".join(
        f'[nodes.s{i}]\nkind = "station"\n' for i in range(stations))
    emu = build(load_text(text, "x.toml"))
    result = await run_async(emu)
    layers = CountingList(emu.layers)
    emu.layers = layers
    report = build_report(result)
    assert len(report["nodes"]) == stations + 3 and len(layers) >= stations
    assert layers.visits <= 3 * len(layers)                  # nodes × layers would be about 90,000


def test_a_raised_priority_beyond_the_source_quota_names_both_keys() -> None:
    """Such a request would only ever get ERR NORES (the per-source quota, docs/architecture.md "Security")."""
    text = two_node_toml(pairs=5000).replace('type = "keep"\n', 'type = "keep"\npriority = 3\n', 1)
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.pairs.*queue_priority_pairs \(4096\)"):
        load_text(text, "prio.toml")
    load_text(text.replace('depolarizing = 0.05', 'depolarizing = 0.05\nqueue_priority_pairs = 5000'), "prio.toml")
    load_text(two_node_toml(pairs=5000), "plain.toml")                  # at priority 0 no pair quota applies


@pytest.mark.parametrize(("name", "key", "words"), [
    ("../esc", 'nodes."../esc"', "a node name is 1 to 64 letters, digits"),
    ("a.b", 'nodes."a.b"', "a node name is"),
    ("-x", "nodes.-x", "(not first)"),
    ("", 'nodes.""', "a node name is"),
    ("n" * 65, "nodes." + "n" * 65, "a node name is"),
    ("medium", "nodes.medium", "'medium' is reserved"),
    ("Merged", "nodes.Merged", "'Merged' is reserved"),
    ("launcher", "nodes.launcher", "is reserved"),
])
def test_node_names_that_cannot_be_file_names_or_dotted_keys_are_refused(name: str, key: str, words: str) -> None:
    """Under qnet up a node's name is RUN_DIR/NAME.pcap and NAME.log ('../esc' escaped RUN_DIR, 'medium' collided
    with medium.pcap) and 'qnet node NAME'; qnet sweep --vary addresses it as nodes.NAME.KEY ('a.b' could not be)."""
    import json

    error = error_of(PAIR + f"[nodes.{json.dumps(name)}]\nkind = \"station\"\n")
    assert error.key == key
    assert words in error.problem


def test_every_allowed_node_name_character_is_accepted() -> None:
    text = PAIR + '[nodes.Z_9-x]\nkind = "station"\n[nodes._0]\nkind = "station"\n'
    assert {"Z_9-x", "_0"} <= set(load_text(text, "s.toml").nodes)
