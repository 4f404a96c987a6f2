"""How this package compiles the functions it builds from source text (:mod:`protocols.lazymethods`'s dataclass
methods, :mod:`protocols.fastinit`'s builders): ``compile`` here, or a compiler the runtime gives with
:func:`use` (:mod:`stack.codecache` keeps their code across processes). Nothing here reads or writes a file.

    >>> exec(code("x = 1\\n"), namespace := {})
    >>> namespace["x"]
    1
"""

from __future__ import annotations

from collections.abc import Callable
from types import CodeType

FILENAME = "<string>"
"""The file name of the code compiled (what ``exec`` of a string gives)."""

Compiler = Callable[[str, int, str], CodeType]


def _compile(source: str, flags: int, filename: str) -> CodeType:
    return compile(source, filename, "exec", flags, dont_inherit=True)


_compiler: Compiler = _compile


def code(source: str, flags: int = 0, filename: str = FILENAME) -> CodeType:
    """``compile(source, filename, "exec", flags, dont_inherit=True)``, through the compiler in use."""
    return _compiler(source, flags, filename)


def use(compiler: Compiler | None) -> None:
    """Compile through ``compiler`` from now on (None: ``compile`` itself). It must return what ``compile`` would."""
    global _compiler
    _compiler = _compile if compiler is None else compiler


__all__ = ["FILENAME", "Compiler", "code", "use"]
