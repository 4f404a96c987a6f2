"""The medium process's checks of a node's message envelope (:class:`~stack.multiprocess.medium_server.MediumServer`
acts only on a message that passes): its emulated time, the node it speaks for, where a command's events go and
the bounds of a clock adjustment."""

from __future__ import annotations

from typing import Any

from stack.multiprocess.medium_protocol import finite

MAX_TIME_NS = 1 << 62
"""The latest emulated time a message may carry (``at``)."""
MAX_PHASE_NS = 1e15
MAX_FREQUENCY_PPB = 1e9
"""The largest clock step (about 11 days) and frequency setting (100 %) a node may forward."""


def check_message(message: dict[str, Any], node: str, node_id: int) -> None:
    """Raise :exc:`TypeError`, :exc:`ValueError` or :exc:`KeyError` if ``message`` from the process of ``node``
    (``node_id``) is not one the medium may act on."""
    op, at = message["op"], message.get("at")
    if at is not None and (type(at) is not int or not 0 <= at < MAX_TIME_NS):
        raise TypeError(f"'at' must be an integer in [0, 2^62), got {str(at)[:40]}")
    if op in ("command", "clock") and message["node_id"] != node_id:
        raise ValueError(f"node_id {str(message['node_id'])[:20]} is not {node}'s")
    if op == "command":
        reply_to = message["reply_to"]
        if not isinstance(reply_to, str) or not reply_to.startswith(node + "/"):
            raise ValueError(f"reply_to {str(reply_to)[:40]!r} is not a layer of {node}")
    elif op == "clock":
        phase, frequency = message["phase_ns"], message["frequency_ppb"]
        if at is None or not _within(phase, MAX_PHASE_NS) or not (frequency is None
                                                                 or _within(frequency, MAX_FREQUENCY_PPB)):
            raise ValueError(f"a clock adjustment needs 'at', |phase_ns| <= {MAX_PHASE_NS:g} and "
                             f"|frequency_ppb| <= {MAX_FREQUENCY_PPB:g}")


def _within(value: Any, bound: float) -> bool:
    return finite(value) and abs(value) <= bound
