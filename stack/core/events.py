"""The markers the kernel hands ports besides deliveries (:data:`TIMER`, :data:`STARTUP`), and the two it uses
between its own parts: a step that failed (:class:`Failed`) and the baton holder's turn to yield (:data:`YIELD`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class TimerFired:
    """The event a port receives when its deadline is reached."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "TimerFired()"


TIMER = TimerFired()


class Startup:
    """The first event every port receives, in the order the ports were created."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Startup()"


STARTUP = Startup()


class Failed:
    """A step that raised: its port's task is handed the error and raises it in its own context."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Yield:
    """The baton holder has run ``Kernel.yield_every`` entries: time to let trio run."""

    __slots__ = ()


YIELD = Yield()
Step = Callable[[Any], None]


def unwrap(event: Any) -> Any:
    """``event``, or the error of a :class:`Failed` step raised."""
    if type(event) is Failed:
        raise event.error
    return event
