"""The ``[security]`` table: authenticated classical control, and the key file it may name.

A key file is text: lines starting with ``#`` are comments, the rest is the run secret in hex, at least
64 hex digits (32 bytes), e.g. written by ``openssl rand -hex 32 > run.key``. Its path is relative to the
scenario file's folder. Without one, the runtime draws a fresh secret from the OS for every run.
"""

from __future__ import annotations

from pathlib import Path

from stack.scenario.table import ScenarioError, Table
from stack.scenario.types import SecuritySettings

SECRET_MIN_BYTES = 32
"""As :data:`protocols.security.keys.SECRET_MIN_BYTES` (the scenario package imports nothing above it)."""
MAX_KEY_FILE_BYTES = 1 << 16


def security_settings(t: Table) -> SecuritySettings:
    authenticate = t.flag("authenticate", True)
    window = t.number("replay_window", 1024, low=32, high=1 << 16, integer=True)
    key_file = t.text("key_file", "") or None
    t.finish()
    secret = None if key_file is None else read_key_file(t, key_file)
    return SecuritySettings(authenticate, key_file, secret, window)


def key_path(source: str, key_file: str) -> Path:
    """Where a key file named in scenario ``source`` is: relative to the scenario's folder."""
    path = Path(key_file).expanduser()
    return path if path.is_absolute() else Path(source).parent / path


def read_key_file(t: Table, key_file: str) -> bytes:
    """The secret in a key file; a :class:`ScenarioError` naming ``security.key_file`` if it is unreadable,
    not hex, or too short."""
    path = key_path(t.source, key_file)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as error:
        raise t.error("key_file", f"cannot read {str(path)!r}: {error.strerror or error}") from None
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise t.error("key_file", f"{str(path)!r} is longer than {MAX_KEY_FILE_BYTES} bytes: not a key file")
    try:
        lines = raw.decode("ascii").splitlines()
        secret = bytes.fromhex("".join(line for line in lines if not line.lstrip().startswith("#")))
    except (UnicodeDecodeError, ValueError):
        raise t.error("key_file", f"{str(path)!r} is not hex text (e.g. openssl rand -hex 32 > FILE)") from None
    if len(secret) < SECRET_MIN_BYTES:
        raise t.error("key_file", f"{str(path)!r} holds a {len(secret)}-byte secret; at least {SECRET_MIN_BYTES} "
                                  f"bytes ({2 * SECRET_MIN_BYTES} hex digits) are needed")
    return secret


__all__ = ["ScenarioError", "key_path", "read_key_file", "security_settings"]
