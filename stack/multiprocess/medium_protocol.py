"""The local socket protocol between node processes and the medium process (``docs/wire.md`` §10).

A stream socket (a Unix-domain socket in the run directory) carries *messages*: each a
4-byte big-endian length, then that many bytes of UTF-8 JSON holding one object with an
``op`` member. Hardware commands and events (:mod:`protocols.physical.hardware`) travel as objects
``{"type": <class name>, <field>: <value>, ...}``: enums by name, tuples as arrays.

>>> from protocols.physical.hardware import Measure
>>> from protocols.common import Basis
>>> decode_hardware(encode_hardware(Measure(slot=1, basis=Basis.X)))
Measure(slot=1, basis=<Basis.X: 1>)
>>> frame({"op": "drain", "at": 5})
b'\\x00\\x00\\x00\\x15{"op":"drain","at":5}'
"""

from __future__ import annotations

import dataclasses
import enum
import json
import struct
import types
import typing
from typing import Any

import trio

from protocols.physical import hardware

MAX_MESSAGE = 1 << 20
HARDWARE_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    hardware.Arm, hardware.Disarm, hardware.Measure, hardware.Discard, hardware.Move, hardware.MoveResult,
    hardware.Emitted, hardware.Detection, hardware.MeasureResult, hardware.BellMeasure, hardware.BellMeasureResult,
    hardware.Init, hardware.Gate, hardware.Distill, hardware.DistillResult)}
_HINTS = {name: typing.get_type_hints(cls, vars(hardware)) for name, cls in HARDWARE_TYPES.items()}


class MediumProtocolError(ValueError):
    """The peer on the medium socket sent something that is not a valid message."""


def encode_hardware(obj: Any) -> dict[str, Any]:
    """A hardware command or event as a JSON-ready object."""
    name = type(obj).__name__
    if name not in HARDWARE_TYPES:
        raise TypeError(f"{name} does not travel on the medium socket")
    return {"type": name} | {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def decode_hardware(data: dict[str, Any]) -> Any:
    """The inverse of :func:`encode_hardware`; raises :class:`MediumProtocolError`."""
    try:
        name = data["type"]
        cls, hints = HARDWARE_TYPES[name], _HINTS[name]
        return cls(**{key: _typed(hints[key], value) for key, value in data.items() if key != "type"})
    except (KeyError, TypeError, ValueError) as error:
        raise MediumProtocolError(f"bad hardware object {data!r}: {error}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return _typed(next(a for a in args if a is not type(None)), value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint[value]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], v) for v in value)
        return tuple(_typed(a, v) for a, v in zip(args, value, strict=True))
    if hint is float:
        return float(value)
    if hint in (int, bool, str) and not isinstance(value, hint):
        raise TypeError(f"{value!r} is not {hint.__name__}")
    return value


def frame(message: dict[str, Any]) -> bytes:
    """One message as bytes on the stream."""
    body = json.dumps(message, separators=(",", ":")).encode()
    return struct.pack("!I", len(body)) + body


class MessageStream:
    """Messages over a trio stream (both directions)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    async def send(self, message: dict[str, Any]) -> None:
        await self.stream.send_all(frame(message))

    async def receive(self) -> dict[str, Any] | None:
        """The next message, or None at end of stream."""
        while True:
            if len(self._buffer) >= 4:
                (length,) = struct.unpack_from("!I", self._buffer)
                if length > MAX_MESSAGE:
                    raise MediumProtocolError(f"message of {length} bytes exceeds {MAX_MESSAGE}")
                if len(self._buffer) >= 4 + length:
                    body = bytes(self._buffer[4:4 + length])
                    del self._buffer[:4 + length]
                    return _parse(body)
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                if self._buffer:
                    raise MediumProtocolError("stream ended inside a message")
                return None
            self._buffer += chunk


def _parse(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MediumProtocolError(f"message is not JSON: {error}") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise MediumProtocolError("message is not an object with an 'op' string")
    return message
