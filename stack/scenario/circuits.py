"""The scenario's ``[[circuit]]`` entries (docs/scenario.md): a circuit file that ``qnet run`` (or ``qnet up``)
compiles for the scenario's QPUs (docs/compiler.md) and executes ``shots`` times through the application API.

``file`` is relative to the scenario file. The file is read when the run starts (``qnet compile`` checks it
alone); here only the keys are checked. One circuit per scenario, and not together with ``[[application]]``
entries (both would run an application on the same QPUs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.scenario.table import ScenarioError, Table

SERVICES = ("auto", "link", "network")
MAX_SHOTS = 1_000_000


@dataclass(frozen=True, slots=True)
class CircuitConfig:
    file: str
    """The circuit file: stim, or OpenQASM (``.qasm``), resolved against the scenario file's folder."""
    shots: int = 100
    seed: int = 0
    """The compiler's seed (the partitioner's) and the monolithic sampler's."""
    teledata: bool = True
    service: str = "auto"


def _check_readable(t: Table, path: Path) -> None:
    """The circuit file can be read (what it holds is the compiler's to judge, with its own one-line errors)."""
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise t.error("file", f"cannot read {str(path)!r}: {error.strerror or error}") from None


def circuits(source: str, data: Any, has_applications: bool) -> tuple[CircuitConfig, ...]:
    """The ``[[circuit]]`` entries."""
    if not isinstance(data, list):
        raise ScenarioError(source, "circuit", "expected an array of tables ([[circuit]])")
    if len(data) > 1:
        raise ScenarioError(source, "circuit[1]", "one [[circuit]] per scenario (run the others from another "
                                                  "scenario file)")
    if data and has_applications:
        raise ScenarioError(source, "circuit[0]", "cannot run together with [[application]] entries (both run "
                                                  "an application on the QPUs)")
    found = []
    for index, entry in enumerate(data):
        t = Table(source, f"circuit[{index}]", entry)
        name = t.text("file")
        folder = Path(source).parent if not source.startswith("<") else Path(".")
        _check_readable(t, folder / name)
        found.append(CircuitConfig(str(folder / name), t.number("shots", 100, low=1, high=MAX_SHOTS, integer=True),
                                   t.number("seed", 0, low=0, high=2**32 - 1, integer=True),
                                   t.flag("teledata", True), t.text("service", "auto", SERVICES)))
        t.finish()
    return tuple(found)


def check_service(source: str, index: int, service: str, links: Iterable[tuple[str, str]],
                  pairs: Iterable[tuple[str, str]]) -> None:
    """The compiled circuit of ``circuit[index]`` can be served as its ``service`` says: with "link", every QPU
    pair it needs ebits between (``pairs``, :attr:`protocols.compiler.DistributedProgram.ebits`) is one of the
    ``links``' ends (a, b).
    ScenarioError naming ``circuit[index].service`` otherwise, before anything runs.

        >>> try:
        ...     check_service("s.toml", 0, "link", [("a", "b")], [("a", "c")])
        ... except ScenarioError as error:
        ...     print(str(error)[:62])
        s.toml: circuit[0].service: "link" serves neighbours only, and
    """
    if service != "link":
        return
    linked = {frozenset(ends) for ends in links}
    for a, b in sorted(pairs):
        if frozenset((a, b)) not in linked:
            raise ScenarioError(source, f"circuit[{index}].service",
                                f"\"link\" serves neighbours only, and the compiled circuit needs ebits between "
                                f"{a!r} and {b!r}, which share no link: use \"network\" or \"auto\"")
