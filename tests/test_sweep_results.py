"""A sweep's results directory without a cluster: what is left to run, the journal after a crash, the table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stack.sweep import SweepError, define_sweep, read_results
from stack.sweep.results import JOURNAL, TABLE, ResultsDir, latest_rows
from tests.sweep_util import write_tiny


def row(point: int, replicate: int, status: str = "ok", **figures: object) -> dict[str, object]:
    return {"point": point, "replicate": replicate, "seed": 1, "workload[0].pairs": point + 1, "status": status,
            "error": None if status == "ok" else "boom", "wall_s": 0.1, "worker": "w", "qnetstack": "0", **figures}


def test_what_is_left_to_run(tmp_path: Path) -> None:
    sweep = define_sweep(write_tiny(tmp_path), ["workload[0].pairs=1,2"], seeds=2)
    store = ResultsDir.open(tmp_path / "out", sweep)
    store.record(row(0, 0))
    store.record(row(1, 1, "failed"))
    tasks = sweep.tasks()
    assert [t.key for t in store.todo(tasks)] == [(0, 1), (1, 0)]
    assert [t.key for t in store.todo(tasks, retry_failed=True)] == [(0, 1), (1, 0), (1, 1)]
    store.record(row(1, 1, "ok", f=2.0))                      # a retry: the latest row counts
    results = store.finish("test", interrupted=False)
    assert [(r["point"], r["replicate"], r["status"]) for r in results.rows] == [(0, 0, "ok"), (1, 1, "ok")]
    assert results.figures == ["f"] and results.metadata["done"] == 2 and results.metadata["failed"] == 0


def test_a_journal_cut_short_by_a_killed_process(tmp_path: Path) -> None:
    sweep = define_sweep(write_tiny(tmp_path), ["workload[0].pairs=1,2"])
    output = tmp_path / "out"
    killed = ResultsDir.open(output, sweep)
    killed.record(row(0, 0, f=1.5))
    with (output / JOURNAL).open("a") as stream:
        stream.write('{"point": 1, "replicate": 0, "sta')        # killed mid-write
    killed.release()                                             # as its exit does
    store = ResultsDir.open(output, sweep)
    assert [t.key for t in store.todo(sweep.tasks())] == [(1, 0)]
    store.record(row(1, 0, f=2.5))
    store.release()
    lines = (output / JOURNAL).read_text().splitlines()
    assert [json.loads(line)["point"] for line in lines] == [0, 1]
    assert [r["session"] for r in read_results(output).rows] == [0, 1]


def test_readers_leave_the_line_a_running_sweep_is_writing_alone(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A sweep holds the directory and is half-way through writing a row: ``read_results`` (``qnet plot
    sweep``) and a second ``qnet sweep --show`` (which reads the saved runs before it asks for the lock) read
    the rows that are whole and leave the file as it is (they cut the half line off, so the sweep's rest of it
    made a damaged line the next session refused)."""
    from stack.cli import main

    scenario = write_tiny(tmp_path)
    sweep = define_sweep(scenario, ["workload[0].pairs=1,2"])
    output = tmp_path / "out"
    running = ResultsDir.open(output, sweep)
    running.record(row(0, 0, f=1.5))
    whole = json.dumps({**row(1, 0, f=2.5), "session": 0}) + "\n"
    with (output / JOURNAL).open("a") as stream:
        stream.write(whole[:20])                                 # the running sweep's write, not done yet
    before = (output / JOURNAL).read_bytes()
    assert [r["point"] for r in read_results(output).rows] == [0]
    assert main(["sweep", str(scenario), "--vary", "workload[0].pairs=1,2", "--output", str(output),
                 "--show", "workload[0].g", "--quiet"]) == 2        # refused after reading the saved runs
    assert "--show workload[0].g: no such figure" in capsys.readouterr().err
    assert main(["plot", "sweep", str(output), "--y", "f", "--output", str(tmp_path / "f.png")]) == 0
    assert (output / JOURNAL).read_bytes() == before
    with (output / JOURNAL).open("a") as stream:
        stream.write(whole[20:])                                 # the sweep's write ends
    running.release()
    store = ResultsDir.open(output, sweep)                       # no damaged line
    assert store.todo(sweep.tasks()) == [] and [r["f"] for r in latest_rows(store.journal)] == [1.5, 2.5]
    store.release()


