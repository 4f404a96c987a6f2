"""What a user gets wrong on the command line is one ``qnet: error:`` line and a non-zero status,
before anything runs; never a traceback.

The subprocess tests (closed pipe, Ctrl-C) start ``qnet`` as a user would and wait for events, not for
time: each is bounded by generous timeouts and holds on a busy machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from stack import cli

ROOT = Path(__file__).resolve().parent.parent
TWO_QPUS = str(ROOT / "examples" / "two-qpus.toml")
UP_SMALL = str(ROOT / "examples" / "up-small.toml")


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("qnet: error: ")
    return lines[0]


def test_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out == f"qnet {declared}\n"
    assert metadata.version("qnetstack") == declared


OPTIONS = [
    # (argv, the option the error must name)
    (["run", "--seed", "-1"], "--seed"),
    (["run", TWO_QPUS, "--seed", str(2**63)], "--seed"),
    (["plot", "rate-vs-distance", "--max-km", "0"], "--max-km"),
    (["plot", "rate-vs-distance", "--max-km", "nan"], "--max-km"),
    (["plot", "rate-vs-distance", "--pairs", "5"], "--pairs"),
    (["plot", "rate-vs-distance", "--pairs", "70000"], "--pairs"),
    (["plot", "sync", "--seed", "-2"], "--seed"),
    (["up", "--dilation", "0"], "--dilation"),
    (["up", "--dilation", "inf"], "--dilation"),
    (["up", "--dilation", "0.01", "--tolerance-us", "-1"], "--tolerance-us"),
    (["up", "--base-port", "70000"], "--base-port"),
    (["medium", "--dilation", "-1", "--run-dir", "RUN"], "--dilation"),
    (["node", "alice", TWO_QPUS, "--seed", "-3", "--run-dir", "RUN"], "--seed"),
]


@pytest.mark.parametrize(("argv", "option"), OPTIONS, ids=[" ".join(a) for a, _ in OPTIONS])
def test_a_bad_number_names_exactly_its_option(argv: list[str], option: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    line = one_error_line(capsys)
    named = {word.strip(",:") for word in line.split() if word.startswith("--")}
    assert named == {option}, line
    assert list(tmp_path.iterdir()) == []                   # nothing ran, no directory was made


@pytest.mark.parametrize("argv", [["run", "--seed", "abc"], ["launch"], ["run", "--sed", "3"], ["plot"]])
def test_argument_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "--help" in one_error_line(capsys)


# -- outputs are checked before the run ---------------------------------------------------------

PROC = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")


@pytest.mark.parametrize(("argv", "words"), [
    pytest.param(["run", TWO_QPUS, "--json", "/proc/x.json"], ["--json", "/proc/x.json"], marks=PROC),
    pytest.param(["run", TWO_QPUS, "--pcap", "/proc/x.pcap"], ["--pcap", "/proc/x.pcap"], marks=PROC),
    pytest.param(["up", UP_SMALL, "--json", "/proc/x.json", "--run-dir", "RUN"], ["--json", "/proc/x.json"],
                 marks=PROC),
    (["run", TWO_QPUS, "--json", "missing/x.json"], ["--json", "directory missing does not exist"]),
    (["run", TWO_QPUS, "--pcap", "missing/deeper/x.pcap"], ["--pcap", "directory missing/deeper does not exist"]),
    (["run", TWO_QPUS, "--json", "afile/x.json"], ["--json", "afile is not a directory"]),
    (["run", TWO_QPUS, "--json", "adir"], ["--json", "adir: it is a directory"]),
    (["plot", "rate-vs-distance", TWO_QPUS, "--output", "missing/x.png"], ["--output", "missing does not exist"]),
])
def test_an_output_that_cannot_be_written_stops_before_the_run(argv: list[str], words: list[str], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    assert cli.main(argv) == 2
    line = one_error_line(capsys)
    assert all(word in line for word in words), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]    # no out/, no RUN/, no missing/


def test_checking_an_existing_output_leaves_it_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    report.write_text("old")
    assert cli.main(["run", TWO_QPUS, "--json", str(report), "--pcap", str(tmp_path / "missing" / "x.pcap")]) == 2
    assert "--pcap" in one_error_line(capsys)         # --json passed its check ...
    assert report.read_text() == "old"                # ... which did not truncate it


# -- scenarios that used to crash the reader ----------------------------------------------------

@pytest.mark.parametrize(("content", "words"), [
    (b"[run]\nseed = " + b"[" * 2000 + b"]" * 2000 + b"\n", ["(syntax)", "nested too deeply"]),
    (b"[run]\nseed = 1\n# caf\xe9\n", ["not UTF-8", "0xe9", "line 3"]),
    (b"[node.alice]\nkind = 'qpu'\n", ["node: unknown table", "did you mean 'nodes'"]),
    (b"[run]\nseed = " + b"[" * 300 + b"]" * 300 + b"\n", ["run.seed: expected an integer, got [[[...]]]"]),
])
def test_unreadable_scenarios_are_one_line(content: bytes, words: list[str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(content)
    assert cli.main(["run", str(bad), "--no-pcap"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"qnet: error: {bad}: ")
    assert all(word in line for word in words), line


# -- the summary --------------------------------------------------------------------------------

NO_ATTEMPTS = """
[run]
duration_ms = 5
[nodes.a]
kind = "qpu"
emission_efficiency = 0.0
[nodes.b]
kind = "qpu"
[nodes.c]
kind = "qpu"
[nodes.st]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "st"
[links.bc]
a = "b"
b = "c"
station = "st"
mode = "exact"
[[workload]]
node = "a"
remote = "b"
pairs = 3
"""


def test_a_link_without_attempts_shows_a_dash_and_null(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    scenario, report = tmp_path / "idle.toml", tmp_path / "idle.json"
    scenario.write_text(NO_ATTEMPTS)
    assert cli.main(["run", str(scenario), "--no-pcap", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("ab ", "bc "))}
    assert rows["ab"][4] == rows["bc"][4] == "-"                # the measured column
    assert rows["bc"][1] == "double-click*"
    assert any(line.startswith("* exact mode") for line in out.splitlines())
    links = json.loads(report.read_text())["links"]
    assert [link["success_probability_measured"] for link in links] == [None, None]


def test_no_footnote_without_an_exact_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "idle.toml"
    scenario.write_text(NO_ATTEMPTS.replace('mode = "exact"\n', ""))
    assert cli.main(["run", str(scenario), "--no-pcap"]) == 0
    out = capsys.readouterr().out
    assert "*" not in out


# -- as a user runs it: pipes and Ctrl-C --------------------------------------------------------

QNET = [sys.executable, "-m", "stack.cli"]

ENDLESS = """
[run]
duration_ms = 1e8
[nodes.a]
kind = "qpu"
ptp = "slave"
[nodes.b]
kind = "qpu"
ptp = "slave"
[nodes.st]
kind = "station"
ptp = "grandmaster"
[links.ab]
a = "a"
b = "b"
station = "st"
length_km = 100.0
[[workload]]
node = "a"
remote = "b"
pairs = 65535
"""
"""Minutes of wall time (65,535 pairs at about 1.3 per emulated second, PTP all along): still running when
interrupted, however fast the machine."""


def test_output_closed_early_is_one_line_and_status_141(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)                                  # like `| head` that has already exited
    try:
        proc = subprocess.run([*QNET, "run", TWO_QPUS, "--no-pcap"], stdout=write_end, stderr=subprocess.PIPE,
                              cwd=tmp_path, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("qnet: error: ") and "broken pipe" in lines[0]


def test_ctrl_c_during_a_run_is_one_line_and_status_130(tmp_path: Path) -> None:
    scenario, pcap = tmp_path / "endless.toml", tmp_path / "endless.pcap"
    scenario.write_text(ENDLESS)
    # A terminal's Ctrl-C raises KeyboardInterrupt; make sure of it even if this test runs with SIGINT ignored.
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from stack.cli import main; sys.exit(main())")
    proc = subprocess.Popen([sys.executable, "-c", code, "run", str(scenario), "--pcap", str(pcap)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not (pcap.exists() and pcap.stat().st_size > 24):      # frames reach the file: the run is on
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run did not start writing its capture"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert out == ""
    assert err == "qnet: error: interrupted\n"


def test_a_sweep_beyond_what_can_herald_draws_the_curves_and_skips_those_points(tmp_path: Path) -> None:
    """At 400 km and more a double-click pair takes longer than the emulation's horizon: no pair, no point
    (it used to divide by zero attempts)."""
    from stack.cli.plots import emulated
    from stack.scenario import load

    scenario = load(TWO_QPUS)
    assert emulated(scenario, "double-click", 1000.0, 10, seed=1) is None
    near = emulated(scenario, "double-click", 10.0, 10, seed=1)
    assert near is not None and near.rate > 0
    output = tmp_path / "far.png"
    assert cli.main(["plot", "rate-vs-distance", TWO_QPUS, "--max-km", "1000", "--pairs", "10", "-o", str(output)]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_pair_delivered_at_one_end_only_is_status_1_after_the_outputs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The link layer promises no pair at one end only; a run's report that counts one (here a count forced on
    every workload entry: no run of ours makes one) ends with status 1 and one line, the outputs written."""
    import json

    from stack import report as reporting

    scenario, report = tmp_path / "idle.toml", tmp_path / "idle.json"
    scenario.write_text(NO_ATTEMPTS.replace('mode = "exact"\n', ""))
    assert cli.main(["run", str(scenario), "--no-pcap", "--quiet", "--json", str(report)]) == 0
    monkeypatch.setattr(reporting, "disagreeing", lambda workload: 1)
    assert cli.main(["run", str(scenario), "--no-pcap", "--quiet", "--json", str(report)]) == 1
    entries = json.loads(report.read_text())["workload"]
    assert [entry["pairs_disagreeing"] for entry in entries] == [1] * len(entries) and entries
    assert capsys.readouterr().err == (f"qnet: error: {len(entries)} pair(s) delivered at one end only (the link "
                                       "layer promises none within the bound of docs/architecture.md, Known limits: "
                                       "report's workload[].pairs_disagreeing)\n")
