"""The school-day calendar: which days a school is open.

The procedure counts *school* days: weekends, England bank holidays, the school's holidays and
its INSET days do not count. Bank holidays come from the ``holidays`` package, whose data changes
between releases, so the workflow never calls this module itself: the schedule activity does and
Temporal records the answer, which replays identically for the life of the case. The case's
schedule (``whereabouts.case_schedule``) is built on this calendar.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from whereabouts.directory import School
from whereabouts.times import LONDON

MAX_SCHOOL_DAYS_SEARCH = 400


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_bank_holiday(day: date) -> bool:
    return day in _bank_holidays(day.year)


def bank_holiday_name(day: date) -> str | None:
    return holidays.country_holidays("GB", subdiv="ENG", years=day.year).get(day)


class SchoolCalendar:
    """Which days a school is open."""

    def __init__(self, school: School) -> None:
        self.school = school
        self._inset = frozenset(school.inset_days)

    def is_school_day(self, day: date) -> bool:
        if day.weekday() >= 5 or is_bank_holiday(day) or day in self._inset:
            return False
        return any(term.start <= day <= term.end for term in self.school.terms)

    def why_not_school_day(self, day: date) -> str | None:
        """Why ``day`` is not a school day for this school, in words for the office; None if it is."""
        when = day.strftime("%a %-d %b %Y")
        if day.weekday() >= 5:
            return f"{when} is a weekend"
        if is_bank_holiday(day):
            return f"{when} is a bank holiday ({bank_holiday_name(day)})"
        if day in self._inset:
            return f"{when} is an INSET day at {self.school.name}"
        if not any(term.start <= day <= term.end for term in self.school.terms):
            return f"{when} is outside {self.school.name}'s term dates in the school directory"
        return None

    def school_days_ahead(self, day: date, limit: int) -> int:
        """How many school days the directory's term dates give after ``day``, counting to ``limit``."""
        ends = max((term.end for term in self.school.terms), default=day)
        count = 0
        while day < ends and count < limit:
            day += timedelta(days=1)
            count += self.is_school_day(day)
        return count

    def previous_school_day(self, day: date) -> date | None:
        """The last school day strictly before ``day`` (within a year), or None."""
        for _ in range(MAX_SCHOOL_DAYS_SEARCH):
            day -= timedelta(days=1)
            if self.is_school_day(day):
                return day
        return None

    def next_school_day(self, day: date) -> date:
        """The first school day strictly after ``day``."""
        for _ in range(MAX_SCHOOL_DAYS_SEARCH):
            day += timedelta(days=1)
            if self.is_school_day(day):
                return day
        raise ValueError(
            f"school {self.school.urn} has no school day within {MAX_SCHOOL_DAYS_SEARCH} days "
            f"after {day}: are its term dates in the directory?"
        )

    def add_school_days(self, day: date, n: int) -> date:
        for _ in range(n):
            day = self.next_school_day(day)
        return day

    def school_days(self, first: date, count: int) -> list[date]:
        """Day 1 is the first day of absence (a day the school marked), then the next ones."""
        days = [first]
        while len(days) < count:
            days.append(self.next_school_day(days[-1]))
        return days


class WeekdayCalendar(SchoolCalendar):
    """Monday to Friday less England's bank holidays: what a case counts when the school's own
    term dates cannot give it a schedule (a date outside its terms, terms missing)."""

    def is_school_day(self, day: date) -> bool:
        return day.weekday() < 5 and not is_bank_holiday(day)


def london(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC)
