"""The register is the truth: marks fed through the starter into a real worker change the case.

Each test has its own time-skipping server (``own_env``), so the clock can walk a pupil's school
days; every mark goes in the way the MIS's morning export does, through ``read_feed`` and
``feed``, never by signalling the case directly. What is checked is what staff and the LA would
see: the case's outcome and chronology, the e-mails, and the lines of the MIS write-back.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import jsonschema

from tests.conftest import RECORD_AS, ROOT, STARTED, TEST_DIRECTORY, finish, refused, skip_to, until
from tests.factories import TEST_URN, make_upn
from whereabouts.directory import load_directory
from whereabouts.feed import COLUMNS, FeedReport, feed, read_feed
from whereabouts.models import (
    CallRecord,
    LaDecisionRecord,
    LaUpdate,
    ParentContact,
    RiskAssessment,
    SchoolEnquiry,
    VisitRecord,
)
from whereabouts.schooldays import SchoolCalendar
from whereabouts.times import LONDON
from whereabouts.vocabulary import CmeOutcome, CmeStage, EnquiryItem
from whereabouts.workflows.case import CmeCaseWorkflow

DIRECTORY = load_directory(TEST_DIRECTORY)
CALENDAR = SchoolCalendar(DIRECTORY.school(TEST_URN))
OFFICE = "office@testhill.example.org"
DSL = "dsl@testhill.example.org"
LA_CME = "cme@testshire.example.gov.uk"
SCHEMA = json.loads((ROOT / "schemas" / "mis-writeback.schema.json").read_text())


def new_upn() -> str:
    n = uuid.uuid4().int
    return make_upn(la=928, establishment=n % 9000 + 1000, year=n // 10**4 % 100, serial=n // 10**6 % 1000)


def mark(upn: str, code: str, on: date, session: str = "AM") -> dict[str, str]:
    """One row of the MIS's export: an N carries everything a case needs, other marks need not."""
    return {
        "school_urn": TEST_URN,
        "upn": upn,
        "forename": "Robin",
        "surname": "Testperson",
        "date_of_birth": "14/03/2015",
        "year_group": "6",
        "address_line1": "7 Imaginary Row",
        "town": "Exampleton",
        "postcode": "EX9 1ZZ",
        "attendance_date": on.isoformat(),
        "session": session,
        "attendance_code": code,
        "contact1_name": "Grace Testperson",
        "contact1_relationship": "mother",
        "contact1_phone": "07700 900123",
        "contact1_email": "parent.one@family.example.net",
    }


async def fed(env, settings, *rows: dict[str, str]) -> FeedReport:
    """Feed rows as the morning export would; cases it starts are closed when the test ends."""
    buf = io.StringIO()
    out = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    out.writeheader()
    out.writerows(rows)
    today = (await env.get_current_time()).astimezone(LONDON).date()
    checked = read_feed(buf.getvalue(), directory=DIRECTORY, today=today)
    assert not checked.rejects, checked.rejects
    report = await feed(env.client, checked, settings)
    assert not report.failed and not report.deferred, report
    for ref in report.started + report.corrections:
        STARTED.append(env.client.get_workflow_handle_for(CmeCaseWorkflow.run, ref.case_id))
    return report


def school_days(start: date, n: int) -> list[date]:
    days: list[date] = []
    d = start
    while len(days) < n:
        if CALENDAR.is_school_day(d):
            days.append(d)
        d += timedelta(days=1)
    return days


async def first_monday(env) -> date:
    """A Monday that starts at least four school days in a row (no bank holiday that week)."""
    d = (await env.get_current_time()).astimezone(LONDON).date() + timedelta(days=1)
    while not (d.weekday() == 0 and all(CALENDAR.is_school_day(d + timedelta(days=i)) for i in range(5))):
        d += timedelta(days=1)
    return d


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=LONDON)


