"""Sweeps on a real Dask LocalCluster on 127.0.0.1 (two worker processes, shared by every test here):
the same figures as the runs one by one, failures recorded, resuming after an interruption."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stack.cli import main
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_data, parse_toml
from stack.sweep import SweepError, define_sweep, read_results, run_sweep
from stack.sweep.figures import figures
from stack.sweep.plan import UpSettings, with_values
from stack.sweep.provenance import version
from stack.sweep.results import JOURNAL, RUN_COLUMNS, SUMMARY, TABLE
from stack.sweep.runner import dask_client
from tests.mp_util import ROOT, qnet, two_node_toml
from tests.sweep_util import write_tiny


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a LocalCluster made exactly as ``qnet sweep --workers 2`` makes one."""
    with dask_client(workers=2) as (client, description):
        assert description == "LocalCluster: 2 worker processes on 127.0.0.1"
        client.wait_for_workers(2)
        yield client.scheduler.address


def one_by_one(scenario: Path, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """A point run directly, without Dask: the oracle for the sweep's rows."""
    source = str(scenario)
    document = with_values(parse_toml(scenario.read_text(), source), source, params)
    return figures(build_report(run_scenario(load_data(document, source), seed)))


def test_workers_are_local_non_daemonic_processes(scheduler: str) -> None:
    from dask.distributed import Client

    assert scheduler.startswith("tcp://127.0.0.1:")
    with Client(scheduler) as client:
        info = client.run(lambda: (multiprocessing.current_process().daemon, os.getpid()))
    assert len(info) == 2 and all(address.startswith("tcp://127.0.0.1:") for address in info)
    assert {daemon for daemon, _ in info.values()} == {False}
    assert os.getpid() not in {pid for _, pid in info.values()}


def test_sweep_on_the_cluster_equals_the_runs_one_by_one(scheduler: str, tmp_path: Path) -> None:
    scenario = write_tiny(tmp_path)
    sweep = define_sweep(scenario, ["links.alice-bob.length_km=1,6", "workload[0].pairs=8,20"], seeds=2,
                         root_seed=42)
    output = tmp_path / "results"
    results = run_sweep(sweep, output, scheduler=scheduler)
    assert [(row["point"], row["replicate"]) for row in results.rows] == [(i, j) for i in range(4) for j in range(2)]
    for row, task in zip(results.rows, sweep.tasks(), strict=True):
        assert row["status"] == "ok", row["error"]
        assert row["seed"] == task.seed and {k: row[k] for k in sweep.keys} == task.params
        expected = one_by_one(scenario, task.params, task.seed)
        window_s = (expected["generation_end_ns"] - expected["workload[0].create_sent_ns"]) / 1e9   # derived column
        expected["workload[0].delivered_per_s"] = pytest.approx(expected["workload[0].pairs_delivered"] / window_s)
        got = {name: value for name, value in row.items() if name not in {*RUN_COLUMNS, "point", "replicate",
                                                                          "seed", *sweep.keys}}
        assert got == expected
    assert results.rows[0]["workload[0].pairs_delivered"] == 8 and results.rows[-1]["workload[0].pairs_delivered"] == 20

    import pyarrow.parquet as pq

    table = pq.read_table(output / TABLE)
    assert table.num_rows == 8 and table.to_pylist() == [{name: row.get(name) for name in table.column_names}
                                                         for row in read_results(output).rows]
    metadata = json.loads(table.schema.metadata[b"qnetstack.sweep"])
    assert metadata == json.loads((output / "sweep.json").read_text())
    definition = metadata["definition"]
    assert definition["scenario_sha256"] == hashlib.sha256(scenario.read_bytes()).hexdigest()
    assert definition["root_seed"] == 42 and metadata["scenario_text"] == scenario.read_text()
    assert metadata["sessions"][0]["versions"]["qnetstack"] == version() and metadata["runs"] == 8
    assert {row["qnetstack"] for row in results.rows} == {version()}

    summary = pq.read_table(output / SUMMARY).to_pylist()
    rate = [s for s in summary if s["figure"] == "workload[0].pairs_per_s"]
    assert len(rate) == 4
    for entry in rate:
        values = [r["workload[0].pairs_per_s"] for r in results.rows if r["point"] == entry["point"]]
        assert entry["n"] == 2 and entry["mean"] == pytest.approx(np.mean(values))
        assert entry["half_width"] == pytest.approx(12.706 * np.std(values, ddof=1) / math.sqrt(2), rel=1e-4)

    picture = tmp_path / "sweep.png"
    assert main(["plot", "sweep", str(output), "--x", "links.alice-bob.length_km", "--y",
                 "workload[0].pairs_per_s", "--output", str(picture)]) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(scheduler: str, tmp_path: Path) -> None:
    """The middle point never ends, on any machine: alice's clock 50 ns off, the photons never meet, and its
    request asks on for 10⁶ s of virtual time (~10¹¹ attempts). The others end after their 8 pairs, in a few
    hundredths of a second: the 5 s limit only separates never from nearly at once."""
    scenario = write_tiny(tmp_path, pairs=8)
    scenario.write_text(scenario.read_text().replace("duration_ms = 100000.0", "duration_ms = 1e9"))
    sweep = define_sweep(scenario, ["nodes.alice.clock_offset_ns=0,50,1"])   # 1 ns: photons still meet
    output = tmp_path / "results"
    results = run_sweep(sweep, output, scheduler=scheduler, timeout_s=5.0)
    status = [(row["status"], row["error"]) for row in results.rows]
    assert status == [("ok", None), ("failed", "timed out: the run took longer than 5 s"), ("ok", None)]
    assert results.rows[0]["workload[0].pairs_delivered"] == results.rows[2]["workload[0].pairs_delivered"] == 8
    assert read_results(output).metadata["failed"] == 1
    again = run_sweep(sweep, output, scheduler=scheduler, timeout_s=5.0)   # failed runs are not retried unasked
    assert again.metadata["sessions"][-1]["ran"] == 0 and len(again.failed) == 1


def test_more_seeds_later_runs_only_the_new_ones_and_another_sweep_is_refused(scheduler: str,
                                                                              tmp_path: Path) -> None:
    scenario = write_tiny(tmp_path)
    output = tmp_path / "results"
    first = run_sweep(define_sweep(scenario, ["workload[0].pairs=6"], seeds=1), output, scheduler=scheduler)
    more = run_sweep(define_sweep(scenario, ["workload[0].pairs=6"], seeds=3), output, scheduler=scheduler)
    assert more.metadata["sessions"][-1]["ran"] == 2 and more.rows[0] == first.rows[0]
    assert [row["session"] for row in more.rows] == [0, 1, 1]
    with pytest.raises(SweepError, match="holds another sweep \\(its axes differ\\)"):
        run_sweep(define_sweep(scenario, ["workload[0].pairs=7"]), output, scheduler=scheduler)
    scenario.write_text(scenario.read_text() + "\n# edited\n")
    with pytest.raises(SweepError, match=r"its scenario.s contents differ\)"):
        run_sweep(define_sweep(scenario, ["workload[0].pairs=6"]), output, scheduler=scheduler)
    fresh = run_sweep(define_sweep(scenario, ["workload[0].pairs=6"]), output, scheduler=scheduler, fresh=True)
    assert len(fresh.rows) == 1 and fresh.rows[0]["session"] == 0


def journal_rows(output: Path) -> list[dict[str, Any]]:
    path = output / JOURNAL
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def test_resume_after_an_interrupted_sweep_reruns_nothing_done(scheduler: str, tmp_path: Path) -> None:
    """``qnet sweep`` is interrupted (SIGINT, as Ctrl-C) once its first run is in the journal; the same
    sweep then runs exactly the runs that were not done, and keeps the others as they were."""
    scenario = write_tiny(tmp_path, pairs=600)            # about half a second per run
    output = tmp_path / "results"
    vary = ["links.alice-bob.length_km=1:3:3", "nodes.alice.t2_ms=5,8"]
    process = subprocess.Popen(qnet("sweep", str(scenario), *(f"--vary={v}" for v in vary), "--seeds", "2",
                                    "--output", str(output), "--scheduler", scheduler, "--quiet"),
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not journal_rows(output) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "qnet: interrupted: " in err and "run the same command again to resume" in err
    before = journal_rows(output)
    done = {(row["point"], row["replicate"]) for row in before}
    assert 1 <= len(done) < 12 and all(row["status"] == "ok" for row in before)

    sweep = define_sweep(scenario, vary, seeds=2)
    results = run_sweep(sweep, output, scheduler=scheduler)
    after = journal_rows(output)
    assert after[:len(before)] == before                                   # kept as they were
    rerun = [(row["point"], row["replicate"]) for row in after[len(before):]]
    assert sorted(rerun) == sorted({task.key for task in sweep.tasks()} - done)   # exactly what was missing
    assert len(results.rows) == 12 and all(row["status"] == "ok" for row in results.rows)
    sessions = results.metadata["sessions"]
    assert [s["interrupted"] for s in sessions] == [True, False] and sessions[1]["ran"] == 12 - len(done)


def test_an_up_point_runs_qnet_up_from_a_worker(scheduler: str, tmp_path: Path) -> None:
    """``--up``: the worker starts ``qnet up`` (a medium and three node processes) for the point."""
    scenario = tmp_path / "two.toml"
    scenario.write_text(two_node_toml(pairs=5))
    sweep = define_sweep(scenario, ["links.alice-bob.length_km=2"], up=UpSettings(dilation=0.01))
    results = run_sweep(sweep, tmp_path / "results", scheduler=scheduler, timeout_s=120)
    row = results.rows[0]
    assert row["status"] == "ok", row["error"]
    assert row["multi_process.dilation"] == 0.01 and row["workload[0].pairs_requested"] == 5
    # the medium's figures, against the link's (the ledger's own sum holds by construction); accounting_error, a
    # null figure when the ledger balanced (its text, a string, would be left out of the row)
    assert row["medium.created"] == 2 * row["links.alice-bob.successes"] > 0
    assert "multi_process.accounting_error" in row and row["multi_process.accounting_error"] is None


def test_a_pipe_closed_after_the_first_line_does_not_make_a_finished_sweep_interrupted(
        scheduler: str, tmp_path: Path) -> None:
    """``qnet sweep ... 2>&1 | head -1``: the progress bar's stderr is gone after the heading; the sweep runs
    to the end and is recorded finished (it was recorded interrupted: rich exited on the broken pipe), and the
    table it cannot print ends it as a closed pipe does (status 141)."""
    scenario = write_tiny(tmp_path, pairs=300)
    output = tmp_path / "results"
    process = subprocess.Popen(qnet("sweep", str(scenario), "--vary", "links.alice-bob.length_km=1:3:3",
                                    "--seeds", "2", "--output", str(output), "--scheduler", scheduler),
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    assert process.stdout.readline().startswith(b"qnet: 3 points")
    process.stdout.close()                                   # head -1 has what it wanted
    assert process.wait(timeout=120) == 141
    metadata = json.loads((output / "sweep.json").read_text())
    assert metadata["done"] == 6 and metadata["sessions"][-1]["interrupted"] is False


def test_resuming_checks_show_against_the_saved_runs_first_and_says_when_seeds_shrink(
        scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = write_tiny(tmp_path, pairs=4)
    output = tmp_path / "results"
    sweep = ["sweep", str(scenario), "--vary", "workload[0].pairs=4,5", "--output", str(output),
             "--scheduler", scheduler]
    assert main([*sweep, "--seeds", "2", "--quiet"]) == 0
    capsys.readouterr()
    from stack.sweep import runner

    def never_runs(*_: object, **__: object) -> None:
        raise AssertionError("the sweep ran")

    monkeypatch.setattr(runner, "run_sweep", never_runs)
    assert main([*sweep, "--show", "workload[0].pairs_per_sec"]) == 2      # known from the saved runs, at once
    err = capsys.readouterr().err
    assert err.startswith("qnet: error: --show workload[0].pairs_per_sec: no such figure in ") and \
        "did you mean workload[0].pairs_per_s" in err and err.count("\n") == 1
    monkeypatch.undo()
    assert main([*sweep, "--seeds", "1"]) == 0
    out, err = capsys.readouterr()
    assert "already holds 2 seeds per point, more than --seeds 1: every run there is shown" in err
    assert "2/2" in out                                                    # both seeds of each point shown
