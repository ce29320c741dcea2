"""Reading a whole feed: bytes to text, CSV or JSON told apart by content, every row checked.

This is the one door every caller (``starter.py``, ``--dry-run``, an HTTP endpoint or a folder
watcher) goes through, so each gets the same rows, the same rejects and the same refusals. It
knows nothing of Temporal: a feed can be checked without a cluster.

What is refused here is refused for the whole feed, with ``FeedUnreadable`` and one line the
office can act on: a file that is not UTF-8 text (a gzip'd CSV, an .xlsx, an image: the message
says which, and what to do), an empty one, and a file cut short before any usable row. A file
cut short after some complete rows is read: those rows are children to look for now, and
``Feed.cut_short`` tells the caller to have the feed exported again (feeding it twice is
harmless). ``MAX_FEED_BYTES`` bounds a whole feed, for callers reading one from a file or a
request: a county's morning feed is a few MB.

A row never stops the feed, whatever it holds: a value the readers could not turn into text is
already a ``Reject``, and a row whose checks fail in a way nobody foresaw is rejected too (the
reason names the error's kind, never a value) rather than taking the other rows down with it.
A value that starts with an apostrophe before ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return loses the apostrophe (``unescape_cell``): the rejects file escapes formula-like cells so,
and a fixed rejects file fed back goes in as the office typed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pydantic import ValidationError

from whereabouts.directory import Directory, load_directory
from whereabouts.feed.checked import Feed
from whereabouts.feed.csv_reader import csv_records
from whereabouts.feed.json_reader import json_records
from whereabouts.feed.profiles.mapped import read_profiled
from whereabouts.feed.profiles.spec import Profile
from whereabouts.feed.rejects import (
    MAX_CELL_CHARS,
    FeedUnreadable,
    Problem,
    Reject,
    too_long,
    unescape_cell,
)
from whereabouts.feed.row import FeedRow, problems_of
from whereabouts.settings import Settings, get_settings

MAX_FEED_BYTES = 256 * 1024 * 1024
# What a binary file is, by its first bytes, so the office is told what to do with it.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "compressed with gzip: uncompress it and feed the CSV inside"),
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook (.xlsx): save the sheet as 'CSV UTF-8'"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls): save the sheet as 'CSV UTF-8'"),
    (b"%PDF", "a PDF document: export the marks from the MIS as CSV"),
    (b"\x89PNG", "a PNG image: export the marks from the MIS as CSV"),
    (b"\xff\xd8\xff", "a JPEG image: export the marks from the MIS as CSV"),
)


def decode(data: bytes) -> str:
    """Bytes to text, refusing what is not a UTF-8 text file (a spreadsheet, an image...)."""
    if not data or data.isspace():  # not data.strip(): no copy of a big file to find out
        raise FeedUnreadable("the feed is empty")
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise FeedUnreadable(f"the feed is a binary file, not CSV or JSON text: {what}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FeedUnreadable("the feed is UTF-16 text (Excel's 'Unicode Text'): save it as 'CSV UTF-8'")
    if b"\x00" in data[:65536]:
        raise FeedUnreadable("the feed is a binary file, not CSV or JSON text (save it as CSV UTF-8)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedUnreadable(
            f"the feed is not UTF-8 text (byte {exc.start}): save it as 'CSV UTF-8' and feed it again"
        ) from None
    return text


def read_feed(
    text: str,
    *,
    directory: Directory | None,
    today: date | None = None,
    profile: Profile | None = None,
    contacts_text: str | None = None,
    school_urn: str | None = None,
) -> Feed:
    """Read and check a whole feed; raises FeedUnreadable only when nothing in it can be used.

    ``directory=None`` skips the URN check: only for tools without a directory to hand.
    ``profile`` reads an MIS's own export (``whereabouts.feed.profiles``), its contacts joined
    from ``contacts_text`` (a report of their own) and ``school_urn`` for a one-school export
    with no URN column; the rows then go through the same checks as a feed in our own layout.
    """
    text = text.removeprefix("\ufeff")
    stripped = text.lstrip()
    if not stripped:
        raise FeedUnreadable("the feed is empty")
    records: Iterable[tuple[int, dict[str, str] | Reject | None]]
    if profile is not None:
        if contacts_text is not None and profile.format == "json":
            raise FeedUnreadable(f"{profile.label} reads the contacts from the JSON itself: drop --contacts")
        feed, records = read_profiled(
            stripped if profile.format == "json" else text,
            profile,
            contacts_text=contacts_text,
            school_urn=school_urn,
        )
    elif stripped[0] in "[{":
        feed, records = json_records(stripped)
    else:
        feed, records = csv_records(text)
    check_records(feed, records, directory=directory, today=today)
    return feed


def check_records(
    feed: Feed,
    records: Iterable[tuple[int, dict[str, str] | Reject | None]],
    *,
    directory: Directory | None,
    today: date | None = None,
) -> None:
    """Each record checked into ``feed``: a good row to ``feed.rows``, anything else a reject."""
    context = {"directory": directory, "today": today}
    for row, raw in records:
        if raw is None:
            feed.rejects.append(Reject(row, [Problem("(row)", "", "not a JSON object")], {}))
            continue
        if isinstance(raw, Reject):
            feed.rejects.append(raw)
            continue
        raw = {k: unescape_cell(v) for k, v in raw.items()}
        huge = [Problem(c, v, too_long(len(v))) for c, v in raw.items() if len(v) > MAX_CELL_CHARS]
        if huge:  # damaged: checked no further (a 10 MB e-mail address is not worth parsing)
            feed.rejects.append(Reject(row, huge, dict(raw)))
            continue
        cleaned = {k: v for k, v in ((k, _blank_to_none(v)) for k, v in raw.items()) if v is not None}
        try:
            parsed = FeedRow.model_validate({**cleaned, "row": row}, context=context)
            if parsed.starts_case:
                parsed.to_case()  # the case model has the last word
        except ValidationError as exc:
            feed.rejects.append(Reject(row, problems_of(exc, raw), dict(raw)))
            continue
        except (ValueError, TypeError, LookupError, ArithmeticError, RecursionError) as exc:
            why = f"could not be checked ({type(exc).__name__}): correct the row, or report it if right"
            feed.rejects.append(Reject(row, [Problem("(row)", "", why)], dict(raw)))
            continue
        feed.rows.append(parsed)
    if feed.cut_at and not feed.rows:
        raise FeedUnreadable(
            f"the file is cut short: it ends {feed.cut_at}, and no complete row before the cut "
            "could be used: export the feed again"
        )


def parse_feed(
    text: str,
    *,
    directory: Directory | None = None,
    settings: Settings | None = None,
    today: date | None = None,
) -> tuple[list[FeedRow], list[Reject]]:
    """The good rows and the rejects of a feed's text, for integrations (HTTP, a folder watcher).

    URNs are always checked against a school directory: the one given, else the one the settings
    (``WHEREABOUTS_DIRECTORY_PATH``) name. Raises ``FeedUnreadable`` (nothing usable) and
    ``DirectoryError`` (no directory to check against).
    """
    if directory is None:
        directory = load_directory((settings or get_settings()).directory_path)
    feed = read_feed(text, directory=directory, today=today)
    return feed.rows, feed.rejects


def _blank_to_none(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    return value
