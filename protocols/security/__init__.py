"""Authenticated classical control (issue 11): the trailer every datagram between the nodes carries, its keys
(HKDF-SHA256 from a run secret), and the anti-replay window. Sans-IO: the runtime applies it where datagrams
enter and leave the emulated network (``stack/core/network.py``, ``stack/multiprocess/udp.py``)."""

from protocols.security.auth import Authenticator, Drop
from protocols.security.keys import SECRET_MIN_BYTES, pair_key, run_secret_from
from protocols.security.replay import ReplayWindow

__all__ = ["SECRET_MIN_BYTES", "Authenticator", "Drop", "ReplayWindow", "pair_key", "run_secret_from"]
