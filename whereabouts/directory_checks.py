"""Warnings about the school directory that do not stop anything, but will if nobody acts.

A case counts ten school days and more from its first day of absence, so a school whose term
dates in the directory run out soon will have cases whose schedule cannot be worked out. The
directory is valid, so nothing refuses it; instead the worker's log at start and ``admin.py
cases`` say, one sentence per school, whose term dates end too soon and when, so the LA adds the
next terms before a case needs them rather than after one has stalled.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from whereabouts.directory import Directory, DirectoryError, load_directory
from whereabouts.schooldays import SchoolCalendar
from whereabouts.times import LONDON, day

TERM_DAYS_AHEAD = 60  # school days of term dates the directory should hold beyond today


def terms_running_out(
    directory: Directory, today: date | None = None, *, ahead: int = TERM_DAYS_AHEAD
) -> list[str]:
    """One sentence per school whose terms in the directory do not reach ``ahead`` school days
    after ``today`` (school time), naming its URN, its name and its last term date."""
    today = today or datetime.now(LONDON).date()
    out = []
    for school in directory.schools:
        days = SchoolCalendar(school).school_days_ahead(today, ahead)
        if days >= ahead:
            continue
        last = max(term.end for term in school.terms)
        out.append(
            f"school {school.urn} ({school.name}): its last term date in the school directory is "
            f"{day(last)}, only {days} school days ahead (fewer than {ahead}): add its next terms, "
            "or its cases cannot be scheduled"
        )
    return out


def directory_warnings(path: Path, today: date | None = None) -> list[str]:
    """``terms_running_out`` for the directory at ``path``, or one line saying it cannot be read."""
    try:
        directory = load_directory(path)
    except DirectoryError as exc:
        return [f"term dates not checked: {exc}"]
    return terms_running_out(directory, today)
