"""Network layer: what a hop's link ERR means to its circuit (network-design §4.3): the code the circuit is torn
down with (:data:`LINK_FAILURES`) and the circuit's count of how its hops' link requests ended
(:func:`count_end`). Used by :class:`~protocols.network.hops.Hops`."""

from __future__ import annotations

from protocols.network.circuit import Circuit
from protocols.network.hop_flow import HopFlow
from protocols.packets import linkservice as ll

LINK_FAILURES = {ll.ERR_TIMEOUT: ll.ERR_TIMEOUT, ll.ERR_NOTIME: ll.ERR_TIMEOUT, ll.ERR_UNSUPP: ll.ERR_UNSUPP,
                 ll.ERR_REJECTED: ll.ERR_REJECTED, ll.ERR_OTHER: ll.ERR_DOWN, ll.ERR_CREATE: ll.ERR_OTHER,
                 ll.ERR_NORES: ll.ERR_NORES}
"""A hop request's link ERR → the code the circuit is torn down with."""


def count_end(circuit: Circuit, flow: HopFlow, code: int) -> None:
    """Count the ERR (not EXPIRE) that ended ``flow``'s link request here: at the granter, ERR TIMEOUT is the
    master's abort of a request its origin closed (or that the end of generation ended): a close, not a
    failure; any other is an error (the origin acts on it)."""
    stats = circuit.stats
    if not flow.origin and code == ll.ERR_TIMEOUT:
        stats.link_closes[flow.link_id] = stats.link_closes.get(flow.link_id, 0) + 1
    else:
        errors = stats.link_errors.setdefault(flow.link_id, {})
        errors[code] = errors.get(code, 0) + 1
