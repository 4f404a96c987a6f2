"""The network layer: end-to-end entanglement between any two QPUs over virtual circuits, across repeaters
(issue 13; docs/architecture.md, "Network layer"; wire formats in docs/wire.md §9).

:class:`~protocols.network.layer.NetworkLayer` is the engine of one QPU, composed of collaborators (service,
signalling, ending, hops, swapper, tracker, end point) sharing :class:`~protocols.network.context.Node`. The
pure parts: :mod:`~protocols.network.topology` (the static view of the network every node gets),
:mod:`~protocols.network.model` and :mod:`~protocols.network.waiting` (closed forms: Bell-diagonal chains,
worst-case fidelity and cutoffs, waiting times, goodness), :mod:`~protocols.network.routing` (the head's
route choice) and :mod:`~protocols.network.rules` (the tail's per-circuit decisions at setup).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from protocols.network.layer import NetworkLayer


def __getattr__(name: str) -> Any:
    """``NetworkLayer`` on first use: importing one of this package's pure modules (the topology, the closed
    forms) does not load the whole engine, so a run without the network layer does not pay for it."""
    if name == "NetworkLayer":
        from protocols.network.layer import NetworkLayer
        return NetworkLayer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["NetworkLayer"]
