"""Running a sweep on Dask ``distributed``.

By default a ``LocalCluster`` on 127.0.0.1: one worker process per core, one thread each (a run
is CPU-bound Python), not daemonic (``distributed.worker.daemon = False``), so a point may
start processes of its own (``qnet up`` points do). Given a scheduler address, the sweep uses
that cluster instead; its workers need qnetstack installed (and, for ``qnet up`` points, the
same non-daemonic setting: ``DASK_DISTRIBUTED__WORKER__DAEMON=False``).

Each run is one Dask task; the results are written to the journal as they come back, in
whatever order, so an interruption loses only the runs still in flight.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stack.sweep.plan import Sweep, Task
from stack.sweep.point import describe, run_point
from stack.sweep.progress import Progress
from stack.sweep.results import ResultsDir, SweepResults, check_directory
from stack.sweep.spec import SweepError

LOCALHOST = "127.0.0.1"
CONNECT_TIMEOUT_S = 10


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[tuple[Any, str]]:
    """A Dask client and a description of its cluster: ``scheduler``'s, or a new LocalCluster."""
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, ValueError, TypeError) as error:    # unreachable; not an address ('garbage')
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
        with client:
            yield client, f"Dask cluster at {scheduler}"
        return
    count = workers or os.cpu_count() or 1
    with dask.config.set({"distributed.worker.daemon": False}):
        with _workers_ignore_ctrl_c():
            cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True, host=LOCALHOST,
                                   dashboard_address=f"{LOCALHOST}:0", silence_logs=logging.ERROR)
        with cluster, Client(cluster) as client:
            yield client, f"LocalCluster: {count} worker process{'es' if count > 1 else ''} on {LOCALHOST}"


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Ctrl-C in a terminal signals the whole process group: the sweep stops its cluster itself, so the
    worker processes it starts inherit SIGINT ignored (Python keeps an ignored SIGINT ignored). A
    Ctrl-C while the cluster starts is lost; the next one stops the sweep."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_sweep(sweep: Sweep, output: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              timeout_s: float | None = None, retry_failed: bool = False, fresh: bool = False,
              progress: bool = False) -> SweepResults:
    """Run every run of ``sweep`` not yet in ``output`` and return all the results there.

    ``workers``: LocalCluster size (default: one per core); ``scheduler``: an existing cluster's
    address instead; ``timeout_s``: a run taking longer fails; ``retry_failed``: rerun failed runs.
    Ctrl-C (KeyboardInterrupt) stops the sweep after saving what finished, and is raised again.
    """
    if workers is not None and workers < 1:
        raise SweepError(f"--workers must be at least 1, got {workers}")
    if timeout_s is not None and not timeout_s > 0:
        raise SweepError(f"--timeout must be positive, got {timeout_s}")
    check_directory(Path(output))
    with contextlib.ExitStack() as stack:
        # A scheduler is reached before the results directory is touched: one that cannot be leaves nothing.
        remote = stack.enter_context(dask_client(None, scheduler)) if scheduler else None
        store = ResultsDir.open(output, sweep, fresh)
        stack.callback(store.release)
        tasks = store.todo(sweep.tasks(), retry_failed)
        cluster = None
        try:
            if tasks:
                client, cluster = remote or stack.enter_context(dask_client(workers, None))
                _run(client, sweep, tasks, store, timeout_s, Progress(progress, sweep, store, len(tasks), cluster))
        except BaseException:                  # Ctrl-C, a lost cluster: keep what finished
            store.finish(cluster, interrupted=True)
            raise
        return store.finish(cluster, interrupted=False)


def _run(client: Any, sweep: Sweep, tasks: list[Task], store: ResultsDir, timeout_s: float | None,
         progress: Progress) -> None:
    from dask.distributed import as_completed

    text = client.scatter(sweep.text, hash=False)
    token = uuid.uuid4().hex[:12]
    futures = {client.submit(run_point, task, text, timeout_s, pure=False,
                             key=f"qnet-sweep-{token}-{task.point}-{task.replicate}"): task for task in tasks}
    try:
        with progress:
            for future in as_completed(futures):
                task = futures.pop(future)
                try:
                    row = future.result()
                except Exception as error:            # the task never returned: e.g. its worker died
                    row = failed_row(task, error)
                store.record(row)
                progress.advance(row)
    finally:
        if futures:
            client.cancel(list(futures))


def failed_row(task: Task, error: BaseException) -> dict[str, Any]:
    return {"point": task.point, "replicate": task.replicate, "seed": task.seed, **task.params,
            "status": "failed", "error": describe(error), "wall_s": None, "worker": None, "qnetstack": None}
