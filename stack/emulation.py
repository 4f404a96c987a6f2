"""A built run (:class:`Emulation`, its :class:`Workload` entries, its :class:`RunResult`) and how it ends:
the stop condition every link, network and application layer checks after each event, the end of generation
and the bound on settling.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from protocols.apps.workload import EntanglementUser
from protocols.link.layer import LinkLayer
from protocols.link.types import GenerationOver
from stack.core.kernel import Kernel
from stack.core.layer import Layer
from stack.core.network import Network
from stack.quantum.budget import LinkPhysics
from stack.quantum.heralding import Heralding
from stack.quantum.medium import Medium
from stack.scenario import Scenario, WorkloadConfig
from stack.timing.clocks import Clock
from stack.timing.sync import SyncSampler

if TYPE_CHECKING:
    from protocols.network.layer import NetworkLayer
    from protocols.network.topology import Topology
    from protocols.network.types import CircuitStats


@dataclass(slots=True)
class Workload:
    """One workload entry at run time: its config and its two applications."""

    config: WorkloadConfig
    link_id: int | None
    """The link of a link-layer entry (None: a network-layer entry)."""
    origin: EntanglementUser
    responder: EntanglementUser


@dataclass(slots=True)
class Emulation:
    """Everything a built scenario consists of."""

    scenario: Scenario
    seed: int
    kernel: Kernel
    network: Network
    medium: Medium
    heralding: Heralding
    layers: list[Layer] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    link_physics: dict[int, LinkPhysics] = field(default_factory=dict)
    drain_ns: int = 0
    draining: bool = False
    settling: bool = False
    """After the drain: the run goes on only until every link layer has settled."""
    clocks: dict[int, Clock] = field(default_factory=dict)
    sampler: SyncSampler | None = None
    api_running: int = 0
    link_layers: list[LinkLayer] = field(default_factory=list)
    network_layers: list[NetworkLayer] = field(default_factory=list)
    topology: Topology | None = None
    """The network layers' view of the network (built when they run)."""
    network_records: dict[int, tuple[dict[tuple[int, int], CircuitStats], dict[str, int]]] = field(default_factory=dict)
    """Multi-process: each node's network-layer circuit records and counters (``stack.report_circuits.COUNTERS``),
    from its result."""
    local: set[str] | None = None
    """Names of the nodes whose layers this process runs (None: every node)."""
    unfinished: int = 0
    """A workload whose origin was not done when last checked: :func:`stop_when_done` checks it first."""
    claims: list[Callable[[], dict[int, set[int]]]] = field(default_factory=list)
    """Slots held at the end by something other than a layer (an application cut off by the run's end), by
    node id: the ledger discards them at the end instead of calling them leaked."""
    end_check: Callable[[], None] | None = None
    """:func:`stop_when_done` of this run, the ``after`` of every layer in :attr:`checked` (built once)."""
    checked: list[Layer] = field(default_factory=list)
    """The layers :func:`check_after_each_event` gave the run-end check."""
    quiet: list[Layer] | None = None
    """The layers whose check :func:`stop_when_done` turned off while a workload origin was not done (None: none
    turned off, or turned on again)."""
    quieted: bool = False
    """The checks were turned off once: they are never turned off again."""
    _settle_order: list[LinkLayer | NetworkLayer] = field(default_factory=list, init=False, repr=False,
                                                          compare=False)
    """The link layers then the network layers, as :meth:`settled` asks them (rebuilt when a layer is added)."""
    _waiting_layer: int = field(default=0, init=False, repr=False, compare=False)
    """The index in ``_settle_order`` of the layer :meth:`settled` last found waiting: asked first next time."""

    def runs(self, name: str) -> bool:
        """Whether this process runs the layers of node ``name``."""
        return self.local is None or name in self.local

    def settled(self) -> bool:
        """No link or network layer has a message or a pair waiting for an answer.

        The layer found waiting last time is asked first, and while it waits its answer alone decides: the run-end
        check asks after every event of the settling phase, and one layer usually waits for many events (asking
        every layer each time made the settling phase cost the square of the nodes on a long chain). The answer
        is the same as asking every layer in turn: ``settled()`` only reads."""
        engines = self._settle_order
        if len(engines) != len(self.link_layers) + len(self.network_layers):
            engines = self._settle_order = [*self.link_layers, *self.network_layers]
        if not engines:
            return True
        first = self._waiting_layer if self._waiting_layer < len(engines) else 0
        if not engines[first].settled():
            return False
        for index in itertools.chain(range(first + 1, len(engines)), range(first)):
            if not engines[index].settled():
                self._waiting_layer = index
                return False
        return True


