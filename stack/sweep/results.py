"""A sweep's results directory.

- ``sweep.json``: the metadata: the sweep's definition (scenario path, its SHA-256 and full text,
  the axes, the root seed and how run seeds derive from it), the versions of qnetstack and its
  libraries, and one entry per session (each invocation that ran points).
- ``journal.jsonl``: one JSON row per finished run, appended and flushed as each one ends, so an
  interrupted sweep (Ctrl-C, a killed process, a lost cluster) keeps every run that finished.
- ``results.parquet``: the tidy table (one row per run, the latest row of each run in the
  journal), rewritten from the journal at the end of each session; its schema metadata holds
  ``sweep.json`` too. It adds the figures the sweep derives (:mod:`stack.sweep.derived`).
- ``summary.parquet``: mean and confidence interval per point and figure (:mod:`stack.sweep.summary`).

Running the same sweep again into the same directory resumes it: runs in the journal are not
run again (failed ones only with ``retry_failed``).
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.sweep.derived import with_derived
from stack.sweep.lock import DirectoryLock
from stack.sweep.plan import SAME_SWEEP, Sweep, Task
from stack.sweep.provenance import versions
from stack.sweep.spec import SweepError

FORMAT = "qnetstack-sweep"
FORMAT_VERSION = 1
META, JOURNAL, TABLE, SUMMARY = "sweep.json", "journal.jsonl", "results.parquet", "summary.parquet"
IDENTITY = ("point", "replicate", "seed")
RUN_COLUMNS = ("status", "error", "wall_s", "worker", "qnetstack", "session")
"""Columns of a row that are not the point's values or the run's figures."""
SEED_DERIVATION = ("seed of run j of point i = SeedSequence(root_seed, spawn_key=(i, j))"
                   ".generate_state(1, numpy.uint64)[0] mod 2**63 (numpy.random.SeedSequence)")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@dataclass
class SweepResults:
    """What a results directory holds: the metadata and the latest row of each run."""

    path: Path
    metadata: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        """The varied scenario keys, in --vary order."""
        return [axis["key"] for axis in self.metadata["definition"]["axes"]]

    @property
    def figures(self) -> list[str]:
        """Every figure column, in first-seen order."""
        skip = {*IDENTITY, *RUN_COLUMNS, *self.keys}
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update((name, None) for name in row if name not in skip)
        return list(seen)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["status"] != "ok"]

    def summary(self, figures: list[str] | None = None, confidence: float = 0.95) -> list[dict[str, Any]]:
        """Mean and Student-t confidence interval per point and figure (see :mod:`stack.sweep.summary`)."""
        from stack.sweep.summary import summarise

        return summarise(self.rows, self.keys, figures or self.figures, confidence)


class ResultsDir:
    """The files of one sweep's results, opened for a session that runs its remaining points."""

    def __init__(self, path: Path, metadata: dict[str, Any], journal: list[dict[str, Any]],
                 lock: DirectoryLock | None = None) -> None:
        self.path, self.metadata, self.journal, self.lock = path, metadata, journal, lock
        self.session = len(metadata["sessions"]) - 1
        """This session's index in ``metadata["sessions"]``."""

    @classmethod
    def open(cls, path: str | Path, sweep: Sweep, fresh: bool = False) -> ResultsDir:
        """Open ``path`` for ``sweep``: new, or the same sweep to resume. A directory that holds
        another sweep is refused (``fresh`` deletes its results first), and so is a directory another
        session is using (:mod:`stack.sweep.lock`); the session holds it until :meth:`finish`."""
        path = Path(path)
        check_directory(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            lock = DirectoryLock(path).acquire()
        except OSError as error:
            raise SweepError(f"cannot use --output {path}: {error.strerror or error}") from None
        try:
            return cls._start(path, sweep, fresh, lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _start(cls, path: Path, sweep: Sweep, fresh: bool, lock: DirectoryLock) -> ResultsDir:
        if fresh:
            for name in (META, JOURNAL, TABLE, SUMMARY):
                (path / name).unlink(missing_ok=True)
        definition = json.loads(json.dumps(sweep.definition()))
        if (path / META).exists():
            metadata = read_metadata(path)
            differs = [name for key, name in SAME_SWEEP.items() if metadata["definition"].get(key) != definition[key]]
            if differs:
                verb = "differ" if len(differs) > 1 or differs[0].endswith("s") else "differs"
                raise SweepError(f"{path} holds another sweep (its {' and '.join(differs)} {verb}): "
                                 "choose another --output, or --fresh to replace it")
        else:
            metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "definition": definition,
                        "seed_derivation": SEED_DERIVATION, "scenario_text": sweep.text, "sessions": []}
        journal = read_journal(path, repair=True)           # under the lock: no session is writing it
        # the seeds asked for now, or more if runs of more are saved (not a count an earlier session asked for
        # and never ran: that would stay in the metadata for ever)
        saved = max((row["replicate"] for row in journal), default=-1) + 1
        metadata.update(points=len(sweep.points()), seeds=max(sweep.seeds, saved))
        metadata["runs"] = metadata["points"] * metadata["seeds"]
        metadata["sessions"].append({"started": _now(), "finished": None, "versions": versions(),
                                     "cluster": None, "ran": 0, "failed": 0, "interrupted": False})
        results = cls(path, metadata, journal, lock)
        results.write_metadata()
        return results

    def todo(self, tasks: list[Task], retry_failed: bool = False) -> list[Task]:
        """The tasks not yet in the journal (or failed there, with ``retry_failed``)."""
        latest = {(row["point"], row["replicate"]): row["status"] for row in self.journal}
        return [task for task in tasks
                if task.key not in latest or (retry_failed and latest[task.key] != "ok")]

    def record(self, row: dict[str, Any]) -> None:
        """Append one finished run to the journal, on disk at once."""
        row = {**row, "session": self.session}
        self.journal.append(row)
        with (self.path / JOURNAL).open("a") as stream:
            stream.write(json.dumps(row) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        current = self.metadata["sessions"][-1]
        current["ran"] += 1
        current["failed"] += row["status"] != "ok"

    def finish(self, cluster: str | None, interrupted: bool) -> SweepResults:
        """Close the session: metadata, the tidy table and the summary from the journal."""
        self.metadata["sessions"][-1].update(finished=_now(), cluster=cluster, interrupted=interrupted)
        results = SweepResults(self.path, self.metadata, latest_rows(self.journal))
        self.metadata["done"] = sum(row["status"] == "ok" for row in results.rows)
        self.metadata["failed"] = len(results.failed)
        self.metadata["figures"] = results.figures
        self.write_metadata()
        write_table(self.path / TABLE, results.rows, self.metadata)
        write_table(self.path / SUMMARY, results.summary(), self.metadata)
        self.release()
        return results

    def release(self) -> None:
        """End the session's hold on the directory (:meth:`finish` does; so does the process's exit)."""
        if self.lock is not None:
            self.lock.release()

    def write_metadata(self) -> None:
        partial = self.path / (META + ".part")
        partial.write_text(json.dumps(self.metadata, indent=2) + "\n")
        partial.replace(self.path / META)


def check_directory(path: Path) -> None:
    """``path`` can be a results directory: it is one, or does not exist yet (it is created, with its missing
    parents, when the sweep starts)."""
    if path.exists() and not path.is_dir():
        raise SweepError(f"--output {path}: exists and is not a directory (a sweep writes a results directory)")


def read_metadata(path: Path) -> dict[str, Any]:
    try:
        metadata = json.loads((path / META).read_text())
    except (OSError, ValueError) as error:
        raise SweepError(f"{path / META}: not a sweep's metadata ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise SweepError(f"{path / META}: not a qnetstack sweep's metadata")
    return metadata


def read_journal(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """Every row of the journal. A last line without its newline is a row being written (by a running
    sweep) or cut short (by a killed one): it is not read, and the file is left as it is, so a reader
    (``qnet plot sweep`` during a sweep) never cuts off the line a sweep is writing. ``repair`` (only
    :class:`ResultsDir`, which holds the directory's lock) cuts it off the file, so the next row starts on a
    line of its own. Any other damaged line is a :class:`SweepError` naming ``journal.jsonl:LINE``."""
    journal = path / JOURNAL
    if not journal.exists():
        return []
    data = journal.read_bytes()
    complete = data[:data.rfind(b"\n") + 1]
    if repair and len(complete) != len(data):
        with journal.open("r+b") as stream:
            stream.truncate(len(complete))
    rows = []
    for number, line in enumerate(complete.decode(errors="replace").splitlines(), start=1):
        if line.strip():
            rows.append(_journal_row(journal, number, line))
    return rows


def _journal_row(journal: Path, number: int, line: str) -> dict[str, Any]:
    """One line of the journal as a run's row; a damaged one is a one-line error naming it (never skipped:
    the user decides whether that run is lost)."""
    try:
        row = json.loads(line)
    except ValueError as error:
        problem = f"not JSON ({error.args[0] if error.args else error})"
    else:
        if isinstance(row, dict) and all(isinstance(row.get(key), int) for key in ("point", "replicate")) \
                and isinstance(row.get("status"), str):
            return row
        problem = "not a run's row (point, replicate, status)"
    raise SweepError(f"{journal}:{number}: damaged line, {problem}: delete the line to run that run again, "
                     "or --fresh to start over")


def latest_rows(journal: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last row of each run, ordered by point and replicate, with its derived figures
    (:mod:`stack.sweep.derived`)."""
    latest = {(row["point"], row["replicate"]): row for row in journal}
    return [with_derived(latest[key]) for key in sorted(latest)]


def read_results(path: str | Path) -> SweepResults:
    """A results directory: its metadata and rows (from the journal, which the table is made from)."""
    path = Path(path)
    if not path.is_dir():
        raise SweepError(f"{path}: no such results directory")
    return SweepResults(path, read_metadata(path), latest_rows(read_journal(path)))


def write_table(path: Path, rows: list[dict[str, Any]], metadata: dict[str, Any]) -> None:
    """Rows as a Parquet table (columns in first-seen order, null where a row lacks one)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = {name: _column(pa, [row.get(name) for row in rows]) for name in names}
    table = pa.table(columns).replace_schema_metadata({"qnetstack.sweep": json.dumps(metadata)})
    partial = path.with_suffix(".part")
    pq.write_table(table, partial)
    partial.replace(path)


def _column(pa: Any, values: list[Any]) -> Any:
    """An Arrow column; values of mixed kinds (never so for a report's figures) become their text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if value is None else str(value) for value in values])
