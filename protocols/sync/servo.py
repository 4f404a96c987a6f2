"""PI clock servo, its closed-form noise theory, and the ClockAdjust command it emits.

Loop model (one sample per Sync interval T). ``x_n`` is the slave's true offset from its
master at sample n, ``m_n = x_n + v_n`` the measured offset with white noise of variance
σ² (four hardware timestamps of jitter σ_j give σ = √4·σ_j/2 = σ_j), ``y`` the remaining
frequency error. With per-sample gains ``kp``, ``ki`` the servo sets the frequency so that
over the next interval::

    i_n = i_{n-1} + ki·m_n            (integral, ns per interval)
    x_{n+1} = x_n + y·T − kp·m_n − i_n

Noise transfer: X/V = −((kp+ki)z − kp) / (z² + (kp+ki−2)z + (1−kp)); stable iff
0 < kp < 2, ki > 0 and 2kp + ki < 4. The steady-state offset variance is (sum of the
squared impulse response, solved in closed form)::

    Var(x) = σ² · (2kp² + kp·ki + 2ki) / (kp·(4 − 2kp − ki))   ≈ σ²·(kp/2 + ki/(2kp)) for small gains

so the converged RMS offset is σ_j·sqrt(noise_gain(kp, ki)): smaller gains (narrower loop
bandwidth) filter more jitter but converge and track wander more slowly. The defaults
kp = 0.7, ki = 0.3 (linuxptp's PI at a 1 s interval) give noise gain 1.112 (RMS ≈ 1.05 σ_j),
poles of modulus √0.3 ≈ 0.55 (error shrinks ~1.8× per sample); a constant frequency
error leaves no offset (two integrators in the loop).

Start-up (as linuxptp): the first sample is only remembered; the second gives the
frequency error from the two offsets, the servo sets it and steps the phase by −offset;
from the third sample on the PI runs. The measured offset follows the convention
offset = slave reading − master reading.

>>> s = PiServo(interval_ns=125e6)
>>> s.sample(1000.0, 0.0) is None
True
>>> s.sample(1250.0, 125_000_250.0)     # 250 ns more in 125 ms of master time: 2 ppm fast
ClockAdjust(phase_ns=-1250.0, frequency_ppb=-2000.0)
>>> round(noise_gain(0.7, 0.3), 4)
1.1118
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClockAdjust:
    """Engine → runtime (in ``Actions.hardware``): step the local clock by ``phase_ns`` now
    and set its servo frequency correction to ``frequency_ppb`` (absolute, replacing the
    previous setting): ``Clock.adjust(phase_ns, frequency_ppb, at_true_ns=now)``."""

    phase_ns: float
    frequency_ppb: float


class ServoState(enum.Enum):
    UNLOCKED = "unlocked"      # no sample yet
    FIRST = "first"            # one sample remembered
    LOCKED = "locked"          # PI running


def noise_gain(kp: float, ki: float) -> float:
    """Var(x)/σ²: steady-state offset variance per unit measurement-noise variance."""
    if not is_stable(kp, ki):
        raise ValueError(f"unstable PI gains kp={kp}, ki={ki}")
    return (2 * kp * kp + kp * ki + 2 * ki) / (kp * (4 - 2 * kp - ki))


def is_stable(kp: float, ki: float) -> bool:
    """Jury's conditions for the loop's characteristic polynomial."""
    return 0 < kp < 2 and ki > 0 and 2 * kp + ki < 4


def offset_variance(kp: float, ki: float, sigma_ns: float, wander_ppb: float = 0.0,
                    interval_ns: float = 1e9) -> float:
    """Steady-state Var(x_n) (ns²) with offset-estimate noise ``sigma_ns`` and a random-walk
    frequency wander of ``wander_ppb`` ppb/√s (diffusion D), at one sample per ``interval_ns``.

    With w_n = T·y_n − i_{n−1} the loop is the stationary 2-state system
    [x, w]_{n+1} = A [x, w]_n + noise, A = [[1−kp−ki, 1], [−ki, 1]], noise =
    [ξ − (kp+ki)v, Tβ − ki·v] where ξ = ∫ of the frequency's walk over one interval
    (variance D·T³/3), Tβ its change times T (D·T³; covariance D·T³/2). Var(x) is the
    [0][0] entry of P = A P Aᵀ + Q, solved by doubling. With no wander it equals
    ``sigma_ns² · noise_gain(kp, ki)``.

    >>> round(offset_variance(0.7, 0.3, 1.0) / noise_gain(0.7, 0.3), 9)
    1.0
    """
    if not is_stable(kp, ki):
        raise ValueError(f"unstable PI gains kp={kp}, ki={ki}")
    t3 = (wander_ppb * 1e-9) ** 2 * (interval_ns / 1e9) ** 3 * 1e18   # D·T³ in ns²
    v = sigma_ns * sigma_ns
    g = kp + ki
    q = [[t3 / 3 + g * g * v, t3 / 2 + ki * g * v], [t3 / 2 + ki * g * v, t3 + ki * ki * v]]
    a = [[1 - g, 1.0], [-ki, 1.0]]
    p = [row[:] for row in q]
    for _ in range(64):       # P ← P + A P Aᵀ, A ← A²: after n rounds P sums 2^n terms
        ap = [[sum(a[i][k] * p[k][j] for k in range(2)) for j in range(2)] for i in range(2)]
        p = [[p[i][j] + sum(ap[i][k] * a[j][k] for k in range(2)) for j in range(2)] for i in range(2)]
        a = [[sum(a[i][k] * a[k][j] for k in range(2)) for j in range(2)] for i in range(2)]
    return p[0][0]


def impulse_response(kp: float, ki: float, n: int) -> list[float]:
    """h_0..h_{n-1}: the offset's response to a unit measurement error at sample 0."""
    x, integral, out = 0.0, 0.0, []
    for k in range(n):
        m = x + (1.0 if k == 0 else 0.0)
        integral += ki * m
        out.append(x)
        x = x - kp * m - integral
    return out


