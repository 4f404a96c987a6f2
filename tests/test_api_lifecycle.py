"""An application's lifetime through the API: one task at a time on an AppContext, no call after the run, what
``run_apps`` says of each application (finished or cut off), and a ``qnet up`` node that dies under a role.

- Two tasks of one application waiting on its context at once used to deadlock the whole process (the port kept
  one waiting task): now the second fails at once with one line, in ``run_apps``, ``qnet run`` and ``qnet up``.
- A call after ``run_apps`` returned used to act on the finished emulation (``qubit``) or wait for ever
  (``create``): now RuntimeError, "the run has ended".
- ``RunResult.app_outcomes`` and the report's ``app_outcomes``: "finished" or "cut off" per node.
- ``run_apps`` refuses a scenario with its own ``[[application]]`` entries (it used to ignore them).
- A ``qnet up`` node process that dies while it runs a role ends the run (its peer would wait for it until the
  duration), its entry's error naming it.

The hang guards (subprocess timeouts, ``trio.fail_after``) only stop the old code's hangs: no result depends on
how fast the machine is.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trio

from stack.api import AppContext, run_apps
from stack.api.context import ENDED, ONE_TASK
from stack.api.scenario_apps import run_applications
from stack.multiprocess.outcome import EXIT_APP_FAILED, EXIT_NODE_DIED
from stack.report import build_report
from stack.scenario import load
from tests.mp_util import ROOT, run_up, start_up, wait_running

PAIR = ROOT / "examples/api/pair.toml"
TWO_QPUS = (ROOT / "examples/api/teleport-up.toml").read_text().split("[[application]]")[0]
HANG_GUARD_S = 120

TWO_TASKS = """
import trio

async def two_tasks(ctx):
    async def listen():
        await ctx.recv("bob")
    async def make():
        pairs = await ctx.epr_socket("bob").create_keep(1)
        await ctx.measure(pairs[0].slot)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen)
        nursery.start_soon(make)

async def one_task(ctx):
    pairs = await ctx.epr_socket("alice").recv_keep(1)
    await ctx.measure(pairs[0].slot)
    ctx.send("alice", b"done")
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the repository's root (a hang guard for the old deadlock)."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=HANG_GUARD_S)


