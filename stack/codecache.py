"""The code this project compiles from strings, kept across processes as ``__pycache__`` keeps bytecode.

A ``qnet run`` compiles ~75 small functions from source text at start-up: the dataclass methods
:mod:`protocols.lazymethods` defers and the builders of :mod:`protocols.fastinit`, ~7 % of a 1-pair run's
instructions. Their text is the same from run to run, so :func:`code` compiles each text once and keeps the code
object in a file next to the package's bytecode, ``stack/__pycache__/codecache.<cache tag>[.opt-N].bin``:
a later process unmarshals it (~0.3 ms for all of them) instead of compiling again (~16 ms). The methods attrs
generates for trio's and outcome's classes (~30 more) are kept the same way (:func:`stack.attrs_code.install_attrs`).
:func:`install` (``import stack``) has :mod:`protocols.compiling` compile through :func:`code`: the file's reading
and writing is the runtime's, not the sans-IO package's.

The cache cannot change what runs: an entry is found by the whole source text, the compiler flags and the
file name, and holds what ``compile(text, filename, "exec", flags, dont_inherit=True)`` returns for them; the file holds
the interpreter's bytecode magic number (it is ignored if another interpreter wrote it) and its name the cache
tag and optimisation level, as a ``.pyc``'s does. It is read as the import system reads a ``.pyc`` (also under
``PYTHONDONTWRITEBYTECODE``), and anything wrong with it (missing, unreadable, truncated, another version's)
makes it empty. It is written, whole and atomically (a temporary file, then ``os.replace``), when a process
that compiled something new ends (``atexit``), unless ``sys.dont_write_bytecode`` is set; if the directory is
not writable nothing is written and nothing is reported. Two processes writing at once: the last one's file
stays, whole; what the other compiled is compiled again by a later process. It holds what the processes that
wrote it compiled, up to :data:`LIMIT` entries (past it, only what the writing process used). Nothing here
reads a clock or touches a protocol's state: this is the import machinery's kind of input and output.
"""

from __future__ import annotations

import atexit
import contextlib
import marshal
import os
import sys
from importlib.util import MAGIC_NUMBER
from types import CodeType

from protocols import compiling
from protocols.compiling import FILENAME

LIMIT = 4096
"""The most entries the file keeps (a test session compiles many more texts than a run)."""



def default_path() -> str | None:
    """Where this interpreter's cache is (None if it keeps no bytecode: no cache tag)."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    level = sys.flags.optimize
    suffix = f".opt-{level}" if level else ""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__", f"codecache.{tag}{suffix}.bin")


Key = tuple[int, str, str]
"""An entry's key: the compiler flags, the file name, the source text."""

PATH: str | None = default_path()
"""The cache file this process reads and writes (tests point it elsewhere)."""
_stored: dict[Key, bytes] | None = None     # the file's entries, each code object still marshalled
_codes: dict[Key, CodeType] = {}            # what this process compiled or unmarshalled
_new = False                                # whether it compiled something the file did not hold


def read(path: str | None) -> dict[Key, bytes]:
    """The entries of the cache file at ``path``, each a marshalled code object; empty if there is none, or
    it is not one this interpreter wrote, or anything in it is amiss."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as file:
            data = file.read()
        magic, entries = marshal.loads(data)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if magic != MAGIC_NUMBER or not isinstance(entries, dict):
        return {}
    for key, value in entries.items():
        if not (isinstance(key, tuple) and len(key) == 3 and isinstance(key[0], int) and isinstance(key[1], str)
                and isinstance(key[2], str) and isinstance(value, bytes)):
            return {}
    return entries


def write(path: str | None, entries: dict[Key, bytes]) -> bool:
    """Write ``entries`` to ``path`` whole (a temporary file, then ``os.replace``); False if it could not."""
    if path is None:
        return False
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _remove_stale_temporaries(path)
        with open(temporary, "wb") as file:
            file.write(marshal.dumps((MAGIC_NUMBER, entries)))
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        return False
    return True


STALE_TEMPORARY_S = 60.0
"""A temporary file this old was left by a process killed while writing (a write takes milliseconds)."""


def _remove_stale_temporaries(path: str) -> None:
    """Remove ``path``'s temporary files that no writer can still be using (written only when the cache is)."""
    import glob  # here: only a process that writes the cache needs it
    import time

    now = time.time()
    for temporary in glob.glob(f"{glob.escape(path)}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - os.stat(temporary).st_mtime > STALE_TEMPORARY_S:
                os.remove(temporary)


def _unmarshal(blob: bytes) -> CodeType | None:
    try:
        found = marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return None
    return found if isinstance(found, CodeType) else None


def code(source: str, flags: int = 0, filename: str = FILENAME) -> CodeType:
    """``compile(source, filename, "exec", flags, dont_inherit=True)``, from the cache if it holds it."""
    global _stored, _new
    key = (flags, filename, source)
    found = _codes.get(key)
    if found is not None:
        return found
    if _stored is None:
        _stored = read(PATH)
    blob = _stored.get(key)
    found = None if blob is None else _unmarshal(blob)
    if found is None:
        found = compile(source, filename, "exec", flags, dont_inherit=True)
        if not _new:
            _new = True
            atexit.register(save)
    _codes[key] = found
    return found


def save() -> bool:
    """Write the file's entries and what this process compiled to the cache file (done at exit when something
    was compiled); past :data:`LIMIT` entries, only what this process used. False if nothing was written
    (nothing new, ``sys.dont_write_bytecode``, or the file could not be written)."""
    global _new
    if not _new or sys.dont_write_bytecode:
        return False
    _new = False
    used = {key: marshal.dumps(value) for key, value in _codes.items()}
    entries = (_stored or {}) | used
    if len(entries) > LIMIT:
        entries = used if len(used) <= LIMIT else {}
    return bool(entries) and write(PATH, entries)


def reset(path: str | None) -> None:
    """Forget what was read and compiled, and use the cache file at ``path`` from now on (for tests)."""
    global PATH, _stored, _new
    PATH, _stored, _new = path, None, False
    _codes.clear()


def install() -> None:
    """Have :mod:`protocols.compiling` compile through :func:`code` (``import stack`` does, before the protocol
    modules are imported)."""
    compiling.use(code)


__all__ = ["LIMIT", "code", "default_path", "install", "read", "reset", "save", "write"]
