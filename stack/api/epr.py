"""EPR sockets in the spirit of NetQASM's ``EPRSocket``: entangled pairs with one remote application.

The creating end sends the CREATE (to the link layer for a neighbour, to the network layer otherwise); the
receiving end collects the OKs of the same requests. With ``correct`` (the default) the creating end turns
every delivered pair into |Φ+⟩: it applies X^x Z^z (a Pauli gate on its half, in the frame algebra) for the
Bell index ``x | z << 1`` the OK names, and for measure-directly pairs it flips its own outcome by the parity
that Bell state adds in the basis measured, so both ends see |Φ+⟩'s correlations whatever state was heralded.
What a socket hands back (:class:`KeptPair`, :class:`MeasuredPair`, :class:`MeasuredPairs`) is defined in
:mod:`stack.api.pairs` and importable from here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Container, Iterable
from typing import Any

import stack.api.checks as checks
from protocols.common import LINK_SERVICE_PORT, NETWORK_SERVICE_PORT, Basis
from protocols.packets import linkservice as ll
from stack.api.errors import LinkError, QuantumError
from stack.api.measured import MeasuredTally, SettledSerials
from stack.api.pairs import KeptPair, MeasuredPair, MeasuredPairs, parity_correction
from stack.api.records import REMEMBERED_REQUESTS, RecentKeys, retracted


class EPRSocket:
    """Pairs with the application on ``remote`` (``service``: "auto", "link" or "network")."""

    def __init__(self, ctx: Any, remote: str, service: str = "auto") -> None:
        """``ctx``: the application's :class:`stack.api.context.AppContext` (which imports this module)."""
        self.ctx = ctx
        self.service = ctx.service_for(remote, service)
        self.port = LINK_SERVICE_PORT if self.service == "link" else NETWORK_SERVICE_PORT
        """The port of the service this socket's CREATEs go to (its requests' messages come from there)."""
        self.remote = remote
        self.remote_id = ctx.emu.scenario.nodes[remote].node_id
        self.expired: set[int] = set()
        """Sequence numbers the layer reported expired (ERR EXPIRE) after delivering them."""
        self.last_request: int | None = None
        """The Create ID of the request :meth:`recv_one` (or any collection of kept pairs) last took a message of."""
        self._measured_ids = RecentKeys[int](REMEMBERED_REQUESTS)
        """Create IDs of the measure-directly requests already collected (a late ERR EXPIRE of one is not the
        next request's): the last ones, as :class:`stack.api.records.RequestKinds`."""

    async def create_keep(self, number: int = 1, *, min_fidelity: float = 0.0, max_time_ns: int = 0,
                          priority: int = 0, correct: bool = True) -> list[KeptPair]:
        """Create ``number`` pairs and keep them: returns this end's halves once all ``number`` are settled,
        delivered or retracted. A pair the layers retract with ERR EXPIRE (a cutoff passed, or it reached one
        end only) is left out and its half discarded, so this may return fewer than ``number`` halves, or none
        (both ends leave out the same pairs when the EXPIRE reaches both before they return). Raises
        :class:`LinkError` (with the layer's error code) if the request fails, e.g. NOTIME when
        ``max_time_ns`` cannot be met or UNSUPP when ``min_fidelity`` cannot; the halves delivered before
        the failure are then discarded (none is handed back, none is left in memory), and so are the other
        end's when its collection gets the same ERR. Halves the other end already took in an earlier
        collection (a ``recv_keep`` of fewer pairs than the request's) stay with it, their partners gone:
        collect a request's pairs in one call at both ends when a failure must leave none. All ``number`` halves
        are held at once, so ``number`` must fit this node's memory (:meth:`_holdable`: ValueError before
        anything is sent); what other requests or the application hold meanwhile is not counted, and a
        request that cannot be completed for want of free memory waits until ``max_time_ns`` (LinkError
        TIMEOUT) or the run's end."""
        self._holdable(number)
        create_id = await self.ctx.create(self.remote, number, min_fidelity=min_fidelity, max_time_ns=max_time_ns,
                                          priority=priority, service=self.service)
        return [self._kept(ok, at, correct=correct) for ok, at in await self._collect(number, ll.OkKeep, create_id)]

    async def recv_keep(self, number: int = 1) -> list[KeptPair]:
        """The halves of ``number`` kept pairs the remote application creates (as :meth:`create_keep`: they
        must fit this node's memory, retracted pairs are left out, so fewer may come back, and a failed
        request's halves are discarded)."""
        self._holdable(number)
        return [self._kept(ok, at) for ok, at in await self._collect(number, ll.OkKeep, None)]

    async def create_measure(self, number: int = 1, *, basis: str = "Z", random_basis: str = "",
                             min_fidelity: float = 0.0, max_time_ns: int = 0, priority: int = 0,
                             correct: bool = True) -> list[MeasuredPair]:
        """Create ``number`` pairs measured as soon as they exist, in ``basis`` (Z, X, Y), or in a basis drawn
        independently at each end per pair (``random_basis`` "XZ" or "XYZ", as BBM92 needs)."""
        arrays = await self.create_measure_arrays(number, basis=basis, random_basis=random_basis,
                                                  min_fidelity=min_fidelity, max_time_ns=max_time_ns,
                                                  priority=priority, correct=correct)
        return self._pairs(arrays)

    async def recv_measure(self, number: int = 1) -> list[MeasuredPair]:
        """This end's outcomes of ``number`` measure-directly pairs the remote application creates."""
        checks.whole("number", number, 1, checks.MAX_PAIRS)
        return self._pairs(await self.recv_measure_arrays(number))

    async def create_measure_arrays(self, number: int = 1, *, basis: str = "Z", random_basis: str = "",
                                    min_fidelity: float = 0.0, max_time_ns: int = 0, priority: int = 0,
                                    correct: bool = True) -> MeasuredPairs:
        """:meth:`create_measure` with the outcomes as arrays (no object per pair): what a request of many
        pairs wants, e.g. one the link serves in blocks (its ``batch``)."""
        create_id = await self.ctx.create(self.remote, number, keep=False, basis=basis, random_basis=random_basis,
                                          min_fidelity=min_fidelity, max_time_ns=max_time_ns, priority=priority,
                                          service=self.service)
        return await self._collect_measured(number, create_id, correct)

    async def recv_measure_arrays(self, number: int = 1) -> MeasuredPairs:
        """:meth:`recv_measure` with the outcomes as arrays."""
        checks.whole("number", number, 1, checks.MAX_PAIRS)
        return await self._collect_measured(number, None, False)

    async def create_one(self, *, correct: bool = True, **create: Any) -> KeptPair:
        """One kept pair (:meth:`create_keep` with number 1); raises :class:`LinkError` EXPIRE if the layer
        retracted it before delivering it."""
        pairs = await self.create_keep(1, correct=correct, **create)
        if not pairs:
            raise LinkError(ll.ERR_EXPIRE, port=self.port)
        return pairs[0]

    async def recv_one(self, *, settled: Container[int] = ()) -> KeptPair:
        """One kept pair (:meth:`recv_keep` with number 1); raises :class:`LinkError` EXPIRE (with the request's
        Create ID) if retracted. ``settled``: Create IDs of the remote's requests of one pair each that this end
        is done with; their late messages (an ERR EXPIRE of a pair already used) are dropped, not taken for this
        pair (a late OK's qubit is discarded)."""
        oks = await self._collect(1, ll.OkKeep, None, settled)
        if not oks:
            raise LinkError(ll.ERR_EXPIRE, self.last_request, self.port)
        return self._kept(*oks[0])

    def _holdable(self, number: int) -> None:
        """ValueError (TypeError) unless ``number`` is from 1 to 65535 and that many kept halves fit this node's
        memory (communication and storage qubits): a collection holds them all at once, so more could only
        stall until the request's Max Time or the run's end."""
        checks.whole("number", number, 1, checks.MAX_PAIRS)
        node = self.ctx.emu.scenario.nodes[self.ctx.node]
        room = node.communication_qubits + node.storage_qubits
        if number > room:
            raise ValueError(f"number: {number} kept pairs cannot all be held at once: {self.ctx.node} holds at "
                             f"most {room} halves (communication_qubits {node.communication_qubits} + "
                             f"storage_qubits {node.storage_qubits}); ask for fewer")

    def _kept(self, ok: ll.OkKeep, arrived: int | None = None, *, correct: bool = False) -> KeptPair:
        """This end's half of ``ok`` (taken from the queue), which arrived at ``arrived`` (None: now)."""
        self.ctx.held.add(ok.lqid)
        if correct:
            if ok.bell_state & 1:
                self.ctx.gate("X", ok.lqid)
            if ok.bell_state & 2:
                self.ctx.gate("Z", ok.lqid)
        return KeptPair(ok.lqid, self.remote, ok.create_id, ok.sequence_number, ok.bell_state,
                        ll.decode_fidelity(ok.goodness), correct, self.ctx.now if arrived is None else arrived)

    def _pairs(self, arrays: MeasuredPairs) -> list[MeasuredPair]:
        return [MeasuredPair(outcome, Basis(basis), self.remote, arrays.create_id, seq, bell, arrays.corrected)
                for outcome, basis, seq, bell in zip(arrays.outcomes.tolist(), arrays.bases.tolist(),
                                                     arrays.sequence_numbers.tolist(), arrays.bell_states.tolist(),
                                                     strict=True)]

    async def _collect_measured(self, number: int, create_id: int | None, correct: bool) -> MeasuredPairs:
        """The OK-Ms and OK-MBs from the remote node (of request ``create_id`` if given) until ``number`` pairs
        are settled (delivered, or retracted by ERR EXPIRE), as arrays; retracted pairs are left out (see
        :meth:`_collect`). Pairs are counted by serial, not Sequence Number (:mod:`stack.api.measured`: a
        request sharing its link can be delivered a number twice). Only the request's own ERRs count
        (:meth:`_measured_err`)."""
        ctx, tally = self.ctx, MeasuredTally()
        ctx.intake.live()
        found_id = create_id
        while tally.count < number:
            for message in list(ctx.intake.messages):
                if isinstance(message, ll.Err) and create_id is None and message.err == ll.ERR_EXPIRE \
                        and message.origin_node == self.remote_id \
                        and message.create_id in self._measured_ids and message.create_id != found_id:
                    ctx.intake.messages.remove(message)               # late: a pair of a request already collected
                    self._expire(message)
                elif isinstance(message, ll.Err) and self._measured_err(message, create_id, found_id):
                    port = ctx.service_of(message)
                    ctx.intake.messages.remove(message)
                    if message.err != ll.ERR_EXPIRE:
                        raise LinkError(message.err, message.create_id, port)
                    self._expire(message)
                    tally.expire(message.sequences())
                elif isinstance(message, ll.OkMeasure | ll.OkMeasureBlock) \
                        and message.remote_node_id == self.remote_id \
                        and (message.d == 1 if create_id is None
                             else message.create_id == create_id and message.d == 0 and self._mine(message)):
                    ctx.intake.messages.remove(message)
                    found_id = message.create_id
                    if isinstance(message, ll.OkMeasure):
                        tally.single(message.sequence_number, message.basis, message.m, message.bell_state)
                    else:
                        tally.block(message.sequence_number, message.bases, message.outcomes, message.bell_states)
                else:
                    continue
                if tally.count >= number:
                    break
            else:
                await ctx.intake.wait()
        if found_id is not None:
            self._measured_ids.add(found_id)
        return tally.pairs(self.remote, -1 if found_id is None else found_id, correct)

    def _measured_err(self, err: ll.Err, create_id: int | None, found_id: int | None) -> bool:
        """Whether ``err`` is of the measure-directly request being collected: this end's request ``create_id``
        (its Origin Node this node), or (``create_id`` None) the remote's request, the one whose OKs came if
        any did (``found_id``), never one already collected nor one whose OKs showed it create-and-keep
        (``AppContext.kept_request``). Any other ERR (another request's) is left for whoever waits for it."""
        if create_id is not None:
            return err.create_id == create_id and err.origin_node == self.ctx.node_id and self._mine(err)
        if err.origin_node != self.remote_id:
            return False
        if found_id is None:
            return err.create_id not in self._measured_ids and not self._of_kind(err, True)
        return err.create_id == found_id

    async def _collect(self, number: int, kind: type, create_id: int | None, settled: Container[int] = ()
                       ) -> list[tuple[Any, int | None]]:
        """The OKs of ``kind`` of this end's request ``create_id`` with the remote node (None: of the remote's
        requests, ``settled`` ones aside: :meth:`recv_one`) until ``number`` pairs are settled: delivered, or
        retracted by ERR EXPIRE. A retracted pair is left out (its kept qubit, if it was delivered, is
        discarded), so this may return fewer than ``number``; both ends leave out the same pairs when the
        EXPIRE reaches both before they return. Pairs are counted and retracted by serial per request
        (:class:`stack.api.measured.SettledSerials`), not by Sequence Number: a request sharing its link can be
        delivered a number twice, and an ERR EXPIRE of the later pair must not withdraw the earlier one. Messages
        of other requests (whose origin, by an ERR's Origin Node and an OK's D bit, is not the one asked for;
        with ``create_id`` None, an ERR of a remote request whose OKs showed it of the other kind,
        ``AppContext.kept_request``) are left for whoever waits for them.
        Each OK comes with when it arrived (:meth:`stack.api.answers.MessageQueue.take`)."""
        ctx, got = self.ctx, list[tuple[Any, int | None, SettledSerials, int]]()   # (OK, arrived, its request, serial)
        requests: dict[tuple[int | None, int], SettledSerials] = {}
        ctx.intake.live()
        taken: list[tuple[Any, int | None, int | None]] = []   # OKs and ERR EXPIREs taken: (message, arrived, port)
        while sum(request.count for request in requests.values()) < number:
            for message in list(ctx.intake.messages):
                if not self._of_request(message, kind, create_id):
                    continue
                port = ctx.service_of(message)
                arrived = ctx.intake.messages.take(message)
                if message.create_id in settled:                # late: a request this end is done with
                    if isinstance(message, ll.OkKeep):
                        self._kept(message)
                        with contextlib.suppress(QuantumError):
                            ctx.discard(message.lqid)
                    continue
                self.last_request = message.create_id
                request = requests.setdefault((port, message.create_id), SettledSerials())
                if isinstance(message, ll.Err):
                    if message.err != ll.ERR_EXPIRE:
                        self._fail(taken, message, port)
                        raise LinkError(message.err, message.create_id, port)
                    self._expire(message)
                    request.expire(message.sequences())
                else:
                    got.append((message, arrived, request, request.delivered(message.sequence_number)))
                taken.append((message, arrived, port))
                if sum(request.count for request in requests.values()) >= number:
                    break
            else:
                await ctx.intake.wait()
        self._give_up(ok for ok, _, request, serial in got if serial in request.retracted)
        return [(ok, at) for ok, at, request, serial in got if serial not in request.retracted]

    def _fail(self, taken: list[tuple[Any, int | None, int | None]], err: ll.Err, port: int | None) -> None:
        """Request ``err`` names failed: the halves of its pairs taken so far are discarded (the other end
        discards its own on the same ERR); what was taken of other requests (a collection of the remote's pairs
        can hold several requests'), their OKs and ERR EXPIREs, goes back to the queue as it came, for a later
        collection."""
        for message, at, service in reversed(taken):
            if message.create_id == err.create_id and service == port:
                if not isinstance(message, ll.Err):
                    self._give_up([message])
            else:
                self.ctx.intake.messages.put_back(message, service, at)

    def _give_up(self, oks: Iterable[Any]) -> None:
        """Discard the kept halves of ``oks`` (taken from the queue, never handed to the application): pairs
        retracted, or delivered before the request failed (a collection that raises returns none of them)."""
        for ok in oks:
            if isinstance(ok, ll.OkKeep):
                self.ctx.held.add(ok.lqid)
                with contextlib.suppress(QuantumError):
                    self.ctx.discard(ok.lqid)

    def _of_request(self, message: ll.Upward, kind: type, create_id: int | None) -> bool:
        """Whether ``message`` is an ERR or an OK of ``kind`` of this end's request ``create_id`` with the remote
        (None: of one of the remote's requests)."""
        if isinstance(message, ll.Err):
            if create_id is None:
                return message.origin_node == self.remote_id and not self._of_kind(message, kind is ll.OkMeasure)
            return message.create_id == create_id and message.origin_node == self.ctx.node_id and self._mine(message)
        if not isinstance(message, ll.OkKeep | ll.OkMeasure) or not isinstance(message, kind) \
                or message.remote_node_id != self.remote_id:
            return False
        return message.d == 1 if create_id is None else (message.create_id == create_id and message.d == 0
                                                         and self._mine(message))

    def _of_kind(self, err: ll.Err, kept: bool) -> bool:
        """Whether ``err`` is of a request whose OKs showed it ``kept`` (True: create-and-keep; False: measure
        directly); a request no OK came for yet is of neither."""
        port = self.ctx.service_of(err)
        return any(self.ctx.kept_request.get((p, err.origin_node, err.create_id)) is kept
                   for p in ((LINK_SERVICE_PORT, NETWORK_SERVICE_PORT) if port is None else (port,)))

    def _mine(self, message: ll.Upward) -> bool:
        """Whether ``message`` came from the service this socket's CREATEs go to (or from one not known): the
        link and network services number their requests apart, so this node's request 1 at one is not its
        request 1 at the other."""
        return self.ctx.service_of(message) in (None, self.port)

    def _expire(self, err: ll.Err) -> set[int]:
        gone = {seq for _, _, seq in retracted(err)}
        self.expired |= gone
        return gone


__all__ = ["EPRSocket", "KeptPair", "MeasuredPair", "MeasuredPairs", "parity_correction"]
