"""docs/architecture.md's package tree ("## Packages") names every module of `protocols/` and `stack/`, and
only modules that exist: the tree is the architecture diagram, so a module added without its line (or a line
left behind by a module removed) makes it untrue.

The tree is read as it is written: an entry starts before the description column (its names, `a.py, b.py`
or `package/`, then its role), a deeper indentation nests it in the package above, and a line that starts at
the description column continues the entry's role. A package's role may name modules of its own
(`scapy_layers/`: one per codec module); those count as listed under it. `__init__.py` is its package's line.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("protocols", "stack")
NAMES = re.compile(r"[\w.]+/?(?:, [\w.]+/?)*")
MODULE = re.compile(r"(?<![\w/.])(\w+\.py)\b")


def tree_block(text: str) -> str:
    """The code block under "## Packages"."""
    after = text.split("\n## Packages\n", 1)[1]
    return after.split("```", 2)[1]


def description_column(block: str) -> int:
    """Where the roles start: the column of the first line's role (`protocols/   sans-IO ...`)."""
    first = next(line for line in block.splitlines() if line.strip())
    return re.match(r"\S+\s+", first).end()  # type: ignore[union-attr]


def listed(block: str) -> tuple[set[str], set[str]]:
    """(every path the tree's entries name, directories with a trailing "/"; the modules named in a package's
    role, as paths under that package)."""
    column = description_column(block)
    entries: set[str] = set()
    in_roles: set[str] = set()
    parents: list[tuple[int, str]] = []     # (indentation, "path/") of the packages enclosing the current line
    package_role: str | None = None         # the package whose role the following continuation lines extend
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent >= column:
            role = line.strip()
        else:
            head, _, role = line.strip().partition("  ")
            assert NAMES.fullmatch(head), f"not an entry of the tree: {line!r}"
            while parents and parents[-1][0] >= indent:
                parents.pop()
            prefix = parents[-1][1] if parents else ""
            package_role = None
            for name in head.split(", "):
                entries.add(prefix + name)
                if name.endswith("/"):
                    parents.append((indent, prefix + name))
                    package_role = prefix + name
        if package_role is not None:
            in_roles.update(package_role + name for name in MODULE.findall(role))
    return entries, in_roles


def modules() -> set[str]:
    """Every module of the packages, as a path from the repository's root (``__init__.py`` excepted)."""
    return {path.relative_to(ROOT).as_posix() for package in PACKAGES for path in (ROOT / package).rglob("*.py")
            if path.name != "__init__.py" and "__pycache__" not in path.parts}


def missing(text: str) -> list[str]:
    entries, in_roles = listed(tree_block(text))
    return sorted(modules() - entries - in_roles)


def test_every_module_has_its_line() -> None:
    assert missing(DOC.read_text(encoding="utf-8")) == [], "add these to docs/architecture.md's package tree"


def test_every_line_names_a_module_or_package_that_exists() -> None:
    entries, in_roles = listed(tree_block(DOC.read_text(encoding="utf-8")))
    gone = sorted(path for path in entries | in_roles if not (ROOT / path.rstrip("/")).exists())
    assert gone == [], "docs/architecture.md's package tree names what is not there"


def test_the_check_catches_a_missing_line() -> None:
    """Not vacuous: without one module's line (or a package's), the check names what went missing."""
    text = DOC.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("    sampling.py "))
    assert missing(text.replace(line + "\n", "")) == ["stack/quantum/sampling.py"]
    assert "protocols/packets/scapy_layers/qtp.py" in missing(text.replace(" qtp.py;", ";"))
