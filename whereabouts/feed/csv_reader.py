"""The CSV reader: an MIS export read row by row, so damage stays with the row it is in.

Python's csv module reads a well-formed file; an MIS export, or a sheet a person has edited, is
not always one, and one damaged row must not take the rows after it down with it, because every
good row is a child someone should be looking for this morning. So csv reads one record at a
time from the file's physical lines, and this module decides what each record is:

- A row with more cells than the header, or fewer than its last named column, is rejected: its
  values may sit under the wrong columns. Blank lines and rows of only commas (spreadsheets
  leave them) are skipped, keeping their row number; they carry no mark to reject.
- A quote that opens a cell and never closes would swallow the rows after it: csv reads on to
  the next quote, taking every line between into one cell. A record that runs over several
  lines is kept only if it is well formed and the next line is not a row of its own (a line
  break inside a quoted address is legal CSV); otherwise only its first line is rejected, and
  reading goes on from the next line.
- A file cut short: the complete rows before the cut are read as usual and the cut row is
  rejected and kept (``Feed.cut_at`` says where). A cut exactly at a line break cannot be seen.
- A line longer than ``MAX_LINE_CHARS`` never reaches csv: ``long_lines`` splits it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from typing import Any

from whereabouts.feed.checked import Feed
from whereabouts.feed.columns import COLUMNS, MARK_COLUMNS, REJECT_COLUMNS, column_name
from whereabouts.feed.long_lines import MAX_LINE_CHARS, scan_cells
from whereabouts.feed.rejects import MAX_CELL_CHARS, FeedUnreadable, Problem, Reject, kept, too_long

MAX_RECORD_LINES = 20  # a quoted cell may hold line breaks, but not a page of them
# Physical lines with their endings, split where csv splits (CRLF, CR, LF): io.StringIO does the
# same but holds the text at 4 bytes a character, five times a plain feed's size.
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def csv_records(
    text: str, *, header_check: Callable[[list[str]], None] | None = None
) -> tuple[Feed, Iterable[tuple[int, dict[str, str] | Reject]]]:
    """The header as a ``Feed`` (no rows yet), and each data row's number with its cells by
    column, or with its ``Reject`` when the record itself is damaged.

    ``header_check`` (a column profile's) is given the header's cells and raises
    ``FeedUnreadable`` if they are not its export's; without it the header must name the feed's
    own columns, and one that does not is told which profile or mapping would fit it.
    """
    lines = _LINE.findall(text)
    if len(lines[0]) > MAX_LINE_CHARS:
        raise FeedUnreadable(f"the first line is {len(lines[0]):,} characters long: not a header row")
    header, used, error = _record(lines, 0)
    if error:
        raise FeedUnreadable(f"not CSV: the header row {error}")
    columns = [column_name(c) for c in header]
    if header_check is not None:
        header_check(header)
    elif missing := [c for c in MARK_COLUMNS if c not in columns]:
        if len(header) == 1:
            raise FeedUnreadable(
                f"no header row: the first line must name the columns (missing: {', '.join(missing)}) "
                "(the file looks separated by ';' or tabs: use commas)"
            )
        from whereabouts.feed.profiles.fit import unmatched_header  # profiles read this module's output

        raise FeedUnreadable(unmatched_header(header, missing))
    dupes = sorted({c for c in columns if c and columns.count(c) > 1})
    if dupes:
        raise FeedUnreadable(f"the header names a column twice: {', '.join(dupes)}")
    feed = Feed(
        format="csv",
        columns=[c for c in columns if c and c not in REJECT_COLUMNS and c != "reject_feed"],
        unknown_columns=[
            c
            for c in columns
            if c and c not in COLUMNS and not c.startswith("reject_") and header_check is None
        ],
    )
    # Rows may leave out cells for trailing unnamed header columns, never a named one.
    needed = max(i for i, c in enumerate(columns) if c) + 1
    ends_cleanly = text.endswith(("\n", "\r"))

    def fits(cells: list[str]) -> bool:
        return needed <= len(cells) <= len(columns)

    def name(i: int) -> str:
        return (columns[i] or f"column {i + 1}") if i < len(columns) else "(row)"

    def original(cells: list[str]) -> dict[str, str]:
        return {c: v for c, v in zip(columns, cells, strict=False) if c in feed.columns}

    def next_is_a_row(first: int, last: int) -> bool:
        """Whether the first non-blank line in [first, last) is a whole row on its own."""
        for line in lines[first:last]:
            cells = _one_line(line)
            if not _blank(cells):
                return fits(cells)
        return False

    def long_line(row: int, line: str) -> Reject:
        cells, sizes, more = scan_cells(line, len(columns))
        problems = [
            Problem(name(i), kept(v, n), too_long(n))
            for i, (v, n) in enumerate(zip(cells, sizes, strict=True))
            if n > MAX_CELL_CHARS
        ]
        if more:
            problems.append(
                Problem("(row)", f"over {len(columns)} cells", f"more cells than the header's {len(columns)}")
            )
        if not problems:
            problems.append(
                Problem("(row)", "", f"the line is {len(line):,} characters long: far longer than any row")
            )
        return Reject(
            row,
            problems,
            {c: kept(v, n) for c, v, n in zip(columns, cells, sizes, strict=False) if c in feed.columns},
        )

    def open_quote(row: int, line: str) -> Reject:
        """A row whose quote never closes, from its own line: split at every comma if that gives
        the header's shape (the stray quote kept, for a person to see and delete)."""
        cells = _one_line(line, quoting=csv.QUOTE_NONE)
        if not fits(cells):
            cells = _one_line(line)
        at = next((i for i, c in enumerate(cells) if c.count('"') % 2), len(cells) - 1)
        column, value = (name(at), cells[at]) if cells else ("(row)", "")
        reason = (
            'a quote (") opens this cell and never closes, so it would swallow the rows after it: '
            "remove the stray quote (or close it) and feed the row again"
        )
        return Reject(row, [Problem(column, value, reason)], original(cells))

    def cut(row: int, cells: list[str], inside_quote: bool) -> Reject:
        feed.cut_at = f"in the middle of row {row}"
        where = "inside a quoted cell" if inside_quote else f"after {len(cells)} of its {len(columns)} cells"
        reason = f"the file ends in the middle of this row ({where}): it was cut short"
        column, value = (name(len(cells) - 1), cells[-1]) if cells else ("(row)", "")
        return Reject(row, [Problem(column, value, reason)], original(cells))

    def records() -> Iterable[tuple[int, dict[str, str] | Reject]]:
        row, i = 1, used
        while i < len(lines):
            row += 1
            if len(lines[i]) > MAX_LINE_CHARS:
                yield row, long_line(row, lines[i])
                i += 1
                continue
            cells, spans, error = _record(lines, i)
            if error is None and _blank(cells):
                i += spans
                continue  # a blank line or a row of only commas: spreadsheets leave them
            if spans > 1 and (error or not fits(cells) or next_is_a_row(i + 1, i + spans)):
                yield row, open_quote(row, lines[i])  # only this line: the rows after it are rows
                i += 1
                continue
            last = i + spans >= len(lines)
            quote_left_open = last and spans == 1 and '"' in lines[i] and _open_quote(lines[i])
            if last and not ends_cleanly and (error or quote_left_open or len(cells) < needed):
                yield row, cut(row, cells, quote_left_open)
            elif error:
                yield row, Reject(row, [Problem("(row)", "", error)], original(cells))
            elif quote_left_open:
                yield row, open_quote(row, lines[i])
            elif not fits(cells):
                hint = (
                    "a value with a comma in it needs quotes"
                    if len(cells) > len(columns)
                    else "a cell or a comma is missing"
                )
                count = f"{len(cells)} cell{'' if len(cells) == 1 else 's'}"
                reason = (
                    f"{count} but the header has {len(columns)} ({hint}): values may be in the wrong columns"
                )
                yield row, Reject(row, [Problem("(row)", count, reason)], original(cells))
            else:
                yield row, original(cells)
            i += spans

    return feed, list(records())


class _TooLong(Exception):
    """A record ran over a line too long for csv, or over too many lines."""


class _Lines:
    """Physical lines from ``start`` on, for one csv record, counting what csv takes."""

    def __init__(self, lines: list[str], start: int) -> None:
        self.lines, self.start, self.taken = lines, start, 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        at = self.start + self.taken
        if at >= len(self.lines):
            raise StopIteration
        if len(self.lines[at]) > MAX_LINE_CHARS or self.taken >= MAX_RECORD_LINES:
            self.taken += 1  # the line is part of the record that could not be read
            raise _TooLong
        self.taken += 1
        return self.lines[at]


def _record(lines: list[str], start: int) -> tuple[list[str], int, str | None]:
    """The record starting at line ``start``: its cells, the lines it spans, or what broke it."""
    source = _Lines(lines, start)
    try:
        cells = next(csv.reader(source), [])
    except csv.Error as exc:
        return [], max(source.taken, 1), f"not valid CSV ({exc})"
    except _TooLong:
        return [], source.taken, "runs on over too many lines (an unclosed quote?)"
    return cells, max(source.taken, 1), None


def _one_line(line: str, **fmt: Any) -> list[str]:
    return next(csv.reader([line.rstrip("\r\n")], **fmt), [])


def _open_quote(line: str) -> bool:
    """Whether a line ends inside a quoted cell: a sentinel line after it would join that cell."""
    return list(csv.reader([line.rstrip("\r\n") + "\n", "\x01\n"]))[-1] != ["\x01"]


def _blank(cells: list[str]) -> bool:
    return not any(c.strip() for c in cells)
