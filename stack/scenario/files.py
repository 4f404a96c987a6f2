"""The files a scenario names, made absolute: for a copy of the scenario written elsewhere.

A scenario's relative file names (``security.key_file``, ``application[i].file``, ``circuit[i].file``) are
relative to the scenario file's folder. ``qnet sweep --up`` writes each point's scenario to a temporary
folder; :func:`absolute_files` makes those names absolute first, so they still name the user's files.
:func:`input_files` lists the files a run reads, so that no output of the command line overwrites one.

>>> absolute_files({"security": {"key_file": "keys/demo.key"}}, "/home/u/net.toml")["security"]
{'key_file': '/home/u/keys/demo.key'}
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from stack.scenario.security import key_path
from stack.scenario.types import Scenario

FILE_KEYS = (("security", "key_file"), ("application", "file"), ("circuit", "file"))
"""(top-level table or array of tables, key): every key whose value is a file name relative to the scenario."""


def absolute_files(document: dict[str, Any], source: str) -> dict[str, Any]:
    """A copy of the parsed scenario ``document`` in which every relative file name is made absolute
    against the folder of ``source`` (the original scenario's path). Values that are not text are left for
    the scenario's checks to name."""
    scenario = Path(source).expanduser().absolute()          # not resolved: a symlink's own folder, as loaded
    result = copy.deepcopy(document)
    for section, key in FILE_KEYS:
        value = result.get(section)
        for table in value if isinstance(value, list) else [value]:
            if isinstance(table, dict) and isinstance(table.get(key), str) and table[key]:
                name = table[key]                       # where the loader looks for it, from the original
                table[key] = str(key_path(str(scenario), name) if key == "key_file" else scenario.parent / name)
    return result


def input_files(scenario: Scenario) -> dict[str, Path]:
    """Every file a run of ``scenario`` reads, by what it is: the scenario file itself (unless it was not read
    from a file) and each file it names, where the loader found it.

        >>> from stack.scenario import load
        >>> sorted(input_files(load("examples/compute.toml")))
        ['the scenario', "the scenario's circuit[0].file"]
    """
    found: dict[str, Path] = {}
    if not scenario.source.startswith("<"):
        found["the scenario"] = Path(scenario.source)
    if scenario.security.key_file:
        found["the scenario's security.key_file"] = key_path(scenario.source, scenario.security.key_file)
    for index, app in enumerate(scenario.applications):
        if app.file:
            found[f"the scenario's application[{index}].file"] = Path(app.file)
    for index, circuit in enumerate(scenario.circuits):
        found[f"the scenario's circuit[{index}].file"] = Path(circuit.file)
    return found


def same_file(a: Path, b: Path) -> bool:
    """``a`` and ``b`` are one file: the same path once resolved, or (both existing) the same inode. A path that
    cannot be resolved (a symbolic link loop) is no other file: opening it will say what is wrong."""
    try:
        if a.resolve() == b.resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, RuntimeError):         # RuntimeError: a symbolic link loop (Python 3.11's Path.resolve)
        return False


__all__ = ["FILE_KEYS", "absolute_files", "input_files", "same_file"]
