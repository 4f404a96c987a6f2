"""One run of a sweep, on whichever worker it lands: the point's scenario, its seed, its figures.

In-process (the default) a run is exactly ``qnet run --seed SEED`` on the point's scenario (its file
names made absolute as below, so a worker in another working directory finds them). With
:class:`~stack.sweep.plan.UpSettings` it is ``qnet up``: the point's scenario is written to a
temporary TOML file (its file names made absolute against the original scenario's folder:
:mod:`stack.scenario.files`) and ``qnet up --base-port 0`` runs as a child process of the worker (which is why
the sweep's workers are not daemonic): its launcher binds a free block of UDP ports itself and hands the
sockets to its node processes (:mod:`stack.multiprocess.held`), so no other process (another point, another
run) can take one between the choice of the block and its use.

Whatever goes wrong in a run (an exception, a ``qnet up`` that exits with an error, the time
limit) makes a row with ``status = "failed"`` and the error; it is never raised to the sweep.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import trio

from stack.multiprocess.outcome import EXIT_LATE, EXIT_OK
from stack.report import build_report
from stack.runtime import build, run_async
from stack.scenario import load_data, parse_toml
from stack.scenario.files import absolute_files
from stack.sweep.figures import figures
from stack.sweep.plan import Task, with_values
from stack.sweep.provenance import version

UP_GRACE_S = 15.0


class PointFailed(Exception):
    """A run that did not produce a report: the message says why."""


def run_point(task: Task, text: str, timeout_s: float | None = None) -> dict[str, Any]:
    """The row of one run: its identity, the point's values, its status and every figure."""
    started = time.perf_counter()
    row: dict[str, Any] = {"point": task.point, "replicate": task.replicate, "seed": task.seed, **task.params,
                           "status": "ok", "error": None}
    try:
        report = (_up_report if task.up else _report)(task, text, timeout_s)
        row.update((name, value) for name, value in figures(report).items() if name not in task.params)
    except Exception as error:
        row["status"], row["error"] = "failed", describe(error)
    row["wall_s"] = time.perf_counter() - started
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    row["qnetstack"] = version()
    return row


def describe(error: BaseException) -> str:
    """One line: the innermost error of a trio exception group, and where it was raised."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    if isinstance(error, PointFailed):
        return str(error)
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def point_document(task: Task, text: str) -> dict[str, Any]:
    """The point's scenario document, its file names made absolute against the scenario's folder on the
    machine that defined the sweep (a worker's working directory may be anywhere)."""
    document = with_values(parse_toml(text, task.source), task.source, task.params)
    return absolute_files(document, task.location or task.source)


def _report(task: Task, text: str, timeout_s: float | None) -> dict[str, Any]:
    emulation = build(load_data(point_document(task, text), task.source), task.seed)

    async def bounded() -> Any:
        if timeout_s is None:
            return await run_async(emulation)
        with trio.fail_after(timeout_s):
            return await run_async(emulation)

    try:
        result = trio.run(bounded)
    except trio.TooSlowError:
        raise PointFailed(f"timed out: the run took longer than {timeout_s:g} s") from None
    return build_report(result)


def _up_report(task: Task, text: str, timeout_s: float | None) -> dict[str, Any]:
    import tomli_w

    assert task.up is not None
    with tempfile.TemporaryDirectory(prefix="qnet-sweep-") as tmp:
        scenario, report, run_dir = Path(tmp, "scenario.toml"), Path(tmp, "report.json"), Path(tmp, "run")
        document = point_document(task, text)               # its files stay the user's
        scenario.write_text(tomli_w.dumps(document))
        command = [sys.executable, "-m", "stack.cli", "up", str(scenario), "--seed", str(task.seed),
                   "--run-dir", str(run_dir), "--base-port", "0", "--dilation", repr(task.up.dilation),
                   "--json", str(report), "--no-pcap", "--quiet"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, errors = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(process)
            raise PointFailed(f"timed out: qnet up took longer than {timeout_s:g} s") from None
        except BaseException:
            _stop(process)
            raise
        if process.returncode not in (EXIT_OK, EXIT_LATE):    # a late run has its report; lateness is a figure
            lines = [line for line in errors.splitlines() if line.strip()]
            raise PointFailed(lines[-1] if lines else f"qnet up exited with status {process.returncode}")
        return json.loads(report.read_text())


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM lets ``qnet up`` stop its own processes; SIGKILL if it does not end in time."""
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=UP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
