"""The procedure on a real school day (issue 15): school hours, late starts, reminders, chasing.

Each test has a time-skipping server of its own, so it can stand on the real dates it is about
(a Friday afternoon, a Thursday evening, a half-term, a July referral), with a real worker and a
real SMTP server. The test directory's school is open 09:00-16:00 on weekdays less bank holidays.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

import pytest_asyncio

from tests.conftest import (
    ROOT,
    TEST_DIRECTORY,
    close_started,
    finish,
    skip_to,
    until,
    until_waiting_for,
    walk_until,
)
from tests.factories import make_case
from whereabouts.activities.deps import Deps
from whereabouts.directory import load_directory
from whereabouts.models import CallRecord, ChildSeen, ParentContact
from whereabouts.schooldays import SchoolCalendar
from whereabouts.times import LONDON
from whereabouts.vocabulary import CmeStage, RiskStatus
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

OFFICE = "office@testhill.example.org"
DSL = "dsl@testhill.example.org"
DEPUTY = "deputy@testhill.example.org"
HEAD = "head@testhill.example.org"
PARENT = "parent.one@family.example.net"
VIC = "vic@testhill.example.org"
LA_CME = "cme@testshire.example.gov.uk"
CALENDAR = SchoolCalendar(load_directory(TEST_DIRECTORY).school("990201"))


def london(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=LONDON)


def minute(t: datetime) -> datetime:
    """A workflow time to the minute, in school time (the server adds milliseconds)."""
    return t.astimezone(LONDON).replace(second=0, microsecond=0)


def next_school_day(after: date, weekday: int | None = None) -> date:
    day = after + timedelta(days=1)
    while not CALENDAR.is_school_day(day) or (weekday is not None and day.weekday() != weekday):
        day += timedelta(days=1)
    return day


async def today(env) -> date:
    return (await env.get_current_time()).astimezone(LONDON).date()


async def logged(handle, what: str) -> list[datetime]:
    """When the case wrote ``what`` (the start of an entry) into its chronology, school time: the
    test server's clock, which the mail's own Date header (the real clock) does not follow."""
    entries = await handle.query(CmeCaseWorkflow.chronology_entries)
    return [
        e.at.astimezone(LONDON).replace(second=0, microsecond=0) for e in entries if e.what.startswith(what)
    ]


def subjects(smtp, address: str) -> list[str]:
    return [str(r.message["Subject"]) for r in smtp.to(address)]


def body(received) -> str:
    return received.message.get_body(("plain",)).get_content()


async def whats(handle) -> list[str]:
    return [e.what for e in await handle.query(CmeCaseWorkflow.chronology_entries)]


def waiting_for(item: str):
    return lambda s: any(p.startswith(item) for p in s.pending)


async def test_a_friday_afternoon_no_answer_waits_for_monday_but_the_dsl_does_not(
    on_duty, settings, smtp, start_case
):
    env = on_duty
    friday = next_school_day(await today(env), weekday=4)
    monday = next_school_day(friday)
    await skip_to(env, london(friday, 13), slack=timedelta(0))  # the PM register's N mark
    pm_mark = make_case(friday).model_copy(update={"first_session": "PM"})  # absent from the PM register
    h = await start_case(env.client, pm_mark, record_as="callback_after_hours")
    await until_waiting_for(h, "Day 1 call outcome")
    await skip_to(env, london(friday, 14, 30), slack=timedelta(0))
    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="no_answer", at=london(friday, 14, 30), by="T. Hale"),
    )
    # 16:30 is after the office closes: no call-back prompt then, but the DSL is asked then.
    await skip_to(env, london(friday, 16, 31), slack=timedelta(0))
    await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked")
    [request] = [r for r in smtp.to(DSL) if "Risk assessment needed" in str(r.message["Subject"])]
    assert await logged(h, "Risk assessment requested from the DSL (sent out of school hours)") == [
        london(friday, 16, 30)
    ]
    assert "sent out of school hours" in body(request)
    assert not any("Call back now" in x for x in subjects(smtp, OFFICE))
    assert "Call-back would fall after school hours: the Day 2 call will be the call-back" in await whats(h)
    # Monday at opening: the Day 2 prompt, which is also the call-back; nothing over the weekend.
    status = await walk_until(env, h, waiting_for("Day 2 call outcome"), "Monday's call")
    [day2] = [r for r in smtp.to(OFFICE) if "Day 2 follow-up" in str(r.message["Subject"])]
    assert await logged(h, "Day 2 call prompt e-mailed") == [london(monday, 9)]
    assert "this call is also the call-back" in body(day2)
    assert len(smtp.to(OFFICE)) == 2  # the Day 1 prompt on Friday, the Day 2 prompt on Monday
    assert status.stage is CmeStage.DAY2_CALL
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS feed", where="present mark"))
    await finish(env, h)


async def test_a_case_opened_on_day4_at_1835_catches_up_once_in_the_morning(
    on_duty, settings, smtp, start_case
):
    env = on_duty
    monday = next_school_day(await today(env), weekday=0)
    thursday, friday = monday + timedelta(days=3), monday + timedelta(days=4)
    assert all(CALENDAR.is_school_day(d) for d in (monday, thursday, friday))
    await skip_to(env, london(thursday, 18, 35), slack=timedelta(0))  # a late feed
    h = await start_case(env.client, make_case(monday), record_as="late_start_catch_up")
    # Unexplained for days of school time: the DSL is asked at once, out of hours.
    await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked")
    assert await logged(h, "Risk assessment requested from the DSL (sent out of school hours)") == [
        london(thursday, 18, 35)
    ]
    assert smtp.to(DSL) and not smtp.to(OFFICE) and not smtp.to(PARENT)  # nothing for them at 18:35
    # Friday at opening: ONE catch-up prompt, and the letter, with a deadline still ahead.
    status = await walk_until(env, h, lambda s: bool(smtp.to(OFFICE)), "catch-up prompt")
    office = smtp.to(OFFICE)
    assert [str(r.message["Subject"]).split(":")[0] for r in office] == ["Catch-up needed now"]
    assert await logged(h, "catch-up call prompt e-mailed") == [london(friday, 9)]
    text = body(office[0])
    assert "school day 5" in text and "the Day 1 call" in text and "the Day 2 call" in text
    assert "the Day 3 letter" in text
    status = await until(h, lambda s: s.letter_deadline is not None, "letter")
    assert len(smtp.to(PARENT)) == 1
    assert await logged(h, "Day 3 letter e-mailed") == [london(friday, 9)]
    deadline = status.letter_deadline.astimezone(LONDON)
    assert deadline > london(friday, 9) and deadline == london(
        next_school_day(monday + timedelta(days=7)), 16
    )
    assert status.school_day == 5
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS feed", where="present mark"))
    await finish(env, h)


async def test_a_worker_down_for_days_wakes_with_one_catch_up_and_nothing_twice(
    dev_env, settings, smtp, start_case
):
    """The worker is down while the Day 2 call falls due (and its whole school day passes).

    On the real dev server with the compressed clock (a school day in 2 s): the time-skipping
    server cannot skip time while a case has a task no worker takes, so it cannot show a worker
    that is down. The catch-up is the same one a late start gets (the Thursday 18:35 test above).
    """
    settings.school_day_seconds = 2.0
    deps = Deps.from_settings(settings)
    h = await start_case(dev_env.client, make_case(date.today()), record_as="worker_outage_catch_up")
    async with build_worker(dev_env.client, settings, deps):
        await until_waiting_for(h, "Day 1 call outcome")
    await asyncio.sleep(3 * settings.school_day_seconds)  # down: Day 2 opens and closes unseen
    async with build_worker(dev_env.client, settings, deps):
        status = await until(h, waiting_for("catch-up call outcome"), "one catch-up", 20)
        await until(h, lambda s: s.letter_deadline is not None, "the letter")
        ids = [str(r.message["Message-ID"]) for r in smtp.received]
        assert len(ids) == len(set(ids))  # nothing sent twice
        mine = [
            str(r.message["Subject"])
            for r in smtp.to(OFFICE)
            if h.id.split("-")[2] in str(r.message["Subject"])
        ]
        assert sum("Catch-up needed now" in x for x in mine) == 1
        assert sum("Day 1 call needed" in x for x in mine) == 1
        assert not any("Day 2 follow-up" in x for x in mine)
        assert "Case behind its schedule on school day" in " ".join(await whats(h))
        assert status.stage in (CmeStage.DAY2_CALL, CmeStage.RISK_ASSESSMENT, CmeStage.DAY3_LETTER)
        await h.execute_update(
            CmeCaseWorkflow.record_contact, ParentContact(reason="mother rang back", by="T. Hale")
        )
        await finish(dev_env, h)


async def test_an_unrecorded_day1_outcome_gets_a_reminder_and_the_dsl_is_asked(
    on_duty, settings, smtp, start_case
):
    env = on_duty
    day = next_school_day(await today(env))
    await skip_to(env, london(day, 9, 30), slack=timedelta(0))
    h = await start_case(env.client, make_case(day))
    await until_waiting_for(h, "Day 1 call outcome")
    await skip_to(env, london(day, 11, 31), slack=timedelta(0))
    status = await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked after 2 hours")
    assert any(p.startswith("Day 1 call outcome (OVERDUE since") for p in status.pending)
    assert len([r for r in smtp.to(OFFICE) if str(r.message["Subject"]).startswith("Reminder")]) == 1
    assert await logged(h, "Reminder to the office: Day 1 call outcome not recorded") == [london(day, 11, 30)]
    request = next(r for r in smtp.to(DSL) if "Risk assessment needed" in str(r.message["Subject"]))
    assert "no contact recorded 2 hours" in body(request)


async def test_an_unanswered_dsl_request_is_chased_then_goes_to_the_deputy_and_head(
    on_duty, settings, smtp, start_case
):
    env = on_duty
    day = next_school_day(await today(env))
    await skip_to(env, london(day, 9, 30), slack=timedelta(0))
    h = await start_case(env.client, make_case(day), record_as="dsl_chased")
    await until_waiting_for(h, "Day 1 call outcome")
    await skip_to(env, london(day, 9, 45), slack=timedelta(0))
    await h.execute_update(
        CmeCaseWorkflow.record_call, CallRecord(outcome="not_reassured", by="T. Hale", note="evasive")
    )
    await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked")
    await skip_to(env, london(day, 11, 46), slack=timedelta(0))
    await until(h, lambda s: any("still needed" in x for x in subjects(smtp, DSL)), "DSL chased")
    await skip_to(env, london(day, 13, 46), slack=timedelta(0))
    await until(h, lambda s: bool(smtp.to(DEPUTY)), "deputy and head told")
    chase = [r for r in smtp.to(DSL) if "still needed" in str(r.message["Subject"])]
    assert len(chase) == 1 and smtp.to(HEAD)
    assert await logged(h, "Risk assessment request unanswered: the DSL chased") == [london(day, 11, 45)]
    assert await logged(h, "Risk assessment request unanswered: the deputy DSL") == [london(day, 13, 45)]
    status = await h.query(CmeCaseWorkflow.status)
    assert any(p.startswith("DSL risk assessment (OVERDUE since") for p in status.pending)
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS feed", where="present mark"))
    await finish(env, h)


async def test_the_visit_comes_after_the_letters_deadline_and_the_letter_says_when(
    on_duty, settings, smtp, start_case
):
    env = on_duty
    monday = next_school_day(await today(env), weekday=0)
    week = [monday + timedelta(days=n) for n in range(8)]
    assert all(CALENDAR.is_school_day(d) for d in week if d.weekday() < 5)
    await skip_to(env, london(monday, 9, 30), slack=timedelta(0))
    h = await start_case(env.client, make_case(monday))
    status = await walk_until(env, h, lambda s: s.visit_booked_for is not None, "visit booked")
    wednesday, friday, next_monday = week[2], week[4], week[7]
    letter = smtp.to(PARENT)[0]
    assert await logged(h, "Day 3 letter e-mailed") == [london(wednesday, 9)]
    deadline = status.letter_deadline.astimezone(LONDON)
    assert deadline == london(friday, 16)  # 3 working days: Wednesday, Thursday and Friday
    assert status.visit_booked_for.astimezone(LONDON) == london(next_monday, 14)  # after it
    text = body(letter)
    assert "Friday, 2" in text or friday.strftime("%A") in text
    assert f"visit your home on {next_monday.strftime('%A')}" in text.replace("\n", " ")
    assert smtp.to(VIC)
    assert await logged(h, "Home visit booked") == [london(friday, 9)]  # on the deadline's morning


@pytest_asyncio.fixture
async def oakfield(own_env, settings):
    """A worker whose directory is the example one: Oakfield's real terms, with their holidays."""
    settings.directory_path = ROOT / "examples" / "schools.toml"
    own_env.signer.examples = True  # its people are the demo ones (examples/keys/)
    async with build_worker(own_env.client, settings, Deps.from_settings(settings)):
        yield own_env
        await close_started()


