"""BBM92's asymptotic key fraction 1 − 2h(e) (:mod:`protocols.apps.qkd`) against numbers worked out by hand.

h is the binary entropy in bits; Shor and Preskill's threshold, where 1 − 2h(e) reaches 0, is e ≈ 11.0028 %.
"""

from __future__ import annotations

import pytest

from protocols.apps.qkd import binary_entropy, key_fraction, werner_qber


def test_binary_entropy_is_in_bits() -> None:
    assert binary_entropy(0.5) == pytest.approx(1.0, abs=1e-15)
    assert binary_entropy(0.25) == pytest.approx(0.811278124459, abs=1e-12)   # 2 − (3/4)·log2 3
    assert binary_entropy(0.11) == pytest.approx(0.499915958165, abs=1e-12)
    assert binary_entropy(0.05) == pytest.approx(binary_entropy(0.95), abs=1e-15)
    assert binary_entropy(0.0) == binary_entropy(1.0) == 0.0


def test_key_fraction_literals() -> None:
    # 1 − 2h(0.05), h(0.05) = 0.05·log2 20 + 0.95·log2(1/0.95) = 0.2160964 + 0.0703006 = 0.2863970
    assert key_fraction(0.05) == pytest.approx(0.427206086, abs=1e-9)
    assert key_fraction(0.0) == 1.0
    assert key_fraction(0.10) == pytest.approx(0.062008813, abs=1e-9)


def test_key_fraction_vanishes_just_above_eleven_percent() -> None:
    assert key_fraction(0.1099) == pytest.approx(0.000771491, abs=1e-9)       # still a key just below 11 %
    assert 0 < key_fraction(0.11) < 2e-4
    assert key_fraction(0.1101) == 0.0
    assert key_fraction(0.3) == key_fraction(0.5) == 0.0


def test_werner_qber_literals() -> None:
    assert werner_qber(0.925) == pytest.approx(0.05, abs=1e-15)     # depolarizing 0.1: e = p/2
    assert werner_qber(1.0) == 0.0 and werner_qber(0.25) == pytest.approx(0.5, abs=1e-15)


def test_no_key_from_a_qber_above_one_half() -> None:
    """h(e) = h(1 − e), but this BBM92 never flips its bits: a QBER of 0.9 gives no key (was 0.062)."""
    assert key_fraction(0.9) == key_fraction(0.5) == key_fraction(0.95) == 0.0
