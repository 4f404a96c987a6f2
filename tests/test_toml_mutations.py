"""Every key of every example scenario, mutated, is refused with one line naming it, never a traceback.

Table-driven over ``examples/*.toml`` and ``examples/api/*.toml``: each value replaced by one of the wrong type,
each number made negative, each key deleted, an unknown key added to each table, each node name replaced by an
unknown one. A mutation is refused with a :class:`ScenarioError` of one line whose key is the mutated one (a
deleted key may instead be named by the key that needed it, with the deleted key in the message); the only
ones accepted are deletions of optional keys, negative values of the keys listed in :data:`NEGATIVE_ALLOWED`,
and the values of an application's ``args`` (the user's function gets them as they are). The checks are those
``qnet run`` makes before it runs anything (the scenario, then the user's application files); a sample goes
through ``qnet`` itself, in-process (exit status 2, exactly one line on stderr) and as a subprocess, and every
sub-command that reads a scenario refuses a bad one the same way.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from stack import cli
from stack.api.user_apps import check_user_apps
from stack.scenario import ScenarioError
from stack.scenario.parse import load_data

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.toml")) + sorted((ROOT / "examples" / "api").glob("*.toml"))
DELETE = object()
UNKNOWN = "zz_no_such_key"
NEGATIVE_ALLOWED = {"clock_offset_ns", "clock_frequency_ppm", "log_sync_interval"}
"""Keys whose negative values mean something: a clock ahead or behind, faster or slower; PTP's log2 interval."""

Path_ = tuple[str | int, ...]


def key_name(path: Path_) -> str:
    """The dotted key as ScenarioError names it (``workload[0].pairs``)."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def tables(doc: dict[str, Any], path: Path_ = ()) -> Iterator[tuple[Path_, dict[str, Any]]]:
    yield path, doc
    for key, value in doc.items():
        if isinstance(value, dict):
            yield from tables(value, (*path, key))
        elif _is_tables(value):
            for index, item in enumerate(value):
                yield from tables(item, (*path, key, index))


def mutations(doc: dict[str, Any]) -> Iterator[tuple[str, Path_, Any]]:
    """(kind, path, new value or DELETE) for every key and table of ``doc``."""
    nodes = set(doc.get("nodes", {}))
    for path, table in tables(doc):
        yield "unknown", (*path, UNKNOWN), 1
        for key, value in table.items():
            where = (*path, key)
            if isinstance(value, dict) or _is_tables(value):
                yield "type", where, 7
                continue
            yield "delete", where, DELETE
            if isinstance(value, bool):
                yield "type", where, "yes"
            elif isinstance(value, int | float):
                yield "type", where, "x"
                yield "negative", where, -1 if isinstance(value, int) else -1.5
            elif isinstance(value, str):
                yield "type", where, 3
                if value in nodes:
                    yield "node", where, "nobody"
            else:
                yield "type", where, 7


def mutate(doc: dict[str, Any], path: Path_, new: Any) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    if new is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return changed


def check(data: dict[str, Any], source: str) -> None:
    """What ``qnet run`` checks before it runs: the scenario, then the user's application files."""
    scenario = load_data(data, source)
    if scenario.applications:
        check_user_apps(scenario)


def problem(kind: str, path: Path_, source: str, data: dict[str, Any]) -> str | None:
    """What is wrong with how the mutated ``data`` is refused (None: nothing)."""
    key = key_name(path)
    user_value = len(path) > 2 and path[0] == "application" and path[2] == "args" and kind != "unknown" \
        and len(path) > 3
    try:
        check(data, source)
    except ScenarioError as error:
        if len(str(error).splitlines()) != 1 or not str(error).startswith(f"{source}: "):
            return f"not one line naming the file: {error}"
        if error.key == key or (kind == "delete" and key in error.problem):
            return None
        return f"names {error.key!r}: {error}"
    except Exception as error:                  # anything else is the bug this test looks for
        return f"{type(error).__name__}: {error}"
    accepted = (kind == "delete" or user_value or (kind == "negative" and path[-1] in NEGATIVE_ALLOWED))
    return None if accepted else "accepted"


@pytest.mark.parametrize("example", EXAMPLES, ids=[str(p.relative_to(ROOT / "examples")) for p in EXAMPLES])
def test_every_mutation_of_an_example_is_refused_naming_its_key(example: Path) -> None:
    doc = tomllib.loads(example.read_text())
    check(doc, str(example))                                    # the example itself is good
    found = []
    for kind, path, new in mutations(doc):
        wrong = problem(kind, path, str(example), mutate(doc, path, new))
        if wrong is not None:
            found.append(f"{kind} {key_name(path)}: {wrong}")
    assert found == []


