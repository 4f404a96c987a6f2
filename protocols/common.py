"""Types shared by every sans-IO engine: addresses, engine outputs, quantum enums.

An engine method returns an :class:`Actions`: datagrams to send, events for the layer
above (``up``) and below (``down``), commands for the quantum hardware, and the next
deadline (absolute ns) at which ``on_timer`` must be called, or ``None``.

>>> a = Actions()
>>> a.send.append((("198.18.0.1", 7771), b"\\x10"))
>>> a.deadline is None
True
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

Address = tuple[str, int]
"""A classical endpoint: (IPv4 address as text, UDP port)."""

HERALD_PORT = 7770
"""UDP port of the heralding protocol (station to nodes)."""
LINK_SERVICE_PORT = 7771
"""UDP port of a node's link-layer service (CREATE in; ACK/OK/ERR out)."""
EGP_PORT = 7772
"""UDP port of the link-layer peer protocol between neighbouring nodes."""
NETWORK_SERVICE_PORT = 7773
"""UDP port of a node's network-layer service (the link-service messages, end to end)."""
QNP_PORT = 7774
"""UDP port of TRACK: the P4 EGP + QNP headers of QuTech's v1quantum data plane."""
QNCP_PORT = 7775
"""UDP port of QNCP, the network layer's control protocol."""
QTP_PORT = 7776
"""UDP port of QTP, the transport layer's qubit transport protocol (teleportation's corrections)."""
NETWORK_PURPOSE_BASE = 0x8000
"""Purpose IDs from here to 0xFFFF are link labels: link requests of the network layer."""
QFRAME_ETHERTYPE = 0x88B5
"""IEEE 802 Local Experimental EtherType 1: carries quantum frames (photons)."""
ETHERTYPE_P4_EGP = 0x4401
"""v1quantum's EtherType of a bare P4 EGP header (station to node); dissected, never emitted."""
ETHERTYPE_P4_QNP = 0x4402
"""v1quantum's EtherType of a P4 EGP + QNP header pair; dissected, never emitted."""


class ParseError(ValueError):
    """Bytes that do not form a valid message of the protocol that was asked to parse them."""


class Basis(enum.IntEnum):
    """Measurement basis, numbered as the OK-M Basis field of draft-dahlberg-ll-quantum-03."""

    Z = 0
    X = 1
    Y = 2


class BellState(enum.IntEnum):
    """Bell state as a 2-bit index ``x | z << 1``: the state is (I ⊗ X^x Z^z)|Φ+⟩."""

    PHI_PLUS = 0
    PSI_PLUS = 1
    PHI_MINUS = 2
    PSI_MINUS = 3


BELL_STATES = tuple(BellState)
"""The Bell states by index: ``BELL_STATES[i] is BellState(i)`` for i in 0..3, without the enum's call."""
BASES = tuple(Basis)
"""The bases by number: ``BASES[b] is Basis(b)`` for b in 0..2."""


class DistillProtocol(enum.IntEnum):
    """An entanglement distillation round (:mod:`protocols.network.distillation`): both ends apply a CNOT
    from the kept pair's qubit to the sacrificed pair's and measure the sacrificed qubit in Z.

    BBPSSW (Bennett et al., PRL 76, 722 (1996)) applies no other gate; DEJMPS (Deutsch et al., PRL 77, 2818
    (1996)) first rotates each qubit about X by +π/2 at one end and −π/2 at the other.
    """

    BBPSSW = 1
    DEJMPS = 2


@dataclass(slots=True, init=False)
class Actions:
    """Everything an engine asks its runtime to do after one input."""

    send: list[tuple[Address, bytes]] = field(default_factory=list)
    up: list[Any] = field(default_factory=list)
    down: list[Any] = field(default_factory=list)
    hardware: list[Any] = field(default_factory=list)
    deadline: int | None = None

    def __init__(self, send: list[tuple[Address, bytes]] | None = None, up: list[Any] | None = None,
                 down: list[Any] | None = None, hardware: list[Any] | None = None,
                 deadline: int | None = None) -> None:
        # Written out (every engine call makes one): list displays instead of the generated __init__'s calls of
        # each field's default_factory. None, as omitted, is a new empty list.
        self.send = [] if send is None else send
        self.up = [] if up is None else up
        self.down = [] if down is None else down
        self.hardware = [] if hardware is None else hardware
        self.deadline = deadline

    def extend(self, other: Actions) -> Actions:
        """Append ``other``'s outputs; the earlier of the two deadlines wins."""
        if other.send:                  # most are empty: a test instead of a call
            self.send.extend(other.send)
        if other.up:
            self.up.extend(other.up)
        if other.down:
            self.down.extend(other.down)
        if other.hardware:
            self.hardware.extend(other.hardware)
        deadline = other.deadline
        if deadline is not None and (self.deadline is None or deadline < self.deadline):
            self.deadline = deadline
        return self


_new = object.__new__


def sending(send: list[tuple[Address, bytes]], deadline: int | None = None) -> Actions:
    """``Actions(send=send, deadline=deadline)``, built without calling the class: a class call with keyword
    arguments builds a dict of them and calls ``__init__`` from C (on Python 3.11 about 4,400 instructions against
    2,800 for this positional call of a Python function). For the engines' per-pair outputs.

    >>> a = sending([(("198.18.0.1", 7771), b"\\x10")])
    >>> a == Actions(send=[(("198.18.0.1", 7771), b"\\x10")]), type(a) is Actions
    (True, True)
    """
    actions = _new(Actions)
    actions.send = send
    actions.up = []
    actions.down = []
    actions.hardware = []
    actions.deadline = deadline
    return actions


def going_up(up: list[Any], deadline: int | None = None) -> Actions:
    """``Actions(up=up, deadline=deadline)``, built as :func:`sending` builds its ``Actions``."""
    actions = _new(Actions)
    actions.send = []
    actions.up = up
    actions.down = []
    actions.hardware = []
    actions.deadline = deadline
    return actions


def going_down(down: list[Any], deadline: int | None = None) -> Actions:
    """``Actions(down=down, deadline=deadline)``, built as :func:`sending` builds its ``Actions``."""
    actions = _new(Actions)
    actions.send = []
    actions.up = []
    actions.down = down
    actions.hardware = []
    actions.deadline = deadline
    return actions


def commanding(hardware: list[Any], deadline: int | None = None) -> Actions:
    """``Actions(hardware=hardware, deadline=deadline)``, built as :func:`sending` builds its ``Actions``."""
    actions = _new(Actions)
    actions.send = []
    actions.up = []
    actions.down = []
    actions.hardware = hardware
    actions.deadline = deadline
    return actions


def earliest(a: int | None, b: int | None) -> int | None:
    """The earlier of two optional deadlines."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
