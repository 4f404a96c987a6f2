"""Whether the medium can execute a hardware command: every command is checked before it runs.

A command comes from a node's layer, and a layer can be fooled (a forged OK names a slot that holds
nothing) or, in the multi-process mode, the command crosses a socket. So the medium checks each one
against the node's memory and the links it ends, and the values against their ranges, before it touches
any state: :func:`refusal` gives the reason a command cannot run (None: it can). The medium then refuses it
(counted, and answered with :class:`protocols.physical.hardware.CommandRejected` where a layer waits for a
result) instead of failing the run.

>>> from protocols.physical.hardware import Arm, Measure
>>> from protocols.common import Basis
>>> refusal(Measure(3, Basis.Z), held=set(), link_ends=None)
'no qubit in slot 3'
>>> refusal(Arm(1, pairs=5, alpha=float("inf")), held=set(), link_ends=(1, 2), node_id=1)
'alpha inf is not in (0, 1]'
>>> refusal(Arm(1, pairs=5), held=set(), link_ends=(1, 2), node_id=1) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from protocols.common import Basis
from protocols.physical.hardware import GATES, Arm, BellMeasure, Disarm, Discard, Distill, Gate, Init, Measure, Move

if TYPE_CHECKING:
    from stack.quantum.state import NodeHardware, Qubit

MAX_PAIRS = 1 << 62
"""The most pairs one Arm may ask for (the link layer's followers ask for 2^30)."""
MAX_BLOCK = 0xFFFF
"""The largest block of measure-directly pairs one Arm may ask for (a CREATE's Number is 16 bits)."""

_ARMS = (Arm, Disarm)
_ONE_SLOT = (Measure, Discard, Move)
REPLIES = (Measure, Move, BellMeasure, Distill)
"""Commands whose sender waits for a result: a refusal is answered."""


def refusal(command: Any, held: Collection[int], link_ends: Collection[int] | None, node_id: int = 0) -> str | None:
    """Why ``command`` of node ``node_id`` cannot run (None: it can).

    ``held`` is the set of the node's slots that hold a qubit; ``link_ends`` the nodes that end the link an
    :class:`Arm` or :class:`Disarm` names (None: no such link).
    """
    if isinstance(command, _ARMS):
        if link_ends is None:
            return f"no link {command.link_id!r}"
        if node_id not in link_ends:
            return f"node {node_id} does not end link {command.link_id}"
        return _arm_values(command) if isinstance(command, Arm) else None
    if isinstance(command, _ONE_SLOT):
        if isinstance(command, Measure) and not isinstance(command.basis, Basis):
            return f"basis {command.basis!r} is not Z, X or Y"
        return None if _is_slot(command.slot) and command.slot in held else f"no qubit in slot {command.slot}"
    if isinstance(command, BellMeasure):
        slots = (command.slot_a, command.slot_b)
        if slots[0] == slots[1] or not all(_is_slot(slot) and slot in held for slot in slots):
            return f"slots {slots[0]} and {slots[1]} are not two distinct held qubits"
        return None
    return f"{type(command).__name__} is not a hardware command"


def local_refusal(node: NodeHardware, command: Init | Gate | Distill, check_free: Callable[[Qubit], Any]) -> str | None:
    """Why a data-qubit or distillation command cannot run on ``node`` (:func:`refusal` covers the others);
    ``check_free`` raises ValueError for a qubit a pending distillation round holds."""
    if isinstance(command, Init):
        if not (isinstance(command.slot, int) and node.is_data(command.slot)) or command.slot in node.held:
            first = node.slots + node.storage
            return (f"cannot initialise slot {command.slot!r}: it needs a free data qubit "
                    f"(slots {first}..{first + node.data - 1})")
        return None
    if isinstance(command, Gate):
        slots = command.slots
        if GATES.get(command.name) != len(slots) or len(set(slots)) != len(slots) \
                or not all(slot in node.held for slot in slots):
            return f"cannot apply {command.name} to slots {slots!r}: it needs distinct held qubits"
        return pending_refusal(node, check_free, *slots)
    slots = (command.keep_slot, command.sacrifice_slot)       # the rest is the round's own check
    if any(slot in node.held and node.held[slot].component is not None for slot in slots):
        return f"cannot distil slots {slots!r}: a qubit left the Pauli-frame algebra (a gate put it in a " \
               "tableau component)"
    return None


def pending_refusal(node: NodeHardware, check_free: Callable[[Qubit], Any], *slots: int | None) -> str | None:
    """Why a command on ``slots`` of ``node`` cannot run now: a pending distillation round holds one of them."""
    for slot in slots:
        if slot is not None and slot in node.held:
            try:
                check_free(node.held[slot])
            except ValueError as error:
                return str(error)
    return None


def slot_of(command: Any) -> int:
    """The slot a command names (``slot_a`` of a Bell measurement), -1 if none."""
    slot = getattr(command, "slot", getattr(command, "slot_a", -1))
    return slot if _is_slot(slot) else -1


def _arm_values(arm: Arm) -> str | None:
    if not _is_int(arm.pairs) or not 0 <= arm.pairs <= MAX_PAIRS:
        return f"pairs {arm.pairs!r} is not in [0, 2^62]"
    if not _is_int(arm.block) or not 0 <= arm.block <= MAX_BLOCK:
        return f"block {arm.block!r} is not in [0, {MAX_BLOCK}]"
    if arm.alpha is not None and not (_is_number(arm.alpha) and 0 < arm.alpha <= 1):
        return f"alpha {arm.alpha!r} is not in (0, 1]"
    if arm.measure_basis is not None and not isinstance(arm.measure_basis, Basis):
        return f"basis {arm.measure_basis!r} is not Z, X or Y"
    if len(arm.basis_choice) > len(Basis):
        return f"{len(arm.basis_choice)} bases to choose from"
    for basis, probability in arm.basis_choice:
        if not isinstance(basis, Basis) or not (_is_number(probability) and 0 <= probability <= 1):
            return f"basis choice ({basis!r}, {probability!r}) is not a basis with a probability"
    return None


def _is_int(value: Any) -> bool:
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def _is_slot(value: Any) -> bool:
    return _is_int(value) and value >= 0


def _is_number(value: Any) -> bool:
    if not (_is_int(value) or isinstance(value, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:                  # an int beyond a float's range
        return False
