"""Measure-directly pairs per wall-second on one link: the batched path against the per-pair path.

    python bench/bench_batch.py [--requests 8] [--block 65535] [--per-pair 3000] [--repeats 3] [--breakdown] [--stages]

One link of examples/two-qpus.toml (Barrett-Kok, 10 km, its station), capture off, in this process
(imports excluded). Four figures, each the median of ``--repeats``:

* ``per-pair``: a measure-directly request of ``--per-pair`` pairs through every layer, one HERALD, CONFIRM
  and OK-M per pair (the path before issue 17 part 1);
* ``batched, whole stack``: API applications at both ends ask for ``--requests`` requests of ``--block``
  pairs (``links.batch = --block``) and count the pairs of every OK-MB: the medium's block, the station's
  BATCH, both physical and link layers, one OK-MB per block and end, the kernel and the emulated network;
* ``batched, medium + codecs``: the same blocks without the layers: :func:`stack.quantum.batch.sample_block`,
  the BATCH encoded and decoded, both ends' OK-MB encoded and decoded (the work per block the runtime
  cannot avoid);
* ``batched, sampling only``: :func:`stack.quantum.batch.sample_block` alone (the physics).

With ``--breakdown``, runs of different shapes (:data:`BREAKDOWN_RUNS`) split the whole stack's CPU time by
least squares into a set-up, a cost per request, per block and per pair. With ``--stages``, the per-pair work
(:func:`stages`) is timed stage by stage: sampling, the station's BATCHes, both ends' decoding, the OK-MBs, HMAC.

A measured pair counts once, when both ends have its outcome. The ratio is batched (whole stack) over
per-pair. The goal of issue 17 is 200 M measured pairs per wall-second.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from protocols.common import Basis
from protocols.packets import linkservice as ll
from protocols.packets.bitpack import join_planes, pack_uniform
from protocols.packets.heralding_batch import HeraldBatch, decode_shared
from protocols.physical.hardware import DetectionBlock
from protocols.physical.station import Station
from protocols.security.auth import Authenticator
from stack.api import AppContext, run_apps
from stack.quantum.batch import BasisSpec, Block, sample_block
from stack.quantum.budget import link_physics
from stack.quantum.heap import keep_freed_memory
from stack.runtime import run_scenario
from stack.scenario import Scenario, load

ROOT = Path(__file__).resolve().parent.parent


def scenario(batch: int) -> Scenario:
    base = load(ROOT / "examples" / "two-qpus.toml")
    links = [dataclasses.replace(link, batch=batch) for link in base.links]
    run = dataclasses.replace(base.run, duration_ns=10**16)        # as long as the requests take
    return dataclasses.replace(base, run=run, links=links, workload=[])


Rates = tuple[float, float]
"""Pairs per wall-second and per CPU-second of this process."""


class Clock:
    """Wall and CPU time since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def rates(self, pairs: int) -> Rates:
        return pairs / (time.perf_counter() - self.wall), pairs / (time.process_time() - self.cpu)


def per_pair(pairs: int) -> Rates:
    base = load(ROOT / "examples" / "two-qpus.toml")
    work = dataclasses.replace(base.workload[0], type="measure", pairs=pairs)
    clock = Clock()
    result = run_scenario(dataclasses.replace(base, workload=[work]))
    return clock.rates(len(result.emulation.workloads[0].responder.records))


def whole_stack(requests: int, block: int) -> Rates:
    wall, cpu, pairs, _ = api_run(requests, block, block)
    return pairs / wall, pairs / cpu


def api_run(requests: int, block: int, pairs: int) -> tuple[float, float, int, int]:
    """Two API applications: ``requests`` requests of ``pairs`` pairs one after another on a link with
    ``batch = block``. (wall s, CPU s, pairs measured at both ends, OK-MBs at the origin)."""
    scen = scenario(block)
    origin, remote = _ends(scen)
    counted = {origin: 0, remote: 0}
    blocks = [0]

    async def receive(ctx: AppContext, until: int) -> None:
        while counted[ctx.node] < until:
            message = await ctx.next_message()
            if not isinstance(message, ll.OkMeasureBlock):
                raise RuntimeError(f"{ctx.node}: {message!r}")
            counted[ctx.node] += message.count
            blocks[0] += ctx.node == origin

    async def ask(ctx: AppContext) -> None:
        for index in range(requests):            # one request at a time: no per-source quota is reached
            await ctx.create(remote, pairs=pairs, keep=False, basis="Z")
            await receive(ctx, (index + 1) * pairs)

    async def serve(ctx: AppContext) -> None:
        await receive(ctx, requests * pairs)

    wall, cpu = time.perf_counter(), time.process_time()
    run_apps(scen, {origin: ask, remote: serve})
    return time.perf_counter() - wall, time.process_time() - cpu, min(counted.values()), blocks[0]


