"""A pair whose CONFIRM handshake gives up ends at both ends (docs/architecture.md, "Pair confirmation").

The master of a link (the lower node id) CONFIRMs each pair it numbers, ``reliable_retries`` times more at
most. If every copy of the CONFIRM, or of its CONFIRM_ACK, is lost, the master reports the pair expired
(ERR EXPIRE) and withdraws it at the other end with a RELEASE with Status EXPIRE. Before, the other end got
nothing: a pair whose CONFIRM never came was dropped in silence and its request waited for it until the
run's generation window ended (ERR TIMEOUT there only), and a pair it had delivered on the CONFIRM stayed
delivered there while the master withdrew it.

The virtual-time runs below drop, on an otherwise lossless link, every CONFIRM (or CONFIRM_ACK) about one
pair; node b (not the master) is the origin, so its request's end decides when the generation window ends.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from protocols.common import EGP_PORT, Basis
from protocols.link.layer import LinkLayer
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_CONFIRM, MSG_CONFIRM_ACK, MSG_RELEASE, EgpMessage
from stack import runtime
from stack.api import AppContext, LinkError, run_apps
from stack.core.network import Network
from stack.report import build_report
from stack.runtime import RunResult, run_scenario
from stack.scenario import load_text
from tests.consistency import broken_promises

PAIRS = 5
DURATION_MS = 60_000.0
SCENARIO = f"""
[run]
duration_ms = {DURATION_MS}
seed = 1
[nodes.a]
kind = "qpu"
t2_ms = inf
storage_qubits = {{storage}}
[nodes.b]
kind = "qpu"
t2_ms = inf
storage_qubits = {{storage}}
[nodes.st]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "st"
length_km = 2.0
[[workload]]
node = "b"
remote = "a"
type = "{{kind}}"
pairs = {PAIRS}
{{atomic}}
"""


class Dropper:
    """Drops every EGP message of type ``msg_type`` about the first pair it sees one about (its attempt
    sequence); notes when it dropped the first, and which RELEASEs went by."""

    def __init__(self, msg_type: int) -> None:
        self.msg_type = msg_type
        self.attempt: int | None = None
        self.seq: int | None = None
        self.dropped: list[int] = []
        self.releases: list[EgpMessage] = []

    def __call__(self, network: Network, payload: bytes, dst: Any) -> bool:
        if dst[1] != EGP_PORT:
            return False
        message = EgpMessage.decode(payload)
        if message.msg_type == MSG_RELEASE:
            self.releases.append(message)
        if message.msg_type != self.msg_type:
            return False
        if self.attempt is None:
            self.attempt, self.seq = message.attempt_seq, message.sequence_number
        if message.attempt_seq != self.attempt:
            return False
        self.dropped.append(network.kernel.now)
        return True


def drop_every(monkeypatch: pytest.MonkeyPatch, msg_type: int) -> Dropper:
    """Patch the emulated network to drop what ``Dropper(msg_type)`` picks; returns the dropper."""
    dropper = Dropper(msg_type)
    send = Network.send

    def lossy(self: Network, src: int, sport: int, dst: Any, payload: bytes) -> None:
        if not dropper(self, payload, dst):
            send(self, src, sport, dst, payload)

    monkeypatch.setattr(Network, "send", lossy)
    return dropper


def lossy_run(monkeypatch: pytest.MonkeyPatch, msg_type: int, kind: str = "keep", storage: int = 0,
              atomic: bool = False) -> tuple[RunResult, Dropper]:
    dropper = drop_every(monkeypatch, msg_type)
    text = SCENARIO.format(kind=kind, storage=storage, atomic="atomic = true" if atomic else "")
    return run_scenario(load_text(text, "<confirm-end>")), dropper


CASES = [(MSG_CONFIRM, "keep", 0, False), (MSG_CONFIRM_ACK, "keep", 0, False),
         (MSG_CONFIRM, "keep", 2, False), (MSG_CONFIRM_ACK, "keep", 2, False),
         (MSG_CONFIRM, "measure", 0, False), (MSG_CONFIRM_ACK, "measure", 0, False),
         (MSG_CONFIRM, "keep", 4, True), (MSG_CONFIRM_ACK, "keep", 4, True)]


@pytest.mark.parametrize(("msg_type", "kind", "storage", "atomic"), CASES)
def test_a_pair_whose_confirm_handshake_gives_up_ends_at_both_ends(monkeypatch: pytest.MonkeyPatch, msg_type: int,
                                                                   kind: str, storage: int, atomic: bool) -> None:
    result, dropper = lossy_run(monkeypatch, msg_type, kind, storage, atomic)
    master = min(result.emulation.link_layers, key=lambda engine: engine.node_id)
    timing = master.timing
    assert len(dropper.dropped) == timing.reliable_retries + 1          # the master gave up on it
    withdrawn = [m for m in dropper.releases if m.attempt_seq == dropper.attempt]
    assert withdrawn and all(m.status for m in withdrawn)               # RELEASE with Status EXPIRE
    # Both ends settle it the same way: ERR EXPIRE for its sequence number at both; nothing else differs.
    assert broken_promises(result) == []
    (workload,) = result.emulation.workloads
    assert dropper.seq in workload.origin.expired and dropper.seq in workload.responder.expired
    assert workload.origin.errors == workload.responder.errors == []
    report = build_report(result)["workload"][0]
    assert report["pairs_disagreeing"] == 0
    delivered = {r.sequence_number for r in workload.origin.records} - workload.origin.expired
    assert len(delivered) == PAIRS - (0 if atomic else 1)             # an atomic request's pair is replaced
    # In bounded time: the last copy of the CONFIRM went a retransmission interval before the master gave up
    # (and sent the first RELEASE, which is not lost); one more interval covers delay and the last pairs.
    give_up = dropper.dropped[0] + (timing.reliable_retries + 1) * timing.interval_ns
    assert result.generation_end_ns <= give_up + 2 * timing.interval_ns < DURATION_MS * 1e6


# -- heavy random loss ---------------------------------------------------------------------------

LOSSY = """
[run]
duration_ms = {duration_ms}
seed = {seed}
[nodes.a]
kind = "qpu"
t2_ms = inf
storage_qubits = 4
[nodes.b]
kind = "qpu"
t2_ms = inf
storage_qubits = 4
[nodes.st]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "st"
length_km = 2.0
classical_loss = {per_fibre}
classical_jitter_ns = 20000
[[workload]]
node = "b"
remote = "a"
type = "keep"
pairs = {pairs}
[[workload]]
node = "b"
remote = "a"
type = "measure"
pairs = {pairs}
[[workload]]
node = "a"
remote = "b"
type = "keep"
pairs = {pairs}
{atomic}"""
ATOMIC = """[[workload]]
node = "b"
remote = "a"
type = "keep"
pairs = 3
atomic = true
"""
LOSSY_MS = 100_000.0


def per_fibre(one_way: float) -> float:
    """The loss of each of the two fibres (end → station → end) that loses ``one_way`` of the datagrams."""
    return 1 - math.sqrt(1 - one_way)


def lossy_scenario(one_way: float, seed: int, pairs: int, atomic: bool) -> RunResult:
    text = LOSSY.format(duration_ms=LOSSY_MS, seed=seed, per_fibre=per_fibre(one_way), pairs=pairs,
                        atomic=ATOMIC if atomic else "")
    return run_scenario(load_text(text, "<heavy-loss>"))


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("one_way", [0.3, 0.5])
def test_every_request_ends_at_both_ends_under_heavy_loss(one_way: float, seed: int) -> None:
    """30 % and 50 % of the datagrams lost each way (a round trip fails 51 % and 75 % of the time): every
    request ends at both ends, by itself (the generation window ends when the last workload is done, long
    before ``duration_ms``), and the pairs delivered at the two ends are the same."""
    result = lossy_scenario(one_way, seed, pairs=60, atomic=True)
    assert broken_promises(result) == []
    assert result.generation_end_ns < LOSSY_MS * 1e6, "a request never finished"
    assert sum(engine.counters.lost_attempts for engine in result.emulation.link_layers) > 0


GIVE_UP_RETRIES = 8
"""Retransmissions of a CONFIRM (and of its retraction, and of a SCHEDULE) in the runs below: with 40 % lost
each way a round trip fails with probability q = 1 − 0.6² = 0.64, so a CONFIRM is given up with probability
q⁹ ≈ 0.018 per pair (1 to 18 times in seeds 1–6), and a retraction is lost every time with probability
0.4⁹ ≈ 2.6·10⁻⁴ (the two generals' bound, docs/architecture.md "Known limits"). A SCHEDULE is given up as
often: its request fails at both ends with ERR TIMEOUT (the abort), so most runs deliver fewer pairs."""


@pytest.mark.parametrize("seed", [1, 2])
def test_given_up_confirms_end_at_both_ends_under_heavy_loss(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """With few retransmissions CONFIRMs are given up under 40 % loss each way: each such pair ends at both
    ends the same way (ERR EXPIRE), and every request still ends at both ends by itself."""
    class FewRetries(LinkLayer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs, reliable_retries=GIVE_UP_RETRIES)

    monkeypatch.setattr(runtime, "LinkLayer", FewRetries)
    result = lossy_scenario(0.4, seed, pairs=300, atomic=False)
    assert sum(engine.counters.confirms_given_up for engine in result.emulation.link_layers) > 0
    assert broken_promises(result) == []
    assert result.generation_end_ns < LOSSY_MS * 1e6, "a request never finished"


def test_recv_one_ends_with_expire_when_every_confirm_of_its_pair_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The application at the other end (bob, node 2) waits in ``recv_one`` for a pair whose every CONFIRM is
    lost: it gets LinkError EXPIRE once the master gives the pair up, instead of waiting until the run's end
    (before: the run was cut off at its duration with bob still waiting)."""
    dropper = drop_every(monkeypatch, MSG_CONFIRM)
    ended: dict[str, tuple[int, int]] = {}

    async def alice(ctx: AppContext) -> None:
        pair = await ctx.epr_socket("bob").create_one()
        await ctx.measure(pair.slot, Basis.Z)
        ended["alice"] = (ctx.now, 0)

    async def bob(ctx: AppContext) -> None:
        with pytest.raises(LinkError) as retracted:
            await ctx.epr_socket("alice").recv_one()
        ended["bob"] = (ctx.now, retracted.value.code)

    scenario = load_text(API_SCENARIO, "<api>")
    result = run_apps(scenario, {"alice": alice, "bob": bob})
    master = min(result.emulation.link_layers, key=lambda engine: engine.node_id)
    give_up = dropper.dropped[0] + (master.timing.reliable_retries + 1) * master.timing.interval_ns
    assert len(dropper.dropped) == master.timing.reliable_retries + 1
    assert ended["bob"][1] == ll.ERR_EXPIRE and give_up <= ended["bob"][0] <= give_up + master.timing.interval_ns
    assert result.ledger["discarded_at_end"] == 0


API_SCENARIO = """
[run]
duration_ms = 1e4
[nodes.alice]
kind = "qpu"
[nodes.bob]
kind = "qpu"
[nodes.mid]
kind = "station"
[links.ab]
a = "alice"
b = "bob"
station = "mid"
length_km = 2.0
"""
