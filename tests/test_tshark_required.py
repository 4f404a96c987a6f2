"""CI sets QNET_REQUIRE_TSHARK=1 so that no Wireshark test skips: :func:`have_tshark` then fails the test (or the
module) that asks, where it would have answered no."""

from __future__ import annotations

import pytest

from tests.tshark_util import TsharkMissing, have_tshark


def test_a_missing_tshark_is_an_error_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("QNET_REQUIRE_TSHARK", "1")
    with pytest.raises(TsharkMissing, match="QNET_REQUIRE_TSHARK is set but tshark is not on PATH"):
        have_tshark()


def test_a_missing_tshark_is_a_skip_when_not_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("QNET_REQUIRE_TSHARK", raising=False)
    assert have_tshark() is False
