"""Lines too long for csv, split by a bounded scanner: a damaged file costs no more than its size.

A line longer than any row (``MAX_LINE_CHARS``) is damage: a 10 MB cell, a whole file on one
line, binary noise that happens to be UTF-8. It is rejected, keeping the first characters of
each of its first cells so a person can recognise it. csv could read it with a raised
``csv.field_size_limit``, but csv builds every cell whole, at 4 bytes a character, and cannot
stop after the header's number of cells. Measured (December 2026, CPython 3.11):

- ``tests/test_feed_garbage.py``'s 10 MB cell and 50 MB line: the starter's peak memory is
  260 MB with this scanner, 484 MB with csv.
- A 50 MB line of 12.5 million short cells: 0.24 s and no memory beyond the text with the
  scanner; 2.8 s and 900 MB more with csv, in proportion to the line rather than to a row.

The limit is also process-wide, so raising it would change every other csv reader in the process
(an HTTP endpoint's, say). Hence a scanner of its own: linear, never copying more than
``MAX_CELL_CHARS + 1`` characters of a cell, stopping after the header's number of cells.
"""

from __future__ import annotations

from whereabouts.feed.rejects import MAX_CELL_CHARS

MAX_LINE_CHARS = 65_536  # below csv's own field limit (131,072), so csv never sees a longer line


def scan_cells(line: str, count: int) -> tuple[list[str], list[int], bool]:
    """The first ``count`` cells of a line too long for csv, each cut to its first
    ``MAX_CELL_CHARS + 1`` characters, their full lengths, and whether more cells follow.

    Linear in the line, never copies more than that of one cell, and stops after ``count``
    cells, so a 50 MB line of anything costs no more than reading it once. CSV quoting as csv
    reads it (a quote closes a quoted cell; ``""`` is a quote); a quote left open runs to the end
    of the line, as it is the line's own damage.
    """
    end = len(line)
    while end and line[end - 1] in "\r\n":  # not rstrip: that would copy the whole line
        end -= 1
    cells: list[str] = []
    sizes: list[int] = []
    pos = 0
    while True:
        cell = _Cell(line)
        if pos < end and line[pos] == '"':
            pos += 1
            while pos < end:
                quote = line.find('"', pos, end)
                if quote < 0:
                    cell.take(pos, end)
                    pos = end
                elif quote + 1 < end and line[quote + 1] == '"':
                    cell.take(pos, quote + 1)
                    pos = quote + 2
                else:
                    cell.take(pos, quote)
                    pos = quote + 1
                    break
        comma = line.find(",", pos, end)
        comma = end if comma < 0 else comma
        cell.take(pos, comma)
        cells.append("".join(cell.head))
        sizes.append(cell.size)
        if comma >= end:
            return cells, sizes, False
        if len(cells) == count:
            return cells, sizes, True
        pos = comma + 1


class _Cell:
    """One cell of an over-long line: its first characters and its full length."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.head: list[str] = []
        self.size = 0
        self.room = MAX_CELL_CHARS + 1

    def take(self, a: int, b: int) -> None:
        if self.room > 0:
            self.head.append(self.line[a : min(b, a + self.room)])
            self.room -= len(self.head[-1])
        self.size += b - a
