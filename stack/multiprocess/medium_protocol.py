"""The local socket protocol between node processes and the medium process (``docs/wire.md`` §8.3).

A stream socket (a Unix-domain socket in the run directory) carries *messages*: each a
4-byte big-endian length, then that many bytes of UTF-8 JSON holding one object with an
``op`` member. Hardware commands and events (:mod:`protocols.physical.hardware`) travel as objects
``{"type": <class name>, <field>: <value>, ...}``: enums by name, tuples as arrays.

Nothing a peer sends may crash the receiver: a message longer than the stream's ``limit`` (4 KiB until
the peer has proven the run's secret, :data:`MAX_MESSAGE` after), nested deeper than :data:`MAX_DEPTH`,
not JSON (``NaN`` and ``Infinity`` included), or not an object with a string ``op`` is a
:class:`MediumProtocolError`, and so is a hardware object with a missing, extra, mistyped or non-finite
field (:func:`decode_hardware`).

The hello proves the run's secret (``RUN_DIR/secret``, mode 0600): the medium sends a random nonce, the
node answers with :func:`hello_proof`, an HMAC-SHA256 (RFC 2104) of the nonce and its name under the secret.

>>> from protocols.physical.hardware import Measure
>>> from protocols.common import Basis
>>> decode_hardware(encode_hardware(Measure(slot=1, basis=Basis.X)))
Measure(slot=1, basis=<Basis.X: 1>)
>>> frame({"op": "drain", "at": 5})
b'\\x00\\x00\\x00\\x15{"op":"drain","at":5}'
>>> hello_proof(bytes(32), "00" * 16, "alice")[:16]
'7428d47e55e0551a'
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import hashlib
import hmac
import json
import math
import os
import secrets
import struct
import types
import typing
from pathlib import Path
from typing import Any

import numpy as np
import trio

from protocols.common import Basis
from protocols.physical import hardware

MAX_HELLO = 4096
"""The longest message a peer may send before its hello is accepted."""
MAX_MESSAGE = 64 << 20
"""The longest message after that (a node's ``result`` carries every pair record of its applications)."""
MAX_DEPTH = 16
"""The deepest nesting of arrays and objects in a message (ours reach 5)."""
MAX_ITEMS = 1 << 16
"""The longest array a hardware object may hold (a Detection's clicks)."""
SECRET_FILE = "secret"
SECRET_BYTES = 32
NONCE_BYTES = 16
HARDWARE_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    hardware.Arm, hardware.Disarm, hardware.Measure, hardware.Discard, hardware.Move, hardware.MoveResult,
    hardware.Emitted, hardware.Detection, hardware.MeasureResult, hardware.BellMeasure, hardware.BellMeasureResult,
    hardware.Init, hardware.Gate, hardware.Distill, hardware.DistillResult, hardware.CommandRejected,
    hardware.EmittedBlock, hardware.DetectionBlock)}
_HINTS = {name: typing.get_type_hints(cls) for name, cls in HARDWARE_TYPES.items()}
"""Each type's field annotations, resolved in the module that defines it."""
_INT_RANGE = 1 << 63
_NOT_QUOTES_OR_BRACKETS = bytes(b for b in range(256) if b not in b'"[]{}')


class MediumProtocolError(ValueError):
    """The peer on the medium socket sent something that is not a valid message."""