def test_two_tasks_on_one_context_fail_at_once_in_run_apps(tmp_path: Path) -> None:
    (tmp_path / "apps.py").write_text(TWO_TASKS)
    proc = _python(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from apps import two_tasks, one_task
        from stack.api import run_apps
        from stack.scenario import load
        try:
            run_apps(load({str(PAIR)!r}), {{"alice": two_tasks, "bob": one_task}})
        except BaseExceptionGroup as group:
            def leaves(error):
                if isinstance(error, BaseExceptionGroup):
                    return [leaf for inner in error.exceptions for leaf in leaves(inner)]
                return [repr(error)]
            print(sorted(set(leaves(group))))
    """))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str([repr(RuntimeError(ONE_TASK))])     # both nursery tasks: each waits


def test_two_tasks_fail_qnet_run_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "apps.py").write_text(TWO_TASKS)
    scenario = tmp_path / "two.toml"
    scenario.write_text(TWO_QPUS + '[[application]]\nkind = "python"\nfile = "apps.py"\n'
                        'functions = { alice = "two_tasks", bob = "one_task" }\n')
    proc = subprocess.run([sys.executable, "-m", "stack.cli", "run", str(scenario)], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG_GUARD_S)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("qnet: error: an application failed: two_tasks on alice raised RuntimeError at apps.py:")
    assert last.endswith(ONE_TASK)


def test_two_tasks_fail_qnet_up_at_once(tmp_path: Path) -> None:
    """Under ``qnet up`` the node used to hang until the duration (10⁵ emulated s here: 10⁷ wall s)."""
    (tmp_path / "apps.py").write_text(TWO_TASKS)
    scenario = tmp_path / "two.toml"
    scenario.write_text(TWO_QPUS.replace("duration_ms = ", "duration_ms = 100000000.0 # ")
                        + '[[application]]\nkind = "python"\nfile = "apps.py"\n'
                        'functions = { alice = "two_tasks", bob = "one_task" }\n')
    assert load(scenario).run.duration_ns == 10**14
    report = tmp_path / "r.json"
    proc = run_up(scenario, tmp_path / "run", "--dilation", "0.01", "--quiet", "--json", str(report),
                  timeout=HANG_GUARD_S)
    assert proc.returncode == EXIT_APP_FAILED, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(ONE_TASK)
    (entry,) = json.loads(report.read_text())["applications"]
    assert entry["error"].startswith("alice: two_tasks on alice raised RuntimeError") and not entry["finished"]


def test_the_api_after_the_run_says_the_run_has_ended() -> None:
    kept: list[AppContext] = []

    async def alice(ctx: AppContext) -> None:
        kept.append(ctx)

    run_apps(load(PAIR), {"alice": alice})
    (ctx,) = kept
    held = set(ctx.held)
    with pytest.raises(RuntimeError, match=r"^the run has ended"):
        ctx.qubit()
    assert ctx.held == held                                     # nothing initialised in the finished medium
    for call in (lambda: ctx.create("bob", 1), lambda: ctx.recv("bob")):
        async def guarded(call: Any = call) -> None:
            with trio.fail_after(HANG_GUARD_S):                  # the old code waited for ever
                await call()
        with pytest.raises(RuntimeError, match=r"^the run has ended"):
            trio.run(guarded)
    with pytest.raises(RuntimeError, match=re.escape(ENDED)):
        ctx.send("bob", b"late")


def test_run_apps_says_which_application_the_duration_cut_off() -> None:
    async def alice(ctx: AppContext) -> None:
        await ctx.recv("bob")                                   # bob never sends

    async def bob(ctx: AppContext) -> None:
        await ctx.sleep(1000)

    scenario = load(PAIR)
    result = run_apps(scenario, {"alice": alice, "bob": bob})
    assert result.emulation.kernel.now >= scenario.run.duration_ns   # the duration ended it
    assert result.app_outcomes == {"alice": "cut off", "bob": "finished"}
    assert build_report(result)["app_outcomes"] == {"alice": "cut off", "bob": "finished"}


def test_a_run_without_applications_has_no_outcomes() -> None:
    from stack.runtime import run_scenario

    result = run_scenario(load(PAIR))
    assert result.app_outcomes == {} and "app_outcomes" not in build_report(result)


def test_run_apps_refuses_a_scenario_with_its_own_applications() -> None:
    scenario = load(ROOT / "examples/api/parity.toml")
    assert scenario.applications
    with pytest.raises(ValueError, match=r"^apps: the scenario has \[\[application\]\] entries, which run_apps does "
                                         r"not run: run them with stack.api.scenario_apps.run_applications"):
        run_apps(scenario, {})


def test_run_applications_runs_them_and_says_they_finished(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    scenario = load(ROOT / "examples/api/parity.toml")
    run, entries = run_applications(scenario)
    assert all(entry["finished"] for entry in entries)
    assert set(run.app_outcomes.values()) == {"finished"} and set(run.app_outcomes) == set(
        node for config in scenario.applications for node in config.parties)


PING = """
async def pinger(ctx):
    n = 0
    while True:
        ctx.send("bob", n.to_bytes(4, "big"))
        await ctx.recv("bob")
        n += 1
        await ctx.sleep(100_000)

async def ponger(ctx):
    while True:
        _, message = await ctx.recv("alice")
        ctx.send("alice", message)
"""


def test_a_dead_node_under_a_role_ends_the_run_and_is_named(tmp_path: Path) -> None:
    """Kill bob's process: alice's application waits for its answers for ever, so the run must end (it used to
    last the duration, 10⁵ emulated s here: 10⁸ wall s at this dilation), its entry naming bob."""
    (tmp_path / "ping.py").write_text(PING)
    scenario = tmp_path / "ping.toml"
    scenario.write_text(TWO_QPUS.replace("duration_ms = ", "duration_ms = 100000000.0 # ")
                        + '[[application]]\nkind = "python"\nfile = "ping.py"\n'
                        'functions = { alice = "pinger", bob = "ponger" }\n')
    assert load(scenario).applications
    run_dir, report = tmp_path / "run", tmp_path / "r.json"
    launcher = start_up(scenario, run_dir, "--dilation", "0.001", "--quiet", "--json", str(report))
    try:
        pids = wait_running(launcher, run_dir, expected_nodes=3)
        os.kill(pids["bob"], signal.SIGKILL)
        _, stderr = launcher.communicate(timeout=HANG_GUARD_S)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()
    assert launcher.returncode == EXIT_NODE_DIED, stderr
    assert stderr.strip().splitlines()[-1] == "qnet: error: bob: its node process died before its application finished"
    document = json.loads(report.read_text())
    (entry,) = document["applications"]
    assert entry["error"] == "bob: its node process died before its application finished" and not entry["finished"]
    assert document["multi_process"]["dead_nodes"] == ["bob"]


NURSERY_SLEEP = """
import trio

async def nursery_sleep(ctx):
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ctx.sleep, 1000)

async def idle(ctx):
    return None
"""


def test_a_nursery_task_that_waits_on_the_context_is_refused_not_a_hang(tmp_path: Path) -> None:
    """Review: a nursery task awaiting the context took the run's events (the kernel's baton) and ended with it,
    so nothing ran the queue again: the run hung with no CPU. A call that waits is now its application's own
    task's only, whichever task trio runs first."""
    (tmp_path / "apps.py").write_text(NURSERY_SLEEP)
    proc = _python(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from apps import nursery_sleep, idle
        from stack.api import run_apps
        from stack.scenario import load
        try:
            run_apps(load({str(PAIR)!r}), {{"alice": nursery_sleep, "bob": idle}})
        except BaseExceptionGroup as group:
            print(group.subgroup(RuntimeError) is not None and str(group.exceptions[0].exceptions[0]))
    """))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ONE_TASK


def test_a_nursery_task_may_not_call_the_context_at_all() -> None:
    """A nursery task's ``send`` while alice's own task waits in ``recv``: when it runs is trio's choice, not the
    emulator's, so it is refused too (review: it raised or hung by trio's choice); the run ends, with the error."""
    async def alice(ctx: AppContext) -> None:
        async def ping() -> None:
            ctx.send("bob", b"ping")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ping)
            await ctx.recv("bob")

    async def bob(ctx: AppContext) -> None:
        await ctx.recv("alice")

    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="own task only"), flatten_subgroups=True):
        run_apps(load(PAIR), {"alice": alice, "bob": bob})
