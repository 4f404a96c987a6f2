"""Fuzz every parser of outside input with a million inputs or more, on demand.

    python bench/fuzz.py                       # every target, 1,000,000 inputs each
    python bench/fuzz.py --runs 200000 qhp egp medium
    python bench/fuzz.py --engine hypothesis   # without atheris

The targets are those of ``tests/fuzz_targets.py`` (every struct codec of ``protocols/packets``, the medium
socket's framing, hardware decoding and result check, the scenario loader); each may raise only its own
documented error. With atheris (``pip install atheris``, or ``pip install -e '.[fuzz]'``) each target runs
in its own process under libFuzzer, coverage-guided, starting from the target's valid seeds; otherwise
hypothesis generates the inputs (random bytes and mutated seeds, as in the regular suite, but many more).
Prints the inputs run per target; exits 1 if any target raised anything else (the input is saved under
``--artifacts`` with atheris, and printed with hypothesis).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))                     # tests.fuzz_targets, run from anywhere

DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="target names (default: all)")
    parser.add_argument("--runs", type=int, default=1_000_000, help="inputs per target (default 1,000,000)")
    parser.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    parser.add_argument("--artifacts", type=Path, default=ROOT / "out" / "fuzz", help="where crashing inputs go")
    parser.add_argument("--one", help=argparse.SUPPRESS)          # internal: run one target under atheris
    args = parser.parse_args()
    if args.one:
        return _atheris_child(args.one, args.runs, args.artifacts)
    from tests.fuzz_targets import TARGETS

    names = args.targets or sorted(TARGETS)
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {', '.join(unknown)}; known: {', '.join(sorted(TARGETS))}")
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if _have_atheris() else "hypothesis"
    args.artifacts.mkdir(parents=True, exist_ok=True)
    print(f"fuzz: {len(names)} targets, {args.runs:,} inputs each, with {engine}", flush=True)
    failed = []
    for name in names:
        started = time.monotonic()
        runs, ok = (_atheris(name, args.runs, args.artifacts) if engine == "atheris"
                    else _hypothesis(name, args.runs))
        print(f"{name:<10} {runs:>12,} inputs  {time.monotonic() - started:7.1f} s  "
              f"{'ok' if ok else 'FAILED'}", flush=True)
        if not ok:
            failed.append(name)
    if failed:
        print(f"fuzz: targets that raised an undocumented error: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def _atheris(name: str, runs: int, artifacts: Path) -> tuple[int, bool]:
    """Run one target in a child process under libFuzzer; (inputs run, no crash)."""
    child = subprocess.run([sys.executable, __file__, "--one", name, "--runs", str(runs), "--artifacts",
                            str(artifacts)], capture_output=True, text=True, cwd=ROOT)
    done = DONE.findall(child.stderr)
    if child.returncode != 0:
        sys.stderr.write(child.stderr[-4000:])
    return (int(done[-1][0]) if done else 0), child.returncode == 0


def _atheris_child(name: str, runs: int, artifacts: Path) -> int:
    import atheris

    with atheris.instrument_imports(include=["protocols", "stack", "tests"]):
        from tests.fuzz_targets import TARGETS, check
    target = TARGETS[name]
    corpus = Path(tempfile.mkdtemp(prefix=f"qnet-fuzz-{name}-"))
    for index, seed in enumerate(target.seeds):
        (corpus / f"seed{index}").write_bytes(seed)
    artifacts.mkdir(parents=True, exist_ok=True)
    atheris.Setup([sys.argv[0], f"-runs={runs}", f"-artifact_prefix={artifacts}{os.sep}{name}-",
                   "-max_len=8192", "-print_final_stats=0", str(corpus)],
                  lambda data: check(target, data))
    atheris.Fuzz()                                    # exits the process
    return 0


def _hypothesis(name: str, runs: int) -> tuple[int, bool]:
    from hypothesis import HealthCheck, given, settings

    from tests.fuzz_targets import TARGETS, check
    from tests.test_fuzz_parsers import inputs

    target, count = TARGETS[name], [0]

    @settings(max_examples=runs, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(inputs(target))
    def fuzz(data: bytes) -> None:
        count[0] += 1
        check(target, data)

    try:
        fuzz()
    except Exception as error:                 # a finding: report it, go on with the other targets
        print(f"{name}: {type(error).__name__}: {error}", file=sys.stderr)
        return count[0], False
    return count[0], True


if __name__ == "__main__":
    sys.exit(main())
