"""qnetstack against SeQUeNCe 1.3.1, side by side: whole processes, interleaved, medians.

    python bench/bench_peer.py [--pairs 1000] [--rounds 5] [--sequence-python /tmp/seq/bin/python]

1. Create-and-keep, two QPUs 10 km apart, Barrett-Kok through a midpoint station, capture on:
   ``qnet run`` of examples/two-qpus.toml with its workload replaced by one request of ``--pairs``
   create-and-keep pairs (each measured on arrival at both ends), writing its pcap, against
   ``bench/peer_sequence.py`` (two SeQUeNCe QuantumRouters 10 km apart, meet-in-the-middle
   entanglement generation, the same number of pairs). Each figure is pairs over the wall time of the
   whole process, from spawn to exit (interpreter, imports, set-up, run, output).
2. The same ``qnet run`` with measure-directly pairs (QKD-style), capture off.

Before timing, the tree's modules are compiled to bytecode (``compileall``), as ``pip install`` does and as
SeQUeNCe's installed package has them: an editable checkout run with ``PYTHONDONTWRITEBYTECODE=1`` (this
machine's sessions set it) otherwise compiles its ~100 modules from source at every start, ~0.1-0.2 s of
CPU that is no part of what is compared. ``--no-compile`` skips this (and times whatever the tree has).

SeQUeNCe needs Python ≥ 3.12 (see bench/peer_sequence.py for the install); without
``--sequence-python`` (or when it does not run) only qnetstack's figures are printed.
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

ROOT = Path(__file__).resolve().parent.parent


def scenario(kind: str, pairs: int) -> str:
    """examples/two-qpus.toml with one workload request of ``pairs`` pairs of ``kind``."""
    text = (ROOT / "examples" / "two-qpus.toml").read_text()
    text = text[:text.index("[[workload]]")].rstrip()
    return text + f'\n\n[[workload]]\nnode = "alice"\nremote = "bob"\ntype = "{kind}"\npairs = {pairs}\n'


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sequence-python", metavar="PYTHON", help="a Python with sequence==1.3.1 installed")
    parser.add_argument("--no-compile", action="store_true", help="do not compile the tree's bytecode first")
    args = parser.parse_args()
    if not args.no_compile:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "stack", "protocols"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        files = {}
        for kind in ("keep", "measure"):
            files[kind] = work / f"{kind}.toml"
            files[kind].write_text(scenario(kind, args.pairs))
        qnet = {"keep": [sys.executable, "-m", "stack.cli", "run", str(files["keep"]), "--quiet", "--pcap",
                         str(work / "keep.pcap")],
                "measure": [sys.executable, "-m", "stack.cli", "run", str(files["measure"]), "--quiet", "--no-pcap"]}
        peer = None
        if args.sequence_python:
            peer = [args.sequence_python, str(ROOT / "bench" / "peer_sequence.py"), "--pairs", str(args.pairs)]
        walls: dict[str, list[float]] = {"keep": [], "measure": [], "sequence": []}
        for _ in range(args.rounds):
            for kind in ("keep", "measure"):
                walls[kind].append(timed(qnet[kind], ROOT)[0])
            if peer is not None:
                wall, out = timed(peer, ROOT)
                assert out.startswith(f"{args.pairs} pairs"), out
                walls["sequence"].append(wall)
    print(f"{args.pairs} pairs per run, whole processes, median of {args.rounds} interleaved rounds "
          f"(load average {os.getloadavg()[0]:.1f}; bytecode {'as found' if args.no_compile else 'compiled'})")
    rows = [("qnetstack create-and-keep, capture on", "keep"), ("qnetstack measure-directly, capture off", "measure")]
    if walls["sequence"]:
        rows.append(("SeQUeNCe 1.3.1 create-and-keep (meet in the middle)", "sequence"))
    for label, key in rows:
        wall = statistics.median(walls[key])
        print(f"  {label:<52} {wall:7.2f} s  {args.pairs / wall:8.0f} pairs/s  "
              f"(min {min(walls[key]):.2f} s, max {max(walls[key]):.2f} s)")
    if walls["sequence"]:
        ratio = statistics.median(walls["sequence"]) / statistics.median(walls["keep"])
        print(f"  create-and-keep: qnetstack / SeQUeNCe = {ratio:.1f}x")


if __name__ == "__main__":
    main()