@dataclass(slots=True)
class RunResult:
    emulation: Emulation
    ledger: dict[str, int]
    wall_seconds: float
    generation_end_ns: int
    app_outcomes: dict[str, str] = field(default_factory=dict)
    """Each application's outcome by node (:func:`stack.api.run.run_apps`): "finished" (it returned) or "cut off"
    (the run's duration ended it first); empty for a run without applications."""


def check_after_each_event(emu: Emulation, layer: Layer) -> None:
    """Make the run-end check (:func:`stop_when_done`) what ``layer`` runs after each event it handles."""
    if emu.end_check is None:
        emu.end_check = functools.partial(stop_when_done, emu)
    layer.after = emu.end_check
    emu.checked.append(layer)


def stop_when_done(emu: Emulation) -> None:
    """End generation once every workload origin and every API application is done and every link and network
    layer has settled (:meth:`Emulation.settled`: no CONFIRM, SCHEDULE or abort still waits for its answer, no
    live circuit ...); after the drain, end the run as soon as every one has settled. What is due at that
    instant still runs: an answer a layer sent its application on the instant it settled (an ERR EXPIRE)
    arrives then, with no delay.

    It runs after every event a link, network or application layer handles: the workload origin found not done
    last time is asked first, written out here, and that answer alone decides nearly every call. While a
    workload origin is not done, only the origins' own events can change that, so the first call that finds
    one not done turns the check off on every other layer (:func:`_quiet`) and the call that finds them all
    done turns it on again, before it asks whether the layers have settled; :func:`end_generation` turns it on
    again too. The run stops after the same event as with the check on everywhere."""
    if emu.settling:
        if emu.settled():
            emu.kernel.stop(finish_instant=True)
        return
    if emu.draining or emu.api_running:
        return
    workloads, unfinished = emu.workloads, emu.unfinished
    if unfinished < len(workloads) and not workloads[unfinished].origin.done():
        if not emu.quieted:
            _quiet(emu)
        return
    if not _origins_done(emu):
        if not emu.quieted:
            _quiet(emu)
        return
    if emu.quiet is not None:
        _unquiet(emu)
    if emu.settled():
        emu.kernel.stop(finish_instant=True)


def _quiet(emu: Emulation) -> None:
    """Turn :func:`stop_when_done` off on every layer but the workload origins' (once per run); a layer whose
    ``after`` was replaced since (``qnet node``'s) keeps its own."""
    emu.quieted = True
    origins = {id(workload.origin) for workload in emu.workloads}
    check = emu.end_check
    emu.quiet = [layer for layer in emu.checked if layer.after is check and id(layer.engine) not in origins]
    for layer in emu.quiet:
        layer.after = None


def _unquiet(emu: Emulation) -> None:
    """Turn the checks :func:`_quiet` turned off on again."""
    for layer in emu.quiet or ():
        layer.after = emu.end_check
    emu.quiet = None


def _origins_done(emu: Emulation) -> bool:
    """Whether every workload origin is done; the first found not done is remembered (``emu.unfinished``), to
    be asked first next time."""
    for index, workload in enumerate(emu.workloads):
        if not workload.origin.done():
            emu.unfinished = index
            return False
    return True


def end_generation(emu: Emulation) -> None:
    """No new attempts from now on, and every request still open fails with ERR TIMEOUT at both ends
    (every link and network layer gets :class:`GenerationOver` now). A link layer with no request open gets
    it too: from now on it refuses a CREATE with ERR TIMEOUT (a network layer's hop whose credit comes back
    late, an API application), which it would otherwise take and keep open for ever, no pair being made."""
    emu.draining = True
    emu.quieted = True
    _unquiet(emu)                       # settling is decided by the link and network layers' events
    emu.heralding.stop_generation()
    network_engines = {id(engine) for engine in emu.network_layers}    # every NetworkLayer is built there
    for layer in emu.layers:
        if isinstance(layer.engine, LinkLayer) or id(layer.engine) in network_engines:
            emu.kernel.deliver_at(emu.kernel.now, layer.port, GenerationOver())


def settle_bound_ns(emu: Emulation) -> int:
    """The longest any link or network layer goes on retransmitting a message that waits for its answer."""
    return max([engine.resolution_ns for engine in emu.link_layers]
               + [engine.resolution_ns for engine in emu.network_layers], default=0)
