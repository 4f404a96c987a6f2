"""A sweep's definition: the scenario, its axes, the seeds; every point checked before anything runs.

Each point is the scenario file with the point's values written into its TOML document, checked
by the scenario loader itself (:func:`stack.scenario.load_data`), so a bad value reads exactly
like a mistake in the file: ``two-qpus.toml: links.alice-bob.length_km: must be in [0.0, 100000.0],
got -5``.

Seeds: run *j* (0 ≤ j < seeds) of point *i* has the seed

    SeedSequence(root_seed, spawn_key=(i, j)).generate_state(1, numpy.uint64)[0] mod 2**63

(numpy's SeedSequence hashes the root and the spawn key into independent streams; the same
construction the runtime uses for its own sub-seeds). The run then derives everything from
that seed exactly like ``qnet run --seed``. Adding seeds later keeps the first ones.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import numpy as np

from stack.scenario import Scenario, ScenarioError, load_data, parse_toml
from stack.sweep.spec import Axis, Path, SweepError, axes_from, key_name, key_path, points

DEFAULT_DILATION = 0.002
MAX_RUNS = 10_000
"""A sweep of more runs is refused unless ``max_runs`` (``--max-runs``) allows it: a grid typed by mistake
(``1:2:100000``, ``--seeds 100000``) should not start a day of runs."""
MAX_RUNS_LIMIT = 10_000_000
"""The most ``max_runs`` may allow: the runs are held as a list in memory."""
SET_BY_THE_SWEEP: dict[Path, str] = {("run", "seed"): "set per run by the sweep (--seed, --seeds)",
                    ("run", "base_port"): "chosen per run by the sweep (qnet up points)"}
NAMED_TABLES = {"nodes": "node", "links": "link"}


def run_seed(root_seed: int, point: int, replicate: int) -> int:
    """The seed of run ``replicate`` of point ``point`` (see the module docstring)."""
    state = np.random.SeedSequence(root_seed, spawn_key=(point, replicate)).generate_state(1, np.uint64)
    return int(state[0]) % 2**63


@dataclass(frozen=True, slots=True)
class UpSettings:
    """Run each point with ``qnet up`` (every node its own process, real dilated time)."""

    dilation: float = DEFAULT_DILATION


@dataclass(frozen=True, slots=True)
class Task:
    """One run: a point, a seed, and what the point changes in the scenario."""

    point: int
    replicate: int
    seed: int
    params: dict[str, Any]
    source: str
    up: UpSettings | None = None
    location: str = ""
    """The scenario's absolute path on the machine that defined the sweep: its relative file names
    (``security.key_file``...) are found from there, whatever a worker's working directory."""

    @property
    def key(self) -> tuple[int, int]:
        return self.point, self.replicate


@dataclass(frozen=True)
class Sweep:
    """A checked sweep: build one with :func:`define_sweep`."""

    scenario: str
    text: str
    axes: tuple[Axis, ...]
    seeds: int
    root_seed: int
    zipped: bool = False
    up: UpSettings | None = None
    _points: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)
    location: str = field(default="", compare=False)

    @property
    def scenario_sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def keys(self) -> list[str]:
        return [axis.key for axis in self.axes]

    def points(self) -> list[dict[str, Any]]:
        return self._points

    def tasks(self) -> list[Task]:
        keys = [(i, j) for i in range(len(self._points)) for j in range(self.seeds)]
        return [Task(i, j, run_seed(self.root_seed, i, j), self._points[i], self.scenario, self.up, self.location)
                for i, j in keys]

    def definition(self) -> dict[str, Any]:
        """What makes two sweeps the same (for resuming): everything but the number of seeds and the scenario's
        path (recorded, but its contents are what count: :data:`SAME_SWEEP`)."""
        return {"scenario": self.scenario, "scenario_sha256": self.scenario_sha256,
                "axes": [{"key": a.key, "spec": a.spec, "values": list(a.values)} for a in self.axes],
                "zip": self.zipped, "root_seed": self.root_seed,
                "mode": "up" if self.up else "in-process",
                "dilation": self.up.dilation if self.up else None}


SAME_SWEEP = {"scenario_sha256": "scenario's contents", "axes": "axes", "zip": "--zip", "root_seed": "root seed",
              "mode": "mode", "dilation": "dilation"}
"""The keys of :meth:`Sweep.definition` that must match to resume, and how a refusal names them."""


