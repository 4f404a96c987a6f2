"""The CREATE an application's request is sent as (docs/wire.md §4.1), from the arguments of
:meth:`stack.api.context.AppContext.create`: what the API's names mean on the wire.

>>> create = create_message(2, 7, 10, "link", keep=False, basis="X", max_time_ns=5_000)
>>> create.tpe == ll.TPE_MEASURE, create.number, create.remote_node_id, (create.tu, create.max_time) != (0, 0)
(True, 10, 2, True)
>>> create_message(2, 7, 1, "link", distill="auto")
Traceback (most recent call last):
ValueError: distill applies to network-layer requests only (service "network")
>>> create_message(2, 7, 1, "link", priority=9)
Traceback (most recent call last):
ValueError: priority must be an integer from 0 to 7, got 9
"""

from __future__ import annotations

import stack.api.checks as checks
from protocols.network.policy import DistilRequest, distil_request
from protocols.packets import linkservice as ll
from stack.workloads import RANDOM_BASES, ROTATIONS, create_request

Distill = str | tuple[str, str, int] | dict[str, tuple[str, str, int]]
"""``AppContext.create``'s ``distill``: "none", "auto", a rule for every hop, or ``{"hop": rule, "end": rule}``."""


def create_message(remote_id: int, purpose_id: int, pairs: int, service: str, *, keep: bool = True,
                   basis: str = "Z", min_fidelity: float = 0.0, priority: int = 0, atomic: bool = False,
                   consecutive: bool = True, max_time_ns: int = 0, random_basis: str = "",
                   distill: Distill = "none") -> ll.Create:
    """The CREATE for ``pairs`` pairs with node ``remote_id`` to the ``service`` ("link" or "network"), the other
    arguments as :meth:`stack.api.context.AppContext.create` takes them. ``ValueError`` for a ``distill`` that
    names an unknown key, or asks a link-layer request to distil; ``ValueError`` or ``TypeError`` (one line,
    :mod:`stack.api.checks`) for an argument out of its range: ``pairs`` 1-65535, ``priority`` 0-7, ``basis``
    Z, X or Y, ``random_basis`` "", "XZ" or "XYZ", ``min_fidelity`` 0-1, ``max_time_ns`` 0 to 16383 s,
    ``purpose_id`` 0-0x7FFF."""
    pairs = checks.whole("pairs", pairs, 1, checks.MAX_PAIRS)          # a Python int from here on (numpy's too)
    priority = checks.whole("priority", priority, 0, checks.MAX_PRIORITY)
    checks.choice("basis", basis, ROTATIONS)
    checks.choice("random_basis", random_basis, RANDOM_BASES)
    checks.probability("min_fidelity", min_fidelity)
    max_time_ns = checks.time_limit("max_time_ns", max_time_ns, checks.MAX_TIME_NS)
    checks.purpose(purpose_id)
    request = distil_plan(distill)
    if service == "link" and request.mode:
        raise ValueError("distill applies to network-layer requests only (service \"network\")")
    return create_request(remote_id, purpose_id, pairs, request.create_fields(), keep=keep, basis=basis,
                          random_basis=random_basis, min_fidelity=min_fidelity, priority=priority, atomic=atomic,
                          consecutive=consecutive, max_time_ns=max_time_ns)


def distil_plan(distill: Distill) -> DistilRequest:
    """What ``distill`` asks of the network layer (:func:`protocols.network.policy.distil_request`)."""
    if isinstance(distill, str):
        return distil_request(distill)
    if isinstance(distill, dict):
        unknown = set(distill) - {"hop", "end"}
        if unknown:
            raise ValueError(f"distill: unknown key {sorted(unknown)[0]!r} (expected hop and/or end)")
        return distil_request("explicit", distill.get("hop"), distill.get("end"))
    return distil_request("explicit", distill)
