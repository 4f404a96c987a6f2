"""The multi-process mode's port map: each logical (node, port) gets its own real UDP port on 127.0.0.1.

Engines keep addressing peers as in-process (node addresses in 198.18.0.0/15, the protocols' own ports); on
loopback every node shares 127.0.0.1, so::

    real port = base + 32 × node_id + slot

with the slots in :data:`SERVICE_SLOTS` (QTP slot 8, applications slots 9 to 30; slot 31 is the timestamp
sideband, :mod:`stack.multiprocess.sideband`).

>>> ports = PortMap(40000)
>>> ports.real(3, 7771)
40097
>>> ports.logical(40097)
(('198.18.0.3', 7771), 3)
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.common import (
    EGP_PORT,
    HERALD_PORT,
    LINK_SERVICE_PORT,
    NETWORK_SERVICE_PORT,
    QNCP_PORT,
    QNP_PORT,
    QTP_PORT,
    Address,
)
from protocols.packets.ptp import EVENT_PORT, GENERAL_PORT
from stack.core.capture import node_ip

LOOPBACK = "127.0.0.1"
PORTS_PER_NODE = 32
SERVICE_SLOTS = {HERALD_PORT: 0, LINK_SERVICE_PORT: 1, EGP_PORT: 2, EVENT_PORT: 3, GENERAL_PORT: 4,
                 NETWORK_SERVICE_PORT: 5, QNP_PORT: 6, QNCP_PORT: 7, QTP_PORT: 8}
APP_PORT_FIRST = 49152
"""Application ports (``stack.runtime.APP_PORT_BASE``) take slots 9 to 30 (49152–49173)."""
APP_SLOT_FIRST = 9
SIDEBAND_SLOT = 31
DEFAULT_BASE_PORT = 40000


class PortMapError(ValueError):
    """A logical port has no real port in the multi-process mode."""


@dataclass(frozen=True, slots=True)
class PortMap:
    """Logical (node, port) ↔ real UDP port on 127.0.0.1."""

    base: int = DEFAULT_BASE_PORT

    def slot(self, port: int) -> int:
        if port in SERVICE_SLOTS:
            return SERVICE_SLOTS[port]
        slot = APP_SLOT_FIRST + port - APP_PORT_FIRST
        if not APP_SLOT_FIRST <= slot < SIDEBAND_SLOT:
            raise PortMapError(f"port {port} has no slot in the multi-process port map")
        return slot

    def sideband(self, node_id: int) -> int:
        """The real port of node ``node_id``'s timestamp sideband."""
        return self.real(node_id, EVENT_PORT) - SERVICE_SLOTS[EVENT_PORT] + SIDEBAND_SLOT

    def real(self, node_id: int, port: int) -> int:
        real = self.base + PORTS_PER_NODE * node_id + self.slot(port)
        if real > 65535:
            raise PortMapError(f"node {node_id} port {port} maps beyond 65535 (lower the base port)")
        return real

    def logical(self, real: int) -> tuple[Address, int] | None:
        """The logical address behind a real port, and its node id (None: not in the map)."""
        node_id, slot = divmod(real - self.base, PORTS_PER_NODE)
        if real < self.base or node_id < 1 or slot == SIDEBAND_SLOT:
            return None
        port = next((p for p, s in SERVICE_SLOTS.items() if s == slot), APP_PORT_FIRST + slot - APP_SLOT_FIRST)
        return (node_ip(node_id), port), node_id

    def table(self, nodes: dict[str, int]) -> dict[str, dict[str, int]]:
        """Every node's service ports, for the run directory's ``ports.json``."""
        names = {HERALD_PORT: "heralding", LINK_SERVICE_PORT: "link_service", EGP_PORT: "egp",
                 EVENT_PORT: "ptp_event", GENERAL_PORT: "ptp_general", NETWORK_SERVICE_PORT: "network_service",
                 QNP_PORT: "qnp", QNCP_PORT: "qncp", QTP_PORT: "qtp"}
        return {name: {names[p]: self.real(node_id, p) for p in SERVICE_SLOTS} | {"first_app": self.real(
            node_id, APP_PORT_FIRST)} for name, node_id in nodes.items()}
