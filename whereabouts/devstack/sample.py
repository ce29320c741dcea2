"""The sample feed, dated for today: what ``make run`` feeds.

``examples/absences.csv`` is fictional and keeps its fixed dates (its register day is Fri 27 Nov
2026), so a test or a reader can rely on it. Fed as it is on another day, every case would open
days or weeks late and the walkthrough in the README would not match. So ``make run`` feeds a
copy whose dates are moved: the feed's register day (its latest attendance date) becomes today's
morning register, or, when today is not a school day for that row's school, its last school day;
an earlier date in the sample (an absence since the day before, a ``last_attended``) moves to the
school day as many school days before it, on that school's calendar from the directory. Dates of
birth never move, and each date keeps the format it was written in (the sample shows both).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta

from whereabouts.directory import Directory
from whereabouts.feed.checks import parse_date
from whereabouts.schooldays import SchoolCalendar, WeekdayCalendar
from whereabouts.times import day

MOVED = ("attendance_date", "last_attended")  # never date_of_birth


@dataclass
class MovedFeed:
    text: str
    register_days: dict[str, date]  # school URN -> the register day the sample now stands for
    sample_day: date  # the register day as the sample file writes it
    notes: list[str] = field(default_factory=list)  # anything a person should know (one line each)


def register_day(calendar: SchoolCalendar, today: date) -> date | None:
    """Today if the school is open today, else its last school day (None: no terms this year)."""
    return today if calendar.is_school_day(today) else calendar.previous_school_day(today)


def school_days_before(calendar: SchoolCalendar, earlier: date, later: date) -> int:
    """How many school days ``earlier`` is before ``later``: the school days in [earlier, later)."""
    n, d = 0, earlier
    while d < later:
        n += calendar.is_school_day(d)
        d += timedelta(days=1)
    return n


def back(calendar: SchoolCalendar, start: date, n: int) -> date:
    for _ in range(n):
        prev = calendar.previous_school_day(start)
        if prev is None:
            raise ValueError(f"no school day within a year before {start}")
        start = prev
    return start


def _written(original: str, value: date) -> str:
    return value.strftime("%d/%m/%Y") if "/" in original else value.isoformat()


def move_feed(text: str, directory: Directory, today: date) -> MovedFeed:
    """The sample feed ``text`` with its dates moved so its register day is ``today``'s (see the
    module's docstring). Rows for a school not in the directory keep their dates: the starter
    rejects them as it would any such row."""
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        return MovedFeed(text, {}, today)
    columns = list(rows[0].keys())
    sample_day = max(parse_date(r["attendance_date"]) for r in rows if r.get("attendance_date"))
    targets: dict[str, tuple[SchoolCalendar, SchoolCalendar, date]] = {}
    notes: list[str] = []
    for urn in sorted({r["school_urn"] for r in rows}):
        if not directory.has_school(urn):
            continue
        school = directory.school(urn)
        own = SchoolCalendar(school)
        target = register_day(own, today)
        calendar = own
        if target is None:  # the directory has no term dates this year: count weekdays
            calendar = WeekdayCalendar(school)
            target = register_day(calendar, today)
            notes.append(
                f"{school.name} (URN {urn}) has no school day in the directory's term dates in the "
                f"year before {day(today)}: its sample is dated on weekdays, and the feed will refuse "
                "its N marks until its terms are added"
            )
        assert target is not None
        # The sample's own distances are counted on the calendar its dates are school days in.
        sample_calendar = own if own.is_school_day(sample_day) else WeekdayCalendar(school)
        targets[urn] = (calendar, sample_calendar, target)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        found = targets.get(r["school_urn"])
        if found is not None:
            calendar, sample_calendar, target = found
            for col in MOVED:
                cell = (r.get(col) or "").strip()
                if not cell:
                    continue
                n = school_days_before(sample_calendar, parse_date(cell), sample_day)
                r[col] = _written(cell, back(calendar, target, n))
        writer.writerow(r)
    days = {urn: t for urn, (_, _, t) in targets.items()}
    return MovedFeed(out.getvalue(), days, sample_day, notes)


def feed_day(text: str) -> date | None:
    """The register day of a feed already written (its latest attendance date)."""
    rows = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    days = [parse_date(r["attendance_date"]) for r in rows if (r.get("attendance_date") or "").strip()]
    return max(days, default=None)


def describe(days: dict[str, date], today: date, directory: Directory) -> str:
    """'Tue 1 Dec 2026 (today's morning register)', or which school day each school's is."""
    if not days:
        return "not dated (no school in it is in the directory)"
    distinct = sorted(set(days.values()))
    if distinct == [today]:
        return f"{day(today)} (today's morning register)"
    if len(distinct) == 1:
        return f"{day(distinct[0])} (the last school day: today, {day(today)}, is not one)"
    parts = [f"{directory.school(urn).name} {day(d)}" for urn, d in sorted(days.items())]
    return "; ".join(parts) + f" (today, {day(today)}, where a school is open, else its last school day)"
