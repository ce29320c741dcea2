"""The morning attendance feed: read it, check every row, and turn the good ones into cases.

Schools export the morning's marks from their MIS as CSV (or JSON). ``read_feed`` turns that
text into a ``Feed``: validated ``FeedRow`` objects and, for every row that fails a check, a
``Reject`` to write back out with ``write_rejects``. ``feed()`` then takes a ``Feed`` to Temporal
and returns a ``FeedReport``. ``starter.py`` is a thin command over these, so an HTTP endpoint or
a folder watcher can call the same functions and get the same rows, rejects and report; reading
and checking need no cluster, which is what ``--dry-run`` uses.

Garbage is contained to the row it is in, because every good row is a child someone should be
looking for this morning: each module below says how for its part of the file.

- ``columns``: the column names; ``checks``: the checks on one value; ``row``: ``FeedRow``.
- ``csv_reader`` (and ``long_lines`` for lines too long for csv), ``json_reader``: the formats.
- ``rejects``: ``Reject``, ``FeedUnreadable`` and the rejects file; ``checked``: ``Feed``.
- ``read``: ``decode``, ``read_feed``, ``parse_feed``.
- ``intake``: ``feed()``, the Temporal side; ``report``: ``FeedReport``.

Everything public is re-exported here: import from ``whereabouts.feed``, not from its modules.
"""

from whereabouts.feed.checked import Feed
from whereabouts.feed.checks import (
    EXTRA_LA_NUMBERS,
    check_code,
    check_email,
    check_language,
    check_phone,
    check_postcode,
    check_upn,
    parse_date,
    parse_yes_no,
    session_rank,
)
from whereabouts.feed.columns import (
    CASE_COLUMNS,
    COLUMNS,
    CONTACT_FIELDS,
    MARK_COLUMNS,
    MAX_CONTACTS,
    REJECT_COLUMNS,
    SESSIONS,
    column_name,
)
from whereabouts.feed.csv_reader import MAX_RECORD_LINES
from whereabouts.feed.intake import CLOSE_WAIT_SECONDS, DEFAULT_CONCURRENCY, feed
from whereabouts.feed.long_lines import MAX_LINE_CHARS
from whereabouts.feed.read import MAX_FEED_BYTES, decode, parse_feed, read_feed
from whereabouts.feed.rejects import (
    KEPT_CHARS,
    MAX_CELL_CHARS,
    FeedUnreadable,
    Problem,
    Reject,
    kept,
    too_long,
    write_rejects,
)
from whereabouts.feed.report import (
    EXIT_ALL_TAKEN,
    EXIT_NOT_ALL_TAKEN,
    EXIT_UNREACHABLE,
    EXIT_UNREADABLE,
    FailedRow,
    FeedReport,
    RejectRef,
    RowRef,
)
from whereabouts.feed.row import OLDEST_PUPIL_YEARS, FeedRow

__all__ = [
    "CASE_COLUMNS",
    "CLOSE_WAIT_SECONDS",
    "COLUMNS",
    "CONTACT_FIELDS",
    "DEFAULT_CONCURRENCY",
    "EXIT_ALL_TAKEN",
    "EXIT_NOT_ALL_TAKEN",
    "EXIT_UNREACHABLE",
    "EXIT_UNREADABLE",
    "EXTRA_LA_NUMBERS",
    "KEPT_CHARS",
    "MARK_COLUMNS",
    "MAX_CELL_CHARS",
    "MAX_CONTACTS",
    "MAX_FEED_BYTES",
    "MAX_LINE_CHARS",
    "MAX_RECORD_LINES",
    "OLDEST_PUPIL_YEARS",
    "REJECT_COLUMNS",
    "SESSIONS",
    "FailedRow",
    "Feed",
    "FeedReport",
    "FeedRow",
    "FeedUnreadable",
    "Problem",
    "Reject",
    "RejectRef",
    "RowRef",
    "check_code",
    "check_email",
    "check_language",
    "check_phone",
    "check_postcode",
    "check_upn",
    "column_name",
    "decode",
    "feed",
    "kept",
    "parse_date",
    "parse_feed",
    "parse_yes_no",
    "read_feed",
    "session_rank",
    "too_long",
    "write_rejects",
]
