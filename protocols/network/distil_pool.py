"""Network layer: the pool of one node's distilling hops (:mod:`protocols.network.distiller`): the halves that
wait for a round or for their partner, and their moves out of communication qubits.

A half waiting in a communication qubit keeps its link from generating (a repeater whose two communication
qubits hold waiting halves stops both its hops), so pooled halves move to storage: whenever a slot may have
come free, every pooled half still in a communication qubit is moved (the medium answers ``MoveResult`` with
no storage slot when none is free; the half stays and is tried again next time).
"""

from __future__ import annotations

from protocols.common import Actions
from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.distil_estimates import pool_move
from protocols.network.distil_state import Entry
from protocols.network.types import Half, HalfKey, HalfState
from protocols.physical.hardware import CommandRejected, Discard, Move, MoveResult


class Pool:
    """Pooled halves of one node: level, estimate, whether a round (or a move) holds them."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.entries: dict[HalfKey, Entry] = {}
        self.moving: dict[int, HalfKey] = {}
        """Moves to storage under way, by the slot they leave."""

    def pooled(self, circuit: Circuit, side: int | None = None) -> list[Half]:
        """The held halves of ``circuit`` no round or move holds, oldest first: of its hop on ``side``, or of
        any (None: the ends' pool of end-to-end pairs). Entries of halves that died meanwhile go."""
        link_id = None if side is None else circuit.hop(side).link_id
        found = []
        for key, entry in list(self.entries.items()):
            half = self.node.half(key)
            if not entry.busy and (half is None or half.state == HalfState.DEAD):
                del self.entries[key]               # died meanwhile (EXPIRE, link retraction, teardown, hold limit)
            elif (not entry.busy and half is not None and half.state == HalfState.HELD
                    and half.circuit == circuit.handle and (link_id is None or half.link_id == link_id)):
                found.append(half)
        return found

    def drop(self, half: Half) -> Actions:
        half.distilling = False
        self.entries.pop(half.key, None)
        self.node.timers.cancel(("distil-hold", half.key))
        return Actions()

    def to_storage(self) -> Actions:
        """Pooled halves wait: those in a communication qubit move to storage, so the hops can go on generating
        (called whenever a slot may have come free; a move that finds no storage free is tried again then)."""
        caps = self.node.caps
        actions = Actions()
        if not caps.storage_qubits:
            return actions
        for key, entry in self.entries.items():
            half = self.node.half(key)
            if (entry.busy or half is None or half.state != HalfState.HELD or half.slot is None
                    or half.slot >= caps.communication_qubits or half.slot in self.moving):
                continue
            circuit = self.node.circuits.get(half.circuit)
            if circuit is None or not circuit.generating:
                continue
            self.moving[half.slot] = key
            entry.busy = True
            actions.hardware.append(Move(half.slot))
        return actions

    def moved(self, result: MoveResult | CommandRejected, count_move: bool = False) -> tuple[Actions, Half | None]:
        """A move's result: (what to do, the pooled half now free again, if any). ``count_move``: a half that
        moved gets the move in its estimate (a hop's pool; the ends' model state already counts one move per
        half, :func:`protocols.network.model.move_fidelity`)."""
        key = self.moving.pop(result.slot, None)
        if key is None:
            return Actions(), None
        half, entry = self.node.half(key), self.entries.get(key)
        target = result.storage_slot if isinstance(result, MoveResult) else None
        if half is None or half.state != HalfState.HELD:      # died while it moved: its qubit goes now
            return (Actions(hardware=[Discard(target)]) if target is not None else Actions()), None
        if target is not None:
            half.slot = target
        if entry is None:
            return Actions(), None
        if count_move and target is not None:
            entry.estimate = pool_move(self.node, entry.estimate)
        entry.busy = False
        return Actions(), half

    def forget(self, circuit: Circuit) -> None:
        for key in list(self.entries):
            half = self.node.half(key)
            if half is None or half.circuit == circuit.handle:
                del self.entries[key]
