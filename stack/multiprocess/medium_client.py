"""The medium as a node process sees it (:class:`MediumClient`): hardware commands become messages on the medium
socket (:mod:`stack.multiprocess.medium_protocol`), its events come back through :mod:`stack.multiprocess.node`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import trio

from protocols.physical.hardware import GATES, Gate, Init
from stack.core.kernel import Kernel
from stack.multiprocess.medium_protocol import MessageStream, encode_hardware
from stack.quantum.commands import refusal
from stack.quantum.medium import Medium
from stack.scenario import Scenario


class MediumGone(RuntimeError):
    """The medium process closed its socket or died: the node cannot go on."""


class MediumClient(Medium):
    """The medium as a node process sees it: hardware commands become socket messages.

    It cannot see the node's memory, so the application API's checks of commands that have no result
    (:meth:`refusal`, :meth:`free_data_slot`) go by the node's layout and the slots the application holds; the
    medium process still checks every command against the memory itself."""

    def __init__(self, kernel: Kernel, scenario: Scenario | None = None) -> None:
        super().__init__(kernel, np.random.default_rng(0))
        self.send, self._outbox = trio.open_memory_channel[dict[str, Any]](float("inf"))
        self.pumped = trio.Event()
        self.data_slots = {} if scenario is None else {
            node.node_id: range(node.communication_qubits + node.storage_qubits,
                                node.communication_qubits + node.storage_qubits + node.data_qubits)
            for node in scenario.nodes.values() if node.kind == "qpu"}

    def refusal(self, node_id: int, command: Any, app_held: Collection[int] = ()) -> str | None:
        data = self.data_slots.get(node_id, range(0))
        if isinstance(command, Init):
            return None if command.slot in data and command.slot not in app_held else (
                f"cannot initialise slot {command.slot!r}: it needs a free data qubit (slots {data.start}.."
                f"{data.stop - 1})")
        if isinstance(command, Gate):
            slots = command.slots
            if GATES.get(command.name) != len(slots) or len(set(slots)) != len(slots) \
                    or not all(slot in app_held for slot in slots):
                return f"cannot apply {command.name} to slots {slots!r}: it needs distinct held qubits"
            return None
        return refusal(command, app_held, None, node_id)

    def free_data_slot(self, node_id: int, app_held: Collection[int] = ()) -> int | None:
        return next((slot for slot in self.data_slots.get(node_id, ()) if slot not in app_held), None)

    def command(self, node_id: int, command: Any, reply_to: Any) -> None:
        self.send.send_nowait({"op": "command", "at": self.kernel.now, "node_id": node_id,
                               "reply_to": reply_to.name, "command": encode_hardware(command)})

    def clock_adjusted(self, node_id: int, adjust: Any, at_ns: int) -> None:
        self.send.send_nowait({"op": "clock", "at": at_ns, "node_id": node_id, "phase_ns": adjust.phase_ns,
                               "frequency_ppb": adjust.frequency_ppb})

    async def pump(self, stream: MessageStream) -> None:
        """The only writer of the medium socket: sends queued messages until :attr:`send` is closed."""
        async for message in self._outbox:
            try:
                await stream.send(message)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
                raise MediumGone(f"the medium process went away ({error or type(error).__name__})") from None
        self.pumped.set()
