"""Synthetic pupils and cases: no real child's data anywhere in the tests."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path

from stdnum.gb import upn as upn_lib

from whereabouts.case_schedule import build_schedule
from whereabouts.directory import load_directory
from whereabouts.models import Address, CaseInput, Contact, Pupil
from whereabouts.pseudonym import DEMO_KEY, Pseudonyms
from whereabouts.school_time import Sessions
from whereabouts.schooldays import SchoolCalendar

TEST_URN = "990201"
_DIRECTORY = Path(__file__).resolve().parent / "data" / "schools.toml"  # conftest.TEST_DIRECTORY
_serial = itertools.count(1)


@cache
def _calendar() -> SchoolCalendar:
    return SchoolCalendar(load_directory(_DIRECTORY).school(TEST_URN))


def last_school_day(on: date | None = None) -> date:
    """The last school day on or before ``on`` (today) in the test directory's calendar.

    The feed refuses an N mark on a day the school is shut, and CI runs on any day (a weekend,
    a bank holiday): a test feeding "today's" marks feeds them for this day, today when it is a
    school day.
    """
    day = on or date.today()
    return day if _calendar().is_school_day(day) else school_day_before(day)


def school_day_before(day: date) -> date:
    """The school day before ``day`` in the test directory's calendar ("yesterday" at school)."""
    before = _calendar().previous_school_day(day)
    assert before is not None, f"no school day before {day} in {_DIRECTORY}"
    return before


def make_upn(la: int = 928, establishment: int = 2001, year: int = 26, serial: int | None = None) -> str:
    body = f"{la:03d}{establishment:04d}{year:02d}{(serial or next(_serial)) % 1000:03d}"
    return upn_lib.calc_check_digit(body) + body


def make_case(
    first_day: date,
    *,
    urn: str = TEST_URN,
    upn: str | None = None,
    language: str | None = None,
    email: str | None = "parent.one@family.example.net",
    second_contact: bool = True,
    flags: list[str] | None = None,
    social_worker_email: str | None = None,
) -> CaseInput:
    contacts = [
        Contact(
            name="Grace Testperson",
            relationship="mother",
            phones=["07700 900123", "01632 960777"],
            email=email,
            language=language,
            parental_responsibility=True,
        )
    ]
    if second_contact:
        contacts.append(
            Contact(
                name="Aunt Synthia",
                relationship="aunt",
                phones=["07700 900456"],
                email="aunt@family.example.net",
                parental_responsibility=False,
            )
        )
    return CaseInput(
        school_urn=urn,
        pupil=Pupil(
            upn=upn or make_upn(),
            forename="Robin",
            surname="Testperson",
            date_of_birth=date(2015, 3, 14),
            year_group="6",
            address=Address(line1="7 Imaginary Row", town="Exampleton", postcode="EX9 1ZZ"),
            flags=["eal", *(flags or [])],
        ),
        contacts=contacts,
        first_day_absent=first_day,
        social_worker_email=social_worker_email,
    )


def next_weekday(after: date) -> date:
    d = after + timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def sessions_for(first_day: date, urn: str = TEST_URN) -> Sessions:
    """The school days a case starting on ``first_day`` would carry, on the test directory."""
    school = load_directory(_DIRECTORY).school(urn)
    started = datetime.combine(first_day, time(9), tzinfo=UTC)
    return build_schedule(school, first_day, started, None).sessions


def case_id_of(case: CaseInput) -> str:
    """The case ID the feed and admin.py work out for this pupil (the demo pseudonym key the
    tests' settings use: no pseudonym key file, ``demo_unencrypted``)."""
    return Pseudonyms(DEMO_KEY, demo=True).case_id(case.school_urn, case.pupil.upn)


def case_id_for(upn: str, urn: str = TEST_URN) -> str:
    """The case ID of a pupil fed by UPN (the demo pseudonym key, as ``case_id_of``)."""
    return Pseudonyms(DEMO_KEY, demo=True).case_id(urn, upn)
