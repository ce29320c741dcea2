"""A case's schedule: when each step of the procedure falls due, on the school's own days and hours.

Built once by the schedule activity (the calendar's data can change between deploys; the answer,
recorded in the case's history, cannot). It carries the school days themselves (``Sessions``: each
day's opening and closing) so the workflow can work out school time for whatever happens later,
and the planned moment of each step:

- Day 1: the call, as soon as the case opens (school time counts from the session of the N mark);
- Day 2: the follow-up call at opening; Day 3: the letter at opening;
- the family has 3 working days, Days 3 to 5: the letter's deadline is the close of Day 5, and it
  says the visit is on Day 6; the visit is booked at the opening of Day 5, for Day 6 at 14:00;
- Day 10 at opening: the referral, unless the checks are done sooner (never before the deadline).

The compressed clock (``WHEREABOUTS_SCHOOL_DAY_SECONDS``) makes school days run back to back, each
that many seconds long from the moment the case starts, so a whole case can be rehearsed in minutes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel

from whereabouts.directory import School, SchoolHours
from whereabouts.school_time import Sessions
from whereabouts.schooldays import SchoolCalendar, WeekdayCalendar, is_bank_holiday, london
from whereabouts.times import LONDON

SCHOOL_DAY = timedelta(hours=7)  # what one compressed "school day" stands for
VISIT_TIME = time(14, 0)  # the home visit slot: the morning puts the risk assessment in place
CALLBACK_AFTER = timedelta(hours=2)  # the seed: "call back; risk assess after 2 hours"
OUTCOME_DUE = timedelta(hours=2)  # school time after a call prompt by which its outcome is due
REFERRAL_DAY = 10
LA_CHASE_WORKING_DAYS = 10  # the seed: the LA says "usually within 10 days"
CALENDAR_AHEAD = 60  # school days a case carries: the procedure and weeks of waiting on the LA
OWN_DAYS_NEEDED = REFERRAL_DAY + 2  # fewer from the school's terms, and the case counts weekdays


class CaseSchedule(BaseModel):
    """When each step of a case falls due, as recorded by the schedule activity."""

    started_at: datetime
    compressed: bool
    school_dates: tuple[date, ...]  # index 0 = Day 1 ... as far as the sessions go
    sessions: Sessions
    counts_from: datetime  # when Day 1's school time starts: the session the N mark is for
    callback_after_seconds: float
    outcome_due_seconds: float
    dsl_reply_seconds: float
    day2_call: datetime
    day3_letter: datetime
    letter_deadline: datetime
    visit_booking: datetime
    home_visit: datetime
    home_visit_latest: datetime
    visit_day: date
    day10_referral: datetime
    day_before: date | None = None  # the school day before Day 1: "last attended" when the MIS is silent
    fallback: str | None = None  # why the school's own calendar could not be used (then: weekdays)

    @property
    def callback_after(self) -> timedelta:
        return timedelta(seconds=self.callback_after_seconds)


def _offset(hours: SchoolHours, at: time) -> timedelta:
    return datetime.combine(date.min, at) - datetime.combine(date.min, hours.opens)


def _dates(school: School, calendar: SchoolCalendar, first_day: date) -> list[date]:
    """Day 1 (the first school day on or after the first day of absence) and the school days after
    it; where the school's terms end before ``CALENDAR_AHEAD`` days, weekdays carry on from there.
    Raises ValueError if the school's own terms give fewer days than the procedure needs."""
    dates = [first_day if calendar.is_school_day(first_day) else calendar.next_school_day(first_day)]
    while len(dates) < CALENDAR_AHEAD:
        try:
            dates.append(calendar.next_school_day(dates[-1]))
        except ValueError:
            if len(dates) < OWN_DAYS_NEEDED:
                raise
            weekdays = WeekdayCalendar(school).school_days(dates[-1], CALENDAR_AHEAD - len(dates) + 1)
            dates += weekdays[1:]
    return dates


def sessions(
    hours: SchoolHours, dates: list[date], started_at: datetime, school_day_seconds: float | None
) -> Sessions:
    """Each school day's opening and closing: real (Europe/London) or back to back (compressed)."""
    length = _offset(hours, hours.closes)
    if school_day_seconds is None:
        opens = [london(d, hours.opens) for d in dates]
        closes = [london(d, hours.closes) for d in dates]
        scale = 1.0
    else:
        day = timedelta(seconds=school_day_seconds)
        start = started_at.astimezone(UTC)
        opens = [start + day * n for n in range(len(dates))]
        closes = [start + day * (n + 1) for n in range(len(dates))]
        scale = day / length
    return Sessions(
        dates=dates,
        opens=opens,
        closes=closes,
        afternoon_offset_seconds=_offset(hours, hours.afternoon).total_seconds() * scale,
        visit_offset_seconds=_offset(hours, VISIT_TIME).total_seconds() * scale,
    )