def outbox(settings) -> list[dict]:
    path: Path = settings.mis_outbox
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def changes(settings, case_id: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """The register changes the write-back carries for a case: (date, session, old, new)."""
    return [
        (x["date"], x["session"], x["old_code"], x["new_code"])
        for x in outbox(settings)
        if x["kind"] == "mark_change" and x["case_id"] == case_id
    ]


async def chronology(handle) -> list[str]:
    return [e.what for e in await handle.query(CmeCaseWorkflow.chronology_entries)]


def day1_prompted(status) -> bool:
    return any(x.startswith("Day 1 call outcome") for x in status.pending)


def subjects(smtp, address: str) -> list[str]:
    return [str(r.message["Subject"]) for r in smtp.to(address)]


def bodies(smtp, address: str, subject_has: str) -> list[str]:
    return [
        r.message.get_body(("plain",)).get_content()
        for r in smtp.to(address)
        if subject_has in str(r.message["Subject"])
    ]


# --------------------------------------------------------------------------------------------
# Corrections close or change the case
# --------------------------------------------------------------------------------------------
async def test_n_corrected_to_i_closes_the_case_as_explained_with_the_code(on_duty, settings, smtp):
    env = on_duty
    monday = await first_monday(env)
    upn = new_upn()
    await skip_to(env, at(monday, 9, 30))
    report = await fed(env, settings, mark(upn, "N", monday))
    (ref,) = report.started
    h = env.client.get_workflow_handle_for(CmeCaseWorkflow.run, ref.case_id)
    RECORD_AS[h.id] = "register_n_corrected_to_i"
    await until(h, lambda s: s.next_action_at is not None, "Day 1 under way")

    # The office corrects the mark in the MIS: the next export says I (illness) for Monday AM.
    report = await fed(env, settings, mark(upn, "I", monday), mark(upn, "I", monday, "PM"))
    assert [r.case_id for r in report.closed_as_explained] == [h.id]
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.EXPLAINED_ABSENCE
    assert "I (illness)" in (result.chronology[-1].detail or "")
    whats = [e.what for e in result.chronology]
    assert whats.count("MIS: the absence is explained in the register: I (illness)") == 1
    # The register has the code already: nothing to change in it, and no chase went on.
    assert changes(settings, h.id) == []
    assert not smtp.to(DSL)

    # Fed again, the same export finds the case closed and leaves it alone.
    again = await fed(env, settings, mark(upn, "I", monday))
    assert again.ignored == {"I": 1} and not again.started


async def test_n_corrected_to_l_in_the_same_session_means_the_child_was_seen(on_duty, settings, smtp):
    env = on_duty
    monday = await first_monday(env)
    upn = new_upn()
    await skip_to(env, at(monday, 9, 15))
    (ref,) = (await fed(env, settings, mark(upn, "N", monday))).started
    h = env.client.get_workflow_handle_for(CmeCaseWorkflow.run, ref.case_id)
    RECORD_AS[h.id] = "register_n_corrected_to_l"
    await until(h, day1_prompted, "Day 1 prompt")

    # The child arrived at 10:20, before the register closed: the MIS now says L for Monday AM.
    await skip_to(env, at(monday, 10, 25))
    report = await fed(env, settings, mark(upn, "L", monday))
    assert [r.case_id for r in report.closed_as_seen] == [h.id]
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.CHILD_SEEN
    assert "L (late, arrived before the register closed)" in (result.chronology[-1].detail or "")
    # The call-back and the DSL's request never went: the child was in class.
    assert not any("Call back" in s for s in subjects(smtp, OFFICE))
    assert not smtp.to(DSL)


async def test_an_o_mark_keeps_the_case_going_and_each_mark_is_kept_once(on_duty, settings):
    env = on_duty
    monday = await first_monday(env)
    tuesday = monday + timedelta(days=1)
    upn = new_upn()
    await skip_to(env, at(monday, 9, 30))
    (ref,) = (await fed(env, settings, mark(upn, "N", monday))).started
    h = env.client.get_workflow_handle_for(CmeCaseWorkflow.run, ref.case_id)
    await skip_to(env, at(tuesday, 9, 30))
    for _ in range(2):  # the same export fed twice
        report = await fed(env, settings, mark(upn, "O", tuesday), mark(upn, "N", tuesday, "PM"))
        assert [r.row for r in report.already_open] == [2, 3]
    whats = await chronology(h)
    assert whats.count("MIS: still absent: register O (absent in other or unknown circumstances)") == 1
    assert whats.count("MIS: still absent: register N (reason for absence not yet established)") == 1
    status = await h.query(CmeCaseWorkflow.status)
    assert status.stage is not CmeStage.CLOSED


# --------------------------------------------------------------------------------------------
# A closed episode is not chased again for the same absence
# --------------------------------------------------------------------------------------------
async def test_an_n_the_parent_already_explained_asks_for_a_correction_not_a_chase(on_duty, settings, smtp):
    env = on_duty
    monday = await first_monday(env)
    tuesday, wednesday, thursday = (monday + timedelta(days=i) for i in (1, 2, 3))
    upn = new_upn()
    await skip_to(env, at(monday, 9, 30))
    (ref,) = (await fed(env, settings, mark(upn, "N", monday))).started
    h = env.client.get_workflow_handle_for(CmeCaseWorkflow.run, ref.case_id)
    await until(h, day1_prompted, "Day 1 prompt")
    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="safe_with_parent", reason="tonsillitis", code="I", until=wednesday, by="T. Hale"),
    )
    await finish(env, h)
    assert changes(settings, h.id) == [(monday.isoformat(), "AM", "N", "I")]
    prompts_before = len([s for s in subjects(smtp, OFFICE) if "Day 1 call needed" in s])

    # Tuesday morning's export still says N (nobody has entered the illness code yet).
    await skip_to(env, at(tuesday, 9, 30))
    report = await fed(env, settings, mark(upn, "N", tuesday))
    assert [r.case_id for r in report.corrections] == [h.id] and not report.started
    correction = env.client.get_workflow_handle_for(CmeCaseWorkflow.run, h.id)
    RECORD_AS[h.id] = "register_correction_already_explained"
    result = await finish(env, correction)
    assert result.outcome is CmeOutcome.EXPLAINED_ABSENCE
    assert any(e.what.startswith("N mark already explained") for e in result.chronology)
    # The office is asked to correct the mark; no Day 1 chase started.
    (task,) = bodies(smtp, OFFICE, "correct a mark in the register")
    assert "I (illness)" in task and "No new chase has started" in task
    assert len([s for s in subjects(smtp, OFFICE) if "Day 1 call needed" in s]) == prompts_before
    assert (tuesday.isoformat(), "AM", "N", "I") in changes(settings, h.id)

    # Thursday is after the explanation ran out: an N there is a new case, from Day 1.
    await skip_to(env, at(thursday, 9, 30))
    report = await fed(env, settings, mark(upn, "N", thursday))
    assert [r.case_id for r in report.started] == [h.id]


