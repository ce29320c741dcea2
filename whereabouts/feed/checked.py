"""``Feed``: one feed read and checked, the value every step after reading is handed.

The readers fill it in, ``write_rejects`` writes its rejects out, ``feed()`` takes its rows to
Temporal and the report copies its rejects and where it was cut short; each takes the whole of
it, so no caller can pass good rows and lose their rejects (or the news that the file was cut
short) on the way. It has a module of its own so that the readers, the rejects writer and the
intake can all use it without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from whereabouts.feed.rejects import Reject
from whereabouts.feed.row import FeedRow


@dataclass
class Feed:
    """A feed read and checked: good rows, rejects, and its columns (for the rejects file)."""

    format: str  # "csv" or "json"
    columns: list[str]
    rows: list[FeedRow] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    cut_at: str | None = None  # where a file cut short ends: "in the middle of row 7"

    @property
    def size(self) -> int:
        return len(self.rows) + len(self.rejects)

    @property
    def cut_short(self) -> str | None:
        """One line for the office when the file ends early: rows after the cut are missing."""
        if self.cut_at is None:
            return None
        return (
            f"the file is cut short: it ends {self.cut_at}; rows after the cut are missing: "
            "export the feed again and feed the whole file (rows already in are recognised)"
        )
