"""EPR sockets in the spirit of NetQASM's ``EPRSocket``: entangled pairs with one remote application.

The creating end sends the CREATE (to the link layer for a neighbour, to the network layer otherwise); the
receiving end collects the OKs of the same requests. With ``correct`` (the default) the creating end turns
every delivered pair into |Φ+⟩: it applies X^x Z^z (a Pauli gate on its half, in the frame algebra) for the
Bell index ``x | z << 1`` the OK names, and for measure-directly pairs it flips its own outcome by the parity
that Bell state adds in the basis measured, so both ends see |Φ+⟩'s correlations whatever state was heralded.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from protocols.common import Basis
from protocols.packets import linkservice as ll
from protocols.physical.physics import expected_parity
from stack.api.errors import LinkError, QuantumError


@dataclass(frozen=True, slots=True)
class KeptPair:
    """This end's half of a create-and-keep pair: the application holds the qubit in ``slot``."""

    slot: int
    remote: str
    create_id: int
    sequence_number: int
    bell_state: int
    """The Bell index the OK named (before any correction)."""
    goodness: float
    """The layer's fidelity estimate."""
    corrected: bool
    """The pair was turned into |Φ+⟩ (by the creating end)."""
    ok_time: int = 0
    """When this end's OK arrived (virtual ns)."""


@dataclass(frozen=True, slots=True)
class MeasuredPair:
    """This end's outcome of a measure-directly pair."""

    outcome: int
    """The outcome, corrected to |Φ+⟩'s correlations if ``corrected``."""
    basis: Basis
    remote: str
    create_id: int
    sequence_number: int
    bell_state: int
    corrected: bool