def test_the_table_has_every_column_with_nulls_where_a_row_lacks_one(tmp_path: Path) -> None:
    sweep = define_sweep(write_tiny(tmp_path), ["workload[0].pairs=1,2"])
    store = ResultsDir.open(tmp_path / "out", sweep)
    store.record(row(0, 0, f=1, g="a"))
    store.record(row(1, 0, "failed"))
    store.finish(None, interrupted=True)
    table = pq.read_table(tmp_path / "out" / TABLE)
    assert table.column("f").to_pylist() == [1, None] and table.column("error").to_pylist() == [None, "boom"]
    assert table.column("workload[0].pairs").to_pylist() == [1, 2]
    metadata = json.loads(table.schema.metadata[b"qnetstack.sweep"])
    assert metadata["sessions"][0]["interrupted"] is True and metadata["failed"] == 1


def test_a_damaged_journal_line_is_one_error_naming_it(tmp_path: Path) -> None:
    sweep = define_sweep(write_tiny(tmp_path), ["workload[0].pairs=1,2"])
    output = tmp_path / "out"
    store = ResultsDir.open(output, sweep)
    store.record(row(0, 0, f=1.5))
    store.record(row(1, 0, f=2.5))
    lines = (output / JOURNAL).read_text().splitlines()
    (output / JOURNAL).write_text(lines[0] + "\n" + lines[1][:20] + "#garbage\n")
    store.finish(None, interrupted=False)
    with pytest.raises(SweepError, match=rf"^{re.escape(str(output / JOURNAL))}:2: damaged line, not JSON"):
        read_results(output)
    (output / JOURNAL).write_text(lines[0] + '\n{"point": "1"}\n')
    with pytest.raises(SweepError, match=r"journal.jsonl:2: damaged line, not a run's row"):
        ResultsDir.open(output, sweep)
    ResultsDir.open(tmp_path / "out", sweep, fresh=True).release()    # the refusal left the directory free


def test_one_session_at_a_time_per_directory(tmp_path: Path) -> None:
    sweep = define_sweep(write_tiny(tmp_path), ["workload[0].pairs=1,2"])
    store = ResultsDir.open(tmp_path / "out", sweep)
    with pytest.raises(SweepError, match=r"out is in use by another qnet sweep \(pid \d+\): wait for it to end"):
        ResultsDir.open(tmp_path / "out", sweep, fresh=True)
    assert (tmp_path / "out" / "sweep.json").exists()           # --fresh deleted nothing of the running session
    store.finish(None, interrupted=False)
    ResultsDir.open(tmp_path / "out", sweep).finish(None, interrupted=False)   # free again once it finished


def test_resuming_depends_on_the_scenarios_contents_not_how_its_path_is_spelt(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = write_tiny(tmp_path)
    (tmp_path / "sub").mkdir()
    first = ResultsDir.open(tmp_path / "out", define_sweep(scenario, ["workload[0].pairs=1,2"]))
    first.record(row(0, 0))
    first.release()
    monkeypatch.chdir(tmp_path / "sub")
    again = define_sweep("../tiny.toml", ["workload[0].pairs=1,2"])
    store = ResultsDir.open(tmp_path / "out", again)              # the same sweep: resumed, not refused
    assert [t.key for t in store.todo(again.tasks())] == [(1, 0)]
    store.release()
    other = tmp_path / "other.toml"
    other.write_text(scenario.read_text().replace("pairs = 12", "pairs = 13"))
    with pytest.raises(SweepError, match=r"holds another sweep \(its scenario's contents differ\)"):
        ResultsDir.open(tmp_path / "out", define_sweep(other, ["workload[0].pairs=1,2"]))
    with pytest.raises(SweepError, match=r"\(its root seed differs\)"):
        ResultsDir.open(tmp_path / "out", define_sweep(scenario, ["workload[0].pairs=1,2"], root_seed=9))


def test_the_seeds_recorded_are_those_asked_for_or_saved_not_a_count_never_run(tmp_path: Path) -> None:
    """A session asked for 1000 seeds and was stopped after one run: the next, with --seeds 2, records 2 (it
    recorded max(1000, 2) for ever), and a journal with runs of 3 seeds keeps 3."""
    scenario = write_tiny(tmp_path)
    big = ResultsDir.open(tmp_path / "out", define_sweep(scenario, ["workload[0].pairs=1"], seeds=1000))
    assert big.metadata["seeds"] == 1000
    big.record(row(0, 0))
    big.finish(None, interrupted=True)
    again = ResultsDir.open(tmp_path / "out", define_sweep(scenario, ["workload[0].pairs=1"], seeds=2))
    assert (again.metadata["seeds"], again.metadata["runs"]) == (2, 2)
    again.record(row(0, 2))                                  # a run of seed index 2 is saved
    again.finish(None, interrupted=False)
    third = ResultsDir.open(tmp_path / "out", define_sweep(scenario, ["workload[0].pairs=1"], seeds=1))
    assert third.metadata["seeds"] == 3
    third.release()
