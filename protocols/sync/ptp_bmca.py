"""The best master clock algorithm of one PTP port (IEEE 1588 clause 9.3, simplified; sans-IO).

One Announce qualifies a foreign master (no foreignMasterThreshold); it counts until its Announce receipt
timeout. Data sets compare lexicographically (:func:`protocols.sync.ptp_types.dataset_vector`): lower wins. The
recommended state (:func:`recommended_state`): SLAVE to the best foreign master when it beats this clock (or
this clock is slave-only), LISTENING while a slave-only clock hears no master or the port's first listening
period lasts, MASTER otherwise.

>>> masters = ForeignMasters()
>>> masters.heard((7, 1), "198.18.0.7", (128, 6), expires=100.0)
>>> masters.best()[0], recommended_state((128, 6), (128, 248), slave_only=False, listening=False).name
((7, 1), 'SLAVE')
>>> masters.expire(due=100.0), masters.best()
(True, None)
"""

from __future__ import annotations

from protocols.packets.ptp import Announce
from protocols.sync.ptp_types import ClockQuality, ForeignMaster, PortState

PortKey = tuple[int, int]
"""(clock identity, port number) of a port."""


class ForeignMasters:
    """The foreign masters one port has heard, until each one's Announce receipt timeout."""

    def __init__(self) -> None:
        self.masters: dict[PortKey, ForeignMaster] = {}

    def heard(self, key: PortKey, address: str, vector: tuple[int, ...], expires: float) -> None:
        """An Announce from ``key`` at ``address`` with data set ``vector``: it counts until ``expires``."""
        self.masters[key] = ForeignMaster(address, vector, expires)

    def expire(self, due: float) -> bool:
        """Forget the masters whose timeout is at or before ``due``; whether any was."""
        expired = [key for key, master in self.masters.items() if master.expires <= due]
        for key in expired:
            del self.masters[key]
        return bool(expired)

    def best(self) -> tuple[PortKey, ForeignMaster] | None:
        """The best master heard (the lowest data set), if any."""
        return min(self.masters.items(), key=lambda item: item[1].vector, default=None)

    def expiries(self) -> list[float]:
        return [master.expires for master in self.masters.values()]


def own_announce(quality: ClockQuality, identity: int) -> Announce:
    """This clock's data set as its Announce carries it (its own grandmaster, no steps removed)."""
    q = quality
    return Announce(q.priority1, q.clock_class, q.clock_accuracy, q.variance, q.priority2, identity, 0,
                    q.time_source)


def recommended_state(best: tuple[int, ...] | None, own: tuple[int, ...], slave_only: bool,
                      listening: bool) -> PortState:
    """The state the port should be in: ``best`` is the best foreign master's data set (None: none heard),
    ``own`` this clock's; ``listening``: the port's first listening period is not over."""
    if best is not None and (slave_only or best < own):
        return PortState.SLAVE
    if slave_only or (best is None and listening):
        return PortState.LISTENING
    return PortState.MASTER
