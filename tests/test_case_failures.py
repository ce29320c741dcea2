"""A case never fails and never says what did not happen (issue 14), driven as staff drive it.

Real time-skipping server, real worker, real SMTP server that refuses the addresses a test names
with 550, as a real server refuses a mistyped inbox. Each test asserts what reached the SMTP
server, that the case is still running, what it says it waits for, and its chronology.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment

from tests.conftest import (
    TEST_DIRECTORY,
    close_started,
    finish,
    refused,
    school_morning,
    until,
    until_waiting_for,
    walk_until,
)
from tests.factories import TEST_URN, case_id_of, make_case, sessions_for
from whereabouts.activities.deps import Deps
from whereabouts.activities.visits import VisitActivities
from whereabouts.directory import Term, load_directory
from whereabouts.models import AdviceGiven, AgencyTold, CallRecord, ChildSeen, RiskAssessment
from whereabouts.search import CME_ATTENTION
from whereabouts.steps import CaseRef, VisitBookingRequest
from whereabouts.times import LONDON, when
from whereabouts.vocabulary import CmeOutcome, CmeStage, RiskStatus
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

OFFICE = "office@testhill.example.org"
DSL = "dsl@testhill.example.org"
PARENT = "parent.one@family.example.net"
POLICE = "hub@police.example.org"
MASH = "mash@testshire.example.gov.uk"
REFUSED = "550 5.1.1 mailbox unavailable"


@pytest_asyncio.fixture
async def short_terms_worker(env, settings):
    """A worker whose directory gives the test school a term that ends two days from now, with
    no term after it: as when an LA has not yet entered next year's dates."""
    directory = load_directory(TEST_DIRECTORY)
    ends = (await env.get_current_time()).date() + timedelta(days=4)
    schools = [
        s.model_copy(update={"terms": [Term(start=date(2026, 1, 1), end=ends)]}) if s.urn == TEST_URN else s
        for s in directory.schools
    ]
    deps = Deps(settings=settings, directory=directory.model_copy(update={"schools": schools}))
    async with build_worker(env.client, settings, deps):
        yield deps
        await close_started()


def subjects(smtp, address: str) -> list[str]:
    return [str(r.message["Subject"]) for r in smtp.to(address)]


def body(received) -> str:
    return received.message.get_body(("plain",)).get_content()


async def whats(handle) -> list[str]:
    return [e.what for e in await handle.query(CmeCaseWorkflow.chronology_entries)]


async def first_day(env) -> date:
    """The next school morning, on the test server's clock: when the MIS feed opens cases."""
    return await school_morning(env)


async def running(handle) -> bool:
    return (await handle.describe()).status is WorkflowExecutionStatus.RUNNING


async def test_a_refused_office_address_never_fails_the_case(env, settings, smtp, worker, start_case):
    smtp.refuse[OFFICE] = REFUSED
    h = await start_case(env.client, make_case(await first_day(env)), record_as="office_refused")
    status = await until(h, lambda s: bool(s.attention), "the refusal shown")
    assert any("Day 1 call prompt to office" in a for a in status.attention)
    # Sent another way: the DSL is given the office's task, naming the address that failed.
    await until(h, lambda s: bool(smtp.to(DSL)), "task to the DSL")
    [task] = smtp.to(DSL)
    assert "could not deliver the Day 1 call prompt" in str(task.message["Subject"])
    assert f"({OFFICE}): {REFUSED}" in body(task)
    entries = await whats(h)
    assert "NOT delivered: Day 1 call prompt to Test Hill Primary attendance office" in entries
    assert (
        "DSL task e-mailed: could not deliver the Day 1 call prompt to Test Hill Primary attendance office"
        in entries
    )
    assert "Day 1 call prompt e-mailed to the attendance office" not in entries
    # The case is still running and its procedure goes on: the call can still be recorded.
    assert await running(h) and status.stage is CmeStage.DAY1_CALL
    attention = (await h.describe()).typed_search_attributes.get(CME_ATTENTION)
    assert attention == ["undelivered"]
    await h.execute_update(
        CmeCaseWorkflow.record_call, CallRecord(outcome="safe_with_parent", reason="flu", by="T. Hale")
    )
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.EXPLAINED_ABSENCE