class EPRSocket:
    """Pairs with the application on ``remote`` (``service``: "auto", "link" or "network")."""

    def __init__(self, ctx: Any, remote: str, service: str = "auto") -> None:
        """``ctx``: the application's :class:`stack.api.context.AppContext` (which imports this module)."""
        self.ctx = ctx
        self.service = ctx.service_for(remote, service)
        self.remote = remote
        self.remote_id = ctx.emu.scenario.nodes[remote].node_id
        self.expired: set[int] = set()
        """Sequence numbers the layer reported expired (ERR EXPIRE) after delivering them."""

    async def create_keep(self, number: int = 1, *, min_fidelity: float = 0.0, max_time_ns: int = 0,
                          priority: int = 0, correct: bool = True) -> list[KeptPair]:
        """Create ``number`` pairs and keep them: returns this end's halves once all are delivered. Raises
        :class:`LinkError` (with the layer's error code) if the request fails, e.g. NOTIME when
        ``max_time_ns`` cannot be met or UNSUPP when ``min_fidelity`` cannot."""
        create_id = await self.ctx.create(self.remote, number, min_fidelity=min_fidelity, max_time_ns=max_time_ns,
                                          priority=priority, service=self.service)
        return [self._kept(ok, correct) for ok in await self._collect(number, ll.OkKeep, create_id)]

    async def recv_keep(self, number: int = 1) -> list[KeptPair]:
        """The halves of ``number`` kept pairs the remote application creates."""
        return [self._kept(ok, False) for ok in await self._collect(number, ll.OkKeep, None)]

    async def create_measure(self, number: int = 1, *, basis: str = "Z", random_basis: str = "",
                             min_fidelity: float = 0.0, max_time_ns: int = 0, priority: int = 0,
                             correct: bool = True) -> list[MeasuredPair]:
        """Create ``number`` pairs measured as soon as they exist, in ``basis`` (Z, X, Y), or in a basis drawn
        independently at each end per pair (``random_basis`` "XZ" or "XYZ", as BBM92 needs)."""
        create_id = await self.ctx.create(self.remote, number, keep=False, basis=basis, random_basis=random_basis,
                                          min_fidelity=min_fidelity, max_time_ns=max_time_ns, priority=priority,
                                          service=self.service)
        return [self._measured(ok, correct) for ok in await self._collect(number, ll.OkMeasure, create_id)]

    async def recv_measure(self, number: int = 1) -> list[MeasuredPair]:
        """This end's outcomes of ``number`` measure-directly pairs the remote application creates."""
        return [self._measured(ok, False) for ok in await self._collect(number, ll.OkMeasure, None)]

    async def create_one(self, *, correct: bool = True, **create: Any) -> KeptPair:
        """One kept pair (:meth:`create_keep` with number 1); raises :class:`LinkError` EXPIRE if the layer
        retracted it before delivering it."""
        pairs = await self.create_keep(1, correct=correct, **create)
        if not pairs:
            raise LinkError(ll.ERR_EXPIRE)
        return pairs[0]

    async def recv_one(self) -> KeptPair:
        """One kept pair (:meth:`recv_keep` with number 1); raises :class:`LinkError` EXPIRE if retracted."""
        pairs = await self.recv_keep(1)
        if not pairs:
            raise LinkError(ll.ERR_EXPIRE)
        return pairs[0]

    def _kept(self, ok: ll.OkKeep, correct: bool) -> KeptPair:
        self.ctx.held.add(ok.lqid)
        if correct:
            if ok.bell_state & 1:
                self.ctx.gate("X", ok.lqid)
            if ok.bell_state & 2:
                self.ctx.gate("Z", ok.lqid)
        return KeptPair(ok.lqid, self.remote, ok.create_id, ok.sequence_number, ok.bell_state,
                        ll.decode_fidelity(ok.goodness), correct, self.ctx.now)

    def _measured(self, ok: ll.OkMeasure, correct: bool) -> MeasuredPair:
        basis = Basis(ok.basis)
        outcome = ok.m
        if correct:
            outcome ^= expected_parity(ok.bell_state, basis) ^ expected_parity(0, basis)
        return MeasuredPair(outcome, basis, self.remote, ok.create_id, ok.sequence_number, ok.bell_state, correct)

    async def _collect(self, number: int, kind: type, create_id: int | None) -> list[Any]:
        """The OKs of ``kind`` from the remote node (of request ``create_id`` if given) until ``number`` pairs
        are settled: delivered, or retracted by ERR EXPIRE. A retracted pair is left out (its kept qubit, if
        it was delivered, is discarded), so this may return fewer than ``number``; both ends leave out the
        same pairs when the EXPIRE reaches both before they return (applications that must agree pair by
        pair compare sequence numbers, as :mod:`stack.api.apps` does)."""
        ctx, got, expired = self.ctx, list[Any](), set[int]()
        while len({ok.sequence_number for ok in got} | expired) < number:
            for message in list(ctx._messages):
                if isinstance(message, ll.Err) and (create_id is None or message.create_id == create_id):
                    ctx._messages.remove(message)
                    if message.err != ll.ERR_EXPIRE:
                        raise LinkError(message.err)
                    expired |= self._expire(message)
                elif isinstance(message, ll.OkKeep | ll.OkMeasure) and isinstance(message, kind) \
                        and message.remote_node_id == self.remote_id \
                        and (create_id is None or message.create_id == create_id):
                    ctx._messages.remove(message)
                    got.append(message)
                if len({ok.sequence_number for ok in got} | expired) >= number:
                    break
            else:
                await ctx._wait()
        for ok in got:
            if ok.sequence_number in expired and isinstance(ok, ll.OkKeep):
                with contextlib.suppress(QuantumError):
                    ctx.discard(ok.lqid)
        return [ok for ok in got if ok.sequence_number not in expired]

    def _expire(self, err: ll.Err) -> set[int]:
        low, high = err.sequence_number_low, err.sequence_number_high
        retracted = {seq & 0xFFFF for seq in range(low, high if high > low else high + 0x10000)}
        self.expired |= retracted
        return retracted
