"""``[[application]]`` entries: checked like every scenario key, run by ``qnet run``, reported against their
closed forms (report ``applications``)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from protocols.apps.chsh import werner_s
from protocols.apps.qkd import werner_qber
from stack.cli.commands import main
from stack.scenario import ScenarioError, load_text
from tests.test_transport import SCENARIO

ROOT = Path(__file__).resolve().parents[1]


def _with(entry: str, scenario: str = SCENARIO) -> str:
    return scenario + "\n[[application]]\n" + entry


@pytest.mark.parametrize(("entry", "key", "problem"), [
    ('kind = "bell"\nnode = "alice"\nremote = "bob"', "application[0].kind", "one of"),
    ('kind = "ghz"\nnode = "alice"\nremote = "bob"', "application[0].remotes", "list of 1 to 7"),
    ('kind = "qkd"\nnode = "alice"\nremote = "alice"', "application[0].remote", "the node itself"),
    ('kind = "qkd"\nnode = "alice"\nremote = "mid"', "application[0].remote", "station, not a qpu"),
    ('kind = "teleport"\nnode = "bob"\nremote = "alice"', "nodes.bob.data_qubits", "at least 1"),
    ('kind = "teleport"\nnode = "alice"\nremote = "bob"\npairs = 5', "application[0].pairs", "per_state"),
    ('kind = "chsh"\nnode = "alice"\nremote = "bob"\nsample_fraction = 0.5', "application[0].sample_fraction",
     "applies to qkd"),
    ('kind = "chsh"\nnode = "alice"\nremote = "bob"\nseed = 3', "application[0].seed", "applies to qkd"),
    ('kind = "teleport"\nnode = "alice"\nremote = "bob"\nseed = 3', "application[0].seed", "applies to qkd"),
    ('kind = "chsh"\nnode = "alice"\nremote = "bob"\nblock = 600', "application[0].block", "512"),
    ('kind = "qkd"\nnode = "alice"\nremote = "bob"\nblock = 70000', "application[0].block", "65535"),
    ('kind = "qkd"\nnode = "alice"\nremote = "bob"\nsped = 1', "application[0].sped", "unknown"),
])
def test_a_bad_entry_names_its_key(entry: str, key: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as error:
        load_text(_with(entry), "<apps>")
    assert error.value.key == key and problem in str(error.value)


CAROL = '\n[nodes.carol]\nkind = "qpu"\ndata_qubits = 1\n[nodes.dave]\nkind = "qpu"\n'
"""Two QPUs no link reaches from alice (nor bob)."""


@pytest.mark.parametrize(("entry", "key", "problem"), [
    ('kind = "qkd"\nnode = "alice"\nremote = "carol"', "application[0].remote", "no path between 'alice' and 'carol'"),
    ('kind = "chsh"\nnode = "carol"\nremote = "bob"', "application[0].remote", "no path between 'carol' and 'bob'"),
    ('kind = "teleport"\nnode = "alice"\nremote = "carol"', "application[0].remote", "no path between"),
    ('kind = "qkd"\nnode = "alice"\nremote = "carol"\nservice = "network"', "application[0].remote", "no path"),
    ('kind = "ghz"\nnode = "alice"\nremotes = ["bob", "carol"]', "application[0].remotes[1]",
     "no path between 'alice' and 'carol'"),
    ('kind = "ghz"\nnode = "carol"\nremotes = ["dave"]', "application[0].remotes[0]", "no path"),
])
def test_an_application_whose_ends_no_links_join_is_refused_when_read(entry: str, key: str, problem: str) -> None:
    """Its pairs and its messages need a path of links (as a ``[[workload]]`` entry's do): refused naming the
    key, not a traceback once the run started."""
    with pytest.raises(ScenarioError) as error:
        load_text(_with(entry, SCENARIO + CAROL), "<apps>")
    assert error.value.key == key and problem in str(error.value)


def test_an_application_on_the_link_layer_needs_a_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """service = "link" between QPUs a path but no link joins is refused (the link layer serves neighbours);
    "auto" there takes the network layer. ``qnet run`` says so in one line, exit status 2."""
    chain = SCENARIO + CAROL + '[links.bc]\na = "bob"\nb = "carol"\nstation = "mid"\nlength_km = 2.0\n'
    entry = 'kind = "qkd"\nnode = "alice"\nremote = "carol"\npairs = 10\n'
    assert load_text(_with(entry, chain), "<apps>").applications[0].remote == "carol"
    path = tmp_path / "s.toml"
    path.write_text(_with(entry + 'service = "link"', chain))
    assert main(["run", str(path), "--no-pcap"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"qnet: error: {path}: application[0].remote: no link between 'alice' and "
                                        "'carol' (service = \"network\" crosses repeaters)"]


WORKLOAD_AT_BOB = '\n[[workload]]\nnode = "alice"\nremote = "bob"\ntype = "measure"\npairs = 2\npurpose_id = {}\n'


def test_a_workload_entry_cannot_listen_on_the_applications_purpose_id_where_one_runs() -> None:
    """The applications' link and network layers send Purpose ID 100's pairs to the application: a workload entry
    listening on it at bob would lose its pairs there, so the file is refused, naming the entry's key."""
    app = 'kind = "qkd"\nnode = "alice"\nremote = "bob"\n'
    with pytest.raises(ScenarioError) as error:
        load_text(_with(app) + WORKLOAD_AT_BOB.format(100), "<apps>")
    assert error.value.key == "workload[0].purpose_id" and "'bob' runs one" in str(error.value)
    assert len(load_text(_with(app) + WORKLOAD_AT_BOB.format(101), "<apps>").workload) == 1
    assert len(load_text(SCENARIO + WORKLOAD_AT_BOB.format(100), "<no apps>").workload) == 1


def test_a_node_runs_one_application() -> None:
    text = _with('kind = "qkd"\nnode = "alice"\nremote = "bob"') + '\n[[application]]\nkind = "chsh"\n' \
        'node = "bob"\nremote = "alice"'
    with pytest.raises(ScenarioError, match="already runs application"):
        load_text(text, "<apps>")


def test_qnet_run_reports_every_application_against_its_closed_form(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "report.json"
    example = ROOT / "examples" / "api" / "applications.toml"
    assert main(["run", str(example), "--no-pcap", "--json", str(report_path)]) == 0
    assert "application" in capsys.readouterr().out
    report = json.loads(report_path.read_text())
    teleport, qkd, chsh = report["applications"]
    assert all(entry["finished"] for entry in report["applications"])
    f = teleport["fidelity_model"] and qkd["fidelity_model"]
    assert qkd["fidelity_model"] == pytest.approx(1 - 3 * 0.1 / 4, abs=1e-9)       # depolarizing 0.1
    for basis in ("qber_z", "qber_x"):
        n = qkd["sample"] / 2
        assert abs(qkd[basis] - werner_qber(f)) < 4 * math.sqrt(werner_qber(f) * (1 - werner_qber(f)) / n)
    q, n = qkd["qber_model"], qkd["key_bits"]                   # ~10,000 key bits: 4 sigma ≈ 0.009
    assert abs(qkd["key_bit_errors"] / n - q) < 4 * math.sqrt(q * (1 - q) / n)
    assert qkd["secret_bits_per_s"] > 0
    assert abs(chsh["s"] - werner_s(f)) < 4 * chsh["s_stderr"]
    # alice and bob store for up to ~10 µs with T2 = 10 ms: memory noise below 0.1 %, inside the tolerance
    assert abs(teleport["fidelity"] - teleport["fidelity_model"]) < 4 * teleport["fidelity_stderr"] + 0.002
    assert report["medium"]["created"] == report["medium"]["measured"] + report["medium"]["discarded"]


def test_applications_are_deterministic_byte_for_byte() -> None:
    """One root seed: the same report section and the same capture, twice."""
    import io

    from stack.api.scenario_apps import run_applications

    text = _with('kind = "qkd"\nnode = "alice"\nremote = "bob"\npairs = 300\nblock = 100')
    runs = []
    for _ in range(2):
        capture = io.BytesIO()
        run, section = run_applications(load_text(text, "<apps>"), seed=11, pcap=capture, secret=bytes(32))
        runs.append((json.dumps(section), capture.getvalue(), run.ledger))
    assert runs[0] == runs[1] and runs[0][1]


def test_applications_and_circuits_the_generation_window_cuts_off_end_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An application or a circuit whose pair requests the end of the generation window refused (ERR TIMEOUT)
    is one line naming run.duration_ms, status 1: the teleport application used to retry such a request at
    once, for ever, at one instant of emulated time (tests/test_api.py cuts off an application that waits)."""
    text = (ROOT / "examples/api/teleport-up.toml").read_text()
    sc = tmp_path / "short.toml"
    sc.write_text(text.replace("duration_ms = 2000.0", "duration_ms = 1.0"))
    assert main(["run", str(sc), "--no-pcap", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run.duration_ms" in err, err
    assert re.search(r"an application failed: teleport on (alice|bob) \(application\[0\]\): link layer answered "
                     r"ERR TIMEOUT", err), err      # which of a scenario's applications (it named none)
    circuit = (ROOT / "examples/compute.toml").read_text().replace("duration_ms = 50.0", "duration_ms = 0.5")
    sc.write_text(circuit.replace('file = "circuits/ghz.stim"', f'file = "{ROOT / "examples/circuits/ghz.stim"}"'))
    assert main(["run", str(sc), "--no-pcap", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the circuit's execution failed" in err and "run.duration_ms" in err, err


CHSH_PAIR = """
[run]
duration_ms = 2000.0
seed = 3
[nodes.erin]
kind = "qpu"
[nodes.frank]
kind = "qpu"
[nodes.mid3]
kind = "station"
[links.ef]
a = "erin"
b = "frank"
station = "mid3"
length_km = 2.0
[[application]]
kind = "chsh"
node = "erin"
remote = "frank"
pairs = 64
block = 32
"""


@pytest.mark.parametrize("damage", ["renumbered", "malformed"])
def test_a_chsh_partner_whose_block_cannot_be_used_ends_the_run_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    """The ends' CHSH blocks over other pairs (the other end numbers them differently) or a malformed block: one
    line naming the partner, status 1, nothing computed (review 9b: a RuntimeError reached the user as a
    traceback)."""
    import stack.api.apps as apps
    from protocols.common import ParseError

    real = apps.decode_block

    def damaged(data: bytes) -> tuple[object, ...]:
        if damage == "malformed":
            raise ParseError("CHSH block: 3 bytes, shorter than its header")
        first, count, *rest = real(data)
        return ((first + 1) & 0xFFFF, count, *rest)

    monkeypatch.setattr(apps, "decode_block", damaged)
    scenario = tmp_path / "chsh.toml"
    scenario.write_text(CHSH_PAIR)
    assert main(["run", str(scenario), "--no-pcap", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    expected = "numbers the request's pairs differently" if damage == "renumbered" else "sent a malformed CHSH block"
    assert "an application failed: chsh on" in err and expected in err, err