BREAKDOWN_RUNS = ((2, 65535, 65535), (2, 21845, 65535), (2, 8192, 65535), (2, 4096, 65535), (16, 4096, 4096),
                  (1, 4096, 4096))
"""(requests, block size, pairs per request) of the runs :func:`breakdown` fits."""


def breakdown(repeats: int) -> None:
    """The whole stack's CPU time split by least squares over runs of different shapes (best of ``repeats``
    each): CPU = set-up + a per request + b per block + c per pair."""
    rows, times = [], []
    for requests, block, pairs in BREAKDOWN_RUNS:
        best = min((api_run(requests, block, pairs) for _ in range(repeats)), key=lambda run: run[1])
        _, cpu, made, blocks = best
        rows.append((1.0, requests, blocks, made))
        times.append(cpu)
        print(f"  {requests:>3} x {pairs:>6} pairs in blocks of <= {block:>6}: {blocks:>3} blocks, "
              f"{cpu * 1e3:8.1f} ms CPU")
    (setup, request, block_cost, pair), *_ = np.linalg.lstsq(np.array(rows), np.array(times), rcond=None)
    stream = 1 / (pair + (request + block_cost) / 65_535)      # requests of 65,535 pairs, one block each
    print(f"  fit: set-up {setup * 1e3:.1f} ms, {request * 1e6:.0f} us a request, {block_cost * 1e6:.0f} us a block, "
          f"{pair * 1e9:.1f} ns a pair; a stream of 65,535-pair requests: {stream:,.0f} pairs/CPU-s")


def _ends(scen: Scenario) -> tuple[str, str]:
    link = scen.links[0]
    return link.a, link.b


def station_batches(made: Block) -> list[bytes]:
    """A block's BATCHes as the station makes them (:meth:`protocols.physical.station.Station.handle`)."""
    detection = DetectionBlock(1, made.first_seq, made.attempts, made.failures, made.heralded)
    return [data for end, data in Station({1: (1, 2)}, 10).handle(detection, 0).send if end == 1]


def codecs_only(blocks: int, block: int, sample_only: bool) -> Rates:
    scen = scenario(block)
    physics = link_physics(scen.links[0], scen)
    rng = np.random.default_rng(1)
    spec = (BasisSpec(Basis.Z), BasisSpec(Basis.Z))
    keep_freed_memory()                                                       # as the medium's first block does
    clock, pairs = Clock(), 0
    for index in range(blocks):
        made = sample_block(physics, rng, block, index * 10**9, spec)          # as the medium does
        pairs += made.count
        if sample_only:
            continue
        parts = [HeraldBatch.decode(data) for data in station_batches(made)]   # at one end (the other's is the same)
        bells = join_planes([part.bell_plane() for part in parts], [part.count for part in parts], 2)
        for side in (0, 1):                                                  # as the link layer and the apps do
            ok = ll.OkMeasureBlock.from_planes(1, side, 0, 1, 2, 60000, made.count, made.outcomes[side].tobytes(),
                                               pack_uniform(made.bases[side], 2), bells)
            ll.decode_upward(ok.encode())
    return clock.rates(pairs)


STAGES = ("sampling", "BATCH encode (station)", "BATCH decode (both ends)", "OK-MB build, encode, decode (both ends)",
          "HMAC seal and open (BATCHes, OK-MBs)")


