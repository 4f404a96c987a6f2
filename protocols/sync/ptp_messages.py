"""What one PTP port sends (sans-IO): its messages' common header, sequence ids, destination ports, counters.

Every message of a :class:`protocols.sync.ptp.PtpClock` carries the port's identity, port number and domain
and is unicast (``FLAG_UNICAST``); sequence ids count per message type, modulo 2¹⁶. Event messages (Sync,
Delay_Req) go to UDP port 319, the others to 320. The port counts what it sent (``sent_<name>``) and, by the
engine's :meth:`PortMessages.tally`, what it received and dropped.
"""

from __future__ import annotations

from protocols.common import Actions
from protocols.packets import ptp as wire
from protocols.packets.ptp import MESSAGE_NAMES, Announce, PtpMessage


class PortMessages:
    """One port's outgoing messages and its counters (shared with the engine: ``counters``)."""

    def __init__(self, clock_identity: int, port_number: int, domain: int, counters: dict[str, int]) -> None:
        self.clock_identity = clock_identity
        self.port_number = port_number
        self.domain = domain
        self.counters = counters
        self._seq: dict[int, int] = {}

    def message(self, message_type: int, seq: int, seconds: int, nanoseconds: int, *, flags: int = 0,
                correction: int = 0, log_interval: int = 0, announce: Announce | None = None,
                requesting: tuple[int, int] = (0, 0)) -> PtpMessage:
        """A message from this port (unicast)."""
        return PtpMessage(message_type, seq, self.clock_identity, self.port_number, seconds, nanoseconds,
                          flags | wire.FLAG_UNICAST, correction, self.domain, log_interval, *requesting, announce)

    def send(self, actions: Actions, ip: str, msg: PtpMessage) -> None:
        """``msg`` to ``ip``, on the event port (319) or the general port (320) as its type wants."""
        port = wire.EVENT_PORT if msg.message_type in wire.EVENT_MESSAGES else wire.GENERAL_PORT
        actions.send.append(((ip, port), msg.encode()))
        self.tally("sent_" + MESSAGE_NAMES[msg.message_type])

    def tally(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def next_seq(self, message_type: int) -> int:
        """The next sequence id of ``message_type``."""
        seq = self._seq.get(message_type, 0)
        self._seq[message_type] = (seq + 1) & 0xFFFF
        return seq
