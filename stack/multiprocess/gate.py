"""Who may join a run: the medium socket's gate (``docs/wire.md`` §8.3).

Every connection to ``RUN_DIR/medium.sock`` first gets a ``challenge`` (a random nonce) and must answer with
a ``hello`` that proves the run's secret (:func:`stack.multiprocess.medium_protocol.hello_proof`) and names a
node the run expects, with the run's seed, that is not connected yet. Until then a client may send at most
:data:`~stack.multiprocess.medium_protocol.MAX_HELLO` bytes and has :data:`HELLO_TIMEOUT_S`; at most
:data:`MAX_PENDING` such clients are served at once (more are closed at once). Whatever a client does ends at
most its own connection, and every refusal is counted by reason (:attr:`Gate.refused`, the report's
``multi_process.refused_connections``). An accepted node's session is the medium's (``join``).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Container
from pathlib import Path
from typing import Any

import trio

from stack.multiprocess.medium_protocol import (
    MAX_HELLO,
    MAX_MESSAGE,
    MediumProtocolError,
    MessageStream,
    new_nonce,
    proves,
)

HELLO_TIMEOUT_S = 5.0
"""How long a new connection may take to prove the secret before it is closed."""
MAX_PENDING = 16
"""Connections served at once that have not proven the secret yet; more are closed at once."""

Join = Callable[[str, MessageStream], Awaitable[None]]
"""The medium's session with an accepted node. It must register the node before its first checkpoint, so
that no other hello for that node can be accepted meanwhile."""


class Refused(Exception):
    """A hello is refused: ``reason`` is counted, ``detail`` tells the client why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class Gate:
    """Admits the run's nodes to the medium socket and nobody else."""

    def __init__(self, secret: bytes, seed: int, expected: set[str], connected: Container[str], join: Join,
                 secret_path: Path) -> None:
        self.secret, self.seed, self.expected = secret, seed, expected
        self.connected = connected
        self.join = join
        self.secret_path = secret_path
        self.refused: Counter[str] = Counter()
        """Connections refused before or at the hello, per reason."""
        self.pending = 0
        """Connections being served that have not proven the secret yet."""

    async def accept(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        """Serve every connection to ``listener`` in ``nursery``, until cancelled."""
        while True:
            stream = await listener.accept()
            if self.pending >= MAX_PENDING:
                self.refused["too many connections"] += 1
                await stream.aclose()
                continue
            self.pending += 1
            nursery.start_soon(self._serve, stream)

    async def _serve(self, stream: trio.SocketStream) -> None:
        """One client, from its hello to its end; nothing it does escapes this connection."""
        pending = True
        try:
            async with stream:                   # closed whatever happens: the peer sees end of stream
                messages = MessageStream(stream, limit=MAX_HELLO)
                node = None
                with trio.move_on_after(HELLO_TIMEOUT_S) as hello:
                    node = await self._greet(messages)
                self.pending, pending = self.pending - 1, False
                if hello.cancelled_caught:
                    self.refused["hello timeout"] += 1
                if node is not None:
                    messages.limit = MAX_MESSAGE
                    await self.join(node, messages)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            if pending:
                self.refused["closed before the hello"] += 1
        finally:
            self.pending -= pending

    async def _greet(self, messages: MessageStream) -> str | None:
        """Challenge a new client; the node it is once its hello is accepted, None if refused."""
        nonce = new_nonce()
        await messages.send({"op": "challenge", "nonce": nonce})
        try:
            node = self.check_hello(await messages.receive(), nonce)
        except MediumProtocolError:
            self.refused["malformed hello"] += 1
            return None
        except Refused as refusal:
            self.refused[refusal.reason] += 1
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await messages.send({"op": "refused", "reason": refusal.detail})
            return None
        if node is None:
            self.refused["closed before the hello"] += 1
        return node

    def check_hello(self, hello: dict[str, Any] | None, nonce: str) -> str | None:
        """The node a hello comes from (None: the client closed instead); :class:`Refused` if it is refused."""
        if hello is None:
            return None
        node = hello.get("node")
        if hello["op"] != "hello" or not isinstance(node, str):
            raise Refused("malformed hello", "expected a hello: {op: hello, node: NAME, node_id, seed, proof}")
        if not proves(self.secret, nonce, node, hello.get("proof")):
            raise Refused("bad secret", f"the hello does not prove the run's secret ({self.secret_path})")
        if node not in self.expected:
            raise Refused("unknown node", f"expected hello from one of {sorted(self.expected)}")
        if type(hello.get("seed")) is not int or hello["seed"] != self.seed:
            raise Refused("seed mismatch", f"seed mismatch: the run's seed is {self.seed}")
        if node in self.connected:
            raise Refused("node already connected", f"node {node} is already connected")
        return node