def test_the_mutations_reach_every_kind() -> None:
    """The generator is not vacuous: every kind of mutation occurs, hundreds of times over the examples."""
    kinds: dict[str, int] = {}
    for example in EXAMPLES:
        for kind, _, _ in mutations(tomllib.loads(example.read_text())):
            kinds[kind] = kinds.get(kind, 0) + 1
    assert set(kinds) == {"unknown", "type", "delete", "negative", "node"}
    assert sum(kinds.values()) > 1000 and min(kinds.values()) > 50


def test_an_applications_args_must_fit_its_functions(tmp_path: Path) -> None:
    """An argument the user's function does not take, or a parameter without a default left out, is named
    before the run (before, the call raised TypeError in the run: status 1)."""
    example = ROOT / "examples" / "api" / "parity.toml"
    doc = tomllib.loads(example.read_text())
    for path, new, key in [(("application", 0, "args", "colour"), 1, "application[0].args.colour"),
                           (("application", 0, "args", "rounds"), DELETE, "application[0].args.rounds")]:
        with pytest.raises(ScenarioError) as info:
            check(mutate(doc, path, new), str(example))
        assert info.value.key == key and "alice_main" in str(info.value)


def _bad_files(tmp_path: Path) -> list[tuple[Path, str]]:
    """One refused mutation of each kind per example, written out (relative files made absolute)."""
    chosen = []
    for example in EXAMPLES:
        doc = tomllib.loads(example.read_text())
        for entry in doc.get("application", []) + doc.get("circuit", []):
            if "file" in entry:
                entry["file"] = str((example.parent / entry["file"]).resolve())
        seen = set()
        for kind, path, new in mutations(doc):
            if kind in seen or kind in ("delete", "negative"):
                continue
            data = mutate(doc, path, new)
            try:
                check(data, "x")
            except ScenarioError as error:
                if error.key == key_name(path):
                    seen.add(kind)
                    bad = tmp_path / f"{example.stem}-{kind}.toml"
                    bad.write_text(tomli_w.dumps(data))
                    chosen.append((bad, key_name(path)))
    return chosen


def test_qnet_run_refuses_each_with_one_line_and_status_2(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad_files = _bad_files(tmp_path)
    assert len(bad_files) >= 3 * len(EXAMPLES)
    for bad, key in bad_files:
        assert cli.main(["run", str(bad), "--no-pcap"]) == 2, bad
        out, err = capsys.readouterr()
        assert out == "" and len(err.splitlines()) == 1, err
        assert err.startswith(f"qnet: error: {bad}: {key}: "), err


@pytest.mark.parametrize("argv", [
    ["run", "{bad}", "--no-pcap"],
    ["plot", "sync", "{bad}", "-o", "{tmp}/sync.png"],
    ["plot", "rate-vs-distance", "{bad}", "-o", "{tmp}/rate.png"],
    ["up", "{bad}", "--run-dir", "{tmp}/up"],
    ["node", "alice", "{bad}", "--run-dir", "{tmp}/node"],
    ["medium", "{bad}", "--run-dir", "{tmp}/medium"],
    ["sweep", "{bad}", "--vary", "run.seed=1,2", "-o", "{tmp}/sweep"],
    ["compile", str(ROOT / "examples" / "circuits" / "ghz.stim"), "--network", "{bad}"],
], ids=lambda argv: " ".join(argv[:2]))
def test_every_subcommand_that_reads_a_scenario_refuses_it_in_one_line(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tomllib.loads((ROOT / "examples" / "two-qpus.toml").read_text())
    bad = tmp_path / "bad.toml"
    bad.write_text(tomli_w.dumps(mutate(doc, ("links", next(iter(doc["links"])), "a"), "nobody")))
    args = [a.format(bad=bad, tmp=tmp_path) for a in argv]
    assert cli.main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert err.startswith(f"qnet: error: {bad}: links.") and ".a: " in err, err
    assert not any(p.exists() for p in tmp_path.iterdir() if p != bad)        # nothing was started or written


def test_the_console_script_refuses_a_few_in_one_line(tmp_path: Path) -> None:
    for bad, key in _bad_files(tmp_path)[:3]:
        proc = subprocess.run([sys.executable, "-m", "stack.cli", "run", str(bad), "--no-pcap"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.splitlines() == [proc.stderr.strip()] and f"{key}: " in proc.stderr
        assert "Traceback" not in proc.stderr