async def test_absent_9_days_back_1_then_absent_again_is_flagged_and_reaches_the_la(on_duty, settings, smtp):
    env = on_duty
    days = school_days(await first_monday(env), 11)
    upn = new_upn()
    first = None
    for d in days[:9]:
        await skip_to(env, at(d, 9, 30))
        report = await fed(env, settings, mark(upn, "N", d))
        if first is None:
            first = env.client.get_workflow_handle_for(CmeCaseWorkflow.run, report.started[0].case_id)
            await until(first, day1_prompted, "Day 1 prompt")
            await first.execute_update(
                CmeCaseWorkflow.record_call, CallRecord(outcome="no_answer", by="T. Hale")
            )
    assert first is not None
    await skip_to(env, at(days[9], 9, 30))
    report = await fed(env, settings, mark(upn, "/", days[9]))  # back for a day
    assert [r.case_id for r in report.closed_as_seen] == [first.id]
    await finish(env, first)
    dsl_before = len(smtp.to(DSL))

    await skip_to(env, at(days[10], 9, 30))
    (ref,) = (await fed(env, settings, mark(upn, "N", days[10]))).started
    h = env.client.get_workflow_handle_for(CmeCaseWorkflow.run, ref.case_id)
    # The new case names the previous episode, the DSL hears of the pattern at once, and the LA
    # gets its 10-day return that morning: 9 + 1 school days, not continuous, counted together.
    await skip_to(env, at(days[10], 10, 30))
    await until(h, lambda s: s.ten_day_return_at is not None, "the 10-day return")
    whats = await chronology(h)
    assert "Absent again after a recent episode" in whats
    new_dsl = [r.message.get_body(("plain",)).get_content() for r in smtp.to(DSL)[dsl_before:]]
    assert any("repeated episodes of absence: 9 school days" in b for b in new_dsl)
    (ret,) = bodies(smtp, LA_CME, "10-day return")
    assert "Absent:       10 school days" in ret and "not continuous, counted together" in ret
    assert any(w.startswith("10-day return sent to the LA (10 school days") for w in whats)


