"""stack.codecache: code compiled from strings is the same whether compiled now or read back from the file,
and a missing, broken, foreign or unwritable file only costs a compile."""

from __future__ import annotations
import __future__

import dataclasses
import inspect
import marshal
import os
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import codecache

SOURCE = "def __init__(self, a, b=_default_b):\n    _set_a(self, a)\n    _set_b(self, b)\n"
ANNOTATED = "def f(x: int) -> list[int]:\n    return [x]\n"
_compiles: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "compile" and isinstance(args[0], str | bytes):
        _compiles.append(args[0] if isinstance(args[0], str) else args[0].decode())


sys.addaudithook(_audit)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    """The module pointed at a file of its own, put back afterwards."""
    original = codecache.PATH
    path = tmp_path / "__pycache__" / "codecache.bin"
    codecache.reset(str(path))
    try:
        yield path
    finally:
        codecache.reset(original)


def _compiled(source: str) -> int:
    return sum(1 for text in _compiles if text == source)


def test_the_code_is_what_compile_gives(cache: Path) -> None:
    flags = __future__.annotations.compiler_flag
    for source, flag in [(SOURCE, 0), (SOURCE, flags), (ANNOTATED, 0), (ANNOTATED, flags)]:
        assert codecache.code(source, flag) == compile(source, "<string>", "exec", flag, dont_inherit=True)
    namespace: dict[str, object] = {}
    exec(codecache.code(ANNOTATED), namespace)
    assert namespace["f"].__annotations__ == {"x": int, "return": list[int]}   # type: ignore[attr-defined]
    exec(codecache.code(ANNOTATED, flags), namespace)
    assert namespace["f"].__annotations__ == {"x": "int", "return": "list[int]"}  # type: ignore[attr-defined]


