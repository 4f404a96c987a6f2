"""Types around the PTP engine: its events and records, clock datasets, and the
end-to-end transparent clock.

>>> dataset_vector(Announce(priority1=1), 0x0A, 1) < dataset_vector(Announce(), 0x0B, 1)
True
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocols.common import Address
from protocols.packets.ptp import DELAY_REQ, SCALED_NS, SYNC, Announce, add_correction


class PortState(enum.Enum):
    LISTENING = "listening"
    MASTER = "master"
    SLAVE = "slave"


@dataclass(frozen=True, slots=True)
class ClockQuality:
    """This clock's default dataset as its Announce would carry it (1588 defaults:
    128, 248 = default class, 0xFE = unknown accuracy, 0xFFFF, 128). clockClass 255
    means slave-only."""

    priority1: int = 128
    clock_class: int = 248
    clock_accuracy: int = 0xFE
    variance: int = 0xFFFF
    priority2: int = 128
    time_source: int = 0xA0


@dataclass(frozen=True, slots=True)
class TxTimestamp:
    """Runtime → engine: the hardware egress timestamp (local ns) of an event message."""

    destination: Address
    message_type: int
    sequence_id: int
    timestamp: float


@dataclass(frozen=True, slots=True)
class OffsetSample:
    """One completed exchange, as the slave measured it (local ns)."""

    time_ns: float
    offset_ns: float
    mean_path_delay_ns: float
    frequency_ppb: float


@dataclass(slots=True)
class Exchange:
    """A slave's exchange in progress: the Sync's t2, then t1, t3, t4 (local ns)."""

    sync_seq: int
    t2: float
    sync_correction: int
    t1: float | None = None
    delay_seq: int | None = None
    t3: float | None = None
    t4: float | None = None


@dataclass(slots=True)
class ForeignMaster:
    """A master heard in an Announce: where it is, its comparison key, until when it counts."""

    address: str
    vector: tuple[int, ...]
    expires: float


def interval_ns(log_interval: int) -> int:
    """A logMessageInterval as ns (2^log s)."""
    return round(1e9 * 2.0 ** log_interval)


def dataset_vector(a: Announce, identity: int, port: int) -> tuple[int, ...]:
    """The best-master comparison key of an Announce from (identity, port): lower wins
    (1588 clause 9.3.4, simplified to a lexicographic order)."""
    return (a.priority1, a.clock_class, a.clock_accuracy, a.variance, a.priority2, a.grandmaster_identity,
            a.steps_removed, identity, port)


class TransparentClock:
    """End-to-end transparent clock (one-step): adds each event message's residence time,
    measured on the switch's own clock, to its correctionField (1588 clause 11.5).

    >>> from protocols.packets.ptp import PtpMessage
    >>> m = PtpMessage(SYNC, 1, 5).encode()
    >>> PtpMessage.decode(TransparentClock().forward(m, 100.0, 350.5)).correction / 65536
    250.5
    """

    def __init__(self) -> None:
        self.corrected = 0

    def forward(self, payload: bytes, ingress_ns: float, egress_ns: float) -> bytes:
        """The payload to send on: corrected if it is a Sync or Delay_Req."""
        if len(payload) < 34 or payload[0] & 0x0F not in (SYNC, DELAY_REQ):
            return payload
        self.corrected += 1
        return add_correction(payload, round((egress_ns - ingress_ns) * SCALED_NS))
