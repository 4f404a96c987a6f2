"""What a node process tells the medium about its layers' settling after the drain (``docs/wire.md`` §8.3):
``settled`` whenever it changes, and an answer to each round the medium asks (``ask_settled``) once every input
due by the instant it asks about has been handled.

>>> import time, trio
>>> from types import SimpleNamespace
>>> from stack.multiprocess.realtime import RealtimeKernel
>>> kernel = RealtimeKernel(epoch_ns=time.time_ns() + 10**12, dilation=1.0)   # its wall clock far behind: now is 0
>>> emu, sent = SimpleNamespace(draining=True, settled=lambda: True), []
>>> reporter = SettledReporter(emu, kernel, sent.append)
>>> reporter.ask({"op": "ask_settled", "at": 500, "round": 1})
>>> trio.run(kernel.run, 1000)
>>> sent
[{'op': 'settled', 'at': 500, 'settled': True, 'round': 1}]
>>> reporter.ask({"op": "ask_settled", "at": 1500, "round": 2})
>>> reporter.ask({"op": "ask_settled", "at": 1500, "round": 3})   # two rounds about one instant: one answer
>>> trio.run(kernel.run, 2000)
>>> sent[1:]
[{'op': 'settled', 'at': 1500, 'settled': True, 'round': 3}]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from stack.multiprocess.realtime import RealtimeKernel


class Settles(Protocol):
    """What the reporter reads of :class:`stack.emulation.Emulation`."""

    draining: bool

    def settled(self) -> bool: ...


class SettledReporter:
    """A node's ``settled`` messages to the medium, sent through ``send``.

    :meth:`check` (after every event of a layer from the drain on) says ``settled`` when whether the node's link
    and network layers have settled (``emu.settled()``, the predicate of ``qnet run``'s settling phase) changes;
    :meth:`ask` answers a round, at the instant it names, after every entry due by then has run (the medium's
    events sent before the round, and what handling them queued for that same instant). The first false says
    how long the layers may take (``bound``, :func:`stack.runtime.settle_bound_ns`, asked only then)."""

    def __init__(self, emu: Settles, kernel: RealtimeKernel, send: Callable[[dict[str, Any]], None],
                 bound: Callable[[], int] = lambda: 0) -> None:
        self.emu, self.kernel, self.send, self.bound = emu, kernel, send, bound
        self.said: bool | None = None
        """What this node last told the medium (None: nothing yet, before the drain)."""
        self.sent_bound = False
        self.finishing = False
        """The medium said ``finish``: nothing more is said."""
        self.asked: tuple[int, int] | None = None
        """While an answer is queued: the latest round asked and the instant it asks about (one answer queued at
        a time: two deferring to each other at one instant would never run out)."""

    def check(self) -> None:
        """Say ``settled`` if whether the layers have settled changed since the node last said it (after the
        drain only)."""
        if not self.emu.draining or self.finishing:
            return
        settled = self.emu.settled()
        if settled is not self.said:
            self._say(settled, None)

    def ask(self, message: dict[str, Any]) -> None:
        """The medium's ``ask_settled``: answered at its ``at`` (or now, if that has passed); TypeError if its
        members are not integers (``round`` from 1)."""
        at, number = message["at"], message["round"]
        if type(at) is not int or type(number) is not int or number < 1:
            raise TypeError(f"'at' and 'round' must be integers, got {str(at)[:20]}, {str(number)[:20]}")
        queued = self.asked
        if queued is None:
            self.asked = (number, at)
            self.kernel.call_external(self._answer, None, at)
        elif number > queued[0]:            # a later round while one waits: the queued answer answers it instead
            # (not queued itself, so its lateness is not counted: a round's lateness changes no result)
            self.asked = (number, max(at, queued[1]))

    def _answer(self, _: object = None) -> None:
        kernel = self.kernel
        assert self.asked is not None
        number, at = self.asked
        due = kernel.next_due()
        if at > kernel.now:                                 # a later round asks about a later instant
            kernel.call_at(at, self._answer)
        elif due is not None and due <= kernel.now:         # the rest of this instant goes first
            kernel.call_at(kernel.now, self._answer)
        else:
            self.asked = None
            if not self.finishing:
                self._say(self.emu.settled(), number)

    def _say(self, settled: bool, number: int | None) -> None:
        message: dict[str, Any] = {"op": "settled", "at": self.kernel.now, "settled": settled}
        if not settled and not self.sent_bound:
            message["bound_ns"] = self.bound()
            self.sent_bound = True
        if number is not None:
            message["round"] = number
        self.said = settled
        self.send(message)
