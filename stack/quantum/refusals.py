"""The medium's refusals (:class:`Refusals`): why a hardware command cannot run now, and what refusing it does.

The checks themselves are :mod:`stack.quantum.commands`'s; this object asks them of the node the command names
(its held slots, the ends of the link it arms, the pending distillation rounds), counts each refusal, keeps its
reason, and answers the command with :class:`~protocols.physical.hardware.CommandRejected` where its sender waits
for a result. It also remembers the :class:`~protocols.physical.hardware.Arm` objects it found valid, which the
medium then runs without asking again.

>>> from protocols.common import Basis
>>> from protocols.physical.hardware import Arm, Measure
>>> from stack.quantum.state import NodeHardware
>>> refusals = Refusals(None, {1: NodeHardware(1, slots=2, t2_ns=1e6, readout_ns=10)}, lambda qubit: None,
...                     lambda link: (1, 2) if link == 7 else None)
>>> refusals.reason(1, Measure(0, Basis.Z)), refusals.reason(1, Arm(7, pairs=5)), refusals.reason(2, Arm(7, pairs=5))
('no qubit in slot 0', None, 'no node 2')
>>> refusals.reason(1, Arm(8, pairs=5)), refusals.count
('no link 8', 0)
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from protocols.physical.hardware import Arm, CommandRejected, Disarm, Discard, Distill, Gate, Init
from stack.quantum.commands import REPLIES, local_refusal, pending_refusal, refusal, slot_of

if TYPE_CHECKING:
    from stack.core.kernel import Kernel, VirtualPort
    from stack.quantum.state import NodeHardware, Qubit

_LOCAL = (Init, Gate, Distill)
_UNPENDING = (Discard, Arm, Disarm)


class Refusals:
    """Checks commands against the medium's ``nodes`` (read, never changed here), counts and answers refusals.

    ``check_free`` raises if a pending distillation round holds a qubit
    (:meth:`stack.quantum.distill.Distillation.check_free`); ``link_ends`` gives the nodes that may arm a link
    (None: no such link, or no heralded links at all)."""

    def __init__(self, kernel: Kernel, nodes: dict[int, NodeHardware], check_free: Callable[[Qubit], None],
                 link_ends: Callable[[Any], Collection[int] | None]) -> None:
        self._kernel = kernel
        self._nodes = nodes
        self._check_free = check_free
        self._link_ends = link_ends
        self.count = 0
        """Commands refused (the medium's ``rejected_commands``)."""
        self.last: str | None = None
        """Why the last refused command was refused (the medium's ``last_rejection``)."""
        self.arms: dict[int, tuple[Arm, int]] = {}
        """Arms found valid, by identity, with their node (:meth:`remember_arm`)."""

    def reason(self, node_id: int, command: Any) -> str | None:
        """Why ``command`` of ``node_id`` cannot run now (None: it can). Nothing is counted."""
        node = self._nodes.get(node_id)
        if node is None:
            return f"no node {node_id}"
        if isinstance(command, _LOCAL):
            return local_refusal(node, command, self._check_free)
        link = getattr(command, "link_id", None)
        ends = None if link is None else self._link_ends(link)
        reason = refusal(command, node.held, ends, node_id)
        if reason is None and not isinstance(command, _UNPENDING):
            reason = pending_refusal(node, self._check_free, getattr(command, "slot", None),
                                     getattr(command, "slot_a", None), getattr(command, "slot_b", None))
        return reason

    def reject(self, node_id: int, command: Any, reason: str, reply_to: VirtualPort) -> None:
        """Refuse a command: count it, keep the reason, and answer it if its sender waits for a result."""
        self.count += 1
        self.last = f"node {node_id}: {reason}"
        if isinstance(command, REPLIES):
            rejected = CommandRejected(type(command).__name__, slot_of(command), self.last)
            self._kernel.deliver_at(self._kernel.now, reply_to, rejected)

    def remember_arm(self, node_id: int, arm: Arm) -> None:
        """An Arm found valid is not checked again when its node sends the same object (the physical layer sends
        one Arm per generation request, at every credit): its fields are frozen and a link's ends never change.
        The table keeps the object (so its id is not reused) and is emptied at 1,024 entries."""
        if len(self.arms) >= 1024:
            self.arms.clear()
        self.arms[id(arm)] = (arm, node_id)
