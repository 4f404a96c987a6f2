"""The link layer of draft-dahlberg-ll-quantum-03: the entanglement generation service between neighbours.

>>> from protocols.link import LinkLayer
"""

from protocols.link.layer import LinkLayer

__all__ = ["LinkLayer"]
