"""Admission of a CREATE against what a link can do: minimum fidelity and maximum time.

A link offers one or more :class:`LinkOption` (for single-click, one per bright-state
population α: a smaller α gives a better pair, more slowly). The link layer picks the
fastest option whose fidelity at the time of the OK meets the CREATE's Minimum Fidelity
(none: ERR UNSUPP), then checks that the expected time for Number pairs fits in Max Time
(it does not: ERR NOTIME). A request that is still not done when Max Time runs out ends with
ERR TIMEOUT.

>>> options = (LinkOption(0.3, 0.70, 0.06), LinkOption(0.1, 0.90, 0.02), LinkOption(0.05, 0.95, 0.01))
>>> choose(options, 0.85).alpha
0.1
>>> choose(options, 0.99) is None
True
>>> expected_time_ns(LinkOption(None, 0.9, 0.5), pairs=10, cycle_ns=100)
2000.0
"""

from __future__ import annotations

from protocols.link.types import LinkOption

__all__ = ["LinkOption", "choose", "expected_time_ns"]


def choose(options: tuple[LinkOption, ...], minimum_fidelity: float) -> LinkOption | None:
    """The option with the highest success probability whose fidelity is at least the minimum."""
    good = [option for option in options if option.fidelity >= minimum_fidelity and option.success > 0]
    return max(good, key=lambda option: option.success, default=None)


def expected_time_ns(option: LinkOption, pairs: int, cycle_ns: int) -> float:
    """Mean time to herald ``pairs`` pairs: a geometric number of attempt cycles each."""
    return pairs * cycle_ns / option.success
