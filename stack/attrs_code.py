"""attrs' generated methods (trio's and outcome's classes) compiled once across processes, through
:mod:`stack.codecache`: the runtime's part of the cache, since only the runtime imports trio.

``import stack`` only registers :func:`install_attrs_on_import`: attrs itself is imported by whoever needs it
(trio), and the hook is installed then, before any attrs class is made. A user of ``stack.scenario`` alone never
loads attrs."""

from __future__ import annotations
import __future__

import contextlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from stack.codecache import code

ATTRS_MAKE = "attr._make"


def install_attrs() -> bool:
    """Give ``attr._make`` (attrs, which trio's and outcome's classes are made with) a ``compile`` that takes the
    code of the methods attrs generates from the cache: ``compile(script, filename, "exec")`` in a module with
    ``from __future__ import annotations``, as attrs calls it, answered by :func:`stack.codecache.code` with
    the same file name and that flag; any other call compiled as the builtin would there. A script with a
    ``__hash__`` is compiled each time, not kept: attrs writes a number into it that changes with the process's
    hash seed (``hash`` of a string), so it would never be found again. False (nothing done) if attrs is missing
    or not as expected. Imports attrs: call it before the classes are made, or let
    :func:`install_attrs_on_import` call it when attrs is first imported."""
    try:
        from attr import _make
    except ImportError:
        return False
    return _patch(_make)


def _patch(_make: ModuleType) -> bool:
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


class _PatchingLoader:
    """Runs ``attr._make``'s own loader, then patches the module before anything else of attrs uses it (a loader
    as importlib's protocol asks; importlib.abc is not imported for it)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        _patch(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)       # get_source, is_package, resource readers: the wrapped loader's


class _AttrsMakeFinder:
    """Finds ``attr._make`` through the other finders, once, and wraps its loader; then leaves ``sys.meta_path``."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if fullname != ATTRS_MAKE:
            return None
        with contextlib.suppress(ValueError):   # one look-up only, whoever else edits sys.meta_path
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)      # as importlib: a finder without it is skipped
            spec = find_spec(fullname, path, target) if find_spec is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def install_attrs_on_import() -> None:
    """Install :func:`install_attrs`'s hook now if attrs is loaded already, else when ``attr._make`` is first
    imported (``import stack`` calls this; trio imports attrs later)."""
    loaded = sys.modules.get(ATTRS_MAKE)
    if loaded is not None:
        _patch(loaded)
    elif not any(isinstance(finder, _AttrsMakeFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AttrsMakeFinder())


__all__ = ["install_attrs", "install_attrs_on_import"]