async def test_police_not_told_is_loud_until_someone_phones(env, settings, smtp, worker, start_case):
    smtp.refuse[POLICE] = REFUSED
    h = await start_case(env.client, make_case(await first_day(env)), record_as="escalation_not_delivered")
    await until_waiting_for(h, "Day 1 call outcome")
    await h.execute_update(
        CmeCaseWorkflow.record_call, CallRecord(outcome="not_reassured", by="T. Hale", note="a man answered")
    )
    await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked")
    await h.execute_update(
        CmeCaseWorkflow.record_risk,
        RiskAssessment(at_risk=True, concerns=["forced_marriage"], note="sibling history", by="D. Lead"),
    )
    status = await until(h, lambda s: any(p.startswith("URGENT") for p in s.pending), "the alarm")
    assert "URGENT: police NOT told of the escalation" in " ".join(status.pending)
    entries = await whats(h)
    assert "ESCALATION NOT DELIVERED: police have NOT been told" in entries
    assert "Children's social care notified by e-mail: child at risk" in entries
    assert not any(e.startswith("Police notified") for e in entries)  # nothing untrue
    assert smtp.to(MASH) and not smtp.to(POLICE)
    # The DSL and the office are told at once, with the police's number and what to record.
    await until(h, lambda s: any("NOT told" in x for x in subjects(smtp, OFFICE)), "office told")
    alarm = [r for r in smtp.to(DSL) if "NOT told" in str(r.message["Subject"])]
    assert alarm and "01632 960399" in body(alarm[0])
    assert f"python admin.py notified {h.id} police" in body(alarm[0])
    attention = (await h.describe()).typed_search_attributes.get(CME_ATTENTION)
    assert attention is not None and "escalation_not_delivered" in attention

    await h.execute_update(
        CmeCaseWorkflow.record_agency_told,
        AgencyTold(agency="police", note="PC Lee, ref 4471", by="D. Lead"),
    )
    status = await h.query(CmeCaseWorkflow.status)
    assert not any(p.startswith("URGENT") for p in status.pending)
    assert "Police told by phone (or in person)" in await whats(h)
    assert await running(h) and status.risk is RiskStatus.ESCALATED
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS", where="arrived at school"))
    await finish(env, h)


async def test_advice_is_written_down_only_when_it_reached_a_parent(env, settings, smtp, worker, start_case):
    case = make_case(await first_day(env), email=None)  # the mother has no e-mail; the aunt has no PR
    h = await start_case(env.client, case, record_as="advice_by_phone")
    await until_waiting_for(h, "Day 1 call outcome")
    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="missing_parent_concerned", by="T. Hale", note="not home since last night"),
    )
    status = await until(h, lambda s: any("advice" in p for p in s.pending), "advice to give by phone")
    entries = await whats(h)
    assert not any(e.startswith("Parent advised") for e in entries)
    assert "Missing-child advice NOT e-mailed to any parent" in entries
    assert not smtp.to("aunt@family.example.net")
    await until(h, lambda s: any("missing-child advice" in x for x in subjects(smtp, OFFICE)), "task")
    task = next(r for r in smtp.to(OFFICE) if "missing-child advice" in str(r.message["Subject"]))
    assert "call the police" in body(task) and f"python admin.py advised {h.id}" in body(task)
    await until(h, lambda s: any("URGENT" in x for x in subjects(smtp, DSL)), "DSL alert")
    alert = next(r for r in smtp.to(DSL) if "URGENT" in str(r.message["Subject"]))
    assert "NOT e-mailed" in body(alert)
    assert status.outcome is None and await running(h)

    await h.execute_update(
        CmeCaseWorkflow.record_advice_given, AdviceGiven(note="read it to the mother", by="T. Hale")
    )
    status = await h.query(CmeCaseWorkflow.status)
    assert not any("advice" in p for p in status.pending)
    assert "Parent given the missing-child advice by staff" in await whats(h)
    await h.execute_update(CmeCaseWorkflow.record_seen, ChildSeen(by="T. Hale", where="at a friend's"))
    await finish(env, h)