def test_a_later_process_reads_instead_of_compiling(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    first = codecache.code(SOURCE)
    assert codecache.code(SOURCE) is first                  # once a process
    assert not cache.exists()
    assert codecache.save() and cache.exists()
    assert not codecache.save()                             # nothing new since
    codecache.reset(str(cache))                             # as a new process
    before = _compiled(SOURCE)
    again = codecache.code(SOURCE)
    assert _compiled(SOURCE) == before and again == first and again is not first
    assert codecache.read(str(cache)).keys() == {(0, "<string>", SOURCE)}


def test_the_file_keeps_earlier_entries_up_to_the_limit(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    codecache.code(SOURCE)
    codecache.save()
    codecache.reset(str(cache))
    codecache.code(ANNOTATED)
    codecache.save()
    assert codecache.read(str(cache)).keys() == {(0, "<string>", SOURCE), (0, "<string>", ANNOTATED)}
    monkeypatch.setattr(codecache, "LIMIT", 1)
    codecache.reset(str(cache))
    codecache.code("x = 1\n")
    codecache.save()
    assert codecache.read(str(cache)).keys() == {(0, "<string>", "x = 1\n")}   # past the limit: what the process used


@pytest.mark.parametrize("content", [b"", b"\x00garbage", marshal.dumps(("not the magic", {})),
                                     marshal.dumps((codecache.MAGIC_NUMBER, {(0, "<string>", SOURCE): "not code"})),
                                     marshal.dumps((codecache.MAGIC_NUMBER, {(0, "<string>", SOURCE): b"\x00broken"})),
                                     marshal.dumps((codecache.MAGIC_NUMBER, [1, 2]))])
def test_a_broken_or_foreign_file_is_compiled_around_then_replaced(cache: Path, content: bytes,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache.parent.mkdir()
    cache.write_bytes(content)
    before = _compiled(SOURCE)
    found = codecache.code(SOURCE)
    assert _compiled(SOURCE) == before + 1
    assert found == compile(SOURCE, "<string>", "exec", dont_inherit=True)
    assert codecache.save()
    assert codecache.read(str(cache)).keys() == {(0, "<string>", SOURCE)}


def test_nothing_written_when_asked_not_to_or_unable(cache: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    codecache.code(SOURCE)
    assert not codecache.save() and not cache.exists()
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    codecache.reset(str(blocker / "__pycache__" / "codecache.bin"))   # its directory cannot be made
    codecache.code(SOURCE)
    assert not codecache.save()
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]
    codecache.reset(None)                                            # an interpreter without a cache tag
    assert codecache.code(SOURCE) == compile(SOURCE, "<string>", "exec", dont_inherit=True)
    assert not codecache.save()


def test_the_default_file_sits_with_the_packages_bytecode() -> None:
    path = codecache.default_path()
    assert path is not None and sys.implementation.cache_tag in path
    assert Path(path).parent == Path(codecache.__file__).parent / "__pycache__"


def test_dataclass_methods_keep_their_annotations_ours_or_not(cache: Path) -> None:
    """``dataclasses._create_fn`` execs through :func:`protocols.lazymethods._exec`, a module with ``from
    __future__ import annotations``: the methods' annotations stay objects, as the standard library makes them."""
    source = "from dataclasses import dataclass\n@dataclass(frozen=True)\nclass P:\n    'A point.'\n    x: int\n"
    for name in ("protocols._codecache_probe", "elsewhere_codecache_probe"):
        module = types.ModuleType(name)
        sys.modules[name] = module
        try:
            exec(compile(source, "<probe>", "exec", dont_inherit=True), vars(module))
            cls = module.P
            assert inspect.signature(cls.__init__).parameters["x"].annotation is int
            assert cls(1) == cls(1) and hash(cls(2)) == hash(cls(2)) and repr(cls(3)) == "P(x=3)"
            with pytest.raises(dataclasses.FrozenInstanceError):
                cls(1).x = 2
        finally:
            del sys.modules[name]
    assert any(key[2].startswith("def __create_fn__") for key in codecache._codes)   # ours went through it


def test_attrs_classes_take_their_code_from_the_cache_but_hash(cache: Path) -> None:
    """``import stack`` gives attrs a ``compile`` answered by the cache: an attrs class behaves as always, its
    methods' code is what attrs' own ``compile`` gives; a script with a ``__hash__`` (a number in it changes
    with the hash seed) is not kept; any other call is compiled as the builtin would in attrs' module."""
    import attr
    from attr import _make

    import stack  # noqa: F401

    assert _make.compile is not compile   # type: ignore[attr-defined]

    @attr.s(frozen=True, slots=True)
    class Probe:
        a: int = attr.ib()
        b: int = attr.ib(default=2)

    @attr.s(eq=True, hash=False, repr=False)
    class Plain:
        a: int = attr.ib()

    assert Probe(1) == Probe(1, 2) and hash(Probe(1)) == hash(Probe(1, 2)) and repr(Probe(3)) == "Probe(a=3, b=2)"
    assert Plain(1) == Plain(1) and Plain(1) != Plain(2)
    kept = [key for key in codecache._codes if key[1].startswith("<attrs generated")]
    plain = [key for key in kept if key[1].endswith("Plain>")]
    assert plain and not any(key[1].endswith(".Probe>") for key in kept)     # Probe's script has a __hash__
    flags = __future__.annotations.compiler_flag
    assert codecache._codes[plain[0]] == compile(plain[0][2], plain[0][1], "exec", flags, dont_inherit=True)
    assert _make.compile("1 + 1", "<f>", "eval") == compile("1 + 1", "<f>", "eval", flags, dont_inherit=True)
    assert _make.compile("x: int", "<f>", "exec", dont_inherit=True) == compile("x: int", "<f>", "exec", 0, True)


def test_attrs_is_patched_when_first_imported_and_not_loaded_before() -> None:
    """``import stack`` does not load attrs (a user of ``stack.scenario`` alone never needs it); trio, imported
    later, loads ``attr._make`` through the hook, which patches it before trio's classes are made."""
    script = ("import sys, stack.scenario\n"
              "print('attr' in sys.modules, 'attr._make' in sys.modules)\n"
              "import trio\n"
              "from attr import _make\n"
              "print(_make.compile is not compile, _make.compile.__qualname__)\n"
              "print(sum(type(f).__name__ == '_AttrsMakeFinder' for f in sys.meta_path))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["False False", "True _patch.<locals>.compile_", "0"]


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(cache: Path) -> None:
    """A process killed while writing leaves ``<path>.<pid>.tmp``; the next write removes such a file once it is
    older than any write can take, and leaves a recent one (another process may be writing it)."""
    cache.parent.mkdir(parents=True)
    stale, recent = cache.with_name(cache.name + ".4242.tmp"), cache.with_name(cache.name + ".4343.tmp")
    stale.write_bytes(b"half"), recent.write_bytes(b"half")
    old = time.time() - codecache.STALE_TEMPORARY_S - 1
    os.utime(stale, (old, old))
    assert codecache.write(str(cache), {(0, "<string>", SOURCE): b""})
    assert not stale.exists() and recent.exists() and cache.exists()


def test_the_attrs_hook_skips_a_finder_without_find_spec_and_keeps_the_loaders_methods() -> None:
    """As importlib does, a meta-path finder with no ``find_spec`` (an old-style one) is skipped; ``attr._make``'s
    loader still answers ``get_source``."""
    script = ("import sys, stack\n"
              "class Old:\n"
              "    def find_module(self, *args): return None\n"
              "sys.meta_path.insert(0, Old())\n"
              "import trio\n"
              "from attr import _make\n"
              "print(_make.compile is not compile, 'def attrs' in _make.__loader__.get_source('attr._make'))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]
