"""School time worked out from a case's recorded school days: no calendar, no server.

What the workflow asks of its recorded sessions (the next opening, two hours of school time, the
school day's number, the letter's three working days, the holidays ahead) on Oakfield's real
terms: a Friday evening, a half-term, a clock change.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from whereabouts.case_schedule import build_schedule
from whereabouts.directory import load_directory
from whereabouts.school_time import SchoolTime
from whereabouts.settings import ROOT
from whereabouts.times import LONDON

OAKFIELD = load_directory(ROOT / "examples" / "schools.toml").school("990101")


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=LONDON)


def times_from(first: date) -> SchoolTime:
    return SchoolTime(build_schedule(OAKFIELD, first, at(first, 9, 30), None).sessions)


def test_out_of_hours_waits_for_the_next_opening_across_a_weekend():
    t = times_from(date(2027, 1, 11))  # a Monday in term
    friday = date(2027, 1, 15)
    assert t.in_hours(at(friday, 15, 59)) and not t.in_hours(at(friday, 16, 0))
    assert t.next_open(at(friday, 17, 30)) == at(date(2027, 1, 18), 9, 0)
    assert t.next_open(at(friday, 10, 0)) == at(friday, 10, 0)


def test_school_time_skips_nights_weekends_and_holidays():
    t = times_from(date(2027, 2, 8))  # Oakfield's February half-term: 15-19 Feb
    # Two hours from 15:00 on Friday 12 Feb: one hour that day, one after half-term.
    assert t.add(at(date(2027, 2, 12), 15, 0), 7200) == at(date(2027, 2, 22), 10, 0)
    assert t.between(at(date(2027, 2, 12), 15, 0), at(date(2027, 2, 22), 10, 0)) == 7200


def test_the_day_number_counts_school_days_only():
    t = times_from(date(2027, 1, 11))
    assert t.day_number(at(date(2027, 1, 11), 12)) == 1
    assert t.day_number(at(date(2027, 1, 14), 10)) == 4  # Thursday
    assert t.day_number(at(date(2027, 1, 16), 12)) == 5  # Saturday: still Friday's day
    assert t.day_number(at(date(2027, 1, 18), 9, 30)) == 6


def test_three_working_days_count_the_morning_the_letter_goes():
    t = times_from(date(2027, 1, 11))
    assert t.letter_deadline(at(date(2027, 1, 13), 9)) == at(date(2027, 1, 15), 16)  # Wed: Wed-Fri
    assert t.letter_deadline(at(date(2027, 1, 13), 14)) == at(date(2027, 1, 18), 16)  # afternoon: Thu-Mon
    assert t.letter_deadline(at(date(2027, 1, 15), 18)) == at(date(2027, 1, 20), 16)  # evening: Mon-Wed
    slot, latest, day = t.visit_after(at(date(2027, 1, 15), 16))
    assert (slot, latest, day) == (at(date(2027, 1, 18), 14), at(date(2027, 1, 18), 16), date(2027, 1, 18))


def test_the_holidays_ahead_are_found_and_a_long_weekend_is_not_one():
    t = times_from(date(2027, 3, 22))  # Easter: Oakfield's last day Thu 25 Mar (Good Friday)
    holidays = t.holidays_between(at(date(2027, 3, 22), 9), at(date(2027, 7, 30), 0))
    assert [(h.last_day, h.resumes) for h in holidays] == [
        (date(2027, 3, 25), date(2027, 4, 12)),
        (date(2027, 5, 28), date(2027, 6, 8)),  # half-term, then an INSET day
    ]
    assert holidays[0].closes == at(date(2027, 3, 25), 16)


def test_school_time_keeps_school_hours_across_the_clock_change():
    t = times_from(date(2027, 3, 22))  # clocks go forward on Sun 28 Mar 2027
    before, after = t.next_open(at(date(2027, 3, 27), 12)), t.next_open(at(date(2027, 4, 11), 12))
    assert before.astimezone(LONDON).time() == time(9) == after.astimezone(LONDON).time()


def test_past_the_recorded_days_school_time_runs_on_in_weekdays():
    # Long after the 60 recorded school days (a case waiting months on the LA) a question still
    # has an answer: weekdays at the last recorded hours (the LA wait refreshes the real ones).
    t = times_from(date(2027, 1, 11))
    far = at(date(2027, 12, 1), 11)  # a Wednesday
    assert t.in_hours(far)
    assert t.next_open(far + timedelta(hours=8)).astimezone(LONDON).date() == date(2027, 12, 2)
    assert t.next_open(at(date(2027, 12, 4), 12)).astimezone(LONDON).date() == date(2027, 12, 6)
