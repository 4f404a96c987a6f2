"""Start-up: imports, `qnet run` until its emulation begins, and `qnet up` until 32 nodes are connected.

    python bench/bench_startup.py [--repeats 5] [--up-nodes 32] [--base-port 25000]

1. ``import stack.cli`` in a fresh interpreter (wall, median), next to ``python -c pass``, and the heavy
   libraries that import loads (none of scapy, networkx, matplotlib, Dask should be there).
2. ``qnet run`` of the default scenario (examples/default.toml, capture on): seconds from spawning the
   process to the moment ``stack.runtime.run_async`` starts the emulation (interpreter, imports,
   argument and scenario checks, building the emulation). The child is ``python -c`` wrapping
   ``run_async`` to print the time (and the CPU time the process has used, the figure of an idle
   machine), then running ``stack.cli.program``, the ``qnet`` program.
3. ``qnet up`` of a chain of ``--up-nodes`` coupler-linked QPUs (bench_multiprocess.py's scenario,
   N node processes + the medium): seconds from launching it to every node connected (the medium's
   report: report.json's mtime − its wall_seconds), median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_multiprocess as multiprocess  # beside this file

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("scapy", "networkx", "matplotlib", "dask", "scipy", "pyarrow", "rich", "numpy", "trio", "stim")
CHILD = """
import os, sys, time
t0 = float(sys.argv[1])
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import stack.runtime as runtime
original = runtime.run_async
async def timed(emu):
    print(f"STARTED {time.time() - t0:.4f} {time.process_time():.4f}", file=sys.stderr, flush=True)
    return await original(emu)
runtime.run_async = timed
sys.argv = ["qnet", *sys.argv[2:]]
from stack.cli import program
program()
"""


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def imports(repeats: int) -> None:
    bare = statistics.median(wall([sys.executable, "-c", "pass"]) for _ in range(repeats))
    full = statistics.median(wall([sys.executable, "-c", "import stack.cli"]) for _ in range(repeats))
    code = f"import sys, stack.cli; print([m for m in {HEAVY!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    print(f"1. python -c pass: {bare:.3f} s; python -c 'import stack.cli': {full:.3f} s "
          f"(imports {full - bare:.3f} s); heavy libraries loaded: {loaded.stdout.strip()}")


def run_startup(repeats: int, scratch: Path) -> None:
    starts, cpus = [], []
    for _ in range(repeats):
        t0 = time.time()
        done = subprocess.run([sys.executable, "-c", CHILD, repr(t0), "run", "examples/default.toml", "--quiet",
                               "--pcap", str(scratch / "default.pcap")], cwd=ROOT, check=True, capture_output=True,
                              text=True)
        started, cpu = done.stderr.split("STARTED ")[1].split()[:2]
        starts.append(float(started))
        cpus.append(float(cpu))
    print(f"2. qnet run examples/default.toml: emulation begins {statistics.median(starts):.3f} s after spawn "
          f"(median of {repeats}; min {min(starts):.3f}, max {max(starts):.3f}), having used "
          f"{statistics.median(cpus):.3f} s of CPU (what an idle machine takes)")


def up_startup(nodes: int, repeats: int, base_port: int, scratch: Path) -> None:
    runner = multiprocess.Runner(scratch, base_port)
    connected = []
    for _ in range(repeats):
        run = runner.up(multiprocess.chain_toml(nodes, duration_ms=0.1, pairs=1, every_link=False), nodes, 0.01)
        connected.append(run.mtime_s("report.json") - run.mp["wall_seconds"])
    print(f"3. qnet up, {nodes} node processes + the medium: all connected {statistics.median(connected):.2f} s "
          f"after launch (median of {repeats}; min {min(connected):.2f}, max {max(connected):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--up-nodes", type=int, default=32)
    parser.add_argument("--base-port", type=int, default=25000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as scratch:
        imports(args.repeats)
        run_startup(args.repeats, Path(scratch))
        up_startup(args.up_nodes, args.repeats, args.base_port, Path(scratch))
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