OAKFIELD_OFFICE = "attendance@oakfield.example.org"
OAKFIELD_DSL = "dsl@oakfield.example.org"
OAKFIELD_LA = "cme.tracking@exampleshire.example.gov.uk"


async def test_a_july_referral_is_in_bst_and_the_la_chase_counts_working_days_not_term(
    oakfield, settings, smtp, start_case
):
    env = oakfield
    first = date(2027, 6, 30)  # Day 10 is Tue 13 Jul, a week before Oakfield breaks up
    await skip_to(env, london(first, 9, 30), slack=timedelta(0))
    h = await start_case(env.client, make_case(first, urn="990101"), record_as="la_chase_summer")
    status = await walk_until(env, h, lambda s: s.referred_at is not None, "referral", limit=600)
    assert minute(status.referred_at) == london(date(2027, 7, 13), 9)
    # The LA works through the school holidays: 10 working days, not 10 school days.
    status = await until(h, lambda s: s.next_action == "LA decision due (chase if none)", "chase due")
    assert minute(status.next_action_at) == london(date(2027, 7, 27), 9)
    referral = body(smtp.to(OAKFIELD_LA)[0])
    assert "UTC" not in referral and "Booked for Wed 7 Jul 2027, 14:00" in referral
    assert "Tue 13 Jul 2027, 09:00" in referral  # the chronology in school time (BST)
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS feed", where="present mark"))
    await finish(env, h)


