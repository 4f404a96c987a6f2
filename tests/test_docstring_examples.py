"""Every docstring example in ``protocols`` and ``stack`` runs and prints what it shows.

The examples are the public API's first documentation (DEVELOPERS.md: "docstrings on public API with short
examples"); a stale one misleads a user more than none. Some modules also hold their examples to account in
their own tests; this one catches the rest, e.g. an example whose defaults changed under it.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import protocols
import stack

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> list[str]:
    names = []
    for package in (protocols, stack):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_walk_finds_the_packages() -> None:
    assert "stack.quantum.commands" in MODULES and "protocols.packets.rice" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # examples name files as from the repository root, as the README does
    module = importlib.import_module(name)
    result = doctest.testmod(module, report=True, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail"