# --------------------------------------------------------------------------------------------
# The 5-day N rule and the structured write-back
# --------------------------------------------------------------------------------------------
async def test_before_day_5_the_office_is_told_to_replace_n_and_the_write_back_carries_it(
    on_duty, settings, smtp
):
    env = on_duty
    monday, tuesday, wednesday, thursday, friday = school_days(await first_monday(env), 5)
    upn = new_upn()
    await skip_to(env, at(monday, 9, 30))
    (ref,) = (await fed(env, settings, mark(upn, "N", monday))).started
    h = env.client.get_workflow_handle_for(CmeCaseWorkflow.run, ref.case_id)
    RECORD_AS[h.id] = "register_five_day_n_rule"
    for d in (tuesday, wednesday):
        await skip_to(env, at(d, 9, 30))
        await fed(env, settings, mark(upn, "N", d), mark(upn, "N", d, "PM"))
    assert not [s for s in subjects(smtp, OFFICE) if "5-day rule" in s]

    await skip_to(env, at(thursday, 10, 30))  # Day 4, once the morning's marks are in
    await until(h, lambda s: bool(changes(settings, h.id)), "the write-back")
    (task,) = bodies(smtp, OFFICE, "replace code N in the register (5-day rule)")
    assert "regulation 10" in task and "should become O" in task
    expected = {
        (monday.isoformat(), "AM", "N", "O"),
        (tuesday.isoformat(), "AM", "N", "O"),
        (tuesday.isoformat(), "PM", "N", "O"),
        (wednesday.isoformat(), "AM", "N", "O"),
        (wednesday.isoformat(), "PM", "N", "O"),
    }
    assert set(changes(settings, h.id)) == expected
    for line in outbox(settings):
        jsonschema.validate(line, SCHEMA)
    lines = [x for x in outbox(settings) if x["kind"] == "mark_change"]
    assert all(x["school_urn"] == TEST_URN and x["upn"] == upn for x in lines)
    assert len({x["id"] for x in lines}) == len(lines)  # stable, distinct IDs a consumer can ack

    # Friday the parent rings: it was illness all along. Every one of those marks becomes I.
    await skip_to(env, at(friday, 9, 0))
    await h.execute_update(
        CmeCaseWorkflow.record_contact, ParentContact(reason="chickenpox", code="I", by="office")
    )
    await finish(env, h)
    assert {(d, s, old, new) for d, s, old, new in changes(settings, h.id) if new == "I"} == {
        (d, s, "O", "I") for d, s, _, _ in expected
    }


