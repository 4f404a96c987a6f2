"""What an application's context has taken in, for the API's own modules (EPR sockets, the Teleporter and its
streams, exchanges, a distributed circuit's pairs): the layers' OKs and ERRs not taken yet, the medium's
answers by slot, and how to wait for the next event. :class:`stack.api.context.AppContext` makes one
(:attr:`~stack.api.context.AppContext.intake`); the modules use it instead of the context's private members.

>>> from stack.api.answers import MessageQueue
>>> async def wait() -> None: ...
>>> intake = Intake(MessageQueue(), {}, wait, lambda: None)
>>> len(intake.messages), intake.results
(0, {})
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from stack.api.answers import MessageQueue


class Intake:
    """The context's queue of the layers' messages, the medium's results by slot, and its wait."""

    __slots__ = ("_live", "_wait", "messages", "results")

    def __init__(self, messages: MessageQueue, results: dict[int, Any], wait: Callable[[], Awaitable[Any]],
                 live: Callable[[], None]) -> None:
        self.messages = messages
        """OKs and ERRs of the application's requests and of the remote's, with the service each came from
        (not the answers to CREATEs): a taker removes what it handles and leaves the rest."""
        self.results = results
        """The medium's answers (a measurement's, a Bell measurement's, a refusal) by slot, until taken."""
        self._wait = wait
        self._live = live

    async def wait(self) -> Any:
        """Wait for the context's next event (a datagram, a result, a timer), file it, and return it."""
        return await self._wait()

    def live(self) -> None:
        """RuntimeError unless the application still runs and the caller is its own task (call before acting)."""
        self._live()
