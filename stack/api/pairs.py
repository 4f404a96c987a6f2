"""What an EPR socket (:mod:`stack.api.epr`) hands an application: this end's half of a kept pair, the outcome of a
measured one, a measure-directly request's outcomes as arrays, and the parity that turns any Bell state's
outcomes into |Φ+⟩'s."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocols.apps.qkd import request_order
from protocols.common import Basis


@dataclass(frozen=True, slots=True)
class KeptPair:
    """This end's half of a create-and-keep pair: the application holds the qubit in ``slot``."""

    slot: int
    remote: str
    create_id: int
    sequence_number: int
    bell_state: int
    """The Bell index the OK named (before any correction)."""
    goodness: float
    """The layer's fidelity estimate."""
    corrected: bool
    """The pair was turned into |Φ+⟩ (by the creating end)."""
    ok_time: int = 0
    """When this end's OK arrived (virtual ns), even if it was taken later."""


@dataclass(frozen=True, slots=True)
class MeasuredPair:
    """This end's outcome of a measure-directly pair."""

    outcome: int
    """The outcome, corrected to |Φ+⟩'s correlations if ``corrected``."""
    basis: Basis
    remote: str
    create_id: int
    sequence_number: int
    bell_state: int
    corrected: bool


@dataclass(frozen=True, slots=True, eq=False)
class MeasuredPairs:
    """This end's outcomes of a measure-directly request, as arrays (one entry per delivered pair, in arrival
    order), whether the link layer answered pair by pair (OK-M) or in blocks (OK-MB, a link's ``batch``)."""

    sequence_numbers: np.ndarray
    """Each pair's Sequence Number (int64, 0..65535)."""
    bases: np.ndarray
    """Each pair's basis at this end (uint8: 0 Z, 1 X, 2 Y)."""
    outcomes: np.ndarray
    """Each outcome (uint8), corrected to |Φ+⟩'s correlations if ``corrected``."""
    bell_states: np.ndarray
    """The Bell index each OK named (uint8, before any correction)."""
    settled: np.ndarray
    """The serial of every pair of the request, delivered here or retracted (ERR EXPIRE), sorted (int64): the
    same set at both ends. A pair's serial is its Sequence Number plus 2^16 for each earlier pair of the request
    under that number (:mod:`stack.api.measured`), so it is the Sequence Number itself unless the request's
    numbers came round again (a request sharing its link with others)."""
    remote: str
    create_id: int
    corrected: bool
    serials: np.ndarray
    """Each pair's serial (int64; ``sequence_numbers`` is it modulo 2^16): the same pair has the same serial at
    both ends, where Sequence Numbers of one request can repeat."""

    def __len__(self) -> int:
        return len(self.outcomes)

    def in_request_order(self) -> RequestArrays:
        """Every pair of the request, delivered here or retracted, in the order both ends agree on
        (:func:`protocols.apps.qkd.request_order` of :attr:`settled`), with zeros where it was retracted: what
        two ends compare pair by pair (BBM92's sifting windows, CHSH's blocks), so that they pair halves by
        serial, never by a Sequence Number that may repeat within the request.

        >>> pairs = MeasuredPairs(np.array([0, 0]), np.array([1, 0], np.uint8), np.array([1, 1], np.uint8),
        ...                       np.zeros(2, np.uint8), np.array([0, 3, 65536]), "bob", 1, True,
        ...                       np.array([65536, 0]))                 # 0 twice; 3 retracted (ERR EXPIRE)
        >>> got = pairs.in_request_order()
        >>> got.serials.tolist(), got.present.tolist(), got.bases.tolist(), got.outcomes.tolist()
        ([0, 3, 65536], [True, False, True], [0, 0, 1], [1, 0, 1])
        """
        order = request_order(self.settled)
        n = len(order)
        rank = np.empty(n, np.int64)
        rank[np.searchsorted(self.settled, order)] = np.arange(n)
        position = rank[np.searchsorted(self.settled, self.serials)]
        bases, outcomes, present = np.zeros(n, np.uint8), np.zeros(n, np.uint8), np.zeros(n, bool)
        bases[position], outcomes[position], present[position] = self.bases, self.outcomes, True
        return RequestArrays(order, present, bases, outcomes)


@dataclass(frozen=True, slots=True, eq=False)
class RequestArrays:
    """A measure-directly request's pairs in request order (:meth:`MeasuredPairs.in_request_order`)."""

    serials: np.ndarray
    """Each pair's serial (int64), in the order both ends agree on."""
    present: np.ndarray
    """Whether this end holds the pair's outcome (bool; False: retracted here by ERR EXPIRE)."""
    bases: np.ndarray
    """This end's basis (uint8; 0 where not present)."""
    outcomes: np.ndarray
    """This end's outcome (uint8; 0 where not present)."""


def parity_correction(bell_states: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """What turns each outcome of a pair in Bell state ``bell_states`` measured in ``bases`` into |Φ+⟩'s:
    ``expected_parity(bell, basis) ^ expected_parity(0, basis)`` per pair (x in Z, z in X, x ⊕ z in Y).

    >>> parity_correction(np.array([0, 1, 2, 3, 3]), np.array([0, 0, 1, 1, 2])).tolist()
    [0, 1, 1, 1, 0]
    """
    x, z = bell_states & 1, bell_states >> 1 & 1
    return np.where(bases == Basis.Z, x, np.where(bases == Basis.X, z, x ^ z)).astype(np.uint8)
