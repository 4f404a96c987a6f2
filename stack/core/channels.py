"""What the emulated network hands a port and counts per node, and what it keeps per socket pair.

:class:`Datagram` is what a port receives, :class:`NodeCounters` what each node's datagrams add up to (the
report's per-node figures), :class:`Channel` what every datagram from one socket to another shares, found at
the first (:meth:`stack.core.network.Network.send`), and :func:`authenticator` the run's authentication of
classical control (docs/wire.md §10).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from protocols.common import Address
from protocols.security import Authenticator, Drop
from protocols.security.auth import LocalChannel
from stack.core.capture import FrameTemplate

if TYPE_CHECKING:
    from stack.core.port import VirtualPort
    from stack.scenario import SecuritySettings

__all__ = ["AUTH_DROPS", "Channel", "Datagram", "NodeCounters", "authenticator", "new_tuple"]

AUTH_DROPS = tuple(drop.value for drop in Drop)
"""The per-node counters of datagrams authentication dropped: no_tag, bad_tag, replayed, wrong_source."""


class Datagram(NamedTuple):
    """A delivered UDP datagram: who sent it, the local port it arrived on, its bytes.

    ``arrival`` is when it reached the node's interface, if that differs from when its
    layer handles it (the multi-process mode, where processing lags the wire): a precise
    layer's hardware timestamp uses it.
    """

    source: Address
    port: int
    payload: bytes
    arrival: int | None = None


new_tuple = tuple.__new__
"""``new_tuple(Datagram, fields)`` is ``Datagram(*fields)`` built in C (a NamedTuple's ``__new__`` is Python code;
the network makes one per datagram)."""


@dataclass(slots=True)
class NodeCounters:
    sent: int = 0
    received: int = 0
    lost: int = 0
    undeliverable: int = 0
    no_tag: int = 0
    """Datagrams dropped by authentication (docs/wire.md §10): without a trailer for this node, ..."""
    bad_tag: int = 0
    """... whose ICV did not verify, ..."""
    replayed: int = 0
    """... whose sequence number was already accepted or is older than the anti-replay window, ..."""
    wrong_source: int = 0
    """... or whose trailer names another sender than the node it came from (or none of the run's nodes)."""


class Channel:
    """What every datagram from one socket to another bound socket of the run shares, found once, at the first:
    the receiving port, both nodes' counters, the source address, the authentication channel
    (:meth:`protocols.security.Authenticator.local`), the capture's frame template and, once the route is known
    to be clean (no loss, duplication or jitter: no draw), its delay; and the sending node's next IPv4 ID, a
    one-item list every channel from that node shares (:meth:`stack.core.capture.PcapWriter.write_udp` moves it
    on)."""

    __slots__ = ("auth", "delay", "dport", "dst_node", "frame", "ip_ids", "local", "port", "received", "sent",
                 "source")

    def __init__(self, port: VirtualPort, dst_node: int, dport: int, source: Address, sent: NodeCounters,
                 received: NodeCounters, auth: Authenticator | None, local: LocalChannel | None,
                 frame: FrameTemplate, ip_ids: list[int], delay: int | None) -> None:
        self.port, self.dst_node, self.dport, self.source = port, dst_node, dport, source
        self.sent, self.received = sent, received
        self.auth, self.local, self.frame, self.ip_ids, self.delay = auth, local, frame, ip_ids, delay


def authenticator(settings: SecuritySettings, secret: bytes | None = None) -> Authenticator | None:
    """The run's authentication of classical control (None: the scenario turns it off). Its secret:
    ``secret`` if given (a test, or ``qnet node`` with the medium's), else the scenario's key file, else
    32 fresh bytes from the OS (never the seed: captures then differ from run to run in their ICVs only)."""
    if not settings.authenticate:
        return None
    chosen = secret if secret is not None else settings.secret
    return Authenticator(os.urandom(32) if chosen is None else chosen, settings.replay_window)
