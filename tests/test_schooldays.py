"""The school-day calendar on real dates: the procedure counts school days, not calendar days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from whereabouts.case_schedule import build_schedule, la_chase_after
from whereabouts.directory import DirectoryError, School, load_directory
from whereabouts.schooldays import SchoolCalendar
from whereabouts.settings import ROOT

DIRECTORY = load_directory(ROOT / "examples" / "schools.toml")
OAKFIELD = DIRECTORY.school("990101")
ALL_YEAR = School.model_validate(
    {
        **OAKFIELD.model_dump(),
        "terms": [{"start": date(2020, 1, 1), "end": date(2035, 12, 31)}],
        "inset_days": [],
    }
)
MORNING = datetime(2027, 1, 1, 8, 30, tzinfo=UTC)


def days(school: School, first: date) -> list[date]:
    return list(build_schedule(school, first, MORNING, None).school_dates)


def test_weekend_is_skipped():
    # Thu 14 Jan 2027: Day 3 is Monday.
    assert days(OAKFIELD, date(2027, 1, 14))[:3] == [date(2027, 1, 14), date(2027, 1, 15), date(2027, 1, 18)]


def test_easter_weekend_bank_holidays_skipped():
    # Good Friday 26 Mar 2027 and Easter Monday 29 Mar 2027 (school open all year here).
    got = days(ALL_YEAR, date(2027, 3, 25))
    assert got[:3] == [date(2027, 3, 25), date(2027, 3, 30), date(2027, 3, 31)]


def test_late_may_bank_holiday_and_half_term():
    # Oakfield: half-term 31 May - 4 Jun 2027 (also the late-May bank holiday), INSET 7 Jun.
    got = days(OAKFIELD, date(2027, 5, 27))
    assert got[:3] == [date(2027, 5, 27), date(2027, 5, 28), date(2027, 6, 8)]
    # Without term dates the bank holiday alone still counts.
    assert days(ALL_YEAR, date(2027, 5, 28))[1] == date(2027, 6, 1)


def test_christmas_holidays():
    got = days(OAKFIELD, date(2026, 12, 17))
    # Term ends Fri 18 Dec; 4 Jan is INSET; school back Tue 5 Jan 2027.
    assert got[:3] == [date(2026, 12, 17), date(2026, 12, 18), date(2027, 1, 5)]
    assert days(ALL_YEAR, date(2026, 12, 24))[:3] == [
        date(2026, 12, 24),
        date(2026, 12, 29),
        date(2026, 12, 30),
    ]


def test_29_february():
    got = days(OAKFIELD, date(2028, 2, 28))
    assert got[1] == date(2028, 2, 29)


def test_clock_change_keeps_school_time():
    # Clocks go forward on Sun 28 Mar 2027: a 09:00 call is 09:00 UTC before, 08:00 UTC after.
    sched = build_schedule(ALL_YEAR, date(2027, 3, 24), MORNING, None)
    assert sched.day2_call == datetime(2027, 3, 25, 9, 0, tzinfo=UTC)  # GMT
    # Day 3 = Fri 26 Mar is Good Friday; Day 3 is Tue 30 Mar, in BST.
    assert sched.day3_letter == datetime(2027, 3, 30, 8, 0, tzinfo=UTC)


def test_schedule_points():
    sched = build_schedule(OAKFIELD, date(2027, 1, 11), MORNING, None)  # Monday
    assert sched.callback_after_seconds == 7200
    assert sched.day3_letter == datetime(2027, 1, 13, 9, 0, tzinfo=UTC)  # Day 3 at opening
    # The family's 3 working days: Days 3, 4 and 5; the deadline is the close of Friday.
    assert sched.letter_deadline == datetime(2027, 1, 15, 16, 0, tzinfo=UTC)
    assert sched.visit_booking == datetime(2027, 1, 15, 9, 0, tzinfo=UTC)  # the deadline's morning
    assert sched.home_visit == datetime(2027, 1, 18, 14, 0, tzinfo=UTC)  # Day 6, after the deadline
    assert sched.visit_day == date(2027, 1, 18)
    assert sched.day10_referral.date() == date(2027, 1, 22)  # Day 10
    # The LA's chase: 10 working days (Monday to Friday less bank holidays) after the referral.
    assert la_chase_after(sched.day10_referral, 10, None) == datetime(2027, 2, 5, 9, 0, tzinfo=UTC)


def test_the_la_chase_runs_through_the_summer_holiday():
    # Oakfield breaks up on Wed 21 Jul 2027; the LA does not.
    july = datetime(2027, 7, 14, 8, 0, tzinfo=UTC)  # 09:00 BST
    assert la_chase_after(july, 10, None) == datetime(2027, 7, 28, 8, 0, tzinfo=UTC)
    # Christmas and New Year's Day are not working days for the LA either.
    dec = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
    assert la_chase_after(dec, 10, None) == datetime(2027, 1, 7, 9, 0, tzinfo=UTC)  # 28 Dec is a holiday too


def test_compressed_clock():
    start = datetime(2027, 1, 11, 8, 0, tzinfo=UTC)
    sched = build_schedule(OAKFIELD, date(2027, 1, 11), start, 20)
    assert (sched.day2_call - start).total_seconds() == 20
    assert (sched.day10_referral - start).total_seconds() == 180
    assert (sched.letter_deadline - start).total_seconds() == 100  # the close of Day 5
    assert round(sched.callback_after_seconds, 2) == round(20 * 2 / 7, 2)


def test_no_term_dates_is_a_clear_error():
    school = School.model_validate(
        {**OAKFIELD.model_dump(), "terms": [{"start": date(2020, 1, 1), "end": date(2020, 1, 2)}]}
    )
    with pytest.raises(ValueError, match="term dates"):
        SchoolCalendar(school).next_school_day(date(2027, 1, 1))


def test_malformed_directory_names_file_key_and_problem(tmp_path):
    bad = tmp_path / "schools.toml"
    text = (ROOT / "examples" / "schools.toml").read_text()
    bad.write_text(text.replace('email = "dsl@oakfield.example.org"', 'email = "not-an-email"'))
    with pytest.raises(DirectoryError) as info:
        load_directory(bad)
    assert str(bad) in str(info.value) and "schools[0].dsl.email" in str(info.value)
    with pytest.raises(DirectoryError, match="not found"):
        load_directory(tmp_path / "missing.toml")
    bad.write_text("[[schools]\n")
    with pytest.raises(DirectoryError, match="not valid TOML"):
        load_directory(bad)
