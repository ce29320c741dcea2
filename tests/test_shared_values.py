"""The cases of a school share one copy of its roster and its school days
(``whereabouts/shared_values.py``): what each case holds is still exactly its own value, and no
case can change what another holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from tests.conftest import TEST_DIRECTORY
from whereabouts.case_schedule import CaseSchedule, build_schedule
from whereabouts.directory import load_directory
from whereabouts.identity import Roster
from whereabouts.school_time import SchoolTime
from whereabouts.shared_values import shared_roster, shared_schedule

DIRECTORY = load_directory(TEST_DIRECTORY)
SCHOOL = DIRECTORY.school("990201")
MONDAY = date(2027, 3, 1)


def decoded_schedule(first_day: date, started: datetime) -> CaseSchedule:
    """A schedule as a case gets it: decoded afresh from its activity's JSON."""
    built = build_schedule(SCHOOL, first_day, started, None)
    return CaseSchedule.model_validate_json(built.model_dump_json())


def decoded_roster(loaded_at: datetime) -> Roster:
    roster = Roster(
        school_urn="990201", la_code="TST", people=DIRECTORY.people_for("990201"), loaded_at=loaded_at
    )
    return Roster.model_validate_json(roster.model_dump_json())


def test_two_cases_of_a_school_hold_one_copy_of_its_days_and_their_own_times():
    morning = datetime.combine(MONDAY, time(10), tzinfo=UTC)
    a = shared_schedule(decoded_schedule(MONDAY, morning))
    b = shared_schedule(decoded_schedule(MONDAY, morning + timedelta(hours=3)))
    assert a.sessions is b.sessions and a.school_dates is b.school_dates
    assert (a.started_at, b.started_at) == (morning, morning + timedelta(hours=3))  # their own
    own = decoded_schedule(MONDAY, morning)
    assert a == own  # what the case holds is its own value, whichever case met it first


def test_a_case_of_another_day_has_its_own_days():
    morning = datetime.combine(MONDAY, time(10), tzinfo=UTC)
    a = shared_schedule(decoded_schedule(MONDAY, morning))
    b = shared_schedule(decoded_schedule(MONDAY + timedelta(days=1), morning + timedelta(days=1)))
    assert a.sessions is not b.sessions and a.sessions.dates[0] != b.sessions.dates[0]


def test_the_shared_days_cannot_be_changed_and_school_time_extends_its_own_copy():
    morning = datetime.combine(MONDAY, time(10), tzinfo=UTC)
    sched = shared_schedule(decoded_schedule(MONDAY, morning))
    with pytest.raises(ValidationError):
        sched.sessions.opens = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        sched.sessions.opens.append(morning)  # type: ignore[attr-defined]
    last = sched.sessions.opens[-1]
    times = SchoolTime(sched.sessions)
    far = last + timedelta(days=90)
    assert times.day_number(far) > len(sched.sessions.opens)  # counted on past the recorded days
    assert sched.sessions.opens[-1] == last  # and the shared copy is as it was
    assert shared_schedule(decoded_schedule(MONDAY, morning)).sessions.opens[-1] == last


def test_two_cases_of_a_school_hold_one_copy_of_its_people():
    now = datetime(2027, 3, 1, 9, tzinfo=UTC)
    a = shared_roster(decoded_roster(now))
    b = shared_roster(decoded_roster(now + timedelta(days=1)))
    assert a.people is b.people and a.loaded_at != b.loaded_at
    assert a == decoded_roster(now)
