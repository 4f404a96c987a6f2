"""Field values of the link-layer service messages (:mod:`protocols.packets.linkservice`): message Types,
TPE, time units, bases, Bell states, error codes, the Distil and Window fields, and the fidelity encoding.

>>> encode_fidelity(1.0), ERROR_CODES[ERR_NOPATH], WINDOW_OPS[WINDOW_CREDIT]
(65535, 'NOPATH', 'CREDIT')
"""

from __future__ import annotations

TYPE_ACK = 0b0001
TYPE_OK_K = 0b0010
TYPE_OK_M = 0b0011
TYPE_ERR = 0b0100
TYPE_OK_MB = 0b0101
TYPES = {TYPE_ACK: "ACK", TYPE_OK_K: "OK_K", TYPE_OK_M: "OK_M", TYPE_ERR: "ERR", TYPE_OK_MB: "OK_MB"}

TPE_KEEP = 0
TPE_MEASURE = 1
TIME_UNITS = {0: "us", 1: "ms", 2: "s", 3: "unused"}
TIME_UNIT_NS = {0: 1_000, 1: 1_000_000, 2: 1_000_000_000}
RANDOM_BASIS = {0: "NONE", 1: "X_Z", 2: "X_Y_Z", 3: "CHSH"}
BASES = {0: "Z", 1: "X", 2: "Y", 3: "Z_ROT_PLUS_PI4_Y", 4: "Z_ROT_MINUS_PI4_Y"}
BELL_STATES = {0: "PHI_PLUS", 1: "PSI_PLUS", 2: "PHI_MINUS", 3: "PSI_MINUS"}

ERR_UNSUPP = 1
ERR_CREATE = 2
ERR_REJECTED = 3
ERR_OTHER = 4
ERR_EXPIRE = 5
ERR_TIMEOUT = 6
ERR_NOTIME = 7
ERR_NORES = 8
ERR_NOPATH = 9
ERR_DOWN = 10
ERR_INUSE = 11
LINK_ERROR_CODES = {ERR_UNSUPP: "UNSUPP", ERR_CREATE: "CREATE", ERR_REJECTED: "REJECTED",
                    ERR_OTHER: "OTHER", ERR_EXPIRE: "EXPIRE", ERR_TIMEOUT: "TIMEOUT",
                    ERR_NOTIME: "NOTIME", ERR_NORES: "NORES"}
"""The codes the link layer sends (ERR, EGP Status)."""
NETWORK_ERROR_CODES = {ERR_NOPATH: "NOPATH", ERR_DOWN: "DOWN", ERR_INUSE: "INUSE"}
"""Network layer only: the network service's ERR (NOPATH, DOWN) and QNCP Status (INUSE, SETUP_REPLY only)."""
ERROR_CODES = {**LINK_ERROR_CODES, **NETWORK_ERROR_CODES}
"""Every ERR code: the ERR message is the same on the link service (7771) and the network service (7773)."""

FIDELITY_SCALE = 0xFFFF

DISTIL_NONE = 0
DISTIL_AUTO = 1
DISTIL_EXPLICIT = 2
DISTIL_MODES = {DISTIL_NONE: "NONE", DISTIL_AUTO: "AUTO", DISTIL_EXPLICIT: "EXPLICIT", 3: "RESERVED"}
"""The network-service CREATE's Distil field (2 bits after RR): how the circuit distils its pairs."""

WINDOW_NONE = 0
WINDOW_OPEN = 1
WINDOW_CREDIT = 2
WINDOW_CLOSE = 3
WINDOW_OPS = {WINDOW_NONE: "NONE", WINDOW_OPEN: "OPEN", WINDOW_CREDIT: "CREDIT", WINDOW_CLOSE: "CLOSE"}
"""The link-service CREATE's Window field (2 bits after Distil, docs/wire.md §4.1.1): an ordinary request, or
a windowed request opened, given Number more credits, or closed."""


def encode_fidelity(f: float) -> int:
    """Fidelity in [0, 1] as the draft's 16-bit n with F = n / 65535 (rounded)."""
    return max(0, min(FIDELITY_SCALE, round(f * FIDELITY_SCALE)))


def decode_fidelity(n: int) -> float:
    return n / FIDELITY_SCALE
