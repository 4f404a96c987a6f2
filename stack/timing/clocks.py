"""Clock models: the local oscillator of one node, as the node's protocols read it.

Time convention: every time here is a float in nanoseconds since the run start (true time
0). A float64 keeps a reading exact to better than 0.12 ps up to 1,000 s of run time and
1.2 ps up to 10,000 s, so sub-nanosecond alignment survives runs of hours; never feed
absolute epochs (1.7e18 ns) into a clock.

Model: the local reading at true time ``t`` is ``t + error(t)`` with::

    error(t) = offset0 + y0·t + W(t) + S(t)

* ``offset0`` — initial offset (ns); ``y0`` — frequency error (``frequency_ppm`` · 1e-6);
* ``W(t) = ∫ w`` — frequency wander: ``w`` is a random walk of fractional frequency,
  constant over each ``wander_step_ns`` step and moving by N(0, (wander_ppb·1e-9)² · step/1 s)
  between steps (``wander_ppb`` is in ppb per √s); W is therefore piecewise linear;
* ``S(t)`` — servo corrections from :meth:`Clock.adjust`: phase steps and a frequency
  setting (absolute, like ``clock_adjtime(ADJ_FREQUENCY)``) from the moment of each call.

Hardware timestamps (:meth:`Clock.timestamp`) add white Gaussian jitter of ``jitter_ps``
(standard deviation) to the reading; :meth:`Clock.local_ns` has no jitter.

Randomness comes only from the injected generator, split with ``rng.spawn(2)`` into a
wander stream (drawn lazily in fixed chunks, so the wander path is the same whatever the
order of queries) and a jitter stream. Every call is O(1) (amortised: the wander grid
grows in chunks; a query before the last :meth:`adjust` costs a bisection). The wander
grid holds 16 bytes per step: :meth:`forget_before` drops what a long run no longer needs.

>>> import numpy as np
>>> c = Clock(np.random.default_rng(1), offset_ns=500.0, frequency_ppm=20.0)
>>> c.local_ns(1e9)            # 500 ns + 20 ppm of 1 s
1000020500.0
>>> c.true_ns(c.local_ns(1e9))
1000000000.0
>>> c.adjust(-500.0, -20_000.0, at_true_ns=1e9)   # servo: step back 500 ns, slow 20 ppm
>>> c.local_ns(2e9) - 2e9
20000.0
"""

from __future__ import annotations

import bisect
import math
from array import array

import numpy as np

_CHUNK = 1024
"""Wander steps (and jitter samples) drawn per call to the generator."""