def encode_hardware(obj: Any) -> dict[str, Any]:
    """A hardware command or event as a JSON-ready object."""
    name = type(obj).__name__
    if name not in HARDWARE_TYPES:
        raise TypeError(f"{name} does not travel on the medium socket")
    return {"type": name} | {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def decode_hardware(data: Any) -> Any:
    """The inverse of :func:`encode_hardware`; raises :class:`MediumProtocolError` for anything else: an
    unknown type, a missing or extra field, a value of the wrong type, a number that is not finite or an
    integer beyond 64 bits."""
    try:
        if not isinstance(data, dict):
            raise TypeError("not an object")
        name = data["type"]
        cls, hints = HARDWARE_TYPES[name], _HINTS[name]
        return cls(**{key: _typed(hints[key], value) for key, value in data.items() if key != "type"})
    except (KeyError, TypeError, ValueError) as error:
        raise MediumProtocolError(f"bad hardware object {_short(data)}: {error}") from None


ARRAY_TYPES = ("uint8", "uint64")
"""The element types of the arrays a hardware event carries (a block's outcomes, bases, failure counts)."""


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):               # a block's packed arrays: base64 of their bytes
        return {"dtype": value.dtype.name, "b64": base64.b64encode(value.tobytes()).decode("ascii")}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _typed(hint: Any, value: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return None if value is None else _typed(next(a for a in args if a is not type(None)), value)
    if hint is Basis:
        if not isinstance(value, str):
            raise TypeError(f"{value!r} is not a basis name")
        return Basis[value]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if not isinstance(value, str) or value not in hint.__members__:
            raise TypeError(f"{_short(value)} is not one of {', '.join(hint.__members__)}")
        return hint[value]
    if origin is tuple:
        if not isinstance(value, list) or len(value) > MAX_ITEMS:
            raise TypeError(f"{_short(value)} is not an array of at most {MAX_ITEMS} items")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], v) for v in value)
        return tuple(_typed(a, v) for a, v in zip(args, value, strict=True))
    if hint is np.ndarray:
        return _array(value)
    if hint is float:
        if not finite(value):
            raise TypeError(f"{_short(value)} is not a finite number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or not -_INT_RANGE <= value < _INT_RANGE:
            raise TypeError(f"{_short(value)} is not a 64-bit integer")
        return value
    if hint in (bool, str) and not isinstance(value, hint):
        raise TypeError(f"{_short(value)} is not {hint.__name__}")
    return value


def _array(value: Any) -> np.ndarray:
    """A block's array from ``{"dtype": "uint8" | "uint64", "b64": ...}``, at most MAX_ITEMS items."""
    if not isinstance(value, dict) or set(value) != {"dtype", "b64"} or value["dtype"] not in ARRAY_TYPES \
            or not isinstance(value["b64"], str):
        raise TypeError(f"{_short(value)} is not an array object")
    try:
        data = base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise TypeError(f"{_short(value)} is not base64") from None
    dtype = np.dtype(value["dtype"])
    if len(data) % dtype.itemsize or len(data) // dtype.itemsize > MAX_ITEMS:
        raise TypeError(f"an array of {len(data)} bytes is not at most {MAX_ITEMS} {dtype.name} items")
    return np.frombuffer(data, dtype=dtype).copy()


def finite(value: Any) -> bool:
    """Whether ``value`` is an int or float (not a bool) that a float holds finitely."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:                  # an int beyond a float's range
        return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def frame(message: dict[str, Any]) -> bytes:
    """One message as bytes on the stream."""
    body = json.dumps(message, separators=(",", ":")).encode()
    return struct.pack("!I", len(body)) + body


# -- the hello: proving the run's secret --------------------------------------------------------------

def write_secret(run_dir: Path) -> bytes:
    """A fresh secret for this run, in ``RUN_DIR/secret`` (mode 0600 from its creation, renamed into place)."""
    secret = secrets.token_bytes(SECRET_BYTES)
    partial = run_dir / (SECRET_FILE + ".part")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secret.hex() + "\n")
    partial.replace(run_dir / SECRET_FILE)
    return secret


def private_problem(path: Path) -> str | None:
    """Why ``path`` (a run directory, or its secret) could have been written by another user: it belongs to
    someone else, or others may write it (a directory anyone may write: mode o+w; group write is left alone, as
    a umask of 002 with a group of one's own gives it; a secret readable by anyone but its owner). None: it is
    this user's alone. Such a run directory would let another local user put their own secret or medium socket
    in place of the run's (docs/wire.md §8.2)."""
    status = path.stat()
    if status.st_uid != os.geteuid():
        return f"{path} belongs to another user (uid {status.st_uid}), who could replace the run's secret"
    if path.is_dir() and status.st_mode & 0o002:
        return (f"{path} can be written by any user (mode {status.st_mode & 0o7777:o}), who could replace the "
                f"run's secret: use a directory of your own (chmod o-w; on a filesystem without Unix permissions, "
                f"such as a Windows or shared folder, a --run-dir on one that has them)")
    if not path.is_dir() and status.st_mode & 0o077:
        return f"{path} is open to other users (mode {status.st_mode & 0o777:o}); the run's secret is 0600"
    return None


def read_secret(run_dir: Path) -> bytes:
    """The run's secret; OSError or ValueError if it cannot be read, or if another user could have written it
    (:func:`private_problem`)."""
    problem = private_problem(run_dir / SECRET_FILE)
    if problem is not None:
        raise ValueError(problem)
    secret = bytes.fromhex((run_dir / SECRET_FILE).read_text().strip())
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"{run_dir / SECRET_FILE} does not hold a {SECRET_BYTES}-byte secret")
    return secret


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def hello_proof(secret: bytes, nonce: str, node: str) -> str:
    """What a node's hello carries as ``proof``: HMAC-SHA256 of ``qnet-hello``, the nonce and its name."""
    message = b"qnet-hello\0" + nonce.encode() + b"\0" + node.encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def proves(secret: bytes, nonce: str, node: str, proof: Any) -> bool:
    """Whether ``proof`` is the right :func:`hello_proof` (compared in constant time)."""
    return isinstance(proof, str) and hmac.compare_digest(proof.encode(), hello_proof(secret, nonce, node).encode())


# -- the stream ---------------------------------------------------------------------------------------

class MessageStream:
    """Messages over a trio stream (both directions); a longer incoming message than ``limit`` is an error."""

    def __init__(self, stream: trio.abc.Stream, limit: int = MAX_MESSAGE) -> None:
        self.stream = stream
        self.limit = limit
        self._buffer = bytearray()

    async def send(self, message: dict[str, Any]) -> None:
        await self.stream.send_all(frame(message))

    async def receive(self) -> dict[str, Any] | None:
        """The next message, or None at end of stream."""
        while True:
            if len(self._buffer) >= 4:
                (length,) = struct.unpack_from("!I", self._buffer)
                if length > self.limit:
                    raise MediumProtocolError(f"message of {length} bytes exceeds {self.limit}")
                if len(self._buffer) >= 4 + length:
                    body = bytes(self._buffer[4:4 + length])
                    del self._buffer[:4 + length]
                    return parse(body)
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                if self._buffer:
                    raise MediumProtocolError("stream ended inside a message")
                return None
            self._buffer += chunk


def parse(body: bytes) -> dict[str, Any]:
    """One message's body; :class:`MediumProtocolError` unless it is a JSON object with a string ``op``, at
    most :data:`MAX_DEPTH` deep."""
    if depth(body) > MAX_DEPTH:
        raise MediumProtocolError(f"message nested deeper than {MAX_DEPTH}")
    try:
        message = json.loads(body, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:     # JSONDecodeError, huge integers
        raise MediumProtocolError(f"message is not JSON: {_short(str(error))}") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise MediumProtocolError("message is not an object with an 'op' string")
    return message


def depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings do not count).

    Escaped backslashes go first, then escaped quotes (left to right, as a parser reads them), then everything but
    quotes and brackets; what lies between the n-th and (n+1)-th quote for odd n is inside a string. All of it
    runs in C: a block's message (tens of kB of base64) costs microseconds, not the milliseconds of a regex.

    >>> depth(b'{"a": [1, {"b": "]]"}]}')
    3
    """
    skeleton = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_QUOTES_OR_BRACKETS)
    brackets = b"".join(skeleton.split(b'"')[::2])
    if not brackets:
        return 0
    steps = np.frombuffer(brackets, dtype=np.uint8)
    level = np.cumsum(np.where((steps == ord("[")) | (steps == ord("{")), 1, -1), dtype=np.int64)
    return max(0, int(level.max()))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