async def test_a_case_open_when_half_term_starts_gets_a_pre_holiday_check(
    oakfield, settings, smtp, start_case
):
    env = oakfield
    first = date(2027, 2, 8)  # Oakfield breaks up on Fri 12 Feb, back on Mon 22 Feb
    await skip_to(env, london(first, 9, 30), slack=timedelta(0))
    h = await start_case(env.client, make_case(first, urn="990101"), record_as="pre_holiday_check")
    await walk_until(env, h, lambda s: s.visit_booked_for is not None, "visit booked")
    await skip_to(env, london(date(2027, 2, 12), 13, 1), slack=timedelta(0))
    await until(h, lambda s: any("Before the holiday" in x for x in subjects(smtp, OAKFIELD_DSL)), "check")
    [check] = [r for r in smtp.to(OAKFIELD_DSL) if "Before the holiday" in str(r.message["Subject"])]
    assert "Fri 12 Feb 2027" in body(check) and "Mon 22 Feb 2027" in body(check)
    assert "Forced marriage and FGM" in body(check)
    assert await logged(h, "Pre-holiday check asked of the DSL") == [london(date(2027, 2, 12), 13)]
    status = await h.query(CmeCaseWorkflow.status)
    assert status.visit_booked_for.astimezone(LONDON) == london(date(2027, 2, 22), 14)
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS feed", where="present mark"))
    await finish(env, h)