class Clock:
    """One node's local clock: offset, frequency error, wander, jitter and servo corrections."""

    def __init__(self, rng: np.random.Generator, *, offset_ns: float = 0.0, frequency_ppm: float = 0.0,
                 wander_ppb: float = 0.0, jitter_ps: float = 0.0, wander_step_ns: int = 10_000_000) -> None:
        if wander_step_ns <= 0 or wander_ppb < 0 or jitter_ps < 0:
            raise ValueError("wander_step_ns must be positive; wander and jitter non-negative")
        self.offset_ns = float(offset_ns)
        self.frequency_ppm = float(frequency_ppm)
        self.wander_ppb = float(wander_ppb)
        self.jitter_ps = float(jitter_ps)
        self.step_ns = int(wander_step_ns)
        self._y0 = frequency_ppm * 1e-6
        self._wander_rng, self._jitter_rng = rng.spawn(2)
        self._sigma_w = wander_ppb * 1e-9 * math.sqrt(wander_step_ns / 1e9)
        self._w = array("d", [0.0])        # wander frequency of grid cell k0 + i
        self._W = array("d", [0.0])        # integrated wander (ns) at grid point k0 + i
        self._k0 = 0
        self._a = [-math.inf]              # servo segments: start (true ns),
        self._P = [0.0]                    # S at the segment start (ns),
        self._s = [0.0]                    # servo frequency (fractional) in the segment
        self._jitter = np.empty(0)
        self._jitter_i = 0

    # -- readings -------------------------------------------------------------------------

    def error_ns(self, true_ns: float) -> float:
        """Local reading minus true time at ``true_ns`` (ns), servo corrections included."""
        return self.offset_ns + self._y0 * true_ns + self._wander(true_ns) + self._servo(true_ns)

    def local_ns(self, true_ns: float) -> float:
        """The clock's reading at true time ``true_ns`` (no jitter)."""
        return true_ns + self.error_ns(true_ns)

    def timestamp(self, true_ns: float) -> float:
        """A hardware timestamp taken at ``true_ns``: the reading plus Gaussian jitter."""
        if self.jitter_ps == 0.0:
            return self.local_ns(true_ns)
        if self._jitter_i == len(self._jitter):
            self._jitter = self._jitter_rng.standard_normal(_CHUNK)
            self._jitter_i = 0
        z = float(self._jitter[self._jitter_i])
        self._jitter_i += 1
        return self.local_ns(true_ns) + z * self.jitter_ps * 1e-3

    def frequency_ppb(self, true_ns: float) -> float:
        """Current fractional frequency error (ppb) of the local clock against true time."""
        return (self._y0 + self._wander_rate(true_ns) + self._s[self._segment(true_ns)]) * 1e9

    def true_ns(self, local_ns: float) -> float:
        """The true time at which this clock reads ``local_ns``: where a timer set for that
        reading fires. After a positive phase step that jumped over ``local_ns``, the time
        of the step; after a negative one (a reading that occurs twice), one of the two."""
        t = local_ns - self.error_ns(local_ns)
        for _ in range(1000):
            lo, hi = self._piece(t)
            rate = 1.0 + self._y0 + self._wander_rate(t) + self._s[self._segment(t)]
            candidate = t + (local_ns - self.local_ns(t)) / rate
            if lo <= candidate < hi:
                return candidate
            if candidate >= hi:
                t = hi
                continue
            before = math.nextafter(lo, -math.inf)
            if self.local_ns(before) < local_ns:
                return lo
            t = before
        raise RuntimeError(f"true_ns({local_ns}) did not converge")  # pragma: no cover

    # -- servo ----------------------------------------------------------------------------

    def adjust(self, phase_ns: float, frequency_ppb: float | None, at_true_ns: float) -> None:
        """Servo correction at ``at_true_ns``: step the reading by ``phase_ns`` and, unless
        None, set the servo frequency correction to ``frequency_ppb`` (absolute, not added).
        Calls must come in non-decreasing true time."""
        last = len(self._a) - 1
        if at_true_ns < self._a[last]:
            raise ValueError(f"adjust at {at_true_ns} ns precedes the previous one at {self._a[last]} ns")
        s = self._s[last] if frequency_ppb is None else frequency_ppb * 1e-9
        if at_true_ns == self._a[last]:
            self._P[last] += phase_ns
            self._s[last] = s
            return
        here = self._servo(at_true_ns)
        self._a.append(float(at_true_ns))
        self._P.append(here + phase_ns)
        self._s.append(s)

    def forget_before(self, true_ns: float) -> None:
        """Free the wander grid before ``true_ns``; earlier queries then raise ValueError."""
        k = min(int(true_ns // self.step_ns), self._k0 + len(self._W) - 1)
        if k > self._k0:
            drop = k - self._k0
            del self._w[:drop]
            del self._W[:drop]
            self._k0 = k

    # -- internals ------------------------------------------------------------------------

    def _segment(self, t: float) -> int:
        last = len(self._a) - 1
        if t >= self._a[last]:
            return last
        return bisect.bisect_right(self._a, t) - 1

    def _servo(self, t: float) -> float:
        j = self._segment(t)
        return self._P[j] + self._s[j] * (t - self._a[j]) if j else self._s[0] * t

    def _cell(self, t: float) -> int:
        """Index into the wander arrays of the grid cell holding ``t`` (extending the grid)."""
        k = max(int(t // self.step_ns), 0) - self._k0
        if k < 0:
            raise ValueError(f"{t} ns is before forget_before({self._k0 * self.step_ns})")
        while k >= len(self._W):
            self._extend()
        return k

    def _extend(self) -> None:
        increments = self._wander_rng.standard_normal(_CHUNK) * self._sigma_w
        w = self._w[-1] + np.cumsum(increments)
        W = self._W[-1] + np.cumsum(np.concatenate(([self._w[-1]], w[:-1]))) * self.step_ns
        self._w.extend(w.tolist())
        self._W.extend(W.tolist())

    def _wander(self, t: float) -> float:
        if self._sigma_w == 0.0:
            return 0.0
        k = self._cell(t)
        return self._W[k] + self._w[k] * (t - (k + self._k0) * self.step_ns)

    def _wander_rate(self, t: float) -> float:
        return 0.0 if self._sigma_w == 0.0 else self._w[self._cell(t)]

    def _piece(self, t: float) -> tuple[float, float]:
        """[lo, hi): the largest interval around ``t`` where the reading is linear."""
        j = self._segment(t)
        lo, hi = self._a[j], (self._a[j + 1] if j + 1 < len(self._a) else math.inf)
        if self._sigma_w != 0.0:
            k = max(int(t // self.step_ns), 0)
            lo = max(lo, k * self.step_ns if k > 0 else -math.inf)
            hi = min(hi, (k + 1) * self.step_ns)
        return lo, hi
