"""attrs' generated methods (trio's and outcome's classes) compiled once across processes, through
:mod:`stack.codecache`: the runtime's part of the cache, since only the runtime imports trio."""

from __future__ import annotations
import __future__

from typing import Any

from stack.codecache import code


def install_attrs() -> bool:
    """Give ``attr._make`` (attrs, which trio's and outcome's classes are made with) a ``compile`` that takes the
    code of the methods attrs generates from the cache: ``compile(script, filename, "exec")`` in a module with
    ``from __future__ import annotations``, as attrs calls it, answered by :func:`stack.codecache.code` with
    the same file name and that flag; any other call compiled as the builtin would there. A script with a
    ``__hash__`` is compiled each time, not kept: attrs writes a number into it that changes with the process's
    hash seed (``hash`` of a string), so it would never be found again. False (nothing done) if attrs is missing
    or not as expected. Call it before the classes are made (``import stack`` does, before trio is imported)."""
    try:
        from attr import _make
    except ImportError:
        return False
    if getattr(_make, "annotations", None) is not __future__.annotations or not hasattr(_make, "_compile_and_eval"):
        return False
    inherited = __future__.annotations.compiler_flag

    def compile_(source: Any, filename: Any, mode: str, flags: int = 0, dont_inherit: bool = False,
                 optimize: int = -1) -> Any:
        if isinstance(source, str) and isinstance(filename, str) and mode == "exec" and not flags \
                and not dont_inherit and optimize == -1 and "def __hash__" not in source:
            return code(source, inherited, filename)
        return compile(source, filename, mode, flags | (0 if dont_inherit else inherited), True, optimize)

    _make.compile = compile_  # type: ignore[attr-defined]   # found before the builtin by _compile_and_eval
    return True


__all__ = ["install_attrs"]
