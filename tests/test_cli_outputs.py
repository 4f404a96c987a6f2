"""Outputs that would overwrite the scenario, each other or a run's own files are refused (exit 2, one line),
before anything runs: the files are as they were."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stack import cli

ROOT = Path(__file__).resolve().parent.parent


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> None:
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("qnet: error: "), err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize("command", ["run", "up"])
def test_outputs_that_name_the_scenario_or_each_other_are_refused(tmp_path: Path, command: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.toml"
    shutil.copy(ROOT / "examples" / "two-qpus.toml", scenario)
    before = scenario.read_bytes()
    common = [command, str(scenario), "--run-dir", str(tmp_path / "run")] if command == "up" else ["run", str(scenario)]
    refused([*common, "--pcap", str(scenario)], capsys, f"--pcap {scenario} is the scenario")
    refused([*common, "--json", str(scenario), "--no-pcap"], capsys, f"--json {scenario} is the scenario")
    twice = tmp_path / "x"
    refused([*common, "--json", str(twice), "--pcap", str(twice)], capsys, "name the same file")
    refused([*common, "--pcap", str(tmp_path / "c.pcap"), "--no-pcap"], capsys, "--pcap", "--no-pcap",
            "exclude each other")
    refused([*common, "--pcap", "-"], capsys, "--pcap -", "standard output")
    assert scenario.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]        # nothing created


def test_run_json_on_the_default_capture_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "examples" / "two-qpus.toml", "s.toml")
    refused(["run", "s.toml", "--json", "out/s.pcap"], capsys, "the default capture out/s.pcap")


def test_up_outputs_must_not_be_files_the_run_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    common = ["up", str(ROOT / "examples" / "up-small.toml"), "--run-dir", str(run_dir)]
    refused([*common, "--json", str(run_dir / "alice.log")], capsys, "a file the run writes")
    refused([*common, "--pcap", str(run_dir / "medium.pcap")], capsys, "--pcap", "a file the run writes")
    refused([*common, "--json", str(run_dir / "merged.pcap")], capsys, "--json", "a file the run writes")
    refused([*common, "--pcap", str(run_dir / "secret")], capsys, "--pcap", "a file the run writes")   # its keys
    assert list(run_dir.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [
    ["run", "SCENARIO", "--no-pcap"],
    ["run", "SCENARIO", "--no-pcap", "--quiet", "--json", "-"],
    ["compile", str(ROOT / "examples" / "circuits" / "ghz.stim"), "--network", str(ROOT / "examples" / "compute.toml")],
])
def test_standard_output_on_a_full_device_is_one_line_and_status_1(tmp_path: Path, argv: list[str]) -> None:
    import subprocess
    import sys

    from tests.sweep_util import write_tiny

    argv = [str(write_tiny(tmp_path)) if word == "SCENARIO" else word for word in argv]
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "stack.cli", *argv], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["qnet: error: cannot write the output: No space left on device"], done.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_sweep_summary_to_a_full_device_is_one_line_and_status_1(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.sweep_util import write_tiny

    argv = ["sweep", str(write_tiny(tmp_path)), "--vary", "workload[0].pairs=4", "--workers", "1",
            "--output", str(tmp_path / "results")]
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "stack.cli", *argv], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "qnet: error: cannot write the output: No space left on device"


def _copied(tmp_path: Path, *names: str) -> None:
    for name in names:
        source = ROOT / "examples" / name
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)


def _snapshot(tmp_path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tmp_path)): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}


def test_compile_json_on_an_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _copied(tmp_path, "compute.toml", "circuits")
    circuit, network = tmp_path / "circuits" / "qft8.qasm", tmp_path / "compute.toml"
    common = ["compile", str(circuit), "--network", str(network)]
    before = _snapshot(tmp_path)
    refused([*common, "--json", str(circuit)], capsys, f"--json {circuit} is the circuit")
    refused([*common, "--json", str(network)], capsys, f"--json {network} is the scenario (--network)")
    aliased = tmp_path / "circuits" / ".." / "circuits" / "ghz.stim"          # the network's own [[circuit]] file
    refused([*common, "--json", str(aliased)], capsys, "is the scenario's circuit[0].file")
    (tmp_path / "link.qasm").symlink_to(circuit)
    refused([*common, "--json", str(tmp_path / "link.qasm")], capsys, "is the circuit")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["run", "up", "medium"])
def test_outputs_on_the_scenarios_files_are_refused(tmp_path: Path, command: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _copied(tmp_path, "compute.toml", "circuits", "api/parity.toml", "api/parity.py", "up-small.toml", "keys")
    run_dir = ["--run-dir", str(tmp_path / "run")] if command != "run" else []
    before = _snapshot(tmp_path)
    compute, parity, small = (str(tmp_path / name) for name in ("compute.toml", "api/parity.toml", "up-small.toml"))
    refused([command, compute, *run_dir, "--pcap", str(tmp_path / "circuits" / "ghz.stim")], capsys,
            "is the scenario's circuit[0].file, which the run reads")
    refused([command, parity, *run_dir, "--pcap", str(tmp_path / "api" / "parity.py")], capsys,
            "is the scenario's application[0].file")
    refused([command, small, *run_dir, "--pcap", str(tmp_path / "keys" / "demo.key")], capsys,
            "is the scenario's security.key_file")
    if command != "medium":                              # qnet medium writes no report
        refused([command, compute, *run_dir, "--no-pcap", "--json", str(tmp_path / "circuits" / "ghz.stim")],
                capsys, "--json", "circuit[0].file")
        refused([command, parity, *run_dir, "--no-pcap", "--json", str(tmp_path / "api" / "parity.py")], capsys,
                "--json", "application[0].file")
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()


def test_a_sweep_never_writes_over_its_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.sweep_util import write_tiny

    scenario = write_tiny(tmp_path).rename(tmp_path / "sweep.json")     # the name of the sweep's metadata
    before = _snapshot(tmp_path)
    assert cli.main(["sweep", str(scenario), "--vary", "workload[0].pairs=4", "--workers", "1",
                     "--output", str(tmp_path), "--fresh"]) == 2
    err = capsys.readouterr().err
    assert err == (f"qnet: error: --output {tmp_path}: the sweep writes {scenario}, which is the scenario: "
                   "name another directory\n")
    assert _snapshot(tmp_path) == before


def test_up_refuses_a_run_directory_where_its_files_are_inputs(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A key file named ``secret`` in the run directory: the run would write its own secret over it."""
    _copied(tmp_path, "up-small.toml", "keys")
    scenario = tmp_path / "up-small.toml"
    scenario.write_text(scenario.read_text().replace('key_file = "keys/demo.key"', 'key_file = "keys/secret"'))
    (tmp_path / "keys" / "demo.key").rename(tmp_path / "keys" / "secret")
    before = _snapshot(tmp_path)
    refused(["up", str(scenario), "--run-dir", str(tmp_path / "keys")], capsys,
            f"the run writes {tmp_path / 'keys' / 'secret'}, which is the scenario's security.key_file")
    assert _snapshot(tmp_path) == before
