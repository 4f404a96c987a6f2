"""The transport layer: qubit delivery between applications on different QPUs (teleportation over pairs from
the link or network layer, :mod:`protocols.transport.teleport`) and its closed forms
(:mod:`protocols.transport.model`)."""

from protocols.transport.teleport import Delivered, Lost, PairRef, Sent, Transport

__all__ = ["Delivered", "Lost", "PairRef", "Sent", "Transport"]