def stages(blocks: int, block: int) -> dict[str, float]:
    """CPU ns a pair of each stage of the per-pair work of ``blocks`` blocks (best block of each stage): what
    :func:`codecs_only` does, timed stage by stage, plus each datagram sealed and opened as the runtime does in
    one process (the station's BATCH part to each end, each end's OK-MB to its application; ``seal_local`` then
    ``open``: each datagram hashed once, docs/wire.md §10)."""
    scen = scenario(block)
    physics = link_physics(scen.links[0], scen)
    rng = np.random.default_rng(1)
    spec = (BasisSpec(Basis.Z), BasisSpec(Basis.Z))
    auth = Authenticator(bytes(32))
    keep_freed_memory()
    best = dict.fromkeys(STAGES, float("inf"))

    def lap(stage: str, start: int, count: int) -> int:
        now = time.process_time_ns()
        best[stage] = min(best[stage], (now - start) / count)
        return now

    for index in range(blocks):
        start = time.process_time_ns()
        made = sample_block(physics, rng, block, index * 10**9, spec)
        start = lap(STAGES[0], start, block)
        datas = station_batches(made)
        start = lap(STAGES[1], start, made.count)
        decoded = [[decode_shared(data) for data in datas] for _ in range(2)]        # as each end's decode_qhp
        bells = join_planes([part.bell_plane() for part in decoded[0]], [part.count for part in decoded[0]], 2)
        start = lap(STAGES[2], start, made.count)
        oks = [ll.OkMeasureBlock.from_planes(1, side, 0, 1, 2, 60000, made.count, made.outcomes[side].tobytes(),
                                             pack_uniform(made.bases[side], 2), bells).encode() for side in (0, 1)]
        for ok in oks:
            ll.decode_upward(ok)
        start = lap(STAGES[3], start, made.count)
        for sender, receiver, data in [*((1, 2, data) for data in datas), *((1, 3, data) for data in datas),
                                       (2, 2, oks[0]), (3, 3, oks[1])]:
            auth.open(sender, receiver, 7770, 7770, auth.seal_local(sender, receiver, 7770, 7770, data))
        lap(STAGES[4], start, made.count)
    return best


def median(run: Callable[[], Rates], repeats: int) -> tuple[float, float, float, float]:
    """Median, min and max pairs per wall-second; the best pairs per CPU-second."""
    rates = [run() for _ in range(repeats)]
    walls = [wall for wall, _ in rates]
    return statistics.median(walls), min(walls), max(walls), max(cpu for _, cpu in rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--block", type=int, default=65535)
    parser.add_argument("--per-pair", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--breakdown", action="store_true", help="also split the whole stack's CPU time by least "
                        "squares into set-up, per request, per block and per pair")
    parser.add_argument("--stages", action="store_true", help="also time the per-pair work stage by stage")
    args = parser.parse_args()
    print(f"one link of examples/two-qpus.toml, capture off, median of {args.repeats} "
          f"(load average {os.getloadavg()[0]:.1f})")
    rows = [
        (f"per-pair ({args.per_pair} pairs)", lambda: per_pair(args.per_pair)),
        (f"batched, whole stack ({args.requests} x {args.block})", lambda: whole_stack(args.requests, args.block)),
        (f"batched, medium + codecs ({args.requests} blocks)", lambda: codecs_only(args.requests, args.block, False)),
        (f"batched, sampling only ({args.requests} blocks)", lambda: codecs_only(args.requests, args.block, True)),
    ]
    figures = {}
    for name, run in rows:
        rate, low, high, cpu = median(run, args.repeats)
        figures[name] = (rate, cpu)
        print(f"  {name:<48}{rate:>14,.0f} pairs/wall-s (min {low:,.0f}, max {high:,.0f}){cpu:>14,.0f} pairs/CPU-s")
    (single, single_cpu), (batched, batched_cpu) = list(figures.values())[:2]
    print(f"  batched (whole stack) / per-pair = {batched / single:,.0f}x per wall-s, {batched_cpu / single_cpu:,.0f}x "
          f"per CPU-s; goal 200,000,000 pairs/wall-s: {batched / 2e8:.1%} of it ({batched_cpu / 2e8:.1%} per CPU-s)")
    if args.breakdown:
        print("whole stack, CPU time by the shape of the run:")
        breakdown(args.repeats)
    if args.stages:
        print(f"the per-pair work by stage, CPU ns a pair (best of {args.requests} blocks of {args.block}):")
        costs = stages(args.requests, args.block)
        for stage, cost in costs.items():
            print(f"  {stage:<48}{cost:8.2f}")
        print(f"  {'total':<48}{sum(costs.values()):8.2f}")


if __name__ == "__main__":
    main()