class PiServo:
    """Proportional-integral servo on frequency (with one initial phase step).

    ``interval_ns`` is the nominal time between samples (the Sync interval); ``max_ppb``
    clamps the frequency setting like a real oscillator's pull range.
    """

    def __init__(self, interval_ns: float, kp: float = 0.7, ki: float = 0.3, max_ppb: float = 500_000.0,
                 step: bool = True) -> None:
        if not is_stable(kp, ki):
            raise ValueError(f"unstable PI gains kp={kp}, ki={ki}")
        self.interval_ns = float(interval_ns)
        self.kp = kp
        self.ki = ki
        self.max_ppb = max_ppb
        self.step = step
        self.state = ServoState.UNLOCKED
        self.drift_ppb = 0.0        # the integrator: the frequency setting the PI centres on
        self.frequency_ppb = 0.0    # the setting in force
        self._first: tuple[float, float] = (0.0, 0.0)

    def sample(self, offset_ns: float, local_ns: float, now_ns: float | None = None) -> ClockAdjust | None:
        """Feed one measured offset (slave − master, ns) taken at local time ``local_ns``;
        returns the adjustment to apply at local time ``now_ns`` (default: ``local_ns``;
        the initial phase step includes the drift since the measurement), or None."""
        if self.state is ServoState.UNLOCKED:
            self._first = (offset_ns, local_ns)
            self.state = ServoState.FIRST
            return None
        if self.state is ServoState.FIRST:
            first_offset, first_time = self._first
            if local_ns <= first_time:
                self._first = (offset_ns, local_ns)
                return None
            # slave − master offset change per unit of master time (the clock's own units)
            change = offset_ns - first_offset
            rate_ppb = change / (local_ns - first_time - change) * 1e9
            self.drift_ppb = self._clamp(self.frequency_ppb - rate_ppb)
            self.frequency_ppb = self.drift_ppb
            self.state = ServoState.LOCKED
            since = 0.0 if now_ns is None else now_ns - local_ns
            phase = -(offset_ns + rate_ppb * 1e-9 * since) if self.step else 0.0
            return ClockAdjust(phase, self.frequency_ppb)
        per_ns = 1e9 / self.interval_ns
        self.drift_ppb = self._clamp(self.drift_ppb - self.ki * offset_ns * per_ns)
        self.frequency_ppb = self._clamp(self.drift_ppb - self.kp * offset_ns * per_ns)
        return ClockAdjust(0.0, self.frequency_ppb)

    def reset(self) -> None:
        """Forget the lock (new master): the next two samples start over."""
        self.state = ServoState.UNLOCKED

    def _clamp(self, ppb: float) -> float:
        return max(-self.max_ppb, min(self.max_ppb, ppb))
