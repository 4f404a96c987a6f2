"""scapy layers of every protocol: the reference dissector, for tests and for reading captures.

The runtime never imports scapy (its struct codecs are in :mod:`protocols.packets`); importing any
module here binds every layer to its ports, in a fixed order: the link service before the network
service, so a datagram between ports 7771 and 7773 dissects as link service (as in Wireshark).
"""

from protocols.packets.scapy_layers import linkservice  # noqa: I001  (binding order)
from protocols.packets.scapy_layers import auth, egp, heralding, netservice, qframe, qncp, qnp

__all__ = ["auth", "egp", "heralding", "linkservice", "netservice", "qframe", "qncp", "qnp"]
