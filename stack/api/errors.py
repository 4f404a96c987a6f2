"""The errors an application sees, each naming who is at fault."""

from __future__ import annotations

from protocols.common import LINK_SERVICE_PORT, NETWORK_SERVICE_PORT
from protocols.packets import linkservice as ll

LAYERS = {LINK_SERVICE_PORT: "link", NETWORK_SERVICE_PORT: "network"}
"""The service a port of the node's layers is (LinkError.layer)."""


class LinkError(RuntimeError):
    """The link or network layer failed a request: it refused its CREATE (raised by ``AppContext.create``), or
    ended it after the ACK (an ERR while its pairs were collected: TIMEOUT, NOPATH, DOWN, every pair retracted
    by EXPIRE, ...). ``code`` is the ERR's error code (docs/wire.md, error codes); ``layer`` "link" or
    "network", the service that answered (None: not known), which the message names.

    >>> str(LinkError(ll.ERR_NOPATH, 3, NETWORK_SERVICE_PORT))
    'network layer answered ERR NOPATH'
    """

    def __init__(self, code: int, create_id: int | None = None, port: int | None = None) -> None:
        self.layer = LAYERS.get(port) if port is not None else None
        """"link" or "network": the service that answered (from the port it answered from); None if not known."""
        hint = (" (the request's Max Time passed, the peer never answered it (lost REQs: classical_loss), or "
                "the run's generation window, run.duration_ms, ended)") if code == ll.ERR_TIMEOUT else ""
        who = f"{self.layer} layer" if self.layer else "link or network layer"
        super().__init__(f"{who} answered ERR {ll.ERROR_CODES.get(code, code)}{hint}")
        self.code = code
        self.create_id = create_id
        """The Create ID of the request the ERR named, when the raiser knows it."""


class QuantumError(ValueError):
    """The node's quantum hardware (the medium) refused a command: ``command`` is its name, ``reason`` the
    medium's reason (an empty slot, a qubit in use, a gate it does not know). Nothing happened to any qubit."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"the hardware refused {command}: {reason}")
        self.command = command
        self.reason = reason


class BellMeasurementFailed(QuantumError):
    """A Bell measurement ran but failed (the node's ``bsm_success_probability``): both qubits are lost."""

    def __init__(self, slots: tuple[int, int]) -> None:
        super().__init__("BellMeasure", f"the Bell measurement of slots {slots[0]} and {slots[1]} failed; "
                                        "both qubits are lost")


class TransportError(RuntimeError):
    """A qubit sent by teleportation was lost: ``code`` is QTP's error code (protocols.packets.qtp); ``kept``
    (sender): it was never sent (the pair was past the receiver's memory deadline) and is still in its slot."""

    def __init__(self, code: int, detail: str, kept: bool = False) -> None:
        super().__init__(detail)
        self.code = code
        self.kept = kept


class ApplicationFailed(RuntimeError):
    """A user's application (an ``[[application]]`` of kind "python") raised, or returned what the report cannot
    hold: one line naming its function, node and the line of its file."""


class PeerMismatch(RuntimeError):
    """The same application on ``remote`` answered with what this end cannot use: a malformed block, or one over
    other pairs than this end's (the two ends number a request's pairs differently). Nothing is computed from it;
    the fault is the other end's (or the exchange's), not this end's input."""

    def __init__(self, remote: str, problem: str) -> None:
        super().__init__(f"the application on {remote} {problem}")
        self.remote = remote


class ExchangeError(RuntimeError):
    """The application on ``remote`` never answered an exchange (stack.api.exchange): nothing came from it for
    ``retransmissions`` retransmission intervals while this end resent ``tag`` (it finished, failed or was cut
    off, or every copy and answer was lost). The exchange is over at this end."""

    def __init__(self, remote: str, tag: int, retransmissions: int, silent_ns: int) -> None:
        super().__init__(f"exchange with the application on {remote}: no answer to tag {tag} after "
                         f"{retransmissions} retransmissions ({silent_ns / 1e6:.3f} ms with nothing heard from it)")
        self.remote = remote
        self.tag = tag
        self.retransmissions = retransmissions
