"""Bytecodes executed per function over a window of a run's kernel entries: a count that no load disturbs.

    python bench/opcodes.py [--from 3400] [--to 6800] [--top 40] [--match kernel.py,layer.py] -- SCRIPT ARGS...

SCRIPT runs as ``__main__`` (a path, or ``qnet`` for the command line: ``-- qnet run examples/two-qpus.toml
--quiet --no-pcap``) under ``sys.settrace`` with opcode events; bytecodes are counted, per function (file name
and function name), while the kernel's ``events_run`` (brought up to date each time ``Kernel._next`` returns)
lies in ``[from, to)``, so two trees' counts over the same window of entries compare like for like. Tracing
makes the run ~20× slower and counts bytecodes, not CPU instructions (a bytecode of the runtime's own code
costs ~25–40 instructions, one of code that calls into C much more): use it to see where a change moved work,
and valgrind's instruction counts for what it saved (bench/README.md).
"""

from __future__ import annotations

import argparse
import atexit
import collections
import os
import runpy
import sys
from types import FrameType
from typing import Any

import stack.core.kernel as kernel_module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=int, default=3400)
    parser.add_argument("--to", dest="last", type=int, default=6800)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="comma-separated file names to list (default: all)")
    parser.add_argument("script", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    script = [word for word in args.script if word != "--"]
    counts: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    active = [False]
    original = kernel_module.Kernel._next

    def windowed(self: kernel_module.Kernel) -> Any:
        active[0] = args.first <= self.events_run < args.last
        return original(self)

    kernel_module.Kernel._next = windowed  # type: ignore[method-assign]

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        key = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}"
        if active[0]:
            calls[key] += 1

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if active[0] and event == "opcode":
                counts[key] += 1
            return local
        return local

    def report() -> None:
        sys.settrace(None)
        wanted = [name for name in args.match.split(",") if name]
        rows = [(key, count) for key, count in counts.most_common()
                if not wanted or key.split(":")[0] in wanted]
        print(f"bytecodes over kernel entries [{args.first}, {args.last}): {sum(counts.values())}; "
              "per function (bytecodes, calls):")
        for key, count in rows[:args.top] if args.top else rows:
            print(f"{count:10d} {calls[key]:7d}  {key}")

    atexit.register(report)         # qnet leaves by os._exit after running atexit's functions
    if script[0] == "qnet":
        from stack.cli import program
        sys.argv = script
        sys.settrace(tracer)
        program()
    else:
        sys.argv = script
        sys.settrace(tracer)
        runpy.run_path(script[0], run_name="__main__")


if __name__ == "__main__":
    main()
