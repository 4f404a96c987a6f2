"""docs/wire.md §6.2's filters, which follow one circuit, request and pair across the layers, run on the capture
they were written from (``examples/repeater-chain.toml``) and match the frames they say they match."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from stack.cli import main
from tests.tshark_util import have_tshark, run_tshark

if not have_tshark():
    if os.environ.get("QNET_REQUIRE_TSHARK"):
        raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
    pytest.skip("tshark is not on PATH", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
SECTION = re.compile(r"^### 6\.2 Following a circuit\n(.*?)^### ", re.M | re.S)


def documented_filters() -> list[tuple[str, int | None]]:
    """(filter, frame count or None) of each line of §6.2's code block: `FILTER   # what (COUNT)`."""
    section = SECTION.search((ROOT / "docs" / "wire.md").read_text())
    assert section is not None
    block = section.group(1).split("```")[1]
    filters = []
    for line in block.strip().splitlines():
        text, _, comment = line.partition("#")
        count = re.search(r"\((\d+)\)\s*$", comment)
        filters.append((text.strip(), int(count.group(1)) if count else None))
    return filters


@pytest.fixture(scope="module")
def counts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Each documented filter's frame count in the example's capture: one tshark pass (``-z io,stat``)."""
    path = tmp_path_factory.mktemp("chain") / "repeater-chain.pcap"
    assert main(["run", str(ROOT / "examples" / "repeater-chain.toml"), "--quiet", "--pcap", str(path)]) == 0
    filters = [f for f, _ in documented_filters()]
    assert not any("," in f for f in filters)               # io,stat separates its filters by commas
    out = run_tshark(path, "-q", "-z", "io,stat,0," + ",".join(filters))
    (row,) = [line for line in out.splitlines() if "<>" in line]
    cells = [cell.strip() for cell in row.split("|")[2:-1]]
    return dict(zip(filters, map(int, cells[0::2][:len(filters)]), strict=True))


def test_the_section_lists_filters() -> None:
    filters = documented_filters()
    assert len(filters) >= 10 and all(count is not None for _, count in filters)


@pytest.mark.parametrize(("display_filter", "count"), documented_filters())
def test_each_filter_matches_what_the_section_says(counts: dict[str, int], display_filter: str, count: int) -> None:
    assert counts[display_filter] == count, (display_filter, counts[display_filter])
