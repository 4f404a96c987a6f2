"""BBM92 QKD on the application API: measure-directly pairs in random Z/X bases, sifted window by window.

Each request's outcomes come as arrays (:meth:`stack.api.epr.EPRSocket.create_measure_arrays`), pair by pair
(OK-M) or, on a link with ``batch`` (docs/scenario.md), in blocks (OK-MB) that the medium samples at once; the
sifting, the revealed sample and the key are numpy work on those arrays, one application message per
:data:`protocols.apps.qkd.WINDOW` pairs each way. The closed forms the results are checked against are in
:mod:`protocols.apps.qkd`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from protocols.apps.qkd import WINDOW, decode_window_arrays, encode_window, key_fraction
from protocols.common import ParseError
from stack.api.context import AppContext
from stack.api.epr import MeasuredPairs
from stack.api.errors import PeerMismatch
from stack.api.exchange import Exchange, exchange_of

ROLES = ("create", "recv")
MAX_REQUEST = 0xFFFF
"""The most pairs one CREATE asks for (its Number field)."""
UNBATCHED_REQUEST = 512
"""Pairs per request when the link does not serve blocks (``block = 0``)."""


@dataclass(slots=True)
class QkdResult:
    """One end's BBM92 run: counts, the QBER estimate, the asymptotic secret key."""

    pairs: int = 0
    sifted: int = 0
    sample: int = 0
    sample_errors: int = 0
    errors_by_basis: dict[str, list[int]] = field(default_factory=lambda: {"Z": [0, 0], "X": [0, 0]})
    """Per basis: [errors, sample bits] (both ends know them after the sample is revealed)."""
    key: list[int] = field(default_factory=list)
    """This end's sifted bits left after the sample (before error correction and privacy amplification)."""
    elapsed_ns: int = 0

    @property
    def qber(self) -> float:
        return self.sample_errors / self.sample if self.sample else 0.0

    @property
    def secret_bits(self) -> float:
        """Asymptotic secret key: the kept sifted bits × (1 − 2h(e)); 0 with no bit revealed (nothing bounds
        what an eavesdropper learnt)."""
        return len(self.key) * key_fraction(self.qber) if self.sample else 0.0

    @property
    def secret_bits_per_second(self) -> float:
        """Secret key bits per second of emulated time."""
        return self.secret_bits / (self.elapsed_ns * 1e-9) if self.elapsed_ns else 0.0


def request_sizes(ctx: AppContext, remote: str, service: str, pairs: int, block: int) -> list[tuple[int, int]]:
    """(pairs to ask for, pairs to use) of each CREATE. ``block`` > 0: ``block`` pairs each (the last one
    fewer). ``block`` 0 (automatic): when the link with ``remote`` serves blocks (its ``batch``), requests of
    65,535 pairs (a CREATE's most), the last one asking for at least the link's batch so that it is served in
    blocks too (the pairs it makes beyond ``pairs`` are not used); otherwise requests of 512."""
    batch = 0
    if block == 0:
        batch = max((link.batch for link in ctx.emu.scenario.links if {link.a, link.b} == {ctx.node, remote}),
                    default=0) if service == "link" else 0
        block = MAX_REQUEST if batch else UNBATCHED_REQUEST
    sizes = [min(block, pairs - first) for first in range(0, pairs, block)]
    return [(max(size, batch), size) for size in sizes]


async def bbm92(ctx: AppContext, remote: str, pairs: int, role: str, *, block: int = 0,
                sample_fraction: float = 0.5, seed: int = 0, service: str = "auto") -> QkdResult:
    """BBM92 between this application and the one on ``remote``: ``pairs`` measure-directly pairs in random Z/X
    bases, asked for ``block`` at a time (0: see :func:`request_sizes`), sifted window by window over the
    classical channel; a ``sample_fraction`` of each window's sifted bits (chosen by a generator seeded with
    ``seed`` and the window's number, the same at both ends) is revealed to estimate the QBER."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if not 0 <= block <= MAX_REQUEST:
        raise ValueError(f"block must be in [0, {MAX_REQUEST}] (0: automatic), got {block}")
    if not 0 < sample_fraction < 1:
        raise ValueError(f"sample_fraction must be in (0, 1), got {sample_fraction}")
    result, start = QkdResult(), ctx.now
    exchange = exchange_of(ctx, remote)
    epr = ctx.epr_socket(remote, service)
    windows = 0
    for number, used in request_sizes(ctx, remote, epr.service, pairs, block):
        got = await (epr.create_measure_arrays(number, random_basis="XZ") if role == "create"
                     else epr.recv_measure_arrays(number))
        for first, bases, outcomes, present in _windows(got, used):
            result.pairs += int(present.sum())
            await _sift(exchange, result, first, bases, outcomes, present,
                        np.random.default_rng([seed, windows]), sample_fraction)
            windows += 1
    result.elapsed_ns = ctx.now - start
    return result


def _windows(got: MeasuredPairs, used: int) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """The first ``used`` of the request's pairs in the order both ends agree on
    (:meth:`MeasuredPairs.in_request_order`), cut into sifting windows: (first Sequence Number, bases, outcomes,
    delivered here) of each, with zeros where a pair was retracted."""
    pairs = got.in_request_order()
    return [(int(pairs.serials[w]) & 0xFFFF, pairs.bases[w:min(w + WINDOW, used)],
             pairs.outcomes[w:min(w + WINDOW, used)], pairs.present[w:min(w + WINDOW, used)])
            for w in range(0, min(len(pairs.serials), used), WINDOW)]


async def _sift(exchange: Exchange, result: QkdResult, first: int, bases: np.ndarray, outcomes: np.ndarray,
                present: np.ndarray, rng: np.random.Generator, sample_fraction: float) -> None:
    """One window: swap which pairs each end holds and their bases, keep those both measured in the same basis,
    reveal a sample of their bits (the same pairs at both ends) and keep the rest as key."""
    theirs = await exchange.swap(exchange.tag(), encode_window(first, present, bases))
    try:
        their_first, count, their_present, their_bases = decode_window_arrays(theirs)
    except ParseError as error:
        raise PeerMismatch(exchange.remote, f"sent a malformed BBM92 window: {error}") from None
    if (their_first, count) != (first, len(bases)):
        raise PeerMismatch(exchange.remote, f"numbers the request's pairs differently (a BBM92 window from "
                                            f"Sequence Number {first} of {len(bases)} pairs here, {their_first} "
                                            f"of {count} there)")
    kept = np.flatnonzero(present & their_present & (bases == their_bases))
    revealed = rng.random(len(kept)) < sample_fraction
    sample = kept[revealed]
    mine = outcomes[sample]
    their_bits = np.unpackbits(np.frombuffer(await exchange.swap(exchange.tag(), np.packbits(mine).tobytes()),
                                             np.uint8), count=len(sample))
    errors = mine != their_bits
    result.sifted += len(kept)
    result.sample += len(sample)
    result.sample_errors += int(errors.sum())
    for basis, name in ((0, "Z"), (1, "X")):
        in_basis = bases[sample] == basis
        counts = result.errors_by_basis[name]
        counts[0] += int(errors[in_basis].sum())
        counts[1] += int(in_basis.sum())
    result.key += outcomes[kept[~revealed]].tolist()