def build_schedule(
    school: School,
    first_day: date,
    started_at: datetime,
    school_day_seconds: float | None,
    *,
    hours: SchoolHours | None = None,
    first_session: str | None = None,
    dsl_reply_hours: float = 2.0,
    calendar: SchoolCalendar | None = None,
) -> CaseSchedule:
    """When each step falls due. Raises ValueError when the calendar runs out of school days."""
    hours = hours or SchoolHours()
    calendar = calendar or SchoolCalendar(school)
    dates = _dates(school, calendar, first_day)
    s = sessions(hours, dates, started_at, school_day_seconds)
    scale = 1.0 if school_day_seconds is None else school_day_seconds / SCHOOL_DAY.total_seconds()
    counts_from = s.opens[0]
    if first_session == "PM" and dates[0] == first_day:
        counts_from += timedelta(seconds=s.afternoon_offset_seconds)
    deadline = s.closes[4]  # Days 3, 4 and 5
    visit = s.opens[5] + timedelta(seconds=s.visit_offset_seconds)
    return CaseSchedule(
        started_at=started_at.astimezone(UTC),
        compressed=school_day_seconds is not None,
        school_dates=dates,
        sessions=s,
        counts_from=counts_from,
        callback_after_seconds=CALLBACK_AFTER.total_seconds() * scale,
        outcome_due_seconds=OUTCOME_DUE.total_seconds() * scale,
        dsl_reply_seconds=dsl_reply_hours * 3600 * scale,
        day2_call=s.opens[1],
        day3_letter=s.opens[2],
        letter_deadline=deadline,
        visit_booking=s.opens[4],
        home_visit=visit,
        home_visit_latest=s.closes[5],
        visit_day=dates[5],
        day10_referral=s.opens[REFERRAL_DAY - 1],
        day_before=calendar.previous_school_day(first_day),
    )


def schedule_for(
    school: School,
    first_day: date,
    started_at: datetime,
    school_day_seconds: float | None,
    *,
    hours: SchoolHours | None = None,
    first_session: str | None = None,
    dsl_reply_hours: float = 2.0,
) -> CaseSchedule:
    """The case's schedule on the school's calendar; where that cannot give one, on weekdays less
    bank holidays, saying why, so a case is never left without one (and never retries for ever)."""
    fallback = None
    for calendar in (SchoolCalendar(school), WeekdayCalendar(school)):
        try:
            schedule = build_schedule(
                school,
                first_day,
                started_at,
                school_day_seconds,
                hours=hours,
                first_session=first_session,
                dsl_reply_hours=dsl_reply_hours,
                calendar=calendar,
            )
        except ValueError as exc:
            fallback = str(exc)
            continue
        return schedule.model_copy(update={"fallback": fallback})
    raise AssertionError("weekdays less bank holidays never run out")


def more_sessions(
    school: School,
    hours: SchoolHours,
    after: Sessions,
    count: int,
    school_day_seconds: float | None,
) -> Sessions:
    """The ``count`` school days after the last of ``after``: a case waiting months on the LA
    refreshes its calendar with these (weekdays if the school's terms run out meanwhile)."""
    last = after.dates[-1]
    try:
        dates = SchoolCalendar(school).school_days(last, count + 1)[1:]
    except ValueError:
        dates = WeekdayCalendar(school).school_days(last, count + 1)[1:]
    started = after.closes[-1] if school_day_seconds is not None else after.opens[0]
    return sessions(hours, dates, started, school_day_seconds)


def la_chase_after(instant: datetime, n: int, school_day_seconds: float | None) -> datetime:
    """The same time of day ``n`` working days (Monday to Friday less bank holidays) later: the LA
    works through the school holidays, so its chase counts its own days, not the school's."""
    if school_day_seconds is not None:
        return instant + timedelta(seconds=school_day_seconds * n)
    local = instant.astimezone(LONDON)
    day = local.date()
    while n:
        day += timedelta(days=1)
        if day.weekday() < 5 and not is_bank_holiday(day):
            n -= 1
    return london(day, local.time().replace(tzinfo=None))
