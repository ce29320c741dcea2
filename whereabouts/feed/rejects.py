"""What did not go in, and why: a ``Reject`` for a row, ``FeedUnreadable`` for a whole feed.

A bad row never stops the good ones, because every good row is a child someone should be
looking for this morning: it becomes a ``Reject`` naming the row, the column, the value and the
reason, written back out with the original columns so a person can fix it and feed it again.
Only a feed that cannot be read at all (not UTF-8, binary, no header, JSON broken in the middle
of an array, cut short before any usable row) stops, with ``FeedUnreadable``.

Huge values: a cell longer than ``MAX_CELL_CHARS`` is rejected as damaged before any other check.
In the rejects file (and ``Reject.value``) such a value keeps its first ``KEPT_CHARS`` characters
followed by ``... [cut: N characters in the feed]``: enough to recognise it, small enough to open
in a spreadsheet (Excel stops at 32,767 characters a cell); the rest of the row is kept whole so
it can be fixed and fed again.

Reasons never quote names, addresses or phone numbers: they go to the terminal and to logs.
The value itself is only kept for the rejects file, which already holds the whole row.

The rejects file is opened in a spreadsheet, so no cell of it may be a formula: a cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a leading
apostrophe (OWASP's advice on CSV injection), which a spreadsheet shows as text. Fed back, a
value that starts with an apostrophe before one of those characters loses it again
(``unescape_cell``, applied to every feed by ``read_feed``), so a fixed row goes in as typed. A
cell can hold no character that UTF-8 cannot write (a lone UTF-16 surrogate from a JSON feed):
such a character is written as U+FFFD, so writing the rejects never fails on what a row holds.
The file is created 0600: it holds the rows whole.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from whereabouts.feed.columns import COLUMNS, REJECT_COLUMNS
from whereabouts.settings import open_private

if TYPE_CHECKING:
    from whereabouts.feed.checked import Feed

# No column holds more than 254 characters (an e-mail address), a whole row a few thousand:
# anything far beyond is a damaged or wrong file.
MAX_CELL_CHARS = 1_000
KEPT_CHARS = 200


class FeedUnreadable(Exception):
    """The feed cannot be read at all; the message says why in one line, naming no pupil."""


@dataclass(frozen=True)
class Problem:
    column: str
    value: str
    reason: str


@dataclass
class Reject:
    """A row that did not go in: where it is, what is wrong, and the row as it came."""

    row: int
    problems: list[Problem]
    original: dict[str, str]

    def __post_init__(self) -> None:
        # Huge values are cut here, once, so no Reject ever holds (or writes out) megabytes.
        self.original = {k: kept(v) for k, v in self.original.items()}
        self.problems = [Problem(p.column, kept(p.value), p.reason) for p in self.problems]

    # One line per row in the rejects file; several faults in one row are joined with " | ".
    @property
    def field(self) -> str:
        return " | ".join(p.column for p in self.problems)

    @property
    def value(self) -> str:
        return " | ".join(p.value for p in self.problems)

    @property
    def reason(self) -> str:
        """One fault: its reason. Several: each reason once, after the columns it applies to."""
        if len(self.problems) == 1:
            return self.problems[0].reason
        columns: dict[str, list[str]] = {}
        for p in self.problems:
            columns.setdefault(p.reason, []).append(p.column)
        return " | ".join(f"{', '.join(cols)}: {reason}" for reason, cols in columns.items())


def kept(value: str, size: int | None = None) -> str:
    """A value as the rejects file keeps it: whole, or if longer than ``MAX_CELL_CHARS`` (``size``
    when the caller only has its head) its first ``KEPT_CHARS`` characters and a note."""
    size = len(value) if size is None else size
    if size <= MAX_CELL_CHARS:
        return value
    return f"{value[:KEPT_CHARS]}... [cut: {size:,} characters in the feed]"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SURROGATE = re.compile("[\ud800-\udfff]")


def writable(value: str) -> str:
    """``value`` with any lone surrogate (which UTF-8 cannot encode) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", value)


def escape_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading apostrophe before a formula's first
    character (``=``, ``+``, ``-``, ``@``, tab, carriage return)."""
    value = writable(value)
    return f"'{value}" if value.startswith(FORMULA_START) else value


def unescape_cell(value: str) -> str:
    """What ``escape_cell`` wrote, as it was: the apostrophe before a formula character goes."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value


def too_long(size: int) -> str:
    return (
        f"{size:,} characters: far longer than anything this column holds, so the file is "
        f"probably damaged (the rejects file keeps the first {KEPT_CHARS})"
    )


def write_rejects(
    path: str | os.PathLike[str], feeds: list[tuple[str, Feed]], *, feed_column: bool | None = None
) -> int:
    """The rejects as CSV a person can fix and feed again: original columns, then why.

    Several feeds into one file get a ``reject_feed`` column too, saying which feed each row
    came from (row numbers are per feed). Returns the number of rows written.
    """
    columns: list[str] = []
    for _, feed in feeds:
        columns += [c for c in feed.columns if c not in columns]
    if not columns:
        columns = list(COLUMNS)
    with_feed = len(feeds) > 1 if feed_column is None else feed_column
    header = [*columns, *REJECT_COLUMNS, *(["reject_feed"] if with_feed else [])]
    count = 0
    with open(open_private(path), "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\r\n")
        out.writerow([escape_cell(c) for c in header])
        for name, feed in feeds:
            for r in feed.rejects:
                line = [r.original.get(c, "") for c in columns]
                line += [str(r.row), r.field, r.value, r.reason]
                if with_feed:
                    line.append(name)
                out.writerow([escape_cell(c) for c in line])
                count += 1
    return count
