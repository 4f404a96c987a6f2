"""docs/wire.md's bit diagrams agree with its field tables: a field's place in the ASCII art (RFC 791 style, two
characters a bit) is the Bit offset (or Byte offset) and Bits its table gives, or, for a table of Bits alone,
comes in the table's order, so neither can drift from the other (the CREATE diagram once labelled Distil and
Window "DM" and "Rsvd"). The tables themselves are held to the codecs by tests/test_packets.py's golden bytes,
and the CREATE diagram's Distil and Window to the codec here."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from protocols.packets.linkservice import Create

WIRE = (Path(__file__).resolve().parents[1] / "docs" / "wire.md").read_text().split("\n")
RULER = " 0                   1                   2                   3"


@dataclass(frozen=True)
class Diagram:
    line: int
    """1-based line of the opening fence."""
    fields: list[tuple[int, int, str]]
    """(bit offset, bits, label) of each box, in order."""
    table: list[list[str]]
    """The field table right after the diagram (its header row first), or [] when another diagram or a heading
    comes first."""


def _boxes(lines: list[str]) -> list[tuple[int, int, str]]:
    """The boxes of a diagram's rows: each group of lines between ``+-+`` rules is one 32-bit row, except that a
    full-width box labelled "N bits" (or "N bytes") spans N / 32 rows (RFC 4302's ICV: its inner rules are
    ``+   +``; QNCP's common header, 12 bytes)."""
    groups: list[list[str]] = []
    group: list[str] = []
    for line in lines:
        if line.startswith("+-"):
            if group:
                groups.append(group)
            group = []
        elif line.startswith(("|", "+ ")):
            group.append(line)
    if group:
        groups.append(group)
    fields = []
    base = 0
    for group in groups:
        bars = [c for c, ch in enumerate(group[0]) if ch == "|"]
        row = 32
        for a, b in itertools.pairwise(bars):
            label = " ".join(" ".join(line[a + 1:b].split()) for line in group if len(line) > b).strip()
            width = (b - a) // 2
            long = re.search(r"(\d+) (bits|bytes)", label)
            if long and width == 32:
                width = row = int(long.group(1)) * (8 if long.group(2) == "bytes" else 1)
            fields.append((base + a // 2, width, label))
        base += row
    return fields


def _table(start: int) -> list[list[str]]:
    k = start
    while k < len(WIRE) and not WIRE[k].startswith("|"):
        if WIRE[k].startswith(("#", "```")):
            return []
        k += 1
    rows = []
    while k < len(WIRE) and WIRE[k].startswith("|"):
        if not WIRE[k].startswith("| ---"):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", WIRE[k].strip())[1:-1]])
        k += 1
    return rows


def diagrams() -> list[Diagram]:
    """Every bit diagram; diagrams that follow each other with no table between (EGP's header, pair and run
    messages) share the one after the last, as one diagram of all their boxes but the "..." (variable) ones."""
    found: list[Diagram] = []
    run: list[tuple[int, int, str]] = []
    first = 0
    i = 0
    while i < len(WIRE):
        if WIRE[i].startswith("```") and i + 1 < len(WIRE) and WIRE[i + 1].startswith(RULER):
            j = i + 1
            while not WIRE[j].startswith("```"):
                j += 1
            boxes = _boxes(WIRE[i + 3:j])
            first = first or i + 1
            table = _table(j + 1)
            if table or not _next_is_diagram(j + 1):
                if run:
                    boxes = [*run, *(box for box in boxes)]
                found.append(Diagram(first, boxes, table))
                run, first = [], 0
            else:
                run.extend(box for box in boxes if not box[2].endswith("..."))
            i = j
        i += 1
    return found


def _next_is_diagram(start: int) -> bool:
    """Whether another diagram comes before any table or heading after line ``start``."""
    for line in WIRE[start:]:
        if line.startswith(RULER):
            return True
        if line.startswith(("|", "#")):
            return False
    return False


def _expand(table: list[list[str]]) -> list[tuple[int, int, str]]:
    """(offset, bits, field) of each table row with a numeric Bit offset ("112, 120" with "8 each": two)."""
    header = table[0]
    offset, bits = header.index("Bit offset"), header.index("Bits")
    out: list[tuple[int, int, str]] = []
    for row in table[1:]:
        starts = [int(s) for s in re.findall(r"\d+", row[offset])]
        width = re.fullmatch(r"(\d+)( each)?", row[bits])
        if starts and width:
            out.extend((start, int(width.group(1)), row[0]) for start in starts)
    return out


DIAGRAMS = diagrams()
WITH_OFFSETS = [d for d in DIAGRAMS if d.table and "Bit offset" in d.table[0]]
WITH_BYTE_OFFSETS = [d for d in DIAGRAMS if d.table and "Byte offset" in d.table[0]]
WITH_WIDTHS = [d for d in DIAGRAMS if d.table and "Bits" in d.table[0]
               and not {"Bit offset", "Byte offset"} & set(d.table[0])]
"""(QNCP's SETUP, SETUP_REPLY and DISTIL tables give byte offsets instead: :data:`WITH_BYTE_OFFSETS`.)"""


def test_the_parser_finds_the_diagrams() -> None:
    assert len(DIAGRAMS) >= 16
    assert {"Remote Node ID", "Create ID", "Link Label", "Circuit ID"} <= {f[2] for d in DIAGRAMS for f in d.fields}
    assert len(WITH_OFFSETS) >= 8 and len(WITH_WIDTHS) >= 3 and len(WITH_BYTE_OFFSETS) >= 3


@pytest.mark.parametrize("diagram", WITH_OFFSETS, ids=lambda d: f"line{d.line}")
def test_diagram_boxes_are_the_tables_bit_offsets(diagram: Diagram) -> None:
    table = _expand(diagram.table)
    end = max(start + bits for start, bits, _ in table)
    boxes = {(start, bits) for start, bits, _ in diagram.fields if start < end}
    rows = {(start, bits) for start, bits, _ in table}
    assert boxes == rows, (f"wire.md line {diagram.line}: boxes not in the table "
                           f"{sorted(f for f in diagram.fields if (f[0], f[1]) in boxes - rows)}, rows not in the "
                           f"diagram {sorted(r for r in table if (r[0], r[1]) in rows - boxes)}")


@pytest.mark.parametrize("diagram", WITH_BYTE_OFFSETS, ids=lambda d: f"line{d.line}")
def test_diagram_boxes_are_the_tables_byte_offsets(diagram: Diagram) -> None:
    """QNCP's tables: Byte offset × 8 and Bits of each fixed field after the common header (its box is 12 bytes)
    are a box of the diagram, and every box between them is in the table."""
    header = diagram.table[0]
    offset, bits = header.index("Byte offset"), header.index("Bits")
    rows = set()
    for row in diagram.table[1:]:
        width = re.fullmatch(r"(\d+)( each)?", row[bits])
        if re.fullmatch(r"\d+", row[offset]) and width:      # "`a`, `b` | 48 | 16 each": a at 48, b at 50
            bits_each = int(width.group(1))
            for k in range(len(re.findall(r"`[^`]+`", row[0])) or 1):
                rows.add((int(row[offset]) * 8 + k * bits_each, bits_each))
    assert rows, diagram.line
    first, end = min(start for start, _ in rows), max(start + width for start, width in rows)
    boxes = {(start, width) for start, width, _ in diagram.fields if first <= start < end}
    assert boxes == rows, f"wire.md line {diagram.line}: boxes {sorted(boxes - rows)}, rows {sorted(rows - boxes)}"


@pytest.mark.parametrize("diagram", WITH_WIDTHS, ids=lambda d: f"line{d.line}")
def test_diagram_boxes_are_the_tables_widths_in_order(diagram: Diagram) -> None:
    """A table with Bits but no Bit offset lists the fields in order: its leading plain widths are the boxes'."""
    bits = diagram.table[0].index("Bits")
    widths: list[int] = []
    for row in diagram.table[1:]:
        cell = row[bits]
        if re.fullmatch(r"\d+( \+ \d+)*", cell):             # "1 + 1": two one-bit fields in one row
            widths.extend(int(w) for w in cell.split(" + "))
        elif span := re.fullmatch(r"(\d+)–(\d+)", cell):     # "32–95": bits 32 to 95
            widths.append(int(span.group(2)) - int(span.group(1)) + 1)
        else:
            break
    assert widths, diagram.line
    boxes = [f[1] for f in diagram.fields if not f[2].endswith("...")]
    assert boxes[:len(widths)] == widths, f"wire.md line {diagram.line}: {diagram.fields}"


def test_create_diagram_names_distil_and_window() -> None:
    create = next(d for d in WITH_OFFSETS if any(f[2] == "Remote Node ID" for f in d.fields)
                  and any(f[2] == "TU" for f in d.fields))
    labels = {(start, bits): label.replace(" ", "") for start, bits, label in create.fields}
    assert (labels[(106, 2)], labels[(108, 2)]) == ("Distil", "Window")


def test_create_codec_puts_distil_and_window_where_the_diagram_does() -> None:
    create = next(d for d in WITH_OFFSETS if any(f[2] == "TU" for f in d.fields))
    at = {label.replace(" ", ""): (start, bits) for start, bits, label in create.fields}
    for distil, window in ((1, 2), (2, 1), (3, 3)):
        word = int.from_bytes(Create(remote_node_id=2, distil=distil, window=window).encode(), "big")
        read = {name: word >> (24 * 8 - start - bits) & ((1 << bits) - 1)
                for name, (start, bits) in at.items() if name in ("Distil", "Window")}
        assert read == {"Distil": distil, "Window": window}
