"""Applications on the API: BBM92 QKD (in :mod:`stack.api.qkd`), the CHSH test and teleportation of the six
stabiliser states.

Each is a coroutine both ends run (``role`` "create" at the end that sends the CREATEs, "recv" at the other);
each returns a result dataclass, the same at both ends for what both know. The scenario's ``[[application]]``
entries run them (docs/scenario.md), and examples/api/ calls them directly. The closed forms they are checked
against are in :mod:`protocols.apps.qkd`, :mod:`protocols.apps.chsh` and :mod:`protocols.transport.model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from protocols.apps.chsh import MAX_BLOCK, chsh_from_parities, chsh_interval, decode_block, encode_block
from protocols.apps.intervals import Interval, linear_interval
from protocols.common import Basis, ParseError
from protocols.packets import linkservice as ll
from stack.api.context import AppContext
from stack.api.errors import PeerMismatch
from stack.api.exchange import Exchange, exchange_of
from stack.api.qkd import QkdResult, bbm92
from stack.api.transport import teleporter_of

__all__ = ["ROLES", "STATES", "ChshResult", "QkdResult", "TeleportResult", "bbm92", "chsh", "teleport_states"]

ROLES = ("create", "recv")
STATES = {"0": ((), Basis.Z, 0), "1": (("X",), Basis.Z, 1), "+": (("H",), Basis.X, 0),
          "-": (("X", "H"), Basis.X, 1), "+i": (("H", "S"), Basis.Y, 0), "-i": (("X", "H", "S"), Basis.Y, 1)}
"""The six stabiliser states: the gates that prepare each from |0⟩, its basis, and its outcome there."""


async def _block(exchange: Exchange, ctx: AppContext, remote: str, role: str, number: int,
                 service: str) -> tuple[np.ndarray, np.ndarray]:
    """``number`` measure-directly pairs in random Z/X bases (one request); the ends swap their bases and
    outcomes pair by pair in request order (:func:`protocols.apps.chsh.encode_block`: by serial, never by a
    Sequence Number, which repeats within a request that shares its link) and return the outcome parities of
    the pairs both ends hold and measured in the same basis, and those bases. A pair retracted at one end (ERR
    EXPIRE) is left out at both."""
    epr = ctx.epr_socket(remote, service)
    got = await (epr.create_measure_arrays(number, random_basis="XZ") if role == "create"
                 else epr.recv_measure_arrays(number))
    mine = got.in_request_order()
    first = int(mine.serials[0]) & 0xFFFF if len(mine.serials) else 0
    theirs = await exchange.swap(exchange.tag(), encode_block(first, mine.present, mine.bases, mine.outcomes))
    try:
        their_first, count, their_present, their_bases, their_outcomes = decode_block(theirs)
    except ParseError as error:
        raise PeerMismatch(remote, f"sent a malformed CHSH block: {error}") from None
    if (their_first, count) != (first, len(mine.serials)):
        raise PeerMismatch(remote, f"numbers the request's pairs differently (a CHSH block from Sequence Number "
                                   f"{first} of {len(mine.serials)} pairs here, {their_first} of {count} there)")
    sifted = np.flatnonzero(mine.present & their_present & (mine.bases == their_bases))
    return (mine.outcomes[sifted] ^ their_outcomes[sifted]), mine.bases[sifted]


@dataclass(slots=True)
class ChshResult:
    """One end's CHSH run: the parities of the ZZ and XX pairs, S and its standard error
    (:func:`protocols.apps.chsh.chsh_interval`; its 95 % interval too), both None when no pair of one of the
    bases was sifted (a few pairs)."""

    zz: list[int] = field(default_factory=list)
    xx: list[int] = field(default_factory=list)
    s: float | None = None
    s_error: float | None = None

    def interval(self) -> Interval | None:
        """S's standard error and 95 % interval; None when a basis has no pairs."""
        return chsh_interval(self.zz, self.xx) if self.zz and self.xx else None


async def chsh(ctx: AppContext, remote: str, pairs: int, role: str, *, block: int = 512,
               service: str = "auto") -> ChshResult:
    """The CHSH test from Pauli correlators (:mod:`protocols.apps.chsh`): ``pairs`` measure-directly pairs in
    random Z/X bases, ``block`` (1..512) per request; the ends swap bases and outcomes block by block and both
    compute S = √2(|E_ZZ| + |E_XX|). :class:`stack.api.errors.PeerMismatch` if the ends' blocks are not over the
    same pairs."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if not 1 <= block <= MAX_BLOCK:
        raise ValueError(f"block must be in [1, {MAX_BLOCK}], got {block}")
    result = ChshResult()
    exchange = exchange_of(ctx, remote)
    for first in range(0, pairs, block):
        parities, bases = await _block(exchange, ctx, remote, role, min(block, pairs - first), service)
        result.zz += parities[bases == Basis.Z].tolist()
        result.xx += parities[bases == Basis.X].tolist()
    if result.zz and result.xx:
        result.s, result.s_error = chsh_from_parities(result.zz, result.xx)
    return result


@dataclass(slots=True)
class TeleportResult:
    """Teleportation of the six stabiliser states: per state, [right outcomes, qubits] at the receiver."""

    right: dict[str, list[int]] = field(default_factory=lambda: {name: [0, 0] for name in STATES})
    lost: int = 0
    elapsed_ns: int = 0

    @property
    def fidelity(self) -> float:
        """The average fidelity over the six states (a 2-design: the Bloch-sphere average)."""
        done = [r / n for r, n in self.right.values() if n]
        return sum(done) / len(done) if done else 0.0

    def interval(self) -> Interval | None:
        """:attr:`fidelity`'s standard error and 95 % interval, the mean of the states' shares of right outcomes
        after Price and Bonett (:mod:`protocols.apps.intervals`: from a few qubits, not ±0); None with none
        received."""
        done = [(r, n) for r, n in self.right.values() if n]
        return linear_interval([(1 / len(done), r, n) for r, n in done]) if done else None


async def teleport_states(ctx: AppContext, remote: str, per_state: int, role: str,
                          service: str = "auto") -> TeleportResult:
    """Teleport ``per_state`` copies of each stabiliser state (role "create": the sender) to ``remote``, which
    measures each in the state's basis. The sender streams them (:meth:`Teleporter.stream`): one CREATE for
    all the copies still to send, another only after losses used up its pairs. A copy lost on the way
    (TransportError, or its pair expired: LinkError EXPIRE) is counted and sent again; any other LinkError
    (TIMEOUT once the run's generation window ends, a refusal) ends the application."""
    from stack.api.errors import LinkError, TransportError

    result, start = TeleportResult(), ctx.now
    teleporter = teleporter_of(ctx)
    stream = teleporter.stream(remote, service)
    left = per_state * len(STATES)
    for name, (gates, basis, want) in STATES.items():
        done = 0
        while done < per_state:
            try:
                if role == "create":
                    slot = ctx.qubit()
                    for gate in gates:
                        ctx.gate(gate, slot)
                    try:
                        await stream.send(slot, remaining=left)
                    except (TransportError, LinkError):
                        if slot in ctx.held:
                            ctx.discard(slot)
                        raise
                else:
                    slot = await teleporter.recv(remote, service)
                    result.right[name][0] += await ctx.measure(slot, basis) == want
                    result.right[name][1] += 1
                done += 1
                left -= 1
            except TransportError:
                result.lost += 1
            except LinkError as error:
                if error.code != ll.ERR_EXPIRE:       # TIMEOUT, a refusal: trying again at once would get it again
                    raise
                result.lost += 1
    result.elapsed_ns = ctx.now - start
    return result