# --------------------------------------------------------------------------------------------
# The 10-day return and the 20-day deletion rule
# --------------------------------------------------------------------------------------------
async def test_the_deletion_rule_the_10_day_return_and_the_deletion_return(on_duty, settings, smtp):
    env = on_duty
    days = school_days(await first_monday(env), 21)
    upn = new_upn()
    await skip_to(env, at(days[0], 9, 30))
    (ref,) = (await fed(env, settings, mark(upn, "N", days[0]))).started
    h = env.client.get_workflow_handle_for(CmeCaseWorkflow.run, ref.case_id)
    RECORD_AS[h.id] = "register_deletion"
    await until(h, day1_prompted, "Day 1 prompt")
    await h.execute_update(CmeCaseWorkflow.record_call, CallRecord(outcome="no_answer", by="T. Hale"))
    await h.execute_update(CmeCaseWorkflow.record_risk, RiskAssessment(at_risk=False, by="D. Lead"))
    for n, d in enumerate(days[1:10], start=2):
        await skip_to(env, at(d, 9, 30))
        await fed(env, settings, mark(upn, "N" if n < 4 else "O", d))
        if n == 6:
            await until(h, lambda s: s.visit_booked_for is not None, "visit booked")
            await h.execute_update(
                CmeCaseWorkflow.record_visit, VisitRecord(outcome="no_answer", by="V. Isitor")
            )
    await until(h, lambda s: s.referred_at is not None, "the referral on Day 10")
    await skip_to(env, at(days[9], 11, 0))
    await until(h, lambda s: s.ten_day_return_at is not None, "the 10-day return")

    # Day 10: referred, but deletion is refused with what is missing.
    why = await refused(
        h.execute_update(
            CmeCaseWorkflow.record_la_decision,
            LaDecisionRecord(decision="remove_from_roll", by="LA officer"),
        ),
        "cannot be deleted from the roll yet",
    )
    assert "10 continuous school days coded G, N or O" in why and "9(1)(i)" in why
    assert "siblings' schools asked" in why and "the LA has not recorded" in why
    # The LA keeps the child on roll while its enquiries go on: the case waits on, for removal.
    await h.execute_update(
        CmeCaseWorkflow.record_la_decision,
        LaDecisionRecord(decision="keep_on_roll", by="LA officer", note="enquiries continue"),
    )

    for item, note in [
        ("calls", None),
        ("letter", None),
        ("visit", None),
        ("siblings_schools", "brother's secondary: not seen there"),
        ("other_agencies", "health visitor and GP: no contact since October"),
        ("not_ill", "no medical information suggests illness"),
    ]:
        await h.execute_update(
            CmeCaseWorkflow.record_enquiry, SchoolEnquiry(item=EnquiryItem(item), note=note, by="office")
        )
    await h.execute_update(
        CmeCaseWorkflow.record_la_update,
        LaUpdate(kind="enquiry", note="checked housing, council tax, NHS spine", by="LA officer"),
    )
    for d in days[10:20]:
        await skip_to(env, at(d, 9, 30))
        await fed(env, settings, mark(upn, "O", d))
    await h.execute_update(
        CmeCaseWorkflow.record_la_update,
        LaUpdate(kind="enquiry", note="port check: left the UK", complete=True, by="LA officer"),
    )
    status = await h.query(CmeCaseWorkflow.status)
    assert status.register_days == 20 and status.deletion_needs == []

    await h.execute_update(
        CmeCaseWorkflow.record_la_decision,
        LaDecisionRecord(decision="remove_from_roll", by="LA officer", new_address="believed abroad"),
    )
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.REMOVED_FROM_ROLL
    whats = [e.what for e in result.chronology]
    assert whats.count("10-day return sent to the LA (10 school days of absence)") == 1
    assert any("keep" in w.lower() and "roll" in w.lower() for w in whats), whats
    assert "LA enquiries complete: the child has not been found" in whats
    assert len(bodies(smtp, LA_CME, "10-day return")) == 1

    (deletion,) = bodies(smtp, LA_CME, "Deletion return")
    for field in (
        "Pupil's full name:  Robin Testperson",
        "Grace Testperson (mother), 7 Imaginary Row, Exampleton, EX9 1ZZ; emergency telephone: 07700 900123",
        "New address, if known: believed abroad",
        "New school, if known:  not known",
        "regulation 9(1)(i)",
        "Continuous school days of absence counted from the register: 20",
    ):
        assert field in deletion, field
    (ctf,) = bodies(smtp, OFFICE, "Common Transfer File")
    assert "XXX" in ctf and "School to School" in ctf
