"""Key derivation for authenticated classical control: HKDF-SHA256 (RFC 5869) on the stdlib.

One run secret (drawn from ``os.urandom`` by the runtime, or read from the scenario's key file; never
derived from the seed) yields one key per ordered node pair::

    PRK        = HKDF-Extract(salt = SALT, IKM = run secret)
    key(s, r)  = HKDF-Expand(PRK, info = INFO || uint16 s || uint16 r, L = 32)

so a tag that verifies under key(s, r) was made by a holder of that key: with every node holding only its
own pairs' keys, by node ``s``. (The emulator derives them all from one secret, as a key server would.)

>>> len(pair_key(bytes(32), 1, 2)), pair_key(bytes(32), 1, 2) != pair_key(bytes(32), 2, 1)
(32, True)
"""

from __future__ import annotations

import hashlib
import hmac
import struct

HASH = hashlib.sha256
HASH_NAME = "sha256"
"""HASH by name: ``hmac.digest`` computes a one-shot HMAC in C for a named hash."""
HASH_BYTES = 32
SECRET_MIN_BYTES = 32
"""A run secret is at least as long as the hash (RFC 2104 §3: shorter keys weaken the MAC)."""
SALT = b"qnetstack classical control v1"
INFO = b"qnetstack pair key"
RUN_SECRET_INFO = b"qnetstack run secret from the medium secret"
_PAIR = struct.Struct("!HH")


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    """RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM); an empty salt is HashLen zero bytes."""
    return hmac.digest(salt or bytes(HASH_BYTES), ikm, HASH_NAME)


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 §2.3: T(1) | T(2) | ... with T(i) = HMAC-Hash(PRK, T(i-1) | info | i), first ``length`` bytes."""
    if not 0 < length <= 255 * HASH_BYTES:
        raise ValueError(f"HKDF-Expand cannot make {length} bytes (1 to {255 * HASH_BYTES})")
    okm, block = b"", b""
    for counter in range(1, -(-length // HASH_BYTES) + 1):
        block = hmac.digest(prk, block + info + bytes([counter]), HASH_NAME)
        okm += block
    return okm[:length]


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Extract then HKDF-Expand (RFC 5869 §2)."""
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


def check_secret(secret: bytes) -> bytes:
    """The secret, or ValueError if it is too short to key HMAC-SHA256 properly."""
    if len(secret) < SECRET_MIN_BYTES:
        raise ValueError(f"a run secret must be at least {SECRET_MIN_BYTES} bytes, got {len(secret)}")
    return secret


def pair_key(secret: bytes, sender: int, receiver: int) -> bytes:
    """The 32-byte HMAC key of datagrams from node ``sender`` to node ``receiver``."""
    return pair_key_from(pair_prk(secret), sender, receiver)


def pair_prk(secret: bytes) -> bytes:
    """The pseudorandom key every pair key of ``secret`` is expanded from (HKDF-Extract: the same for all)."""
    return hkdf_extract(SALT, check_secret(secret))


def pair_key_from(prk: bytes, sender: int, receiver: int) -> bytes:
    """:func:`pair_key` from the secret's :func:`pair_prk`, made once for all pairs."""
    return hkdf_expand(prk, INFO + _PAIR.pack(sender, receiver), HASH_BYTES)


def run_secret_from(medium_secret: bytes) -> bytes:
    """The classical-control secret of a ``qnet up`` run without a key file: derived from the medium's per-run
    secret (``RUN_DIR/secret``, mode 0600), under its own label so the two uses never share a key."""
    return hkdf(check_secret(medium_secret), SALT, RUN_SECRET_INFO, HASH_BYTES)
