"""A measure-directly request on a link other requests share is counted and sifted by serial
(stack.api.measured): its Sequence Numbers come round again, and counting them stalled the collection (a
BBM92 run beside a workload on its link did not finish)."""

from __future__ import annotations

from typing import Any

import numpy as np

from protocols.apps.qkd import request_order
from stack.api import AppContext, run_apps
from stack.api.measured import MeasuredTally
from stack.api.pairs import MeasuredPairs
from stack.api.scenario_apps import run_applications
from stack.scenario import load_text
from tests.mp_util import ROOT

SHARED = """
[run]
duration_ms = 60000.0
seed = 3
[nodes.carol]
kind = "qpu"
[nodes.dave]
kind = "qpu"
[nodes.mid]
kind = "station"
[links.cd]
a = "carol"
b = "dave"
station = "mid"
length_km = 2.0
depolarizing = 0.1
batch = 4096
[[workload]]
node = "carol"
remote = "dave"
type = "measure"
basis = "XZ"
pairs = 65535
"""


def test_a_request_whose_numbers_come_round_again_is_collected_whole_at_both_ends() -> None:
    got: dict[str, Any] = {}

    async def carol(ctx: AppContext) -> None:
        got["carol"] = await ctx.epr_socket("dave").create_measure_arrays(40000, random_basis="XZ")

    async def dave(ctx: AppContext) -> None:
        got["dave"] = await ctx.epr_socket("carol").recv_measure_arrays(40000)

    run_apps(load_text(SHARED, "<shared>"), {"carol": carol, "dave": dave}, seed=3)
    a, b = got["carol"], got["dave"]
    assert len(a) == len(b) == 40000
    assert len(np.unique(a.sequence_numbers)) < 40000           # the numbers did come round again
    assert a.serials.tolist() == b.serials.tolist() and a.settled.tolist() == b.settled.tolist()
    assert (a.serials % 65536).tolist() == a.sequence_numbers.tolist()
    same = a.bases == b.bases
    assert np.mean(a.outcomes[same] != b.outcomes[same]) < 0.1   # the same pairs: depolarizing 0.1 gives ~5 %


def test_bbm92_beside_a_workload_on_its_link_finishes_with_one_key_at_both_ends() -> None:
    scenario = load_text(SHARED + '[[application]]\nkind = "qkd"\nnode = "carol"\nremote = "dave"\npairs = 40000\n',
                         "<shared>")
    _, [entry] = run_applications(scenario, seed=3)
    assert entry["finished"] and entry["pairs"] == 40000
    assert entry["key_bit_errors"] / entry["key_bits"] < 0.1


def test_an_expiry_withdraws_the_latest_pair_of_its_number_or_takes_the_next_serial() -> None:
    here, there = MeasuredTally(), MeasuredTally()
    for tally in (here, there):
        tally.block(100, [0] * 3, [0] * 3, [0] * 3)               # serials 100, 101, 102
    here.single(103, 0, 1, 0)                                     # delivered here only...
    here.expire([103])                                            # ...and withdrawn
    there.expire([103])                                           # never delivered there: it takes serial 103
    there.expire([103])                                           # a repeat changes nothing
    here.single(104, 1, 0, 0)
    there.single(104, 1, 0, 0)
    a, b = here.pairs("x", 1, correct=False), there.pairs("x", 1, correct=False)
    assert here.count == there.count == 5
    assert a.settled.tolist() == b.settled.tolist() == [100, 101, 102, 103, 104]
    assert a.serials.tolist() == b.serials.tolist() == [100, 101, 102, 104]


def test_a_held_ok_after_its_expiry_is_the_withdrawn_pair_not_a_new_one() -> None:
    """CON clear: the link layer holds a request's OKs until it completes but sends an ERR EXPIRE at once, so the
    OK of pair 5 (an OK-M, or inside an OK-MB) comes after the expiry that withdrew it: it is left out and counted
    once (it was a new turn, 65541, handed out as good and counted twice, so the collection ended a pair early)."""
    for deliver in (lambda t: t.single(5, 0, 1, 0), lambda t: t.block(4, [0, 0, 0], [1, 1, 1], [0, 0, 0])):
        tally = MeasuredTally()
        tally.expire([5])
        deliver(tally)
        pairs = tally.pairs("x", 1, correct=False)
        assert 5 not in pairs.serials.tolist() and pairs.serials.max(initial=0) < 65536
        assert tally.count == len(pairs.settled) == len(pairs.serials) + 1


def test_the_sifting_order_is_the_link_order_while_numbers_do_not_come_round() -> None:
    assert request_order(np.array([0, 1, 2, 65534, 65535])).tolist() == [65534, 65535, 0, 1, 2]
    assert request_order(np.array([3, 65534, 65535, 65539, 131070])).tolist() == [65534, 65535, 3, 131070, 65539]




def test_serials_are_the_same_whether_kept_in_the_dict_or_the_array() -> None:
    """SerialNumbers keeps few numbers in a dict, then all in an array: the serials must not depend on when."""
    from protocols.apps.serials import FEW, SerialNumbers

    rng = np.random.default_rng(5)
    seqs = [*rng.integers(0, 65536, FEW + 3000).tolist(), 7, 7, 7]
    lazy, eager = SerialNumbers(), SerialNumbers()
    eager.block(0, 0)                                  # an empty block makes the array at once
    got = [(lazy.delivered(s), eager.delivered(s)) for s in seqs]
    assert [a for a, _ in got] == [b for _, b in got]
    assert lazy.block(65530, 10).tolist() == eager.block(65530, 10).tolist()
    assert lazy.latest(7) == eager.latest(7) is not None and lazy.latest(7) // 65536 >= 2


def test_a_lossy_con_clear_request_hands_out_no_withdrawn_pair() -> None:
    """bob asks alice (the link's master) for 300 measured pairs with CON clear over a link losing 20 % of its
    datagrams: every pair alice's collection keeps is one no ERR EXPIRE withdrew, and kept plus withdrawn is 300
    (was 48 withdrawn pairs kept, under serials >= 65536 with no wrap at all, for seed 1)."""
    text = (ROOT / "examples/api/pair.toml").read_text().replace(
        "depolarizing = 0.05", "depolarizing = 0.05\nclassical_loss = 0.2")
    assert "classical_loss = 0.2" in text
    got: dict[str, object] = {}

    async def bob(ctx: AppContext) -> None:
        await ctx.create("alice", 300, keep=False, consecutive=False)

    async def alice(ctx: AppContext) -> None:
        socket = ctx.epr_socket("bob")
        got["pairs"] = await socket.recv_measure_arrays(300)
        got["expired"] = set(socket.expired)

    run_apps(load_text(text, "<con clear>"), {"alice": alice, "bob": bob})
    pairs, expired = got["pairs"], got["expired"]
    assert isinstance(pairs, MeasuredPairs) and isinstance(expired, set) and expired
    assert not set(pairs.sequence_numbers.tolist()) & expired and int(pairs.serials.max()) < 65536
    assert len(pairs) + len(expired) == len(pairs.settled) == 300