async def test_the_letter_lists_only_calls_staff_recorded_unanswered(env, settings, smtp, worker, start_case):
    # No call recorded: the letter says nothing about calls.
    silent = await start_case(env.client, make_case(await first_day(env)))
    # One recorded unanswered call, at the time it was made.
    rang = await start_case(env.client, make_case(await first_day(env), upn=None))
    await until_waiting_for(rang, "Day 1 call outcome")
    # Day 2, no Day 1 outcome recorded for either.
    await walk_until(env, rang, lambda s: any(p.startswith("Day 2 call outcome") for p in s.pending), "Day 2")
    made = (await env.get_current_time()) - timedelta(minutes=5)
    await rang.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="no_answer", at=made, number="07700 900123", by="T. Hale"),
    )
    await walk_until(env, rang, lambda s: s.letter_deadline is not None, "Day 3: both letters go")
    await until(silent, lambda s: s.letter_deadline is not None, "letter")
    letters = [body(r) for r in smtp.to(PARENT) if "Please contact" in str(r.message["Subject"])]
    assert len(letters) == 2
    with_calls = [t for t in letters if "We tried to phone you" in t]
    assert len(with_calls) == 1
    assert made.strftime("%H:%M") in with_calls[0]  # the time of the call, not of the prompt
    assert "We have not been able to speak to you." in next(t for t in letters if t not in with_calls)


async def test_a_schedule_that_cannot_be_worked_out_falls_back_and_says_so(
    env, settings, smtp, short_terms_worker, start_case
):
    # The school's term ends in two days and the next one is not in the directory.
    h = await start_case(env.client, make_case(await first_day(env)), record_as="calendar_fallback")
    status = await until(h, lambda s: s.next_action_at is not None, "a schedule")
    assert status.stage is CmeStage.DAY1_CALL  # the case is under way, not hanging
    assert any("weekdays less bank holidays" in a for a in status.attention)
    entries = await whats(h)
    assert "School-day schedule counted on weekdays less bank holidays" in entries
    await until(h, lambda s: any("weekdays" in x for x in subjects(smtp, OFFICE)), "office told")
    task = next(r for r in smtp.to(OFFICE) if "weekdays" in str(r.message["Subject"]))
    assert "term dates" in body(task)
    attention = (await h.describe()).typed_search_attributes.get(CME_ATTENTION)
    assert attention == ["calendar"]
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS", where="present mark"))
    await finish(env, h)


async def test_call_times_in_the_future_are_refused(env, settings, smtp, worker, start_case):
    h = await start_case(env.client, make_case(await first_day(env)))
    await until_waiting_for(h, "Day 1 call outcome")
    later = datetime.now(UTC).replace(year=2099)
    await refused(
        h.execute_update(CmeCaseWorkflow.record_call, CallRecord(outcome="no_answer", at=later, by="T")),
        "is in the future",
    )


async def test_an_invitation_never_names_a_slot_already_past(settings, smtp):
    case = make_case(date(2026, 1, 5))
    past = datetime(2026, 1, 9, 14, tzinfo=UTC)
    req = VisitBookingRequest(
        ref=CaseRef(case_id=case_id_of(case), run_id="run-visit", step="home_visit"),
        case=case,
        slot=past,
        latest=past + timedelta(days=1),
        risk_summary="assessed not at risk by D. Lead",
        sessions=sessions_for(date.today()),
    )
    booking = await ActivityEnvironment().run(
        VisitActivities(Deps.from_settings(settings)).book_home_visit, req
    )
    now = datetime.now(UTC)
    assert booking.slot > now and booking.latest is not None and booking.latest > booking.slot
    assert booking.slot.astimezone(LONDON).strftime("%H:%M") == "14:00"
    [invite] = smtp.to("vic@testhill.example.org")
    assert when(booking.slot) in body(invite) and when(past) not in body(invite)
