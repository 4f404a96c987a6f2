"""AppContext: what an application coroutine can do on its node (all awaits are on the run's kernel: virtual time
in ``qnet run`` and ``run_apps``, dilated real time in a ``qnet up`` node process).

It is a port on the emulated network like any layer's: CREATEs go to the node's link layer (UDP 7771) or
network layer (7773) and their ACK/OK/ERR come back; messages to other applications are datagrams from this
port to theirs (docs/wire.md, "Application messages"); hardware commands go to the medium, which answers on
this port. A command the medium refuses raises :class:`QuantumError` here.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import TYPE_CHECKING, Any

from trio.lowlevel import Task, current_task

import stack.api.checks as checks
from protocols.common import LINK_SERVICE_PORT, NETWORK_SERVICE_PORT, Address, Basis, ParseError
from protocols.packets import linkservice as ll
from protocols.packets.exchange import MAGIC, MAX_MESSAGE
from protocols.physical.hardware import (
    BellMeasure,
    BellMeasureResult,
    CommandRejected,
    Discard,
    Gate,
    Init,
    Measure,
    MeasureResult,
)
from stack.api.answers import CreateAnswers, MessageQueue
from stack.api.create import create_message
from stack.api.errors import BellMeasurementFailed, LinkError, QuantumError
from stack.api.intake import Intake
from stack.api.records import EXPIRED_KEPT, RequestKinds, retracted
from stack.core.capture import node_ip
from stack.core.kernel import TIMER, VirtualPort
from stack.core.network import Datagram
from stack.runtime import Emulation

if TYPE_CHECKING:
    from stack.api.epr import EPRSocket

SERVICES = checks.SERVICES
EXCHANGE_MAGIC = MAGIC
"""Application messages that begin with these two bytes belong to :mod:`stack.api.exchange` (never to recv)."""
MAX_APP_MESSAGE = MAX_MESSAGE
"""The largest application message (bytes): one datagram, no fragmentation on a 1500-byte MTU."""
ENDED = "the run has ended: an AppContext serves only while its application runs (call it from the application)"
ONE_TASK = ("an AppContext is called from its application's own task only, not from a nursery's tasks (trio, not "
            "the emulator, would order them): make the calls one after another in the application")


class AppContext:
    """What an application can do on its node (all awaits are on the run's kernel)."""

    def __init__(self, emu: Emulation, node: str, port_number: int, purpose_id: int,
                 directory: dict[str, Address] | None = None) -> None:
        self.emu = emu
        self.node = node
        self.purpose_id = purpose_id
        self.node_id = emu.scenario.nodes[node].node_id
        self.port = VirtualPort(emu.kernel, f"{node}/api{port_number}")
        self.address = emu.network.bind(self.node_id, port_number, self.port)
        self.directory = {} if directory is None else directory
        """Every application's address by node name (messages go there)."""
        self._messages = MessageQueue()
        """OKs and ERRs of this application's requests and of the remote's (not the answers to CREATEs), with the
        service each came from (:meth:`service_of`)."""
        self._answers = CreateAnswers(self.node_id)
        """The answers to this application's CREATEs (an ACK, or the ERR refusing it), kept apart."""
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._results: dict[int, Any] = {}
        self._services = {(node_ip(self.node_id), LINK_SERVICE_PORT), (node_ip(self.node_id), NETWORK_SERVICE_PORT)}
        self._names = {node_ip(nd.node_id): name for name, nd in emu.scenario.nodes.items()}
        self.handlers: dict[int, Any] = {}
        """Engines hosted by the application, by the local port their datagrams arrive on (the transport)."""
        self.expired: deque[tuple[int, int, int]] = deque(maxlen=EXPIRED_KEPT)
        """Pairs the layers reported expired (ERR EXPIRE), as (origin node, Create ID, sequence number), until the
        transport engine takes them (the last :data:`stack.api.records.EXPIRED_KEPT`)."""
        self.exchanges: dict[str, Any] = {}
        """The application's :class:`stack.api.exchange.Exchange` per remote application."""
        self.exchange_of: Any = None
        """``stack.api.exchange.exchange_of`` (set by :func:`stack.api.run.attach`): an exchange message is
        handed to the exchange with its sender as soon as it arrives."""
        self.teleporter: Any = None
        """The application's :class:`stack.api.transport.Teleporter`, once it has one (it binds UDP 7776)."""
        self.lingering: list[Any] = []
        """Coroutine functions run after the application returns (the transport's TIME-WAIT)."""
        self.kept_request = RequestKinds()
        """Whether each remote request an OK came for keeps its pairs (True) or measures them (False): an ERR does
        not say, and a collection of the remote's pairs of one kind leaves the ERRs of its requests of the other
        kind for whoever collects those (:class:`stack.api.records.RequestKinds`)."""
        self.held: set[int] = set()
        """Slots whose qubit the application holds (delivered pairs, data qubits) and has not yet given up."""
        self.ok_arrival = self._messages.arrival
        """When each OK (K) not yet taken arrived (:attr:`stack.api.answers.MessageQueue.arrival`)."""
        self.owner: Task | None = None
        """The application's own task (set when it starts, :func:`stack.api.run.serve`): the only one that may call
        the context."""
        self.intake = Intake(self._messages, self._results, self._wait, self._live)
        """What the context took in, for the API's own modules (:mod:`stack.api.intake`)."""

    @property
    def now(self) -> int:
        """Virtual time, ns."""
        return self.emu.kernel.now

    # -- entanglement -------------------------------------------------------------------------
    def epr_socket(self, remote: str, service: str = "auto") -> EPRSocket:
        """An EPR socket to the application on ``remote`` (:class:`stack.api.epr.EPRSocket`)."""
        from stack.api.epr import EPRSocket
        return EPRSocket(self, remote, service)

    def service_for(self, remote: str, service: str = "auto") -> str:
        """"link" or "network": who serves pairs with ``remote`` ("auto": the link layer if they share a link).
        ValueError (one line) unless ``remote`` is another QPU of the scenario and, for "link", a neighbour
        (:func:`stack.api.checks.service`)."""
        return checks.service(self.emu.scenario, self.node, remote, service)

    async def create(self, remote: str, pairs: int, *, keep: bool = True, basis: str = "Z",
                     min_fidelity: float = 0.0, priority: int = 0, atomic: bool = False,
                     consecutive: bool = True, service: str = "auto", max_time_ns: int = 0,
                     random_basis: str = "",
                     distill: str | tuple[str, str, int] | dict[str, tuple[str, str, int]] = "none") -> int:
        """Ask for ``pairs`` pairs with ``remote``; returns the Create ID once ACKed, or raises
        :class:`LinkError` with the layer's code (and the Create ID it named) if the layer refuses the CREATE.
        Only this CREATE's own answer counts (:mod:`stack.api.answers`): an ERR of an earlier request, however
        it arrived meanwhile, is left for :meth:`next_message` or that request's collection.

        ``priority`` (0-7, higher first), ``atomic`` (all pairs at once, create-and-keep) and
        ``consecutive`` (False: all OKs when the request completes) are CREATE's Priority, ATO and CON.
        ``service``: "link" (the node's link layer: ``remote`` must be a neighbour), "network" (its network
        layer: any QPU, over a circuit), or "auto" (the link layer when they share a link). ``max_time_ns``:
        CREATE's Max Time (0: none). ``random_basis`` "XZ" or "XYZ": measure-directly in a basis each end
        draws per pair (CREATE's RL/RR), instead of ``basis``. ``distill`` (network service): "none", "auto"
        (the circuit's tail picks a rule per hop that meets ``min_fidelity``), or a rule for every hop,
        ``(protocol, schedule, rounds)`` such as ``("dejmps", "recurrence", 1)``, or ``{"hop": rule, "end": rule}``
        with either or both: ``end`` makes the circuit's two ends distil the end-to-end pairs (create and keep
        only; docs/scenario.md, ``distill``).
        """
        self._live()
        service = self.service_for(remote, service)
        create = create_message(self.emu.scenario.nodes[remote].node_id, self.purpose_id, pairs, service,
                                keep=keep, basis=basis, min_fidelity=min_fidelity, priority=priority,
                                atomic=atomic, consecutive=consecutive, max_time_ns=max_time_ns,
                                random_basis=random_basis, distill=distill)
        port = LINK_SERVICE_PORT if service == "link" else NETWORK_SERVICE_PORT
        ticket = self._answers.ticket(port)
        self.emu.network.send(self.node_id, self.address[1], (node_ip(self.node_id), port), create.encode())
        stale: list[ll.Err] = []                 # refusals of abandoned CREATEs (a cancelled create): not lost
        while (answer := self._answers.take(port, ticket, stale)) is None:
            await self._wait()
        for refusal in stale:
            self._messages.arrived(refusal, port)
        if isinstance(answer, ll.Err):
            raise LinkError(answer.err, answer.create_id, port)
        return answer.create_id

    async def next_message(self) -> Any:
        """The next OK or ERR from the link or network layer, in arrival order: those of this application's
        requests (after their ACK, which :meth:`create` took; an ERR then is the request's failure, e.g. the peer's
        REJECTED, a TIMEOUT, or the network layer's NOPATH or UNSUPP) and of the remote applications' requests
        with it. A CREATE's refusal is not among them: :meth:`create` raises it. The qubit of an OK (K) is the
        application's from now on: measure it, use it, or :meth:`discard` it.

        A measure-directly request (``keep=False``) of at least the link's ``batch`` pairs (docs/scenario.md)
        is answered in blocks: each message is then an :class:`~protocols.packets.linkservice.OkMeasureBlock`
        carrying many pairs' outcomes, bases and Bell states (numpy arrays) from Sequence Number
        ``sequence_number`` on."""
        self._live()
        while not self._messages:
            await self._wait()
        message = self._messages.popleft()
        if isinstance(message, ll.OkKeep):
            self.held.add(message.lqid)
        return message

    def service_of(self, message: ll.Upward) -> int | None:
        """The port of the service (link 7771, network 7773) a queued OK or ERR came from (None: not known)."""
        return self._messages.service_of(message)

    # -- local quantum operations ---------------------------------------------------------------
    def _check(self, command: Any) -> None:
        reason = self.emu.medium.refusal(self.node_id, command, self.held)
        if reason is not None:
            raise QuantumError(type(command).__name__, reason)

    def qubit(self) -> int:
        """A fresh data qubit in |0⟩ (Init on the first free data slot); returns its slot."""
        self._live()
        slot = self.emu.medium.free_data_slot(self.node_id, self.held)
        if slot is None:
            data = self.emu.scenario.nodes[self.node].data_qubits
            raise QuantumError("Init", f"node {self.node} has no free data qubit ({data} in all: raise the "
                                       f"node's data_qubits)")
        self._check(Init(slot))
        self.emu.medium.command(self.node_id, Init(slot), self.port)
        self.held.add(slot)
        return slot

    def gate(self, name: str, *slots: int) -> None:
        """Apply the Clifford gate ``name`` (stim's name: H, S, X, Z, CNOT, CZ, ...) to the qubits in ``slots``
        (data qubits and pair halves of this node; control first). It runs in the node's ``gate_ns`` after
        earlier commands on those qubits, with the node's gate noise."""
        self._live()
        try:
            command = Gate(name, tuple(slots))
        except ValueError as error:
            raise QuantumError("Gate", str(error)) from None
        self._check(command)
        self.emu.medium.command(self.node_id, command, self.port)

    async def measure(self, slot: int, basis: Basis | str | int = Basis.Z) -> int:
        """Measure the qubit in ``slot`` in ``basis`` (a :class:`~protocols.common.Basis`, "Z", "X" or "Y");
        returns the outcome (the slot is then free)."""
        basis = checks.measurement_basis(basis)
        self._live()
        self.emu.medium.command(self.node_id, Measure(slot, basis), self.port)
        result = await self._result(slot)
        if isinstance(result, CommandRejected):
            raise QuantumError("Measure", result.reason)
        self.held.discard(slot)
        assert isinstance(result, MeasureResult)
        return result.outcome

    async def bell_measure(self, slot_a: int, slot_b: int) -> int:
        """Bell measurement (CNOT a→b, H on a, both measured in Z) of two qubits of this node; returns the Bell
        index ``x | z << 1`` (x: the outcome of b, z: of a). Both slots are then free. Raises
        :class:`BellMeasurementFailed` when the measurement fails (both qubits lost)."""
        self._live()
        self.emu.medium.command(self.node_id, BellMeasure(slot_a, slot_b), self.port)
        result = await self._result(slot_a)
        if isinstance(result, CommandRejected):
            raise QuantumError("BellMeasure", result.reason)
        self.held -= {slot_a, slot_b}
        assert isinstance(result, BellMeasureResult)
        if not result.success:
            raise BellMeasurementFailed((slot_a, slot_b))
        return result.bell_index

    def discard(self, slot: int) -> None:
        """Give up the qubit in ``slot`` without measuring it (reset; the slot is free again)."""
        self._live()
        self._check(Discard(slot))
        self.emu.medium.command(self.node_id, Discard(slot), self.port)
        self.held.discard(slot)

    # -- classical messages ---------------------------------------------------------------------
    def send(self, remote: str, payload: bytes) -> None:
        """Send ``payload`` to the application on node ``remote``, as one datagram from this application's port
        to its (over the emulated fibres: delay, loss and jitter apply). ``payload`` is bytes (TypeError for a
        str: encode it)."""
        checks.payload(payload)
        self._live()
        if remote not in self.directory:
            raise ValueError(f"no application runs on {remote!r} (applications run on {sorted(self.directory)})")
        if len(payload) > MAX_APP_MESSAGE:
            raise ValueError(f"an application message holds at most {MAX_APP_MESSAGE} bytes, got {len(payload)}")
        try:
            self.emu.network.route(self.node_id, self.emu.scenario.nodes[remote].node_id)
        except ValueError:
            raise ValueError(f"no fibre path from {self.node!r} to {remote!r}") from None
        self.emu.network.send(self.node_id, self.address[1], self.directory[remote], bytes(payload))

    async def recv(self, remote: str | None = None) -> tuple[str, bytes]:
        """The next message from an application (from ``remote`` only, if given): (its node, its bytes).
        Messages of the applications' reliable exchanges (those beginning with :data:`EXCHANGE_MAGIC`) are not
        returned. It waits as long as it takes (a lost message is never resent: :mod:`stack.api.exchange` is
        the reliable way); it has no timeout, and trio's (``trio.move_on_after``) count wall-clock seconds, not
        the emulated time of :attr:`now`."""
        self._live()
        while True:
            for index, (source, payload) in enumerate(self._inbox):
                if remote is None or source == remote:
                    del self._inbox[index]
                    return source, payload
            await self._wait()

    async def sleep(self, ns: int) -> None:
        """Let ``ns`` (0 or more) of emulated time pass."""
        checks.duration("sleep's ns", ns)
        self._live()
        self.port.set_timer(self.now + round(float(ns)))            # whole ns, a Python int (1e6, numpy's)
        while True:
            if await self._wait() is TIMER:
                return

    # -- the port ---------------------------------------------------------------------------------
    def _live(self) -> None:
        """RuntimeError unless the application still runs (a call after the run would act on a finished emulation
        or wait for ever) and the caller is its own task (:attr:`owner`): the emulator's queue, never trio's
        scheduling, must order what an application does, and a nursery's task runs when trio picks it (one that
        waits would take the run's events; docs/architecture.md, "Application API")."""
        if self.port.closed:
            raise RuntimeError(ENDED)
        if self.owner is not None and current_task() is not self.owner:
            raise RuntimeError(ONE_TASK)

    async def _result(self, slot: int) -> Any:
        while slot not in self._results:
            await self._wait()
        return self._results.pop(slot)

    async def _wait(self) -> Any:
        self._live()
        event = await self.port.next()
        if type(event) is Datagram:
            self._datagram(event)
        elif isinstance(event, MeasureResult):
            self._results[event.slot] = event
        elif isinstance(event, BellMeasureResult):
            self._results[event.slot_a] = event
        elif isinstance(event, CommandRejected):
            self._results[event.slot] = event
        return event

    def _datagram(self, event: Datagram) -> None:
        if event.source in self._services:
            with contextlib.suppress(ParseError):       # a malformed reply is dropped, like any layer does
                message = ll.decode_upward(event.payload)
                if isinstance(message, ll.Ack | ll.Err) and self._answers.offer(event.source[1], message):
                    return
                port = event.source[1]
                self._messages.arrived(message, port, self.now)
                self.kept_request.learn(message, port)
                if isinstance(message, ll.Err) and message.err == ll.ERR_EXPIRE and message.s:
                    self.expired.extend(retracted(message))
        elif event.port in self.handlers:
            self.handlers[event.port](event)
        else:
            source = self._names.get(event.source[0], event.source[0])
            if event.payload[:2] != EXCHANGE_MAGIC:
                self._inbox.append((source, event.payload))
            elif source in self.directory and source != self.node and self.exchange_of is not None:
                self.exchange_of(self, source).deliver(event.payload)   # answered now, whatever the app awaits
