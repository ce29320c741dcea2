"""``FeedReport``: what one feed did, in a shape a person, a log and a script can all read.

The same report is the terminal summary, the ``--json`` body an integration keeps in its log and
the reply an HTTP endpoint would give, so it is one pydantic model rather than three renderings
of loose counters. It names rows by their number (1-based, as in the rejects file) and cases by
their ID, never a pupil by name: it is safe to print and to log. Its exit code is decided here,
beside the lists it is decided from, so every caller reads a report the same way.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field

from whereabouts.feed.checked import Feed

# What a report's exit code can be (``starter.py`` exits with the worst of its feeds'): every
# row taken; some rejected, to feed again or cut short; the feed unreadable; Temporal
# unreachable or refusing.
EXIT_ALL_TAKEN, EXIT_NOT_ALL_TAKEN, EXIT_UNREADABLE, EXIT_UNREACHABLE = 0, 1, 2, 3


class RowRef(BaseModel):
    row: int
    case_id: str


class FailedRow(RowRef):
    error: str


class RejectRef(BaseModel):
    """A rejected row as the report shows it: no value, so no personal data on the terminal."""

    row: int
    field: str
    reason: str


class FeedReport(BaseModel):
    """What one feed did. Lists name rows (1-based, as in the rejects file) and case IDs."""

    feed: str = "feed"
    rows: int = 0
    dry_run: bool = False
    unreadable: str | None = None
    cut_short: str | None = Field(
        default=None, description="the file ends early: its complete rows are in, the rest is missing"
    )
    codes: dict[str, int] = Field(default_factory=dict, description="valid rows by attendance code")
    started: list[RowRef] = Field(default_factory=list)
    already_open: list[RowRef] = Field(default_factory=list)
    already_handled: list[RowRef] = Field(default_factory=list)
    closed_as_seen: list[RowRef] = Field(default_factory=list)
    closed_as_explained: list[RowRef] = Field(
        default_factory=list, description="an authorised or explained code closed the case"
    )
    corrections: list[RowRef] = Field(
        default_factory=list, description="N already explained: the office asked to correct it, no chase"
    )
    ignored: dict[str, int] = Field(default_factory=dict, description="rows left alone, by code")
    rejected: list[RejectRef] = Field(default_factory=list)
    rejects_file: str | None = None
    deferred: list[RowRef] = Field(default_factory=list, description="feed these rows again shortly")
    failed: list[FailedRow] = Field(default_factory=list, description="Temporal refused these rows")
    not_done: list[int] = Field(default_factory=list, description="rows not tried: Temporal unreachable")
    unreachable: str | None = None
    seconds: float = 0.0

    @classmethod
    def of(cls, feed: Feed, *, name: str = "feed", dry_run: bool = False) -> FeedReport:
        """The report of a feed just read: its size, valid rows by code, rejects, any cut."""
        return cls(
            feed=name,
            rows=feed.size,
            dry_run=dry_run,
            cut_short=feed.cut_short,
            codes=dict(Counter(r.attendance_code for r in feed.rows)),
            rejected=[RejectRef(row=r.row, field=r.field, reason=r.reason) for r in feed.rejects],
        )

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "started": len(self.started),
            "already_open": len(self.already_open),
            "already_handled": len(self.already_handled),
            "closed_as_seen": len(self.closed_as_seen),
            "closed_as_explained": len(self.closed_as_explained),
            "corrections": len(self.corrections),
            "ignored": sum(self.ignored.values()),
            "rejected": len(self.rejected),
            "deferred": len(self.deferred),
            "failed": len(self.failed),
            "not_done": len(self.not_done),
        }

    def exit_code(self) -> int:
        if self.unreachable or self.failed or self.not_done:
            return EXIT_UNREACHABLE
        if self.unreadable:
            return EXIT_UNREADABLE
        if self.rejected or self.deferred or self.cut_short:
            return EXIT_NOT_ALL_TAKEN
        return EXIT_ALL_TAKEN
