"""The school-day calendar and the case's schedule.

The procedure counts *school* days: weekends, England bank holidays, the school's holidays and
its INSET days do not count. Bank holidays come from the ``holidays`` package, whose data changes
between releases, so the workflow never calls this module itself: the ``schedule`` activity does
and Temporal records the answer, which replays identically for the life of the case.

Times are Europe/London school times turned into UTC instants. The compressed clock
(``WHEREABOUTS_SCHOOL_DAY_SECONDS``) maps the school day 09:00-16:00 onto that many seconds,
starting at the moment the case starts, so a whole case can be rehearsed in minutes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays
from pydantic import BaseModel

from whereabouts.directory import School
from whereabouts.times import LONDON

SCHOOL_OPENS = time(9, 0)
SCHOOL_CLOSES = time(16, 0)
SCHOOL_DAY = timedelta(hours=7)

CALL_TIME = time(9, 0)  # Day 2 call prompt, Day 3 letter, referral point
VISIT_TIME = time(14, 0)  # home visit slot on Day 5: the morning puts the risk assessment in place
CALLBACK_AFTER = timedelta(hours=2)
LETTER_WORKING_DAYS = 3
REFERRAL_DAY = 10
LA_CHASE_WORKING_DAYS = 10
MAX_SCHOOL_DAYS_SEARCH = 400


class CaseSchedule(BaseModel):
    """When each step of a case falls due, as recorded by the schedule activity."""

    started_at: datetime
    compressed: bool
    school_dates: list[date]  # index 0 = Day 1 ... index 9 = Day 10
    callback_after_seconds: float
    day2_call: datetime
    day3_letter: datetime
    letter_deadline: datetime
    visit_booking: datetime
    home_visit: datetime
    home_visit_latest: datetime
    day10_referral: datetime
    day_before: date | None = None  # the school day before Day 1: "last attended" when the MIS is silent
    fallback: str | None = None  # why the school's own calendar could not be used (then: weekdays)

    @property
    def callback_after(self) -> timedelta:
        return timedelta(seconds=self.callback_after_seconds)


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


class Clock:
    """Turns "school day N at HH:MM" into an instant, on the real or the compressed calendar."""

    def __init__(
        self,
        calendar: SchoolCalendar,
        first_day: date,
        started_at: datetime,
        school_day_seconds: float | None,
    ) -> None:
        self.calendar = calendar
        self.first_day = first_day
        self.started_at = started_at.astimezone(UTC)
        self.day_seconds = school_day_seconds

    def scaled(self, span: timedelta) -> timedelta:
        if self.day_seconds is None:
            return span
        return timedelta(seconds=self.day_seconds * span / SCHOOL_DAY)

    def at(self, day_n: int, when: time, dates: list[date]) -> datetime:
        if self.day_seconds is None:
            return london(dates[day_n - 1], when)
        into_day = datetime.combine(date.min, when) - datetime.combine(date.min, SCHOOL_OPENS)
        return self.started_at + timedelta(seconds=self.day_seconds * (day_n - 1)) + self.scaled(into_day)

    def working_days_after(self, instant: datetime, n: int) -> datetime:
        """The same school time ``n`` school days after ``instant``."""
        if self.day_seconds is None:
            local = instant.astimezone(LONDON)
            day = self.calendar.add_school_days(local.date(), n)
            return london(day, local.time().replace(tzinfo=None))
        return instant + timedelta(seconds=self.day_seconds * n)


def build_schedule(
    school: School,
    first_day: date,
    started_at: datetime,
    school_day_seconds: float | None,
    calendar: SchoolCalendar | None = None,
) -> CaseSchedule:
    """When each step falls due. Raises ValueError when the calendar runs out of school days."""
    calendar = calendar or SchoolCalendar(school)
    clock = Clock(calendar, first_day, started_at, school_day_seconds)
    dates = calendar.school_days(first_day, REFERRAL_DAY)
    letter = clock.at(3, CALL_TIME, dates)
    deadline = clock.at(3 + LETTER_WORKING_DAYS, SCHOOL_CLOSES, dates)
    return CaseSchedule(
        started_at=clock.started_at,
        compressed=school_day_seconds is not None,
        school_dates=dates,
        callback_after_seconds=clock.scaled(CALLBACK_AFTER).total_seconds(),
        day2_call=clock.at(2, CALL_TIME, dates),
        day3_letter=letter,
        letter_deadline=deadline,
        visit_booking=clock.at(5, CALL_TIME, dates),
        home_visit=clock.at(5, VISIT_TIME, dates),
        home_visit_latest=clock.at(6, SCHOOL_CLOSES, dates),
        day10_referral=clock.at(REFERRAL_DAY, CALL_TIME, dates),
        day_before=calendar.previous_school_day(first_day),
    )


def schedule_for(
    school: School, first_day: date, started_at: datetime, school_day_seconds: float | None
) -> CaseSchedule:
    """The case's schedule on the school's calendar; where that cannot give one, on weekdays less
    bank holidays, saying why, so a case is never left without one (and never retries for ever)."""
    try:
        return build_schedule(school, first_day, started_at, school_day_seconds)
    except ValueError as exc:
        schedule = build_schedule(
            school, first_day, started_at, school_day_seconds, calendar=WeekdayCalendar(school)
        )
        return schedule.model_copy(update={"fallback": str(exc)})


def calendar_for(school: School, around: date) -> SchoolCalendar:
    """The school's calendar if its term dates cover ``around`` and the weeks after, else weekdays."""
    calendar = SchoolCalendar(school)
    try:
        calendar.add_school_days(around, LETTER_WORKING_DAYS + 2)
    except ValueError:
        return WeekdayCalendar(school)
    return calendar


def letter_deadline(school: School, sent_at: datetime, school_day_seconds: float | None) -> datetime:
    """Close of school on the third school day after the letter goes: the seed's "3 working days"
    run from when the letter actually goes, however late that is."""
    if school_day_seconds is not None:
        return sent_at + timedelta(seconds=school_day_seconds * (LETTER_WORKING_DAYS + 1))
    sent_on = sent_at.astimezone(LONDON).date()
    day = calendar_for(school, sent_on).add_school_days(sent_on, LETTER_WORKING_DAYS)
    return london(day, SCHOOL_CLOSES)


def next_visit_slot(
    school: School, after: datetime, school_day_seconds: float | None
) -> tuple[datetime, datetime]:
    """The next home-visit slot still ahead of ``after`` (a school day at VISIT_TIME), and the
    latest the visit may happen (close of the next school day)."""
    if school_day_seconds is not None:
        slot = after + timedelta(seconds=school_day_seconds * 5 / 7)
        return slot, slot + timedelta(seconds=school_day_seconds)
    local = after.astimezone(LONDON)
    calendar = calendar_for(school, local.date())
    day = local.date()
    if not calendar.is_school_day(day) or local.time().replace(tzinfo=None) >= VISIT_TIME:
        day = calendar.next_school_day(day)
    return london(day, VISIT_TIME), london(calendar.next_school_day(day), SCHOOL_CLOSES)


def working_days_after(
    school: School, instant: datetime, n: int, school_day_seconds: float | None
) -> datetime:
    clock = Clock(SchoolCalendar(school), instant.date(), instant, school_day_seconds)
    return clock.working_days_after(instant, n)
