"""Applications (stack.api.apps) against their closed forms: BBM92 QBER and key fraction, CHSH S, the six
stabiliser states' average teleportation fidelity. Tolerances: four standard errors."""

from __future__ import annotations

import math
from typing import Any

import pytest

from protocols.apps.chsh import werner_s
from protocols.apps.qkd import werner_qber
from protocols.transport.model import teleport_fidelity
from stack.api import AppContext, run_apps
from stack.api.apps import bbm92, chsh, teleport_states
from stack.scenario import load_text
from tests.test_transport import SCENARIO

D = 0.12
F = 1 - 3 * D / 4
WERNER = SCENARIO.replace("depolarizing = 0.0", f"depolarizing = {D}")


def both(app: Any, scenario: str = WERNER, seed: int = 2, **kwargs: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}

    def end(role: str, remote: str):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            results[role] = await app(ctx, remote, role=role, **kwargs)
        return run

    run_apps(load_text(scenario, "<apps>"), {"alice": end("create", "bob"), "bob": end("recv", "alice")}, seed=seed)
    return results


def test_bbm92_qber_in_each_basis_is_two_thirds_of_the_infidelity() -> None:
    got = both(bbm92, pairs=3000, block=500, sample_fraction=0.6)
    alice, bob = got["create"], got["recv"]
    assert alice.sifted == bob.sifted and alice.sample == bob.sample and alice.sample_errors == bob.sample_errors
    assert abs(alice.sifted / alice.pairs - 0.5) < 4 * math.sqrt(0.25 / alice.pairs)
    expected = werner_qber(F)
    for errors, n in alice.errors_by_basis.values():
        assert abs(errors / n - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    assert len(alice.key) == len(bob.key) == alice.sifted - alice.sample
    mismatch = sum(a != b for a, b in zip(alice.key, bob.key, strict=True)) / len(alice.key)
    assert abs(mismatch - expected) < 4 * math.sqrt(expected * (1 - expected) / len(alice.key))
    e = alice.sample_errors / alice.sample
    assert alice.qber == e and 0 < e < 0.11
    h = -e * math.log2(e) - (1 - e) * math.log2(1 - e)     # binary entropy in bits, written out (not key_fraction)
    assert alice.secret_bits == pytest.approx(len(alice.key) * (1 - 2 * h), rel=1e-12)
    assert alice.secret_bits > 0
    assert alice.secret_bits_per_second > 0


def test_chsh_s_of_werner_pairs() -> None:
    got = both(chsh, pairs=3000, block=500)
    alice, bob = got["create"], got["recv"]
    assert (alice.s, alice.s_error) == (bob.s, bob.s_error)
    assert abs(alice.s - werner_s(F)) < 4 * alice.s_error
    assert alice.s > 2                                     # F = 0.91: a violation


def test_teleporting_the_six_states_averages_two_f_plus_one_over_three() -> None:
    got = both(teleport_states, per_state=120, seed=4)
    bob = got["recv"]
    n = sum(count for _, count in bob.right.values())
    expected = teleport_fidelity(F)
    assert n == 720 and abs(bob.fidelity - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


def test_bbm92_and_chsh_finish_and_agree_under_classical_loss() -> None:
    """Their messages are retransmitted (stack.api.exchange): loss slows them down, both ends agree."""
    lossy = WERNER.replace(f"depolarizing = {D}", f"depolarizing = {D}\nclassical_loss = 0.05")
    qkd = both(bbm92, lossy, seed=6, pairs=600, block=200)
    assert qkd["create"].sifted == qkd["recv"].sifted > 0
    assert qkd["create"].sample_errors == qkd["recv"].sample_errors
    test = both(chsh, lossy, seed=7, pairs=600, block=200)
    assert test["create"].s == test["recv"].s
