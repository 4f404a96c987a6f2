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
>>> refusal(Arm(1, pairs=5, alpha=float("inf")), held=set(), link_ends=(1, 2))
'alpha inf is not in (0, 1]'
>>> refusal(Arm(1, pairs=5), held=set(), link_ends=(1, 2)) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from protocols.common import Basis
from protocols.physical.hardware import Arm, BellMeasure, Disarm, Discard, Distill, Measure, Move

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