def define_sweep(scenario: str | FilePath, vary: Sequence[str] | dict[str, Any], seeds: int = 1,
                 root_seed: int | None = None, *, zipped: bool = False, up: UpSettings | None = None,
                 max_runs: int = MAX_RUNS) -> Sweep:
    """Read the scenario, parse the axes and check every point; raises :class:`SweepError` or
    :class:`~stack.scenario.ScenarioError` naming the first problem. A sweep of more than ``max_runs`` runs
    (points × seeds) is refused before any point is checked."""
    source = str(scenario)
    try:
        text = FilePath(scenario).read_text()
    except OSError as exc:
        raise ScenarioError(source, "(file)", exc.strerror or str(exc)) from None
    data = parse_toml(text, source)
    base = load_data(data, source)
    for key, entries in (("application", base.applications), ("circuit", base.circuits)):
        if entries:
            raise ScenarioError(source, f"{key}[0]", "qnet sweep measures the scenario's workload only: run "
                                "[[application]] and [[circuit]] entries with qnet run or qnet up")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise SweepError(f"--seeds must be a positive integer, got {seeds!r}")
    root = base.run.seed if root_seed is None else root_seed
    if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root < 2**63:
        raise SweepError(f"--seed must be an integer in [0, 2**63), got {root!r}")
    if up is not None and not up.dilation > 0:
        raise SweepError(f"--dilation must be positive, got {up.dilation!r}")
    if isinstance(max_runs, bool) or not isinstance(max_runs, int) or not 1 <= max_runs <= MAX_RUNS_LIMIT:
        raise SweepError(f"--max-runs must be an integer from 1 to {MAX_RUNS_LIMIT}, got {max_runs!r}")
    axes = axes_from(vary)
    _check_size(axes, seeds, zipped, max_runs)
    every = points(axes, zipped)
    for params in every:
        check_point(data, source, params)
    return Sweep(source, text, axes, seeds, root, zipped, up, every,
                 location=str(FilePath(scenario).expanduser().absolute()))    # not resolved: as the loader reads


def _check_size(axes: tuple[Axis, ...], seeds: int, zipped: bool, max_runs: int) -> None:
    count = max(len(axis.values) for axis in axes) if zipped else math.prod(len(axis.values) for axis in axes)
    runs = count * seeds
    if runs <= max_runs:
        return
    size = f"{runs} runs ({count} point{'s' if count > 1 else ''} × {seeds} seed{'s' if seeds > 1 else ''})"
    if runs > MAX_RUNS_LIMIT:
        raise SweepError(f"{size} is more than a sweep can hold ({MAX_RUNS_LIMIT})")
    raise SweepError(f"{size} is more than --max-runs {max_runs}: give --max-runs {runs} to run them")


def check_point(data: dict[str, Any], source: str, params: dict[str, Any]) -> Scenario:
    """The scenario of one point, checked; a problem raises ScenarioError naming the key."""
    try:
        return load_data(with_values(data, source, params), source)
    except ScenarioError as error:
        where = ", ".join(f"{key}={value!r}" for key, value in params.items())
        raise ScenarioError(error.source, error.key, f"{error.problem} (sweep point {where})") from None


def with_values(data: dict[str, Any], source: str, params: dict[str, Any]) -> dict[str, Any]:
    """A copy of the TOML document with each key set to its value."""
    document = copy.deepcopy(data)
    for key, value in params.items():
        _set(document, source, key_path(key), value)
    return document


def _set(document: dict[str, Any], source: str, path: Path, value: Any) -> None:
    if path[:2] in SET_BY_THE_SWEEP:
        raise ScenarioError(source, key_name(path), f"{SET_BY_THE_SWEEP[path[:2]]}; it cannot be varied")
    here: Any = document
    for depth, part in enumerate(path[:-1]):
        here = _child(here, source, path, depth, part)
    leaf = path[-1]
    if isinstance(leaf, int):
        if not isinstance(here, list):
            raise ScenarioError(source, key_name(path[:-1]), "is not an array of tables")
        raise ScenarioError(source, key_name(path), "is a table: name a key inside it")
    if not isinstance(here, dict):
        raise ScenarioError(source, key_name(path[:-1]), "is a value, not a table")
    here[leaf] = value


def _child(here: Any, source: str, path: Path, depth: int, part: str | int) -> Any:
    name = key_name(path[:depth + 1])
    if isinstance(part, int):
        if not isinstance(here, list):
            raise ScenarioError(source, key_name(path[:depth]), "is not an array of tables")
        if part >= len(here):
            raise ScenarioError(source, name, f"the scenario has {len(here)} {key_name(path[:depth])} entries")
        return here[part]
    if not isinstance(here, dict):
        raise ScenarioError(source, key_name(path[:depth]), "is a value, not a table")
    if part not in here:
        parent = path[depth - 1] if depth else None
        if depth == 1 and isinstance(parent, str) and parent in NAMED_TABLES:
            raise ScenarioError(source, name, f"the scenario has no {NAMED_TABLES[parent]} named {part!r}")
        here[part] = {}
    child = here[part]
    if isinstance(child, list) and not isinstance(path[depth + 1], int):
        raise ScenarioError(source, name, f"is an array of tables: name an entry, e.g. {name}[0]")
    return child
