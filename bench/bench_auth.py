"""The cost of authenticated classical control (docs/wire.md §10): the same runs with and without it.

    python bench/bench_auth.py [--pairs 2000] [--repeats 5]

Runs examples/two-qpus.toml (capture off; create-and-keep and measure-directly, ``--pairs`` each) in this
process with ``[security] authenticate = true`` and ``false``, interleaved, ``--repeats`` times each, and
prints the CPU seconds (``time.process_time``, which a shared machine disturbs less than wall time) and
datagrams per CPU-second of each, the median ratio with/without, and the bare cost of sealing and opening
one datagram (the HMAC-SHA256 pair of a 24-byte payload) for scale.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from pathlib import Path

from protocols.security import Authenticator
from stack.runtime import run_scenario
from stack.scenario import load_text

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "two-qpus.toml"


def scenario_text(pairs: int, authenticate: bool) -> str:
    text = re.sub(r"^pairs = \d+", f"pairs = {pairs}", EXAMPLE.read_text(), flags=re.MULTILINE)
    return text + f"\n[security]\nauthenticate = {'true' if authenticate else 'false'}\n"


def one_run(pairs: int, authenticate: bool) -> tuple[float, int]:
    scenario = load_text(scenario_text(pairs, authenticate), str(EXAMPLE))
    started = time.process_time()
    result = run_scenario(scenario)
    cpu = time.process_time() - started
    datagrams = sum(c.sent for c in result.emulation.network.counters.values())
    return cpu, datagrams


def seal_open_us(count: int = 20_000) -> float:
    auth, payload = Authenticator(os.urandom(32)), bytes(24)
    started = time.process_time()
    for _ in range(count):
        auth.open(1, 2, 7772, 7772, auth.seal(1, 2, 7772, 7772, payload))
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    one_run(50, True)                                   # warm up (imports, caches)
    times: dict[bool, list[float]] = {True: [], False: []}
    datagrams = {}
    for _ in range(args.repeats):
        for authenticate in (False, True):
            cpu, datagrams[authenticate] = one_run(args.pairs, authenticate)
            times[authenticate].append(cpu)
    for authenticate in (False, True):
        median = statistics.median(times[authenticate])
        print(f"authenticate = {str(authenticate).lower():<5}: median {median:.3f} CPU-s "
              f"({min(times[authenticate]):.3f}-{max(times[authenticate]):.3f}), {datagrams[authenticate]} datagrams, "
              f"{datagrams[authenticate] / median:,.0f} datagrams per CPU-s")
    ratio = statistics.median(times[True]) / statistics.median(times[False])
    print(f"with / without: {ratio:.3f} (CPU time of the whole run)")
    print(f"seal + open of one 24-byte datagram: {seal_open_us():.2f} CPU-µs")


if __name__ == "__main__":
    main()
