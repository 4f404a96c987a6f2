"""The README's sample output of ``qnet run``, from a real run of the default scenario.

``python -m tests.update_readme_sample`` (from the repository root, in the venv) rewrites the
sample block in README.md with what ``qnet run`` prints today; ``tests/test_readme.py`` checks that
the block is current. Only the wall-clock figure ("in 1.50 s wall") is left out of the comparison.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tempfile
from pathlib import Path

from stack import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
INTRO = "Sample output of `qnet run` (the default scenario, `examples/default.toml`):\n\n```\n"
DEFAULT_PCAP = "out/default.pcap"
CHECKOUT = "/path/to/qnetstack"
"""Shown for this checkout's folder: the summary names the dissector by its absolute path."""
COMMAND = "python -m tests.update_readme_sample"


def block_span(text: str) -> tuple[int, int]:
    """Where the sample block's contents start and end in the README's text."""
    start = text.index(INTRO) + len(INTRO)
    return start, text.index("```", start)


def readme_sample() -> str:
    text = README.read_text(encoding="utf-8")
    start, end = block_span(text)
    return text[start:end]


def qnet_run_output() -> str:
    """What ``qnet run`` prints from the repository root, its capture going to a scratch file instead of
    out/default.pcap (the summary is shown with the default name)."""
    with tempfile.TemporaryDirectory() as scratch:
        return run_default(Path(scratch) / "default.pcap")


def run_default(pcap: Path, report: Path | None = None) -> str:
    """Run ``qnet run --pcap PCAP [--json REPORT]`` from the repository root; what it prints, with the
    default capture name for PCAP and :data:`CHECKOUT` for the checkout's folder (``--json`` prints nothing
    more: tests/conftest.py's ``default_run`` shares one run between the README check and the capture's)."""
    extra = ["--json", str(report)] if report is not None else []
    with contextlib.chdir(ROOT):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            status = cli.main(["run", "--pcap", str(pcap), *extra])
        if status != 0:
            raise RuntimeError(f"qnet run exited with status {status}")
    return printed.getvalue().replace(str(pcap), DEFAULT_PCAP).replace(str(ROOT), CHECKOUT)


def without_wall_time(text: str) -> str:
    """The output with the machine-dependent wall-clock figure replaced by a placeholder."""
    return re.sub(r"in \d+(\.\d+)? s wall", "in <t> s wall", text)


def main() -> int:
    output = qnet_run_output()
    text = README.read_text(encoding="utf-8")
    start, end = block_span(text)
    if without_wall_time(text[start:end]) == without_wall_time(output):
        print("README.md: the sample output is current")
        return 0
    README.write_text(text[:start] + output + text[end:], encoding="utf-8")
    print("README.md: sample output of `qnet run` regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
